//! `m2mhub bench federation` (SPEC §6, §7): three `m2mhub serve` members (home, street, grid)
//! on this machine, as `demo --federation` runs them. It measures:
//! - the latency a cross-hub message adds: home's devices send at a fixed offered rate (open
//!   loop, each message timed from when it was due), half of them local begins recorded by home,
//!   half messages of grid's transactions that home authenticates and forwards to grid; the
//!   figure is the cross-hub p99 minus the local p99 of the same run (target ≤ 5 ms);
//! - import lag: from a registration's answer at home to its import entry at grid;
//! - witness round trip: from a new checkpoint at home to its witnessed `/tlog/checkpoint`;
//! - aggregate throughput: the three members ingesting batches at once, against one member
//!   alone measured in the same run.

use std::{path::PathBuf, time::Instant};

use anyhow::{Context, bail};
use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::message::{Message, MessageSubmission};
use serde_json::{Value, json};

use super::{report::Row, workload::OpenLoop};
use crate::members::{self, Members};

/// `m2mhub bench federation` options.
#[derive(Debug, Clone, clap::Args)]
pub struct FederationArgs {
    /// Offered rate of the latency run, messages/s (half local, half cross-hub).
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Length of the latency run, seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Devices per member.
    #[arg(long, default_value_t = 40)]
    pub devices: usize,
    /// Samples of import lag and witness round trip.
    #[arg(long, default_value_t = 10)]
    pub samples: usize,
    /// Messages each member ingests in the throughput run.
    #[arg(long, default_value_t = 40_000)]
    pub messages: usize,
    /// JSON results file.
    #[arg(long, default_value = "bench-results/federation.json")]
    pub out: PathBuf,
}

const NAMES: [&str; 3] = ["home", "street", "grid"];

fn key(hub: usize, i: usize) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[0] = hub as u8 + 1;
    seed[1..9].copy_from_slice(&(i as u64).to_be_bytes());
    SigningKey::from_bytes(&seed)
}

/// A signed message in the federation form, as JSON bytes.
#[allow(clippy::too_many_arguments)] // the message's own fields
fn signed(
    k: &SigningKey,
    from: &str,
    to: &str,
    action: &str,
    tx: u64,
    tx_hub: Option<&str>,
    counter: u64,
) -> anyhow::Result<Vec<u8>> {
    let mut sub = json!({"sender": from, "receiver": to, "action": action, "counter": counter,
        "contents": "load 1.2 kW", "signature": "0".repeat(128)});
    if action != "begin" {
        sub["tx"] = json!(tx);
    }
    if let Some(h) = tx_hub {
        sub["tx_hub"] = json!(h);
    }
    let sub: MessageSubmission = serde_json::from_value(sub)?;
    let mut m = Message::try_from(sub)?;
    m.signature = k.sign(&m.signing_bytes()).to_bytes();
    Ok(serde_json::to_vec(&m.to_submission())?)
}

pub fn federation(a: &FederationArgs) -> anyhow::Result<(Value, Vec<Row>)> {
    let rt = tokio::runtime::Runtime::new()?;
    let tmp = tempfile::tempdir()?;
    let fed = members::start(tmp.path(), "127.0.0.1", 0, &NAMES, 1, &[])?;
    let r = rt.block_on(run(a, &fed))?;
    if let Some(dir) = a.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&a.out, serde_json::to_vec_pretty(&r.0)?)?;
    println!("wrote {}", a.out.display());
    Ok(r)
}

