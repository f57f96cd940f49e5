//! Reading and copying a hub's C2SP tlog-tiles log (SPEC §7) from outside: `m2mhub mirror`
//! copies one to a directory (what an object store or a CDN serves), `m2mhub verify --tiles`
//! checks one, from a URL or a directory.
//!
//! Nothing from the source is trusted: the checkpoint must open under the pinned key, the
//! entries of the bundles are hashed and built into the tree with `TileBuilder` (our own
//! computation from leaves, independent of the hub's stored hashes), that tree's root must be
//! the checkpoint's, and every tile the source serves must equal the one built here. A mirror
//! resumes from the partial tiles of the checkpoint it holds, so growing into the new
//! checkpoint proves the new tree extends the old one. The checkpoint is written last: until
//! it is, the directory still describes the tree it held before.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use m2mhub_core::{
    checkpoint::Checkpoint,
    hash::Hash,
    merkle::{TILE_WIDTH, TileBuilder, leaf_hash, partial_width},
    note::NoteVerifier,
};
use m2mhub_ledger::{Tile, verify::EntryIn};

/// Where a log's resources come from: `https://…/tlog` (any tlog-tiles prefix) or a directory
/// laid out the same way.
#[derive(Debug)]
pub enum Source {
    /// An HTTP prefix, without its trailing slash.
    Url(String, reqwest::Client),
    /// A directory.
    Dir(PathBuf),
}

impl Source {
    /// `http://` and `https://` prefixes are URLs; anything else is a directory.
    pub fn new(s: &str) -> Source {
        if s.starts_with("http://") || s.starts_with("https://") {
            Source::Url(s.trim_end_matches('/').to_owned(), reqwest::Client::new())
        } else {
            Source::Dir(PathBuf::from(s))
        }
    }

    /// The resource at `path` (`checkpoint`, `tile/…`): `None` when the source has none.
    pub async fn get(&self, path: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match self {
            Source::Url(prefix, http) => {
                let url = format!("{prefix}/{path}");
                let r = http
                    .get(&url)
                    .send()
                    .await
                    .with_context(|| format!("GET {url}"))?;
                if r.status() == reqwest::StatusCode::NOT_FOUND {
                    return Ok(None);
                }
                if !r.status().is_success() {
                    bail!("GET {url}: {}", r.status());
                }
                Ok(Some(
                    r.bytes()
                        .await
                        .with_context(|| format!("GET {url}"))?
                        .to_vec(),
                ))
            }
            Source::Dir(dir) => match std::fs::read(dir.join(path)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e).with_context(|| format!("reading {}", dir.join(path).display())),
            },
        }
    }

    async fn need(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        self.get(path)
            .await?
            .with_context(|| format!("{path} is missing from {}", self.describe()))
    }

    fn describe(&self) -> String {
        match self {
            Source::Url(u, _) => u.clone(),
            Source::Dir(d) => d.display().to_string(),
        }
    }

    /// The hub key of a source that is a hub's `/tlog` prefix (its `/v1/key`), if it is one.
    pub async fn hub_key(&self) -> anyhow::Result<Option<String>> {
        let Source::Url(prefix, http) = self else {
            return Ok(None);
        };
        let Some(base) = prefix.strip_suffix("/tlog") else {
            return Ok(None);
        };
        let r = http.get(format!("{base}/v1/key")).send().await?;
        if !r.status().is_success() {
            return Ok(None);
        }
        Ok(Some(r.text().await?.trim().to_owned()))
    }
}

/// What a walk found.
#[derive(Debug)]
pub struct Walked {
    /// The checkpoint it reached.
    pub checkpoint: Checkpoint,
    /// Entries read (from where the walk started).
    pub entries: u64,
    /// Tiles and bundles compared with the ones built here.
    pub tiles_checked: u64,
}

/// Writes files into a mirror directory: each through a temporary file renamed into place.
#[derive(Debug)]
pub struct Mirror {
    dir: PathBuf,
}

impl Mirror {
    /// The mirror at `dir` (created if missing).
    pub fn new(dir: &Path) -> anyhow::Result<Mirror> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Mirror {
            dir: dir.to_owned(),
        })
    }

    fn write(&self, path: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let target = self.dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = target.with_extension("tmp-mirror");
        std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &target).with_context(|| format!("writing {}", target.display()))
    }

    /// The mirror directory as a source (to resume from what it holds).
    pub fn source(&self) -> Source {
        Source::Dir(self.dir.clone())
    }
}

fn hashes_of(bytes: &[u8], path: &str) -> anyhow::Result<Vec<Hash>> {
    if !bytes.len().is_multiple_of(32) {
        bail!(
            "{path} is {} bytes, not a whole number of hashes",
            bytes.len()
        );
    }
    Ok(bytes
        .chunks(32)
        .map(|c| <Hash>::try_from(c).unwrap_or([0; 32]))
        .collect())
}

/// The path of tile `(level, index)` of `width` hashes, or the entry bundle when `level` is
/// `None`.
fn tile_path(level: Option<u8>, index: u64, width: usize) -> String {
    let width = u16::try_from(width).unwrap_or(256);
    let t = match level {
        Some(level) => Tile::Hashes {
            level,
            index,
            width,
        },
        None => Tile::Entries { index, width },
    };
    format!("tile/{}", t.path())
}

