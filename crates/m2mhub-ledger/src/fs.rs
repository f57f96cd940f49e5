//! The data directory's file operations ([`DirFs`]): the one door through which the hub
//! creates, renames and syncs the files and directories of its data directory, and opens its
//! store. [`RealFs`] is the operating system's; the power-cut tests use a simulated file
//! system that loses what was not synced (`simfs`, feature `testing`).
//!
//! The contract, which is what a POSIX file system promises after a power cut: a file's data
//! is durable once the file is synced, and a directory entry (a create, rename or removal)
//! once its directory is synced. Nothing else is: an entry may reach the disk before the data
//! of its file, and unsynced changes may survive in any combination. So every file the hub
//! must find again is written under a temporary name, synced, renamed into place and its
//! directory synced ([`write_durably`]).

use std::{
    fs,
    io::{self, Write},
    ops::Bound,
    path::{Path, PathBuf},
};

use redb::{BackendError, StorageBackend, backends::FileBackend};

/// A data directory's file operations. Paths are absolute or relative to the process's working
/// directory, as for `std::fs`.
pub trait DirFs: std::fmt::Debug + Send + Sync {
    /// Creates one owner-only (0700) directory; its parent must exist. Durable once the
    /// parent is synced.
    fn create_dir(&self, dir: &Path) -> io::Result<()>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// A file's contents; an error of kind `NotFound` when it does not exist.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Creates an owner-only (0600) file, which must not exist, and writes `data` to it.
    /// Neither is durable yet: the data once the file is synced, the name once its directory
    /// is.
    fn write_new(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// Makes a file's data durable.
    fn sync_file(&self, path: &Path) -> io::Result<()>;
    /// Renames `from` to `to` (same directory), replacing `to`. Durable once the directory is
    /// synced.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file. Durable once the directory is synced.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes every entry change of `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Opens `path` as the store's redb backend, creating an empty file when `create` (its
    /// name then durable only once the directory is synced). The backend's `sync_data` makes
    /// its writes durable.
    fn open_store(&self, path: &Path, create: bool) -> io::Result<Backend>;
}

/// Creates `dir` and its missing parents, owner-only (0700); each directory it creates is
/// durable on return (its parent was synced).
pub fn create_dir_all(fs: &dyn DirFs, dir: &Path) -> io::Result<()> {
    if fs.exists(dir)? {
        return Ok(());
    }
    let up = parent(dir);
    if up != dir {
        create_dir_all(fs, up)?;
    }
    match fs.create_dir(dir) {
        // Another process made it meanwhile: its maker syncs the parent.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        r => r?,
    }
    fs.sync_dir(up)
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `path` with `suffix` appended to its file name (`hub-key` → `hub-key.new`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Writes `data` to `path` so that after a power cut `path` either does not exist or holds
/// all of `data` ([`replace_durably`]). Fails if `path` exists.
pub fn write_durably(fs: &dyn DirFs, path: &Path, data: &[u8]) -> io::Result<()> {
    if fs.exists(path)? {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the file exists already",
        ));
    }
    replace_durably(fs, path, data)
}

/// Writes `data` to `path` so that after a power cut `path` holds either its old contents
/// (or nothing, if new) or all of `data`: written to `path.tmp` and synced, renamed into
/// place, the directory synced. A `path.tmp` left by an earlier cut is replaced.
pub fn replace_durably(fs: &dyn DirFs, path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = with_suffix(path, ".tmp");
    remove_if_exists(fs, &tmp)?;
    fs.write_new(&tmp, data)?;
    fs.sync_file(&tmp)?;
    fs.rename(&tmp, path)?;
    fs.sync_dir(parent(path))
}

/// Removes `path` if it exists.
pub fn remove_if_exists(fs: &dyn DirFs, path: &Path) -> io::Result<()> {
    match fs.remove(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The operating system's file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

impl DirFs for RealFs {
    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        let mut b = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn write_new(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut o = fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        o.open(path)?.write_all(data)
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        // fsync through any descriptor flushes the file's data (Linux, the BSDs, macOS).
        fs::File::open(path)?.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        fs::File::open(dir)?.sync_all()
    }

    fn open_store(&self, path: &Path, create: bool) -> io::Result<Backend> {
        let mut o = fs::OpenOptions::new();
        o.read(true).write(true).create(create).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let file = o.open(path)?;
        let backend = FileBackend::new(file).map_err(io::Error::other)?;
        Ok(Backend::new(backend))
    }
}

/// A redb storage backend of any kind, so that [`DirFs::open_store`] can return the real
/// file's or a simulated one. Forwards every call, the file locks included (they keep a
/// second hub off an open store).
#[derive(Debug)]
pub struct Backend(Box<dyn StorageBackend>);

impl Backend {
    /// Wraps `backend`.
    pub fn new(backend: impl StorageBackend) -> Backend {
        Backend(Box::new(backend))
    }
}

impl StorageBackend for Backend {
    fn len(&self) -> io::Result<u64> {
        self.0.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.0.read(offset, out)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.0.write(offset, data)
    }
    fn close(&self) -> io::Result<()> {
        self.0.close()
    }
    fn try_lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.0.try_lock_range(s, e)
    }
    fn try_lock_shared_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.0.try_lock_shared_range(s, e)
    }
    fn lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
        self.0.lock_range(s, e)
    }
    fn lock_shared_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
        self.0.lock_shared_range(s, e)
    }
    fn unlock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
        self.0.unlock_range(s, e)
    }
    fn query_lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.0.query_lock_range(s, e)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn write_durably_refuses_an_existing_file_and_replaces_a_stale_tmp() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("a");
        std::fs::write(with_suffix(&p, ".tmp"), b"stale").unwrap();
        write_durably(&RealFs, &p, b"one").unwrap();
        assert_eq!(RealFs.read(&p).unwrap(), b"one");
        assert!(!with_suffix(&p, ".tmp").exists());
        let e = write_durably(&RealFs, &p, b"two").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(RealFs.read(&p).unwrap(), b"one");
    }

    #[test]
    fn create_dir_all_makes_owner_only_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("x/y");
        create_dir_all(&RealFs, &d).unwrap();
        create_dir_all(&RealFs, &d).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&d), 0o700);
            assert_eq!(mode(&tmp.path().join("x")), 0o700);
        }
    }
}