async fn run(a: &FederationArgs, fed: &Members) -> anyhow::Result<(Value, Vec<Row>)> {
    let http = reqwest::Client::new();
    let (home, grid) = (fed.get("home")?, fed.get("grid")?);
    let n = a.devices.max(SLOTS);
    for (h, m) in fed.members.iter().enumerate() {
        for i in 0..n {
            let name = format!("d{i}");
            let body = json!({"name": name, "clearance": 1,
                "public_key": hex::encode(key(h, i).verifying_key().as_bytes())});
            m.hub.register_json(&name, body).await?;
        }
    }
    for m in &fed.members {
        members::wait_imports(&m.url, 2 * n).await?;
    }
    println!("3 members, {n} devices each, every registration imported by the others");

    let import_lag = import_lag(a, fed, &http).await?;
    let witness_rtt = witness_rtt(a, home).await?;
    println!(
        "import lag median {:.0} ms (max {:.0}); witness round trip median {:.0} ms (max {:.0})",
        median(&import_lag),
        max(&import_lag),
        median(&witness_rtt),
        max(&witness_rtt)
    );

    // Grid's transactions, one per home device of the cross-hub half.
    let half = n / 2;
    let mut txs = Vec::new();
    for i in 0..half {
        let body = signed(
            &key(2, i),
            &format!("d{i}@grid"),
            &format!("d{i}@home"),
            "begin",
            0,
            None,
            1,
        )?;
        let r: Value = post(&http, &grid.url, body).await?;
        txs.push(r["tx"].as_u64().context("no tx")?);
    }
    // The latency run: message k is from home device k mod n; devices below `half` send in
    // grid's transactions (forwarded), the others local begins.
    let total = (a.rate * a.seconds) as usize;
    let mut bodies = Vec::with_capacity(total);
    for k in 0..total {
        let i = k % n;
        let counter = (k / n) as u64 + 2;
        let me = format!("d{i}@home");
        let body = if i < half {
            signed(
                &key(0, i),
                &me,
                &format!("d{i}@grid"),
                "continue",
                txs[i],
                Some("grid"),
                counter,
            )?
        } else {
            signed(
                &key(0, i),
                &me,
                &format!("d{}@home", (i + 1) % n),
                "begin",
                0,
                None,
                counter,
            )?
        };
        bodies.push((usize::from(i < half), body));
    }
    let url = format!("{}/v1/messages", home.url);
    let runs = OpenLoop::run_tagged(&http, &url, bodies, 2, a.rate, |_| {}).await?;
    let (local, cross) = (&runs[0], &runs[1]);
    let errors = local.errors + cross.errors;
    let (lp50, lp99) = (local.quantile(0.5), local.quantile(0.99));
    let (cp50, cp99) = (cross.quantile(0.5), cross.quantile(0.99));
    let added = cp99 - lp99;
    println!(
        "at {} msg/s: local p50 {lp50:.2} ms p99 {lp99:.2} ms; cross-hub p50 {cp50:.2} ms p99 {cp99:.2} ms; added p99 {added:.2} ms; {errors} errors",
        a.rate
    );

    let (single, aggregate) = throughput(a, fed, &http).await?;
    println!(
        "throughput: one member alone {single:.0} msg/s; three at once {aggregate:.0} msg/s ({:.2}×)",
        aggregate / single.max(1e-9)
    );
    let v = json!({
        "members": 3,
        "devices_per_member": n,
        "rate": a.rate,
        "seconds": a.seconds,
        "local_ms": {"p50": lp50, "p99": lp99},
        "cross_hub_ms": {"p50": cp50, "p99": cp99},
        "cross_hub_added_p99_ms": added,
        "errors": errors,
        "import_lag_ms": {"median": median(&import_lag), "max": max(&import_lag)},
        "witness_round_trip_ms": {"median": median(&witness_rtt), "max": max(&witness_rtt)},
        "throughput_msgs_per_s": {"one_member": single, "three_members": aggregate,
            "ratio": aggregate / single.max(1e-9)},
        "targets": {"cross_hub_added_p99_ms": 5},
    });
    let rows = vec![
        Row::at_most(
            &format!(
                "cross-hub message: p99 added over a local one at {} msg/s",
                a.rate
            ),
            added,
            "ms",
            5.0,
        ),
        Row::info(
            "… local p99 / cross-hub p99",
            format!("{lp99:.2} ms / {cp99:.2} ms ({errors} errors)"),
        ),
        Row::info(
            "import lag (registration at home → import at grid), median / max",
            format!("{:.0} ms / {:.0} ms", median(&import_lag), max(&import_lag)),
        ),
        Row::info(
            "witness round trip (new checkpoint → witnessed), median / max",
            format!(
                "{:.0} ms / {:.0} ms",
                median(&witness_rtt),
                max(&witness_rtt)
            ),
        ),
        Row::info(
            "three members ingesting at once, against one alone",
            format!(
                "{:.2}× ({} msg/s against {} msg/s)",
                aggregate / single.max(1e-9),
                super::report::human(aggregate),
                super::report::human(single)
            ),
        ),
    ];
    Ok((v, rows))
}