/// Opens the checkpoint note `bytes` from `what` under `key`.
pub fn open_checkpoint(
    bytes: &[u8],
    key: &NoteVerifier,
    what: &str,
) -> anyhow::Result<(Checkpoint, String)> {
    let note = String::from_utf8(bytes.to_vec()).with_context(|| format!("{what}: not UTF-8"))?;
    let cp = Checkpoint::open(&note, key)
        .with_context(|| format!("{what}: does not open under {}", key.name()))?;
    Ok((cp, note))
}

/// Resumes a builder from the partial tiles `from` holds for a tree of `size` leaves.
pub async fn resume(from: &Source, size: u64) -> anyhow::Result<TileBuilder> {
    let mut partial = Vec::new();
    for level in 0..8usize {
        let width = partial_width(size, level);
        if width == 0 && size >> (8 * level) == 0 {
            break;
        }
        if width == 0 {
            partial.push(Vec::new());
            continue;
        }
        let index = size >> (8 * (level + 1));
        let path = tile_path(Some(level as u8), index, width);
        partial.push(hashes_of(&from.need(&path).await?, &path)?);
    }
    TileBuilder::resume(size, partial)
        .context("the held partial tiles do not fit the held checkpoint")
}

/// Reads the log at `src` from `builder`'s size up to `src`'s checkpoint (which must open
/// under `key`), checks it as the module says, hands every entry to `replay` in order, and
/// writes every tile, bundle and finally the checkpoint to `mirror` if given. An error names
/// the first thing that does not hold.
pub async fn walk(
    src: &Source,
    key: &NoteVerifier,
    mut builder: TileBuilder,
    mirror: Option<&Mirror>,
    mut replay: impl FnMut(&[EntryIn]) -> anyhow::Result<()>,
) -> anyhow::Result<Walked> {
    let (cp, note) = open_checkpoint(
        &src.need("checkpoint").await?,
        key,
        "the source's checkpoint",
    )?;
    let start = builder.size();
    if cp.tree_size < start {
        bail!(
            "the source's checkpoint is of a tree of {} entries, smaller than the {start} already verified: a rollback or a fork",
            cp.tree_size
        );
    }
    // The leaves already held of the first bundle read (a resumed mirror's partial one): its
    // earlier entries must still hash to them, or the bundle written back would not match.
    let held: Vec<Hash> = builder
        .partial_tiles()
        .find(|(level, _, _)| *level == 0)
        .map(|(_, _, hashes)| hashes.to_vec())
        .unwrap_or_default();
    let mut tiles_checked = 0u64;
    let mut seq = start;
    while seq < cp.tree_size {
        let index = seq / TILE_WIDTH as u64;
        let first = index * TILE_WIDTH as u64;
        let width = (cp.tree_size - first).min(TILE_WIDTH as u64) as usize;
        let path = tile_path(None, index, width);
        let bundle = src.need(&path).await?;
        let mut entries = Vec::with_capacity(width);
        let mut rest = &bundle[..];
        for s in first..first + width as u64 {
            let Some((len, tail)) = rest.split_first_chunk::<2>() else {
                bail!("{path} ends before entry {s}");
            };
            let len = usize::from(u16::from_be_bytes(*len));
            if tail.len() < len {
                bail!("{path} ends inside entry {s}");
            }
            entries.push(EntryIn {
                seq: s,
                bytes: tail[..len].to_vec(),
                contents: None,
            });
            rest = &tail[len..];
        }
        if !rest.is_empty() {
            bail!("{path} holds more than {width} entries");
        }
        for e in entries.iter().filter(|e| e.seq < seq) {
            let i = usize::try_from(e.seq - first).unwrap_or(usize::MAX);
            if held.get(i) != Some(&leaf_hash(&e.bytes)) {
                bail!(
                    "{path}: entry {} differs from the one already verified",
                    e.seq
                );
            }
        }
        let new: Vec<EntryIn> = entries.into_iter().filter(|e| e.seq >= seq).collect();
        replay(&new)?;
        let mut filled = Vec::new();
        for e in &new {
            builder.push(leaf_hash(&e.bytes), |level, index, hashes| {
                filled.push((level, index, hashes.concat()));
            });
        }
        for (level, index, bytes) in filled {
            let path = tile_path(Some(level), index, TILE_WIDTH);
            check_tile(src, &path, &bytes).await?;
            tiles_checked += 1;
            if let Some(m) = mirror {
                m.write(&path, &bytes)?;
            }
        }
        if let Some(m) = mirror {
            m.write(&path, &bundle)?;
        }
        tiles_checked += 1;
        seq = first + width as u64;
    }
    if builder.root() != cp.root {
        bail!(
            "the entries do not produce the checkpoint's root: tree of {} entries, root {} built, {} signed",
            cp.tree_size,
            hex::encode(builder.root()),
            hex::encode(cp.root)
        );
    }
    for (level, index, hashes) in builder.partial_tiles() {
        let path = tile_path(Some(level), index, hashes.len());
        let bytes = hashes.concat();
        check_tile(src, &path, &bytes).await?;
        tiles_checked += 1;
        if let Some(m) = mirror {
            m.write(&path, &bytes)?;
        }
    }
    if let Some(m) = mirror {
        m.write("checkpoint", note.as_bytes())?;
    }
    Ok(Walked {
        checkpoint: cp,
        entries: builder.size() - start,
        tiles_checked,
    })
}

/// Fails unless `src` serves exactly `want` at `path`.
async fn check_tile(src: &Source, path: &str, want: &[u8]) -> anyhow::Result<()> {
    let got = src.need(path).await?;
    if got != want {
        bail!("{path} differs from the tile its entries make (tampered, or of another tree)");
    }
    Ok(())
}
