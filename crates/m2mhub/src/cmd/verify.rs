//! `m2mhub verify`: replay a ledger offline (`--data`) or a running hub through its public
//! API (`--url`), and name the first bad seq on any difference.

use std::{path::PathBuf, process::ExitCode, time::Instant};

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::STANDARD};
use m2mhub_core::note::{NoteSigner, NoteVerifier};
use m2mhub_ledger::{
    BlockRow, DataDir,
    store::Store,
    verify::{EntryIn, Failure, Summary, Verifier, verify_snapshot},
};
use serde::Deserialize;

use crate::remote::Hub;

/// `m2mhub verify` options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A stopped hub's data directory, checked offline.
    #[arg(long, required_unless_present_any = ["url", "tiles", "federation"], conflicts_with_all = ["url", "tiles", "federation"])]
    pub data: Option<PathBuf>,
    /// A running hub, checked from outside through its public API.
    #[arg(long, conflicts_with = "tiles")]
    pub url: Option<String>,
    /// A C2SP tlog-tiles log, a hub's (`http://hub:8080/tlog`) or a mirror's (a URL or a
    /// directory): every entry replayed, every tile rebuilt and compared (SPEC §7).
    #[arg(long)]
    pub tiles: Option<String>,
    /// A federation file (SPEC §7): reads what every member cosigned of every other member as
    /// a witness and checks those checkpoints pairwise consistent, naming a hub that showed
    /// different trees to different members; and checks every member's import entries against
    /// the source member's own registry changes, naming the first skipped or altered one.
    /// With `--chain-rpc`, also each member's ledger against the roots anchored in the
    /// contract its `[[member]]` names (`anchor`).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["url", "tiles"])]
    pub federation: Option<PathBuf>,
    /// Trust this verifier key (`name+id+key`) instead of the hub's own.
    #[arg(long, global = true)]
    pub key: Option<String>,
    #[command(flatten)]
    pub chain: super::chain::VerifyArgs,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    if let Some(file) = &a.federation {
        let fed = crate::witnessing::load(file)?;
        let rt = tokio::runtime::Runtime::new()?;
        let r = rt.block_on(crate::fork::check(&fed))?;
        let i = rt.block_on(crate::imports::check(&fed))?;
        for u in r.unchecked.iter().chain(&i.unchecked) {
            println!("unchecked: {u}");
        }
        for f in &r.forks {
            println!("FORK: {f}");
        }
        for b in &i.bad {
            println!("IMPORT: {b}");
        }
        for (importer, source, n) in &i.lag {
            println!("lag: {importer} has not imported {n} change(s) of {source} yet");
        }
        drop(rt);
        let (anchors_ok, anchored) = super::chain::verify_federation(&a.chain, &fed)?;
        let unchecked = r.unchecked.len() + i.unchecked.len();
        if !r.forks.is_empty() || !i.bad.is_empty() || unchecked > 0 || !anchors_ok {
            println!(
                "FAILED: {} fork(s), {} bad import(s), {unchecked} unchecked{}",
                r.forks.len(),
                i.bad.len(),
                if anchors_ok {
                    ""
                } else {
                    ", anchors do not all match"
                }
            );
            return Ok(ExitCode::FAILURE);
        }
        println!(
            "ok: {} members, {} witnessed checkpoints, {} pairs consistent, {} imports match their source{}",
            fed.members.len(),
            r.views,
            r.pairs,
            i.imports,
            if a.chain.chain_rpc.is_some() {
                format!(", {anchored} members' anchors match their ledgers")
            } else {
                String::new()
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(src) = &a.tiles {
        return tokio::runtime::Runtime::new()?.block_on(tiles(src, a.key.as_deref()));
    }
    let result = match (&a.data, &a.url) {
        (Some(dir), _) => offline(dir, a.key.as_deref())?,
        (None, Some(url)) => {
            tokio::runtime::Runtime::new()?.block_on(online(url, a.key.as_deref()))?
        }
        (None, None) => bail!("give --data DIR or --url URL"),
    };
    let secs = started.elapsed().as_secs_f64();
    match result {
        Ok(s) => {
            if !super::chain::verify(&a.chain, a.data.as_deref(), a.url.as_deref())? {
                return Ok(ExitCode::FAILURE);
            }
            println!(
                "ok: {} entries in {} blocks replayed, {} contents checked, root {} ({:.0} entries/s)",
                s.entries,
                s.blocks,
                s.contents_checked,
                hex::encode(s.root),
                s.entries as f64 / secs.max(1e-9)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(f) => {
            println!("FAILED: {f}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn offline(dir: &std::path::Path, key: Option<&str>) -> anyhow::Result<Result<Summary, Failure>> {
    // redb panics on some damaged pages; the ledger turns those panics into a named failure,
    // so keep the default hook from printing a backtrace over the verdict.
    std::panic::set_hook(Box::new(|_| {}));
    let data = DataDir::existing(dir)?;
    // Every page's checksum first: a file edited behind redb's back is refused, not read.
    let store = Store::open_checked(&data.store_path())
        .context("opening the store (is the hub still running?)")?;
    let snap = store.snapshot()?;
    let verifier = match key {
        Some(k) => NoteVerifier::parse(k).context("parsing --key")?,
        None => {
            let hub_key = data
                .existing_hub_key()?
                .context("no hub-key in the data directory; pass --key")?;
            let origin = snap
                .block(0)?
                .and_then(|b| b.checkpoint.lines().next().map(str::to_owned))
                .context("the ledger has no genesis block")?;
            NoteSigner::new(&origin, hub_key)?.verifier()
        }
    };
    Ok(verify_snapshot(&snap, verifier))
}

#[derive(Debug, Deserialize)]
struct RawEntry {
    seq: u64,
    entry_bytes: String,
    contents: Option<String>,
}

async fn online(url: &str, key: Option<&str>) -> anyhow::Result<Result<Summary, Failure>> {
    let hub = Hub::new(url);
    let key_line = match key {
        Some(k) => k.to_owned(),
        None => hub.text("/v1/key").await?.trim().to_owned(),
    };
    let verifier = NoteVerifier::parse(&key_line).context("parsing the hub's verifier key")?;
    let latest = hub.text("/v1/checkpoint").await?;
    let mut v = Verifier::new(verifier);
    let mut after: Option<u64> = None;
    let mut last_checkpoint = None;
    let mut seen_latest = false;
    let mut pending: Vec<EntryIn> = Vec::new();
    let mut entries_after: Option<u64> = None;
    loop {
        let page = hub.page::<BlockRow>("/v1/blocks?limit=1000", after).await?;
        for b in page.items {
            while v.size() + (pending.len() as u64) < b.tree_size {
                let page = hub
                    .page::<RawEntry>("/v1/entries?limit=1000", entries_after)
                    .await?;
                let Some(last) = page.items.last().map(|e| e.seq) else {
                    break;
                };
                entries_after = Some(last);
                for e in page.items {
                    let bytes = STANDARD
                        .decode(&e.entry_bytes)
                        .with_context(|| format!("entry {}: bad base64", e.seq))?;
                    pending.push(EntryIn {
                        seq: e.seq,
                        bytes,
                        contents: e.contents,
                    });
                }
            }
            let take = (b.tree_size.saturating_sub(v.size()) as usize).min(pending.len());
            let batch: Vec<EntryIn> = pending.drain(..take).collect();
            if let Err(f) = v.push_entries(&batch) {
                return Ok(Err(f));
            }
            if let Err(f) = v.check_block(&b) {
                return Ok(Err(f));
            }
            seen_latest |= b.checkpoint == latest;
            last_checkpoint = Some(b.checkpoint);
        }
        let Some(next) = page.next else { break };
        after = Some(next);
    }
    if last_checkpoint.is_none() {
        bail!("the hub lists no blocks");
    }
    // The checkpoint the hub serves must be one of the blocks just verified.
    if !seen_latest {
        return Ok(Err(Failure {
            seq: None,
            block: None,
            reason: "the hub's current checkpoint is not one of its verified blocks".into(),
        }));
    }
    Ok(Ok(v.finish()))
}

/// `verify --tiles`: replays every entry of the log's bundles through the rules and rebuilds
/// every tile from them (`crate::tiles::walk`).
async fn tiles(src: &str, key: Option<&str>) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let source = crate::tiles::Source::new(src);
    let key_line = match key {
        Some(k) => k.to_owned(),
        None => source
            .hub_key()
            .await?
            .context("give --key: the source is not a hub's /tlog to read the key from")?,
    };
    let key = NoteVerifier::parse(key_line.trim()).context("parsing the verifier key")?;
    let mut v = Verifier::new(key.clone());
    let walked = crate::tiles::walk(
        &source,
        &key,
        m2mhub_core::merkle::TileBuilder::new(),
        None,
        |batch| v.push_entries(batch).map_err(|f| anyhow::anyhow!("{f}")),
    )
    .await;
    match walked {
        Ok(w) => {
            println!(
                "ok: {} entries replayed from tiles, {} tiles and bundles rebuilt and compared, tree of {} entries signed by {}, root {} ({:.0} entries/s)",
                w.entries,
                w.tiles_checked,
                w.checkpoint.tree_size,
                key.name(),
                hex::encode(w.checkpoint.root),
                w.entries as f64 / started.elapsed().as_secs_f64().max(1e-9)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("FAILED: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}
