//! `m2mhub restore`: builds a new data directory from a backup. Every entry is replayed
//! through the ledger's verification, the backup must reproduce its signed checkpoints and
//! trailer, and the directory appears only once whole (built aside, synced, renamed): the hub
//! started on it continues the same log with the same key.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use ed25519_dalek::SigningKey;
use m2mhub_ledger::{
    backup::{self, BACKUP_FILE},
    datadir::{HUB_KEY_FILE, TOKEN_FILE},
};

/// `m2mhub restore` options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backup directory `m2mhub backup --to` wrote (or the backup file itself), holding
    /// the hub-key the operator copied beside it.
    #[arg(long)]
    pub from: PathBuf,
    /// The new data directory: must not exist or be empty.
    #[arg(long)]
    pub data: PathBuf,
    /// The hub's key file (default: hub-key in the backup directory).
    #[arg(long)]
    pub hub_key: Option<PathBuf>,
}

/// Files copied from the backup directory into the new data directory when present.
const COPIED: [&str; 2] = [TOKEN_FILE, m2mhub_chain::rpc::ADDRESSES_FILE];

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let (dir, file) = if a.from.is_file() {
        let dir = a.from.parent().map(PathBuf::from).unwrap_or_default();
        (dir, a.from.clone())
    } else {
        (a.from.clone(), a.from.join(BACKUP_FILE))
    };
    let key_path = a.hub_key.clone().unwrap_or_else(|| dir.join(HUB_KEY_FILE));
    let key_text = std::fs::read_to_string(&key_path).with_context(|| {
        format!(
            "reading {}: copy the hub-key of the hub the backup came from there (or pass \
             --hub-key FILE)",
            key_path.display()
        )
    })?;
    let mut seed = [0u8; 32];
    hex::decode_to_slice(key_text.trim(), &mut seed)
        .with_context(|| format!("{} does not hold a 32-byte hex key", key_path.display()))?;
    let key = SigningKey::from_bytes(&seed);
    let mut files = Vec::new();
    for name in COPIED {
        match std::fs::read(dir.join(name)) {
            Ok(bytes) => files.push((name, bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("reading {}", dir.join(name).display()));
            }
        }
    }
    let input =
        std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
    let s = backup::restore(
        std::io::BufReader::with_capacity(1 << 20, input),
        &a.data,
        &key,
        &files,
    )?;
    println!(
        "restored {} entries in {} blocks ({} contents) of {} into {}",
        s.entries,
        s.blocks,
        s.contents,
        s.origin,
        a.data.display()
    );
    for (name, _) in &files {
        println!("copied {name}");
    }
    println!(
        "it continues the log whose last checkpoint is:\n{}",
        s.checkpoint
    );
    println!(
        "before serving it, compare that checkpoint with the newest one you trust; with \
         anchoring on, serve refuses a tree smaller than the anchored one"
    );
    Ok(ExitCode::SUCCESS)
}
