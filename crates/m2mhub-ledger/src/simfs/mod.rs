//! A simulated file system that loses power (feature `testing`): an in-memory [`DirFs`] whose
//! files are also redb storage backends, for the power-cut tests.
//!
//! # The model
//! Every file keeps what reads see (the page cache) and its image as of its last sync; every
//! directory keeps its entries and its entries as of its last sync, plus the list of entry
//! changes (create, rename, remove) since. [`SimFs::cut_after`] arms a cut: the n-th mutating
//! call after it (a file's create, write, set_len or sync; a directory's create, rename,
//! remove or sync) and every call after that fail, as if the machine had lost power just
//! before it ([`SimFs::cut_after_landing`]: just after it, its caller never seeing it
//! succeed: a sync that reached the disk is then durable). [`SimFs::survivor`] then gives the
//! file system a reboot would find:
//! - **strict** (`|| false`): exactly the synced state. A file's data is what its last
//!   `sync_data` saw; a directory's entries are what its last `sync_dir` saw; a file whose
//!   name survived but whose data was never synced is empty (ext4's zero-length files).
//!   redb's default commit (one phase with checksums, `Durability::Immediate`) promises every
//!   commit that returned survives this.
//! - **torn** (a coin): each unsynced change may have reached the disk anyway, independently:
//!   each 512-byte sector written since its file's last sync, each file's new length, and
//!   each unsynced directory change (applied in order, a rename moving its file whatever became
//!   of the file's earlier name). A real disk writes dirty pages back in any order before an
//!   fsync, so any of these can happen; this is harsher than ext4 or XFS, which journal
//!   directory changes in order. redb's documented assumptions (design.md, "Assumptions about
//!   underlying media": single bytes are atomic, writes are durable after fsync, writes do
//!   not change bytes outside their range) cover this model too: a torn commit fails its
//!   checksums and redb rolls back to the previous one.
//!
//! Paths are absolute (`/hub/data/hub-key`); `/` always exists.

mod image;

use std::{
    collections::{BTreeMap, HashMap},
    io,
    path::{Component, Path},
    sync::{Arc, Mutex, MutexGuard},
};

use image::Image;
pub use image::SECTOR;
use redb::StorageBackend;

use crate::fs::{Backend, DirFs, parent};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    File(u64),
    Dir(u64),
}

#[derive(Clone, Debug)]
enum Change {
    Set(String, Node),
    Remove(String),
    Rename(String, String, Node),
}

#[derive(Clone, Debug, Default)]
struct Dir {
    entries: BTreeMap<String, Node>,
    synced: BTreeMap<String, Node>,
    unsynced: Vec<Change>,
}

const ROOT: u64 = 0;

#[derive(Debug, Default)]
struct State {
    dirs: HashMap<u64, Dir>,
    files: HashMap<u64, Image>,
    next_id: u64,
    /// Mutating calls so far.
    ops: u64,
    /// The call that loses power (it and every later call fail).
    cut_at: Option<u64>,
    /// Whether that call takes effect before the power goes (its caller still sees an error).
    lands: bool,
}

fn power_lost() -> io::Error {
    io::Error::other("simulated power cut")
}

