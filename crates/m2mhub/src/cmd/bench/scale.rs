//! `m2mhub bench scale`: grows one ledger to each given size (1M, 10M entries) and measures, at
//! each: the append rate there (against the rate of the first chunk, so a slowdown with size
//! shows), the trace of a 1,000-message transaction, inclusion and consistency proofs, a device
//! investigation, bytes on disk per entry and `verify` throughput.

use std::{path::PathBuf, sync::Arc, time::Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use m2mhub_ledger::{
    Appended, Committer, DataDir, Ledger, LedgerConfig, MAX_PAGE, MessageFilter, Submission,
    verify::verify_snapshot,
};
use serde_json::json;

use super::{
    disk,
    report::{Row, human},
    workload::{Fleet, Planner},
};

/// `m2mhub bench scale` options.
#[derive(Debug, Clone, clap::Args)]
pub struct ScaleArgs {
    /// Ledger sizes to measure at, in entries, ascending (e.g. 1000000,10000000).
    #[arg(long, value_delimiter = ',', default_value = "1000000")]
    pub sizes: Vec<u64>,
    /// Devices in the network.
    #[arg(long, default_value_t = 5000)]
    pub devices: usize,
    /// Messages per block.
    #[arg(long, default_value_t = 4096)]
    pub batch: usize,
    /// Where to grow the ledger (default: a temporary directory; it is large).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// JSON results file.
    #[arg(long, default_value = "bench-results/scale.json")]
    pub out: PathBuf,
}

/// Messages signed and ingested per step.
const CHUNK: usize = 100_000;

/// splitmix64, for query targets.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n.max(1)
    }
}

/// Mean seconds of `f` over `n` runs (after one warm-up run).
fn mean_secs(n: usize, mut f: impl FnMut(usize) -> anyhow::Result<()>) -> anyhow::Result<f64> {
    f(0)?;
    let t = Instant::now();
    for i in 0..n {
        f(i + 1)?;
    }
    Ok(t.elapsed().as_secs_f64() / n as f64)
}

