//! Device key pairs on disk: `PREFIX.key` holds the 32-byte Ed25519 seed as hex (mode 0600,
//! never overwritten), `PREFIX.pub` the public key as hex, the form `POST /v1/devices` takes.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::{ClientError, Result, io_err};

/// A device's Ed25519 key pair.
#[derive(Clone)]
pub struct DeviceKey {
    key: SigningKey,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceKey({})", self.public_hex())
    }
}

impl DeviceKey {
    /// A fresh key from the OS's random source.
    pub fn generate() -> Result<DeviceKey> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| ClientError::Invalid(format!("no randomness from the OS: {e}")))?;
        Ok(DeviceKey::from_seed(seed))
    }

    /// The key with this 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> DeviceKey {
        DeviceKey {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The public key.
    pub fn public(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The public key as hex, as `POST /v1/devices` takes it.
    pub fn public_hex(&self) -> String {
        hex::encode(self.public().as_bytes())
    }

    /// The secret key's file for `prefix`.
    pub fn secret_path(prefix: &Path) -> PathBuf {
        with_suffix(prefix, "key")
    }

    /// The public key's file for `prefix`.
    pub fn public_path(prefix: &Path) -> PathBuf {
        with_suffix(prefix, "pub")
    }

    /// Writes `PREFIX.key` (mode 0600; refuses to overwrite one) and `PREFIX.pub`.
    pub fn save(&self, prefix: &Path) -> Result<()> {
        let secret = Self::secret_path(prefix);
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut f = o.open(&secret).map_err(io_err(&secret))?;
        f.write_all(format!("{}\n", hex::encode(self.key.to_bytes())).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io_err(&secret))?;
        let public = Self::public_path(prefix);
        std::fs::write(&public, format!("{}\n", self.public_hex())).map_err(io_err(&public))?;
        Ok(())
    }

    /// Reads `PREFIX.key`.
    pub fn load(prefix: &Path) -> Result<DeviceKey> {
        let secret = Self::secret_path(prefix);
        let text = std::fs::read_to_string(&secret).map_err(io_err(&secret))?;
        let seed = m2mhub_core::message::parse_hex_array::<32>(text.trim(), "secret key")
            .map_err(|e| ClientError::Invalid(format!("{}: {e}", secret.display())))?;
        Ok(DeviceKey::from_seed(seed))
    }
}

/// `prefix` with `.suffix` appended (not replacing an extension: `keys/door.lock` stays whole).
pub(crate) fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".");
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_loads_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("door.lock");
        let k = DeviceKey::generate().unwrap();
        k.save(&prefix).unwrap();
        let back = DeviceKey::load(&prefix).unwrap();
        assert_eq!(back.public(), k.public());
        let public = std::fs::read_to_string(dir.path().join("door.lock.pub")).unwrap();
        assert_eq!(public.trim(), k.public_hex());
        assert!(DeviceKey::generate().unwrap().save(&prefix).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("door.lock.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn rejects_a_bad_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("x");
        std::fs::write(dir.path().join("x.key"), "zz\n").unwrap();
        assert!(DeviceKey::load(&prefix).is_err());
    }
}
