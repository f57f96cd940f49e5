//! The data directory (SPEC §5.1): the store, the hub's signing key and the operator token,
//! created owner-only (0700 directory, 0600 files), every file through [`DirFs`] so that a
//! power cut at any instant leaves either what was acknowledged or a clean first start.
//!
//! First start, in this order, each step durable before the next: the key is written as
//! `hub-key.new`; the store is created (beside, then renamed to `ledger.redb`) and its genesis
//! block signed with that key; the key is renamed to `hub-key`. A cut before the store's
//! rename leaves no store, and the next start begins afresh (a new key: the old one signed
//! nothing that survived); a cut after it leaves a store and `hub-key.new`, and the next start
//! completes the rename. So `hub-key` without a store, or a store without any key, never comes
//! from a cut: it means the operator moved or deleted one, and the hub refuses to start.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use ed25519_dalek::SigningKey;

use crate::{
    error::{LedgerError, Result},
    fs::{DirFs, RealFs, create_dir_all, remove_if_exists, with_suffix, write_durably},
    store::{Store, StoreOptions},
};

/// A hub's data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    path: PathBuf,
    fs: Arc<dyn DirFs>,
}

fn io(path: &Path, source: std::io::Error) -> LedgerError {
    LedgerError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Fills `buf` from the OS's random source.
pub fn random_bytes(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf)
        .map_err(|e| LedgerError::Storage(format!("no randomness from the OS: {e}")))
}

/// The hub's key as [`DataDir::open_store`] found or made it.
#[derive(Debug)]
pub(crate) struct HubKey {
    pub(crate) key: SigningKey,
    /// Still `hub-key.new`: [`DataDir::keep_hub_key`] renames it once the ledger is open.
    staged: bool,
}

impl DataDir {
    /// Opens `path`, creating it (mode 0700) if needed.
    pub fn create(path: &Path) -> Result<DataDir> {
        Self::create_in(Arc::new(RealFs), path)
    }

    /// [`DataDir::create`] over other file operations (the power-cut tests' simulated ones).
    pub fn create_in(fs: Arc<dyn DirFs>, path: &Path) -> Result<DataDir> {
        create_dir_all(&*fs, path).map_err(|e| io(path, e))?;
        Ok(DataDir {
            path: path.to_owned(),
            fs,
        })
    }

