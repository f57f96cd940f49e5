//! `m2mhub bench http`: the real server in this process on loopback, driven by HTTP clients in
//! the same process (on 2 cores they share the CPU, as a hub and a local gateway would):
//! batch ingest, single-message ingest, and latency at a fixed offered rate (open loop: each
//! message is timed from when it was due, so a stall counts against every message it delays).

use std::{path::PathBuf, sync::Arc, time::Instant};

use anyhow::bail;
use m2mhub_core::{
    ids::TxId,
    message::{Action, Message},
};
use m2mhub_ledger::{DataDir, Ledger, LedgerConfig};
use m2mhub_server::AppState;
use serde_json::json;

use super::{
    report::Row,
    workload::{Fleet, OpenLoop},
};

/// `m2mhub bench http` options.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpArgs {
    /// Messages for the batch run.
    #[arg(long, default_value_t = 200_000)]
    pub batch_messages: usize,
    /// Messages per batch request.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Messages for the single-message run.
    #[arg(long, default_value_t = 30_000)]
    pub single_messages: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Offered rate for the latency run, messages/s.
    #[arg(long, default_value_t = 5000)]
    pub rate: u64,
    /// Length of the latency run, seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Prune the contents of every message recorded before the latency run while it runs
    /// (retention pruning must not stall ingest; with `--batch-messages 1000000` that is
    /// 1M entries).
    #[arg(long)]
    pub prune_during_latency: bool,
    /// JSON results file.
    #[arg(long, default_value = "bench-results/http.json")]
    pub out: PathBuf,
}

/// Begin messages from device `i mod devices`, each device's counters in order: message `k`
/// of the stream is the `k / devices + 1`-th of its sender. Valid in any order across devices.
fn begins(fleet: &Fleet, from: usize, n: usize) -> Vec<(usize, Vec<u8>)> {
    let d = fleet.names.len();
    let mut out: Vec<(usize, Vec<u8>)> = Vec::with_capacity(n);
    let mut msgs: Vec<(usize, Message)> = (from..from + n)
        .map(|k| {
            let s = k % d;
            (
                s,
                Message {
                    sender: fleet.names[s].clone(),
                    receiver: fleet.names[(s + 4) % d].clone(),
                    action: Action::Begin,
                    tx: TxId(0),
                    cause: None,
                    counter: (k / d) as u64 + 1,
                    contents: format!("{{\"reading\":{},\"unit\":\"C\"}}", k % 40),
                    signature: [0; 64],
                    form: m2mhub_core::message::Form::OneHub,
                },
            )
        })
        .collect();
    fleet.sign_all(&mut msgs);
    for (s, m) in msgs {
        let body = serde_json::to_vec(&m.to_submission()).unwrap_or_default();
        out.push((s, body));
    }
    out
}