/// The outcome of a call that took effect: an error if the power went as it did.
fn done<T>(last: bool, value: T) -> io::Result<T> {
    if last { Err(power_lost()) } else { Ok(value) }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl State {
    fn dead(&self) -> bool {
        self.cut_at.is_some_and(|c| self.ops >= c)
    }

    /// Counts one mutating call; fails once the power is gone. `Ok(true)`: the call that
    /// loses the power, which takes effect and then fails ([`done`]).
    fn tick(&mut self) -> io::Result<bool> {
        if self.dead() {
            return Err(power_lost());
        }
        self.ops += 1;
        match self.dead() {
            true if self.lands => Ok(true),
            true => Err(power_lost()),
            false => Ok(false),
        }
    }

    fn alive(&self) -> io::Result<()> {
        if self.dead() {
            return Err(power_lost());
        }
        Ok(())
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn lookup(&self, path: &Path) -> io::Result<Option<Node>> {
        let mut node = Node::Dir(ROOT);
        for c in path.components() {
            match c {
                Component::RootDir => {}
                Component::Normal(name) => {
                    let Node::Dir(d) = node else { return Ok(None) };
                    let name = name.to_str().ok_or_else(|| bad_path(path))?;
                    match self.dirs[&d].entries.get(name) {
                        Some(n) => node = *n,
                        None => return Ok(None),
                    }
                }
                _ => return Err(bad_path(path)),
            }
        }
        Ok(Some(node))
    }

    /// The directory holding `path` and the name in it.
    fn split<'p>(&self, path: &'p Path) -> io::Result<(u64, &'p str)> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| bad_path(path))?;
        match self.lookup(parent(path))? {
            Some(Node::Dir(d)) => Ok((d, name)),
            _ => Err(not_found(parent(path))),
        }
    }

    fn change(&mut self, dir: u64, c: Change) {
        let d = self
            .dirs
            .get_mut(&dir)
            .expect("directories are never removed");
        apply(&mut d.entries, &c);
        d.unsynced.push(c);
    }

    fn file(&self, path: &Path) -> io::Result<u64> {
        match self.lookup(path)? {
            Some(Node::File(f)) => Ok(f),
            _ => Err(not_found(path)),
        }
    }
}

fn bad_path(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{}: the simulated file system takes absolute, plain paths",
            path.display()
        ),
    )
}

fn apply(entries: &mut BTreeMap<String, Node>, c: &Change) {
    match c {
        Change::Set(name, node) => {
            entries.insert(name.clone(), *node);
        }
        Change::Remove(name) => {
            entries.remove(name);
        }
        Change::Rename(from, to, node) => {
            if entries.get(from) == Some(node) {
                entries.remove(from);
            }
            entries.insert(to.clone(), *node);
        }
    }
}

/// The simulated file system; clones share it.
#[derive(Clone, Debug)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

impl Default for SimFs {
    fn default() -> Self {
        Self::new()
    }
}