async fn post(http: &reqwest::Client, url: &str, body: Vec<u8>) -> anyhow::Result<Value> {
    let r = http
        .post(format!("{url}/v1/messages"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("{url}: {}", r.text().await.unwrap_or_default());
    }
    Ok(r.json().await?)
}

/// Milliseconds from each registration's answer at home to its import entry at grid.
async fn import_lag(
    a: &FederationArgs,
    fed: &Members,
    http: &reqwest::Client,
) -> anyhow::Result<Vec<f64>> {
    let (home, grid) = (fed.get("home")?, fed.get("grid")?);
    let mut last = last_registry_seq(http, &grid.url).await?;
    let mut out = Vec::new();
    for s in 0..a.samples {
        let name = format!("lag{s}");
        let body = json!({"name": name, "clearance": 1,
            "public_key": hex::encode(key(9, s).verifying_key().as_bytes())});
        home.hub.register_json(&name, body).await?;
        let t = Instant::now();
        let deadline = t + std::time::Duration::from_secs(60);
        loop {
            let now = last_registry_seq(http, &grid.url).await?;
            if now > last {
                last = now;
                break;
            }
            if Instant::now() > deadline {
                bail!("grid did not import {name} within a minute");
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(out)
}

/// The seq of the member's newest registry change (imports included), via the registry index.
async fn last_registry_seq(http: &reqwest::Client, url: &str) -> anyhow::Result<Option<u64>> {
    let mut after: Option<u64> = None;
    let mut last = None;
    loop {
        let mut u = format!("{url}/v1/entries?registry=true&limit=1000");
        if let Some(a) = after {
            u.push_str(&format!("&after={a}"));
        }
        let page: Value = http.get(&u).send().await?.json().await?;
        for item in page["items"].as_array().into_iter().flatten() {
            last = item["seq"].as_u64().or(last);
        }
        match page["next"].as_u64() {
            Some(n) => after = Some(n),
            None => return Ok(last),
        }
    }
}

/// Milliseconds from a new checkpoint at home (a registration) to home's `/tlog/checkpoint`
/// covering it.
async fn witness_rtt(a: &FederationArgs, home: &members::Member) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::new();
    for s in 0..a.samples {
        let name = format!("rtt{s}");
        let body = json!({"name": name, "clearance": 1,
            "public_key": hex::encode(key(10, s).verifying_key().as_bytes())});
        home.hub.register_json(&name, body).await?;
        let t = Instant::now();
        let size = checkpoint_size(&home.url).await?;
        members::wait_witnessed(&home.url, size).await?;
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(out)
}

async fn checkpoint_size(url: &str) -> anyhow::Result<u64> {
    let note = reqwest::get(format!("{url}/v1/checkpoint"))
        .await?
        .text()
        .await?;
    note.lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .context("no tree size in the checkpoint")
}

/// Batch ingest: home alone, then the three members at once (each its own devices' local
/// begins); messages per second of each. Each member gets [`SLOTS`] requests in flight, each
/// slot with its own devices, so that no device's counters can arrive out of order.
async fn throughput(
    a: &FederationArgs,
    fed: &Members,
    http: &reqwest::Client,
) -> anyhow::Result<(f64, f64)> {
    let alone = batches(a, 0, 0)?;
    let t = Instant::now();
    ingest(http, &fed.members[0].url, alone).await?;
    let single = a.messages as f64 / t.elapsed().as_secs_f64();
    let all: Vec<(String, Vec<Vec<Vec<u8>>>)> = (0..fed.members.len())
        .map(|h| Ok((fed.members[h].url.clone(), batches(a, h, 1)?)))
        .collect::<anyhow::Result<_>>()?;
    let t = Instant::now();
    let runs: Vec<_> = all
        .into_iter()
        .map(|(url, b)| {
            let http = http.clone();
            tokio::spawn(async move { ingest(&http, &url, b).await })
        })
        .collect();
    for r in runs {
        r.await??;
    }
    let aggregate = (a.messages * fed.members.len()) as f64 / t.elapsed().as_secs_f64();
    Ok((single, aggregate))
}

/// Requests in flight per member in the throughput run.
const SLOTS: usize = 4;
/// Messages per batch request.
const BATCH: usize = 1000;

/// Member `h`'s begins for throughput round `round`, as batch bodies per slot: slot `s` holds
/// the devices `i ≡ s (mod SLOTS)`.
fn batches(a: &FederationArgs, h: usize, round: u64) -> anyhow::Result<Vec<Vec<Vec<u8>>>> {
    let n = a.devices.max(SLOTS);
    let hub = NAMES[h];
    // Counters above the latency run's (at most rate × seconds / n + 2) and earlier rounds'.
    let base = (a.rate * a.seconds) / n as u64 + 10 + round * a.messages as u64;
    let mut slots = Vec::new();
    for slot in 0..SLOTS {
        let devices: Vec<usize> = (slot..n).step_by(SLOTS).collect();
        let (mut out, mut items) = (Vec::new(), Vec::with_capacity(BATCH));
        for k in 0..a.messages / SLOTS {
            let i = devices[k % devices.len()];
            let counter = base + (k / devices.len()) as u64;
            let to = format!("d{}@{hub}", (i + 1) % n);
            let m = signed(
                &key(h, i),
                &format!("d{i}@{hub}"),
                &to,
                "begin",
                0,
                None,
                counter,
            )?;
            items.push(serde_json::from_slice::<Value>(&m)?);
            if items.len() == BATCH {
                out.push(serde_json::to_vec(&items)?);
                items.clear();
            }
        }
        if !items.is_empty() {
            out.push(serde_json::to_vec(&items)?);
        }
        slots.push(out);
    }
    Ok(slots)
}

/// Posts each slot's batches to one member in order, the slots at once; every answer checked.
async fn ingest(http: &reqwest::Client, url: &str, slots: Vec<Vec<Vec<u8>>>) -> anyhow::Result<()> {
    let url = format!("{url}/v1/messages/batch");
    let runs: Vec<_> = slots
        .into_iter()
        .map(|batches| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                for b in batches {
                    let answers: Vec<Value> = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(b)
                        .send()
                        .await?
                        .json()
                        .await?;
                    if let Some(e) = answers.iter().find(|a| a.get("error").is_some()) {
                        bail!("a batch message was refused: {e}");
                    }
                }
                Ok(())
            })
        })
        .collect();
    for r in runs {
        r.await??;
    }
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut latencies_ms = v.to_vec();
    latencies_ms.sort_by(f64::total_cmp);
    OpenLoop {
        latencies_ms,
        errors: 0,
    }
    .quantile(0.5)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}