    /// Opens an existing data directory without creating anything.
    pub fn existing(path: &Path) -> Result<DataDir> {
        if !path.join(STORE_FILE).is_file() {
            return Err(LedgerError::NotFound(format!(
                "{} holds no ledger ({STORE_FILE} is missing)",
                path.display()
            )));
        }
        Ok(DataDir {
            path: path.to_owned(),
            fs: Arc::new(RealFs),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file operations it goes through.
    pub fn fs(&self) -> &dyn DirFs {
        &*self.fs
    }

    /// The store file.
    pub fn store_path(&self) -> PathBuf {
        self.path.join(STORE_FILE)
    }

    fn exists(&self, p: &Path) -> Result<bool> {
        self.fs.exists(p).map_err(|e| io(p, e))
    }

    /// Opens (or creates) the store and finds (or makes) the hub's key, in the order the
    /// module doc gives. Refuses a store without its key, and a key without its store unless
    /// `options.new_ledger`.
    pub(crate) fn open_store(&self, options: &StoreOptions) -> Result<(Store, HubKey)> {
        let store_path = self.store_path();
        let key_path = self.path.join(HUB_KEY_FILE);
        let staged_path = with_suffix(&key_path, STAGED);
        let has_store = self.exists(&store_path)?;
        let key = match (has_store, self.read_key(&key_path)?) {
            (true, Some(key)) => HubKey { key, staged: false },
            // The operator starts a new ledger on purpose, with the hub's key.
            (false, Some(key)) if options.new_ledger => HubKey { key, staged: false },
            (true, None) => match self.read_key(&staged_path)? {
                // A first start was cut after creating the store: finish it.
                Some(key) => HubKey { key, staged: true },
                // Making a new key would only fail the signature check, and leave a wrong key.
                None => {
                    return Err(LedgerError::Corrupt(format!(
                        "{} holds a ledger but not its {HUB_KEY_FILE}: restore the hub's key",
                        self.path.display()
                    )));
                }
            },
            (false, Some(_)) => {
                // A hub has run here: its ledger was deleted or moved. Starting an empty one
                // would silently serve a history without it.
                return Err(LedgerError::Corrupt(format!(
                    "{} holds this hub's key but no {STORE_FILE}: the ledger was deleted or \
                     moved; restore it (or start a new one on purpose with --new-ledger)",
                    self.path.display()
                )));
            }
            (false, None) => {
                // A first start (perhaps again, after a cut: a staged key left then signed
                // nothing that survived, and may be torn).
                let mut seed = [0u8; 32];
                random_bytes(&mut seed)?;
                let fs = self.fs();
                remove_if_exists(fs, &staged_path)
                    .and_then(|()| fs.write_new(&staged_path, &key_text(&seed)))
                    .and_then(|()| fs.sync_file(&staged_path))
                    .and_then(|()| fs.sync_dir(&self.path))
                    .map_err(|e| io(&staged_path, e))?;
                HubKey {
                    key: SigningKey::from_bytes(&seed),
                    staged: true,
                }
            }
        };
        let store = Store::open_in(self.fs(), &store_path, options)?;
        Ok((store, key))
    }

    /// Gives a staged key its final name, durably (after the ledger opened with it).
    pub(crate) fn keep_hub_key(&self, key: &HubKey) -> Result<()> {
        if !key.staged {
            return Ok(());
        }
        let key_path = self.path.join(HUB_KEY_FILE);
        self.fs
            .rename(&with_suffix(&key_path, STAGED), &key_path)
            .and_then(|()| self.fs.sync_dir(&self.path))
            .map_err(|e| io(&key_path, e))
    }

    /// The hub's key if it exists (offline verification never creates one).
    pub fn existing_hub_key(&self) -> Result<Option<SigningKey>> {
        self.read_key(&self.path.join(HUB_KEY_FILE))
    }

    /// The operator token: `from_env` when set, else the one stored in the directory, else a
    /// new random one stored there. Returns the token and the file it lives in, if any.
    pub fn operator_token(&self, from_env: Option<String>) -> Result<(String, Option<PathBuf>)> {
        if let Some(t) = from_env.filter(|t| !t.is_empty()) {
            return Ok((t, None));
        }
        let p = self.path.join(TOKEN_FILE);
        match self.fs.read(&p) {
            Ok(t) => match String::from_utf8(t) {
                Ok(t) if !t.trim().is_empty() => return Ok((t.trim().to_owned(), Some(p))),
                // Empty: left by a cut in a hub that wrote it in place; no one saw it.
                Ok(_) => remove_if_exists(self.fs(), &p).map_err(|e| io(&p, e))?,
                Err(_) => {
                    return Err(LedgerError::Corrupt(format!("{} is not text", p.display())));
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&p, e)),
        }
        let mut raw = [0u8; 32];
        random_bytes(&mut raw)?;
        let token = hex::encode(raw);
        write_durably(self.fs(), &p, format!("{token}\n").as_bytes()).map_err(|e| io(&p, e))?;
        Ok((token, Some(p)))
    }

    fn read_key(&self, p: &Path) -> Result<Option<SigningKey>> {
        match self.fs.read(p) {
            Ok(s) => {
                let mut seed = [0u8; 32];
                let text = std::str::from_utf8(&s).unwrap_or_default();
                hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| {
                    LedgerError::Corrupt(format!("{} does not hold a 32-byte hex key", p.display()))
                })?;
                Ok(Some(SigningKey::from_bytes(&seed)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(p, e)),
        }
    }
}

fn key_text(seed: &[u8; 32]) -> Vec<u8> {
    format!("{}\n", hex::encode(seed)).into_bytes()
}

/// The store's file name inside the data directory.
pub const STORE_FILE: &str = "ledger.redb";
/// The hub key's file name.
pub const HUB_KEY_FILE: &str = "hub-key";
/// The suffix of the hub key's name during a first start.
const STAGED: &str = ".new";
/// The operator token's file name.
pub const TOKEN_FILE: &str = "operator-token";

/// Writes a new owner-only (0600) file durably (see [`write_durably`]); fails if it exists.
pub fn write_private(p: &Path, data: &[u8]) -> Result<()> {
    write_durably(&RealFs, p, data).map_err(|e| io(p, e))
}

/// Creates an owner-only (0700) directory and its parents, durably.
pub fn create_private_dir(p: &Path) -> Result<()> {
    create_dir_all(&RealFs, p).map_err(|e| io(p, e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_and_tokens_are_created_once_and_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let d = DataDir::create(&tmp.path().join("data")).unwrap();
        let (_, k1) = d.open_store(&StoreOptions::default()).unwrap();
        assert!(k1.staged);
        d.keep_hub_key(&k1).unwrap();
        let (_, k2) = d.open_store(&StoreOptions::default()).unwrap();
        assert!(!k2.staged);
        assert_eq!(k1.key.to_bytes(), k2.key.to_bytes());
        assert_eq!(
            d.existing_hub_key().unwrap().unwrap().to_bytes(),
            k1.key.to_bytes()
        );
        let (t1, p) = d.operator_token(None).unwrap();
        let (t2, _) = d.operator_token(None).unwrap();
        assert_eq!(t1, t2);
        assert_eq!(d.operator_token(Some("env".into())).unwrap().0, "env");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&p.unwrap()), 0o600);
            assert_eq!(mode(&d.path().join(HUB_KEY_FILE)), 0o600);
            assert_eq!(mode(&d.store_path()), 0o600);
            assert_eq!(mode(d.path()), 0o700);
        }
    }

    #[test]
    fn an_empty_store_file_is_refused_not_made_a_new_ledger() {
        let tmp = tempfile::tempdir().unwrap();
        let d = DataDir::create(tmp.path()).unwrap();
        let (store, key) = d.open_store(&StoreOptions::default()).unwrap();
        d.keep_hub_key(&key).unwrap();
        drop(store);
        std::fs::write(d.store_path(), b"").unwrap();
        let e = d.open_store(&StoreOptions::default()).unwrap_err();
        assert!(e.to_string().contains("is empty"), "{e}");
    }

    #[test]
    fn an_empty_token_file_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let d = DataDir::create(tmp.path()).unwrap();
        std::fs::write(tmp.path().join(TOKEN_FILE), "").unwrap();
        let (t, _) = d.operator_token(None).unwrap();
        assert_eq!(t.len(), 64);
    }
}
