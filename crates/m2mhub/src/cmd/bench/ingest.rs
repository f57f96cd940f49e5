//! `m2mhub bench ingest`: signed messages through the library API into a durable store, with
//! the ceilings measured in the same run (Ed25519 batch verification of the same signatures,
//! and a raw fsync'd append of the same bytes), printed as ratios and written as JSON.

use std::{io::Write, path::PathBuf, time::Instant};

use anyhow::{Context, bail};
use ed25519_dalek::SigningKey;
use m2mhub_core::{entry::Entry, message::Message, sig::PublicKey};
use m2mhub_ledger::{
    Appended, Committer, DataDir, Ledger, LedgerConfig, SigCheck, Submission, verify_all,
};
use serde_json::json;

use super::{
    disk,
    workload::{Fleet, Planner},
};

/// `m2mhub bench ingest` options.
#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    /// Messages to ingest.
    #[arg(long, default_value_t = 200_000)]
    pub messages: usize,
    /// Devices in the network.
    #[arg(long, default_value_t = 1000)]
    pub devices: usize,
    /// Messages per block (group commit size).
    #[arg(long, default_value_t = 4096)]
    pub batch: usize,
    /// Where to put the ledger (default: a temporary directory).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// JSON results file.
    #[arg(long, default_value = "bench-results/ingest.json")]
    pub out: PathBuf,
}

/// A workload of `messages` signed messages from `devices` devices (see [`Planner`]).
fn workload(
    devices: usize,
    messages: usize,
) -> anyhow::Result<(Vec<Entry>, Vec<Message>, Vec<SigningKey>)> {
    let fleet = Fleet::new(devices)?;
    let mut plan = Planner::new(&fleet, devices as u64, None).plan(messages);
    fleet.sign_all(&mut plan);
    Ok((
        fleet.registrations(),
        plan.into_iter().map(|(_, m)| m).collect(),
        fleet.keys,
    ))
}

/// Runs the ingest benchmark; prints it and returns its JSON report.
pub fn ingest(a: &IngestArgs) -> anyhow::Result<serde_json::Value> {
    let report = ingest_inner(a)?;
    if let Some(parent) = a.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&a.out, serde_json::to_string_pretty(&report)?)?;
    println!("  results in {}", a.out.display());
    Ok(report)
}

fn ingest_inner(a: &IngestArgs) -> anyhow::Result<serde_json::Value> {
    if a.messages == 0 || a.devices < 8 || a.batch == 0 {
        bail!("need --messages > 0, --devices ≥ 8 and --batch > 0");
    }
    let tmp = tempfile::tempdir()?;
    let dir = a.data.clone().unwrap_or_else(|| tmp.path().join("ledger"));
    eprintln!(
        "preparing {} signed messages from {} devices…",
        a.messages, a.devices
    );
    let (regs, msgs, keys) = workload(a.devices, a.messages)?;

    // Ceiling 1: Ed25519 batch verification (ZIP 215) of the same signatures, same batch size.
    let public: Vec<PublicKey> = keys
        .iter()
        .map(|k| PublicKey::for_registration(k.verifying_key().as_bytes()))
        .collect::<Result<_, _>>()?;
    let checks: Vec<SigCheck> = msgs
        .iter()
        .map(|m| {
            let i: usize = m.sender.as_str()[4..].parse().unwrap_or(0);
            SigCheck {
                key: public[i],
                message: m.signing_bytes(),
                signature: m.signature,
            }
        })
        .collect();
    let t = Instant::now();
    let mut verified = 0;
    for chunk in checks.chunks(a.batch) {
        verified += verify_all(chunk).into_iter().filter(|ok| *ok).count();
    }
    let verify_secs = t.elapsed().as_secs_f64();
    if verified != msgs.len() {
        bail!("the workload's signatures do not verify");
    }
    drop(checks);

    // Ceiling 2: a raw append of the same entry bytes, fdatasync'd once per batch.
    let raw_path = tmp.path().join("raw.log");
    let mut raw = std::fs::File::create(&raw_path)?;
    let approx: Vec<Vec<u8>> = msgs
        .iter()
        .map(|m| {
            let mut b = m.signing_bytes();
            b.extend_from_slice(&m.signature);
            b.extend_from_slice(m.contents.as_bytes());
            b
        })
        .collect();
    let t = Instant::now();
    let mut raw_bytes = 0u64;
    for chunk in approx.chunks(a.batch) {
        for b in chunk {
            raw.write_all(b)?;
            raw_bytes += b.len() as u64;
        }
        raw.sync_data()?;
    }
    let raw_secs = t.elapsed().as_secs_f64();
    drop(approx);

    // The real thing, twice on fresh ledgers: `Ledger::append` one batch after another, and
    // the `Committer` pipeline (signatures of the next batch checked while one commits).
    let (seq_secs, _) = ingest_run(&dir.join("sequential"), &regs, &msgs, a.batch, false)?;
    let (ingest_secs, size) = ingest_run(&dir.join("pipelined"), &regs, &msgs, a.batch, true)?;

    let n = msgs.len() as f64;
    let ingest_rate = n / ingest_secs;
    let sequential_rate = n / seq_secs;
    let verify_rate = n / verify_secs;
    let raw_rate = n / raw_secs;
    println!(
        "bench ingest: {} messages, {} devices, {} per block",
        msgs.len(),
        a.devices,
        a.batch
    );
    println!("  ledger, pipelined (durable) {ingest_rate:>10.0} msg/s");
    println!("  ledger, one batch at a time {sequential_rate:>10.0} msg/s");
    println!(
        "  Ed25519 verify only       {verify_rate:>12.0} msg/s   ingest = {:.2}× this ceiling",
        ingest_rate / verify_rate
    );
    println!(
        "  raw fsync'd append        {raw_rate:>12.0} msg/s   ingest = {:.2}× this ceiling",
        ingest_rate / raw_rate
    );
    println!(
        "  on disk: {:.0} B/entry, {:.0} B apparent (raw bytes {:.0} B/message)",
        size.allocated as f64 / n,
        size.apparent as f64 / n,
        raw_bytes as f64 / n
    );
    println!("  target (SPEC §6): ≥ 100000 msg/s");
    let report = json!({
        "bench": "ingest",
        "messages": msgs.len(),
        "devices": a.devices,
        "batch": a.batch,
        "ingest_msgs_per_s": ingest_rate,
        "sequential_append_msgs_per_s": sequential_rate,
        "verify_only_msgs_per_s": verify_rate,
        "raw_append_msgs_per_s": raw_rate,
        "ingest_over_verify": ingest_rate / verify_rate,
        "ingest_over_raw": ingest_rate / raw_rate,
        "bytes_on_disk_per_entry": size.allocated as f64 / n,
        "apparent_bytes_per_entry": size.apparent as f64 / n,
        "raw_bytes_per_message": raw_bytes as f64 / n,
        "target_msgs_per_s": 100_000,
    });
    Ok(report)
}