impl SimFs {
    /// An empty file system (just `/`).
    pub fn new() -> SimFs {
        let mut state = State::default();
        state.dirs.insert(ROOT, Dir::default());
        SimFs {
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Mutating calls made so far.
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    /// Loses power at the `n`-th mutating call from now (`n` ≥ 1): it and every later call
    /// fail, reads included. The `n`-th call does nothing.
    pub fn cut_after(&self, n: u64) {
        let mut s = self.lock();
        s.cut_at = Some(s.ops + n.max(1));
        s.lands = false;
    }

    /// [`SimFs::cut_after`], but the `n`-th call takes effect before the power goes (a write
    /// reaches the page cache, a sync the disk), though its caller sees it fail.
    pub fn cut_after_landing(&self, n: u64) {
        let mut s = self.lock();
        s.cut_at = Some(s.ops + n.max(1));
        s.lands = true;
    }

    /// Loses power now.
    pub fn cut_now(&self) {
        let mut s = self.lock();
        s.cut_at = Some(s.ops);
    }

    /// True once the power is gone.
    pub fn is_cut(&self) -> bool {
        self.lock().dead()
    }

    /// The file system a reboot finds (see the module doc): `keep` says, for each unsynced
    /// change in turn, whether it reached the disk anyway; `&mut || false` is the strict model.
    /// This file system is left as it is: stop using it (a cut does that) before relying on
    /// the survivor.
    pub fn survivor(&self, keep: &mut dyn FnMut() -> bool) -> SimFs {
        let s = self.lock();
        let mut dirs = HashMap::new();
        let mut files = HashMap::new();
        let mut todo = vec![ROOT];
        // Directories are walked from the root in order, so the coins fall the same way for
        // the same file system.
        while let Some(id) = todo.pop() {
            let d = &s.dirs[&id];
            let mut entries = d.synced.clone();
            for c in &d.unsynced {
                if keep() {
                    apply(&mut entries, c);
                }
            }
            for node in entries.values() {
                match *node {
                    Node::Dir(sub) => todo.push(sub),
                    Node::File(f) => {
                        files
                            .entry(f)
                            .or_insert_with(|| s.files[&f].survivor(&mut *keep));
                    }
                }
            }
            dirs.insert(
                id,
                Dir {
                    synced: entries.clone(),
                    entries,
                    unsynced: Vec::new(),
                },
            );
        }
        SimFs {
            state: Arc::new(Mutex::new(State {
                dirs,
                files,
                next_id: s.next_id,
                ops: 0,
                cut_at: None,
                lands: false,
            })),
        }
    }
}

impl DirFs for SimFs {
    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.alive()?;
        if s.lookup(dir)?.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: exists", dir.display()),
            ));
        }
        let (p, name) = s.split(dir)?;
        let last = s.tick()?;
        let id = s.new_id();
        s.dirs.insert(id, Dir::default());
        s.change(p, Change::Set(name.to_owned(), Node::Dir(id)));
        done(last, ())
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let s = self.lock();
        s.alive()?;
        Ok(s.lookup(path)?.is_some())
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let s = self.lock();
        s.alive()?;
        let f = s.file(path)?;
        Ok(s.files[&f].bytes().to_vec())
    }

    fn write_new(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let f = {
            let mut s = self.lock();
            s.alive()?;
            if s.lookup(path)?.is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{}: exists", path.display()),
                ));
            }
            let (d, name) = s.split(path)?;
            let last = s.tick()?;
            let f = s.new_id();
            s.files.insert(f, Image::default());
            s.change(d, Change::Set(name.to_owned(), Node::File(f)));
            done(last, f)?
        };
        // Two calls, as on a real file system: the power can go between them.
        SimFile {
            state: self.state.clone(),
            id: f,
        }
        .write(0, data)
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        let id = self.lock().file(path)?;
        SimFile {
            state: self.state.clone(),
            id,
        }
        .sync_data()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.alive()?;
        let node = s.lookup(from)?.ok_or_else(|| not_found(from))?;
        let (d, from_name) = s.split(from)?;
        let (d2, to_name) = s.split(to)?;
        if d != d2 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the simulated file system renames within one directory",
            ));
        }
        if let Some(Node::Dir(_)) = s.lookup(to)? {
            return Err(io::Error::new(io::ErrorKind::IsADirectory, "a directory"));
        }
        let last = s.tick()?;
        s.change(
            d,
            Change::Rename(from_name.to_owned(), to_name.to_owned(), node),
        );
        done(last, ())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.alive()?;
        s.file(path)?;
        let (d, name) = s.split(path)?;
        let last = s.tick()?;
        s.change(d, Change::Remove(name.to_owned()));
        done(last, ())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.alive()?;
        let Some(Node::Dir(d)) = s.lookup(dir)? else {
            return Err(not_found(dir));
        };
        let last = s.tick()?;
        let d = s.dirs.get_mut(&d).expect("looked up");
        d.synced = d.entries.clone();
        d.unsynced.clear();
        done(last, ())
    }

    fn open_store(&self, path: &Path, create: bool) -> io::Result<Backend> {
        let id = {
            let mut s = self.lock();
            s.alive()?;
            match s.lookup(path)? {
                Some(Node::File(f)) => f,
                Some(Node::Dir(_)) => {
                    return Err(io::Error::new(io::ErrorKind::IsADirectory, "a directory"));
                }
                None if !create => return Err(not_found(path)),
                None => {
                    let (d, name) = s.split(path)?;
                    let last = s.tick()?;
                    let f = s.new_id();
                    s.files.insert(f, Image::default());
                    s.change(d, Change::Set(name.to_owned(), Node::File(f)));
                    done(last, f)?
                }
            }
        };
        Ok(Backend::new(SimFile {
            state: self.state.clone(),
            id,
        }))
    }
}

/// An open file of a [`SimFs`]: a redb storage backend whose writes reach the disk only
/// through `sync_data`.
#[derive(Debug)]
pub struct SimFile {
    state: Arc<Mutex<State>>,
    id: u64,
}

impl SimFile {
    fn with<T>(&self, mutate: bool, f: impl FnOnce(&mut Image) -> T) -> io::Result<T> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let last = if mutate {
            s.tick()?
        } else {
            s.alive()?;
            false
        };
        let image = s.files.get_mut(&self.id).ok_or_else(power_lost)?;
        done(last, f(image))
    }
}

impl StorageBackend for SimFile {
    fn len(&self) -> io::Result<u64> {
        self.with(false, |i| i.len())
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.with(false, |i| i.read(offset, out))?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end of the file",
            )
        })
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.with(true, |i| i.set_len(len))
    }

    fn sync_data(&self) -> io::Result<()> {
        self.with(true, Image::sync)
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.with(true, |i| i.write(offset, data))
    }
}

#[cfg(test)]
mod tests;