/// Runs the scale benchmark.
pub fn scale(a: &ScaleArgs) -> anyhow::Result<(serde_json::Value, Vec<Row>)> {
    let Some(&largest) = a.sizes.last() else {
        bail!("give at least one size");
    };
    if a.sizes.windows(2).any(|w| w[0] >= w[1]) || a.devices < 8 {
        bail!("sizes must ascend and --devices be at least 8");
    }
    let tmp = tempfile::tempdir()?;
    let dir = a.data.clone().unwrap_or_else(|| tmp.path().join("ledger"));
    let data = DataDir::create(&dir)?;
    let ledger = Arc::new(Ledger::open(
        &data,
        &LedgerConfig {
            origin: Some("m2mhub/bench-scale".into()),
            default_origin: String::new(),
        },
    )?);
    if ledger.view().head.tree_size != 0 {
        bail!(
            "{} already holds a ledger; give an empty --data",
            dir.display()
        );
    }
    let fleet = Fleet::new(a.devices)?;
    fleet.register(&ledger)?;
    // tx 1 gets 1,000 messages spread over the first size.
    let groups = a.sizes[0] / 4;
    let mut planner = Planner::new(
        &fleet,
        a.devices as u64,
        Some((1000, (groups / 1000).max(1))),
    );
    let committer = Committer::start(ledger.clone())?;
    let bar = ProgressBar::new(largest);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {human_pos}/{human_len} entries, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("growing the ledger");
    let mut size = a.devices as u64;
    let mut first_rate = None;
    let mut results = Vec::new();
    let mut rows = Vec::new();
    let mut rng = Rng(7);
    let mut raw_total = (0u64, 0u64);
    for &target in &a.sizes {
        let mut last_rate = 0.0;
        while size < target {
            let n = CHUNK.min((target - size) as usize);
            let mut plan = planner.plan(n);
            fleet.sign_all(&mut plan);
            if raw_total.1 == 0 {
                // The raw size of a message, as `bench ingest` counts it: signed bytes,
                // signature and contents.
                raw_total = plan.iter().fold(raw_total, |(b, k), (_, m)| {
                    let len = m.signing_bytes().len() + m.signature.len() + m.contents.len();
                    (b + len as u64, k + 1)
                });
            }
            let t = Instant::now();
            let (tx, rx) = std::sync::mpsc::channel();
            for chunk in plan.chunks(a.batch) {
                let tx = tx.clone();
                committer.submit(
                    chunk
                        .iter()
                        .map(|(_, m)| Submission::Message(m.clone()))
                        .collect(),
                    move |r| {
                        let _ = tx.send(r);
                    },
                );
            }
            drop(tx);
            for results in rx {
                for r in results {
                    match r.context("ingest")? {
                        Appended::Message(rec) if !rec.valid => {
                            bail!("message {} of the workload was judged invalid", rec.seq)
                        }
                        _ => {}
                    }
                }
            }
            last_rate = n as f64 / t.elapsed().as_secs_f64();
            first_rate.get_or_insert(last_rate);
            size += n as u64;
            bar.set_position(size);
        }
        bar.suspend(|| eprintln!("measuring at {size} entries…"));
        let first = first_rate.unwrap_or(last_rate);
        let raw = raw_total.0 as f64 / raw_total.1.max(1) as f64;
        // A trace is one page of up to 1,000 messages.
        let tx_len = ledger.transaction(1, None, Some(MAX_PAGE))?.messages.len();
        let trace = mean_secs(20, |_| {
            ledger
                .transaction(1, None, Some(MAX_PAGE))
                .map(|_| ())
                .map_err(Into::into)
        })?;
        let inclusion = mean_secs(1000, |_| {
            ledger
                .inclusion_proof(rng.below(size), None)
                .map(|_| ())
                .map_err(Into::into)
        })?;
        let consistency = mean_secs(1000, |_| {
            ledger
                .consistency_proof(1 + rng.below(size - 1), None)
                .map(|_| ())
                .map_err(Into::into)
        })?;
        let investigate = mean_secs(100, |_| {
            let name = fleet.names[rng.below(a.devices as u64) as usize].as_str();
            ledger.device_transactions(name, None, Some(50))?;
            ledger.messages(&MessageFilter {
                device: Some(name.to_owned()),
                limit: Some(100),
                ..MessageFilter::default()
            })?;
            Ok(())
        })?;
        let disk = disk::usage(data.path())?;
        let bytes = disk.allocated as f64 / size as f64;
        let apparent = disk.apparent as f64 / size as f64;
        let verify_rate = if size <= 2_000_000 || size == largest {
            bar.suspend(|| eprintln!("verifying {size} entries…"));
            let key = m2mhub_core::note::NoteVerifier::parse(&ledger.verifier_key())?;
            let t = Instant::now();
            let summary = verify_snapshot(&ledger.snapshot()?, key)
                .map_err(|f| anyhow::anyhow!("verify failed: {f}"))?;
            Some(summary.entries as f64 / t.elapsed().as_secs_f64())
        } else {
            None
        };
        let label = human(size as f64);
        bar.suspend(|| {
            eprintln!(
                "at {label}: append {last_rate:.0} msg/s (first chunk {first:.0}), trace of {tx_len} {:.2} ms, \
                 inclusion {:.1} µs, consistency {:.1} µs, investigation {:.2} ms, {bytes:.0} B/entry on disk ({apparent:.0} apparent){}",
                trace * 1e3,
                inclusion * 1e6,
                consistency * 1e6,
                investigate * 1e3,
                verify_rate.map_or(String::new(), |v| format!(", verify {v:.0} entries/s"))
            )
        });
        results.push(json!({
            "entries": size,
            "append_msgs_per_s": last_rate,
            "first_chunk_append_msgs_per_s": first,
            "trace_ms": trace * 1e3,
            "trace_messages": tx_len,
            "inclusion_proof_ms": inclusion * 1e3,
            "consistency_proof_ms": consistency * 1e3,
            "investigation_ms": investigate * 1e3,
            "bytes_per_entry": bytes,
            "apparent_bytes_per_entry": apparent,
            "raw_bytes_per_message": raw,
            "verify_entries_per_s": verify_rate,
        }));
        rows.push(Row::info(
            format!("append rate at {label} entries"),
            format!(
                "{} msg/s ({:.2}× the first chunk's)",
                human(last_rate),
                last_rate / first
            ),
        ));
        rows.push(Row::at_most(
            &format!("trace of a {tx_len}-message tx at {label}"),
            trace * 1e3,
            "ms",
            5.0,
        ));
        rows.push(Row::at_most(
            &format!("inclusion proof at {label}"),
            inclusion * 1e3,
            "ms",
            1.0,
        ));
        rows.push(Row::at_most(
            &format!("consistency proof at {label}"),
            consistency * 1e3,
            "ms",
            1.0,
        ));
        rows.push(Row::info(
            format!("device investigation at {label}"),
            format!("{:.2} ms", investigate * 1e3),
        ));
        if let Some(v) = verify_rate {
            rows.push(Row::at_least(
                &format!("verify at {label}"),
                v,
                "entries/s",
                100_000.0,
            ));
        }
        rows.push(Row::at_most(
            &format!("bytes on disk per entry at {label} (raw message {raw:.0} B)"),
            bytes,
            "B",
            2.0 * raw + 200.0,
        ));
        rows.push(Row::info(
            format!("… apparent file length per entry at {label} (holes included)"),
            format!("{apparent:.0} B"),
        ));
    }
    bar.finish_and_clear();
    committer.stop();
    let report =
        json!({"bench": "scale", "devices": a.devices, "batch": a.batch, "sizes": results});
    if let Some(parent) = a.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&a.out, serde_json::to_string_pretty(&report)?)?;
    Ok((report, rows))
}