/// Ingests `msgs` into a fresh ledger in `dir`; returns the seconds taken and the store's size.
fn ingest_run(
    dir: &std::path::Path,
    regs: &[Entry],
    msgs: &[Message],
    batch: usize,
    pipelined: bool,
) -> anyhow::Result<(f64, disk::Usage)> {
    let data = DataDir::create(dir)?;
    let config = LedgerConfig {
        origin: Some("m2mhub/bench".into()),
        default_origin: String::new(),
    };
    let ledger = std::sync::Arc::new(Ledger::open(&data, &config)?);
    for r in ledger.append(regs.iter().cloned().map(Submission::Registry).collect()) {
        r.context("registering the bench devices")?;
    }
    let label = if pipelined {
        "pipelined"
    } else {
        "one batch at a time"
    };
    let t = Instant::now();
    let results: Vec<Vec<m2mhub_ledger::Result<Appended>>> = if pipelined {
        let committer = Committer::start(ledger.clone())?;
        let (tx, rx) = std::sync::mpsc::channel();
        for (i, chunk) in msgs.chunks(batch).enumerate() {
            let tx = tx.clone();
            committer.submit(
                chunk.iter().cloned().map(Submission::Message).collect(),
                move |r| {
                    let _ = tx.send((i, r));
                },
            );
        }
        drop(tx);
        let mut all: Vec<_> = rx.iter().collect();
        committer.stop();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, r)| r).collect()
    } else {
        let mut all = Vec::new();
        for (i, chunk) in msgs.chunks(batch).enumerate() {
            all.push(ledger.append(chunk.iter().cloned().map(Submission::Message).collect()));
            if i % 16 == 15 {
                eprint!("\r{label}: {}/{} messages", (i + 1) * batch, msgs.len());
            }
        }
        all
    };
    let secs = t.elapsed().as_secs_f64();
    eprintln!("\r{label}: {} messages in {secs:.2} s", msgs.len());
    let mut recorded = 0;
    for r in results.into_iter().flatten() {
        match r.context("ingest")? {
            Appended::Message(rec) if !rec.valid => {
                bail!("message {} of the workload was judged invalid", rec.seq)
            }
            _ => recorded += 1,
        }
    }
    if recorded != msgs.len() {
        bail!("{recorded} of {} messages recorded", msgs.len());
    }
    if pipelined {
        let n = (regs.len() + msgs.len()) as f64;
        eprintln!("  space per entry by table (stored + metadata + fragmented):");
        for t in ledger.snapshot()?.table_space()? {
            eprintln!(
                "    {:<18} {:>7.1} + {:>6.1} + {:>6.1} B  ({} leaf pages)",
                t.name,
                t.stored as f64 / n,
                t.metadata as f64 / n,
                t.fragmented as f64 / n,
                t.leaf_pages
            );
        }
    }
    Ok((secs, disk::usage(data.path())?))
}
