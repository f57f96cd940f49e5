//! The data directory (SPEC §5.1): the store, the hub's signing key and the operator token,
//! created owner-only (0700 directory, 0600 files).

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use ed25519_dalek::SigningKey;

use crate::error::{LedgerError, Result};

/// A hub's data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    path: PathBuf,
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

impl DataDir {
    /// Opens `path`, creating it (mode 0700) if needed.
    pub fn create(path: &Path) -> Result<DataDir> {
        if !path.exists() {
            let mut b = fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(path).map_err(|e| io(path, e))?;
        }
        Ok(DataDir {
            path: path.to_owned(),
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
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The store file.
    pub fn store_path(&self) -> PathBuf {
        self.path.join(STORE_FILE)
    }

    /// The hub's checkpoint signing key, created on first use.
    pub fn hub_key(&self) -> Result<SigningKey> {
        let p = self.path.join(HUB_KEY_FILE);
        if let Some(k) = read_key(&p)? {
            return Ok(k);
        }
        let mut seed = [0u8; 32];
        random_bytes(&mut seed)?;
        write_private(&p, format!("{}\n", hex::encode(seed)).as_bytes())?;
        Ok(SigningKey::from_bytes(&seed))
    }

    /// The hub's key if it exists (offline verification never creates one).
    pub fn existing_hub_key(&self) -> Result<Option<SigningKey>> {
        read_key(&self.path.join(HUB_KEY_FILE))
    }

    /// The operator token: `from_env` when set, else the one stored in the directory, else a
    /// new random one stored there. Returns the token and the file it lives in, if any.
    pub fn operator_token(&self, from_env: Option<String>) -> Result<(String, Option<PathBuf>)> {
        if let Some(t) = from_env.filter(|t| !t.is_empty()) {
            return Ok((t, None));
        }
        let p = self.path.join(TOKEN_FILE);
        match fs::read_to_string(&p) {
            Ok(t) if !t.trim().is_empty() => return Ok((t.trim().to_owned(), Some(p))),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&p, e)),
        }
        let mut raw = [0u8; 32];
        random_bytes(&mut raw)?;
        let token = hex::encode(raw);
        write_private(&p, format!("{token}\n").as_bytes())?;
        Ok((token, Some(p)))
    }
}

/// The store's file name inside the data directory.
pub const STORE_FILE: &str = "ledger.redb";
/// The hub key's file name.
pub const HUB_KEY_FILE: &str = "hub-key";
/// The operator token's file name.
pub const TOKEN_FILE: &str = "operator-token";

fn read_key(p: &Path) -> Result<Option<SigningKey>> {
    match fs::read_to_string(p) {
        Ok(s) => {
            let mut seed = [0u8; 32];
            hex::decode_to_slice(s.trim(), &mut seed).map_err(|_| {
                LedgerError::Corrupt(format!("{} does not hold a 32-byte hex key", p.display()))
            })?;
            Ok(Some(SigningKey::from_bytes(&seed)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(p, e)),
    }
}

/// Writes a new owner-only (0600) file; fails if it exists.
pub fn write_private(p: &Path, data: &[u8]) -> Result<()> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(p).map_err(|e| io(p, e))?;
    f.write_all(data).map_err(|e| io(p, e))?;
    f.sync_all().map_err(|e| io(p, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_tokens_are_created_once_and_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let d = DataDir::create(&tmp.path().join("data")).unwrap();
        let k1 = d.hub_key().unwrap();
        let k2 = d.hub_key().unwrap();
        assert_eq!(k1.to_bytes(), k2.to_bytes());
        let (t1, p) = d.operator_token(None).unwrap();
        let (t2, _) = d.operator_token(None).unwrap();
        assert_eq!(t1, t2);
        assert_eq!(d.operator_token(Some("env".into())).unwrap().0, "env");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&p.unwrap()), 0o600);
            assert_eq!(mode(&d.path().join(HUB_KEY_FILE)), 0o600);
            assert_eq!(mode(d.path()), 0o700);
        }
    }
}