/// Runs the HTTP benchmark.
pub fn http(a: &HttpArgs) -> anyhow::Result<(serde_json::Value, Vec<Row>)> {
    let tmp = tempfile::tempdir()?;
    let data = DataDir::create(&tmp.path().join("ledger"))?;
    let ledger = Arc::new(Ledger::open(
        &data,
        &LedgerConfig {
            origin: Some("m2mhub/bench".into()),
            default_origin: String::new(),
        },
    )?);
    let devices = 1000;
    let fleet = Fleet::new(devices)?;
    fleet.register(&ledger)?;
    eprintln!("signing the HTTP workloads…");
    // Counters continue across the three runs: each run starts where the last one ended.
    let batch = begins(&fleet, 0, a.batch_messages);
    let single = begins(&fleet, a.batch_messages, a.single_messages);
    let timed_n = (a.rate * a.seconds) as usize;
    let timed = begins(&fleet, a.batch_messages + a.single_messages, timed_n);

    let pruning = a.prune_during_latency.then(|| ledger.clone());
    let rt = tokio::runtime::Runtime::new()?;
    let report = rt.block_on(async move {
        let state = AppState::new(ledger, "bench".into())?.with_failure_limit(u32::MAX, 1e9);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(m2mhub_server::run(listener, state, async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(a.clients * 2)
            .build()?;

        // Batch: clients own disjoint devices, so each device's counters arrive in order.
        let t = Instant::now();
        let batch_rate = {
            let mut per_client: Vec<Vec<Vec<u8>>> = vec![Vec::new(); a.clients.min(8)];
            let c = per_client.len();
            for (s, body) in batch {
                per_client[s % c].push(body);
            }
            let mut tasks = Vec::new();
            for bodies in per_client {
                let (client, url, size) = (client.clone(), url.clone(), a.batch_size);
                tasks.push(tokio::spawn(async move {
                    for chunk in bodies.chunks(size) {
                        let mut req = Vec::with_capacity(
                            chunk.iter().map(Vec::len).sum::<usize>() + chunk.len() + 2,
                        );
                        req.push(b'[');
                        for (i, b) in chunk.iter().enumerate() {
                            if i > 0 {
                                req.push(b',');
                            }
                            req.extend_from_slice(b);
                        }
                        req.push(b']');
                        let r = client
                            .post(format!("{url}/v1/messages/batch"))
                            .header("content-type", "application/json")
                            .body(req)
                            .send()
                            .await?;
                        if !r.status().is_success() {
                            bail!("batch refused: {}", r.status());
                        }
                        let answers: Vec<serde_json::Value> = r.json().await?;
                        if let Some(bad) = answers.iter().find(|v| v["valid"] != true) {
                            bail!("batch message not recorded valid: {bad}");
                        }
                    }
                    Ok(())
                }));
            }
            for t in tasks {
                t.await??;
            }
            a.batch_messages as f64 / t.elapsed().as_secs_f64()
        };
        eprintln!("HTTP batch: {batch_rate:.0} msg/s");

        // Single messages, many clients at once.
        let t = Instant::now();
        let single_rate = {
            let c = a.clients.max(1);
            let mut per_client: Vec<Vec<Vec<u8>>> = vec![Vec::new(); c];
            for (s, body) in single {
                per_client[s % c].push(body);
            }
            let mut tasks = Vec::new();
            for bodies in per_client {
                let (client, url) = (client.clone(), url.clone());
                tasks.push(tokio::spawn(async move {
                    for body in bodies {
                        let r = client
                            .post(format!("{url}/v1/messages"))
                            .header("content-type", "application/json")
                            .body(body)
                            .send()
                            .await?;
                        if !r.status().is_success() {
                            bail!("message refused: {}", r.status());
                        }
                        r.bytes().await?;
                    }
                    Ok(())
                }));
            }
            for t in tasks {
                t.await??;
            }
            a.single_messages as f64 / t.elapsed().as_secs_f64()
        };
        eprintln!("HTTP single: {single_rate:.0} msg/s");

        // Latency at a fixed offered rate, open loop (while pruning, if asked).
        let pruner = pruning.map(|l| {
            std::thread::spawn(move || {
                let t = Instant::now();
                l.prune_contents_before(u64::MAX).map(|n| (n, t.elapsed()))
            })
        });
        let run = OpenLoop::run(
            &client,
            &format!("{url}/v1/messages"),
            timed.into_iter().map(|(_, body)| body).collect(),
            a.rate,
            |_| {},
        )
        .await?;
        let errors = run.errors;
        let (p50, p99, p999) = (run.quantile(0.50), run.quantile(0.99), run.quantile(0.999));
        eprintln!(
            "HTTP latency at {} msg/s: p50 {p50:.2} ms, p99 {p99:.2} ms, p999 {p999:.2} ms",
            a.rate
        );
        let pruned = match pruner {
            Some(p) => {
                let (n, took) = p
                    .join()
                    .map_err(|_| anyhow::anyhow!("the pruning thread panicked"))??;
                eprintln!(
                    "pruned {n} messages' contents in {:.1} s during the latency run",
                    took.as_secs_f64()
                );
                Some(json!({"messages": n, "seconds": took.as_secs_f64()}))
            }
            None => None,
        };
        let _ = stop.send(());
        server.await??;
        let report = json!({
            "bench": "http",
            "batch_msgs_per_s": batch_rate,
            "batch_size": a.batch_size,
            "single_msgs_per_s": single_rate,
            "clients": a.clients,
            "latency_rate_msgs_per_s": a.rate,
            "latency_ms": {"p50": p50, "p99": p99, "p999": p999},
            "pruned_during_latency": pruned,
            "latency_errors": errors,
            "targets": {"batch_msgs_per_s": 30000, "p99_ms_at_5000": 10},
        });
        let rows = vec![
            Row::at_least("HTTP batch ingest", batch_rate, "msg/s", 30_000.0),
            Row::info(
                "HTTP single-message ingest",
                format!(
                    "{} msg/s ({} clients)",
                    super::report::human(single_rate),
                    a.clients
                ),
            ),
            Row::info(
                format!("HTTP latency p50 at {} msg/s", a.rate),
                format!("{p50:.2} ms"),
            ),
            Row::at_most(
                &format!("HTTP latency p99 at {} msg/s", a.rate),
                p99,
                "ms",
                10.0,
            ),
            Row::info(
                format!("HTTP latency p999 at {} msg/s", a.rate),
                format!("{p999:.2} ms ({errors} errors)"),
            ),
        ];
        anyhow::Ok((report, rows))
    })?;
    if let Some(parent) = a.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&a.out, serde_json::to_string_pretty(&report.0)?)?;
    Ok(report)
}
