//! Simulated devices: devices whose Ed25519 key the hub itself holds (one owner-only file per
//! device under `DIR/simulated/`), so an operator can send messages on their behalf from the
//! console. They are marked as such everywhere; real devices sign for themselves.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use ed25519_dalek::SigningKey;
use m2mhub_ledger::datadir::{create_private_dir, random_bytes, write_private};

/// Keys of the simulated devices, and the counter each used last.
#[derive(Debug, Default)]
pub struct SimulatedKeys {
    dir: Option<PathBuf>,
    /// Guards the keys and counters; held while a simulated message is signed and recorded,
    /// so one device's counters stay in order.
    pub(crate) keys: tokio::sync::Mutex<HashMap<String, (SigningKey, u64)>>,
}

fn io(p: &Path, e: std::io::Error) -> String {
    format!("{}: {e}", p.display())
}

impl SimulatedKeys {
    /// No simulated devices (the hub holds no keys).
    pub fn none() -> Self {
        Self::default()
    }

    /// Keys kept in `dir` (created 0700 if missing); loads the ones there.
    pub fn in_dir(dir: &Path) -> Result<Self, String> {
        create_private_dir(dir).map_err(|e| e.to_string())?;
        let mut keys = HashMap::new();
        for e in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
            let p = e.map_err(|e| io(dir, e))?.path();
            let Some(name) = p
                .file_stem()
                .and_then(|s| s.to_str())
                .filter(|_| p.extension().is_some_and(|x| x == "key"))
            else {
                continue;
            };
            let text = std::fs::read_to_string(&p).map_err(|e| io(&p, e))?;
            let mut seed = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut seed)
                .map_err(|_| format!("{}: not a 32-byte hex key", p.display()))?;
            keys.insert(name.to_owned(), (SigningKey::from_bytes(&seed), 0));
        }
        Ok(SimulatedKeys {
            dir: Some(dir.to_owned()),
            keys: tokio::sync::Mutex::new(keys),
        })
    }

    /// True when the hub can hold keys.
    pub fn enabled(&self) -> bool {
        self.dir.is_some()
    }

    /// Makes a key for `name` and stores it on disk (before the registration that uses it, so
    /// the hub never registers a key it could lose). Call [`Self::keep`] or [`Self::discard`].
    pub fn create(&self, name: &str) -> Result<SigningKey, String> {
        let dir = self
            .dir
            .as_ref()
            .ok_or("this hub holds no simulated keys")?;
        let mut seed = [0u8; 32];
        random_bytes(&mut seed).map_err(|e| e.to_string())?;
        let p = dir.join(format!("{name}.key"));
        // A key left by a registration that failed after writing it belongs to nobody.
        let _ = std::fs::remove_file(&p);
        write_private(&p, format!("{}\n", hex::encode(seed)).as_bytes())
            .map_err(|e| e.to_string())?;
        Ok(SigningKey::from_bytes(&seed))
    }

    /// Keeps the key of a registered device.
    pub async fn keep(&self, name: &str, key: SigningKey) {
        self.keys.lock().await.insert(name.to_owned(), (key, 0));
    }

    /// Forgets the key of a registration that did not happen.
    pub fn discard(&self, name: &str) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_file(dir.join(format!("{name}.key")));
        }
    }
}
