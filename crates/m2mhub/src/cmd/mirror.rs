//! `m2mhub mirror --from URL-or-DIR --to DIR`: copies a hub's C2SP tiles to a directory,
//! checking everything it copies (`crate::tiles`), and resumes from what the directory holds.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context, bail};
use m2mhub_core::note::NoteVerifier;

use crate::tiles::{Mirror, Source, open_checkpoint, resume, walk};

/// `m2mhub mirror` options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The log to copy: a tlog-tiles prefix (`http://hub:8080/tlog`) or a directory.
    #[arg(long)]
    pub from: String,
    /// The mirror directory; it keeps the key it was first made with (`DIR/key`).
    #[arg(long)]
    pub to: PathBuf,
    /// The log's verifier key (`name+id+key`); by default the key the mirror holds, else the
    /// hub's own `/v1/key` when `--from` is a hub's `/tlog`.
    #[arg(long)]
    pub key: Option<String>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    tokio::runtime::Runtime::new()?.block_on(mirror(a))
}

async fn mirror(a: Args) -> anyhow::Result<ExitCode> {
    let src = Source::new(&a.from);
    let dest = Mirror::new(&a.to)?;
    let held_key = dest
        .source()
        .get("key")
        .await?
        .map(String::from_utf8)
        .transpose()?;
    let key_line = match (a.key, held_key) {
        (Some(k), Some(held)) if k.trim() != held.trim() => bail!(
            "--key differs from the key this mirror was made with ({}): a mirror follows one log",
            held.trim()
        ),
        (Some(k), _) => k,
        (None, Some(held)) => held,
        (None, None) => {
            let k = src
                .hub_key()
                .await?
                .context("give --key: the source is not a hub's /tlog to read the key from")?;
            println!("pinned the hub's key {k} (check it out of band)");
            k
        }
    };
    let key = NoteVerifier::parse(key_line.trim()).context("parsing the verifier key")?;
    let builder = match dest.source().get("checkpoint").await? {
        Some(bytes) => {
            let (held, _) = open_checkpoint(&bytes, &key, "the mirror's checkpoint")?;
            let b = resume(&dest.source(), held.tree_size).await?;
            if b.root() != held.root {
                bail!(
                    "the mirror's partial tiles do not make its checkpoint's root: the mirror was altered"
                );
            }
            b
        }
        None => m2mhub_core::merkle::TileBuilder::new(),
    };
    let from = builder.size();
    let walked = match walk(&src, &key, builder, Some(&dest), |_| Ok(())).await {
        Ok(w) => w,
        Err(e) => {
            println!("FAILED: {e:#}");
            return Ok(ExitCode::FAILURE);
        }
    };
    std::fs::write(a.to.join("key"), format!("{}\n", key_line.trim()))?;
    println!(
        "mirrored {} new entries ({from} → {}): root {}, {} tiles and bundles checked",
        walked.entries,
        walked.checkpoint.tree_size,
        hex::encode(walked.checkpoint.root),
        walked.tiles_checked
    );
    Ok(ExitCode::SUCCESS)
}
