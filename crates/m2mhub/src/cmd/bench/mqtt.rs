//! `m2mhub bench mqtt`: end-to-end throughput on loopback, device publish → hub acknowledgement.
//!
//! Devices (SDK clients, one MQTT connection each) publish pre-signed messages at QoS 1 with a
//! window of messages in flight; the hub records them through the committer (signatures
//! verified, blocks fsync'd) and acknowledges each on `m2m/ack/{sender}`. A message counts
//! when its device has its acknowledgement. The broker is the embedded one unless `--broker`
//! names another (e.g. a Mosquitto).

use std::{
    collections::BTreeSet,
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use ed25519_dalek::Signer;
use m2mhub_client::{
    keys::DeviceKey,
    mqtt::{BrokerConfig, MqttSettings, MqttTransport},
};
use m2mhub_core::{
    entry::{Entry, Registration},
    ids::TxId,
    message::{Action, Message},
    names::DeviceName,
};
use m2mhub_ledger::{Committer, DataDir, Ledger, LedgerConfig, Submission};
use m2mhub_mqtt::{EmbeddedBroker, HubConfig, MqttHub, Policy, RefusalHook, Release};
use serde_json::json;

/// Paced runs leave the messages due in their first second out of the percentiles.
const WARMUP: Duration = Duration::from_secs(1);

/// `m2mhub bench mqtt` options.
#[derive(Debug, clap::Args)]
pub struct MqttArgs {
    /// Messages to send, in all.
    #[arg(long, default_value_t = 200_000)]
    pub messages: usize,
    /// Devices, each with its own MQTT connection.
    #[arg(long, default_value_t = 50)]
    pub devices: usize,
    /// Messages each device keeps in flight (published, not yet acknowledged).
    #[arg(long, default_value_t = 256)]
    pub window: usize,
    /// Offer this many messages per second in all (paced, open loop) instead of as fast as
    /// the window allows: for latency at a given load (SPEC §6: p99 ≤ 10 ms at 5,000 msg/s).
    #[arg(long)]
    pub rate: Option<f64>,
    /// An external broker (mqtt://host:port) instead of the embedded one.
    #[arg(long)]
    pub broker: Option<String>,
    /// Where to put the ledger (default: a temporary directory).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// JSON results file.
    #[arg(long, default_value = "bench-results/mqtt.json")]
    pub out: PathBuf,
}

/// Devices' keys, registrations, and each device's messages in counter order.
/// The key of bench device `i`.
fn bench_key(i: usize) -> DeviceKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    DeviceKey::from_seed(seed)
}

fn workload(devices: usize, messages: usize) -> anyhow::Result<(Vec<Entry>, Vec<Vec<Message>>)> {
    let keys: Vec<DeviceKey> = (0..devices).map(bench_key).collect();
    let names: Vec<DeviceName> = (0..devices)
        .map(|i| DeviceName::new(&format!("bench-{i:04}")))
        .collect::<Result<_, _>>()?;
    let regs = (0..devices)
        .map(|i| {
            Entry::DeviceRegistered(Registration {
                name: names[i].clone(),
                clearance: 1,
                public_key: keys[i].public().to_bytes(),
                exceptions: BTreeSet::new(),
                simulated: false,
            })
        })
        .collect();
    let per = messages.div_ceil(devices);
    let mut plan: Vec<Vec<Message>> = vec![Vec::with_capacity(per); devices];
    for i in 0..messages {
        let d = i % devices;
        let counter = plan[d].len() as u64 + 1;
        plan[d].push(Message {
            sender: names[d].clone(),
            receiver: names[(d + 1) % devices].clone(),
            action: Action::Begin,
            tx: TxId(0),
            cause: None,
            counter,
            contents: format!("{{\"reading\":{},\"unit\":\"C\"}}", i % 40),
            signature: [0; 64],
            form: m2mhub_core::message::Form::OneHub,
        });
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = devices.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for (part, ks) in plan.chunks_mut(chunk).zip(keys.chunks(chunk)) {
            s.spawn(move || {
                for (msgs, k) in part.iter_mut().zip(ks) {
                    for m in msgs {
                        m.signature = k.signing_key().sign(&m.signing_bytes()).to_bytes();
                    }
                }
            });
        }
    });
    Ok((regs, plan))
}

pub fn run(a: &MqttArgs) -> anyhow::Result<ExitCode> {
    measure(a).map(|_| ExitCode::SUCCESS)
}

/// Runs the benchmark; prints it, writes its JSON and returns it.
pub fn measure(a: &MqttArgs) -> anyhow::Result<serde_json::Value> {
    if a.messages == 0 || a.devices < 2 || a.window == 0 {
        bail!("need --messages > 0, --devices ≥ 2 and --window > 0");
    }
    if a.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--rate must be a positive number of messages per second");
    }
    // Each device sends every `period`, so all together offer `rate`.
    let period = a
        .rate
        .map(|r| Duration::from_secs_f64(a.devices as f64 / r));
    let tmp = tempfile::tempdir()?;
    let dir = a.data.clone().unwrap_or_else(|| tmp.path().join("ledger"));
    eprintln!(
        "preparing {} signed messages from {} devices…",
        a.messages, a.devices
    );
    let (regs, plan) = workload(a.devices, a.messages)?;
    let data = DataDir::create(&dir)?;
    let ledger = Arc::new(Ledger::open(
        &data,
        &LedgerConfig {
            origin: Some("m2mhub/bench".into()),
            default_origin: String::new(),
        },
    )?);
    for r in ledger.append(regs.into_iter().map(Submission::Registry).collect()) {
        r.context("registering the bench devices")?;
    }
    let committer = Committer::start(ledger.clone())?;
    let (url, label) = match &a.broker {
        Some(url) => (url.clone(), "external"),
        None => (
            EmbeddedBroker::start("127.0.0.1:0".parse()?, None)?.url(),
            "embedded",
        ),
    };
    let rt = tokio::runtime::Runtime::new()?;
    let (secs, latencies, cpu) = rt.block_on(async {
        let broker = BrokerConfig::parse(&url)?;
        let hub = MqttHub::start(
            HubConfig {
                broker: broker.clone(),
                client_id: "m2mhub-bench".into(),
                policy: Policy::Audit,
                // As `serve` does: held PUBACKs for an external broker only.
                release: if a.broker.is_some() {
                    Release::AfterCommit
                } else {
                    Release::OnReceipt
                },
                on_refusal: RefusalHook::default(),
                topics: Default::default(),
                forward: Default::default(),
            },
            committer.clone(),
        )
        .await?;
        let mut transports = Vec::with_capacity(plan.len());
        for (i, msgs) in plan.iter().enumerate() {
            let name = msgs.first().map_or("none", |m| m.sender.as_str());
            let settings = MqttSettings {
                ack_timeout: Duration::from_secs(30),
                max_attempts: 4,
                listen: false,
                hub: None,
            };
            transports.push(Arc::new(
                MqttTransport::connect(&broker, name, Some(&bench_key(i)), settings).await?,
            ));
        }
        eprintln!("publishing through the {label} broker at {url}…");
        let cpu_before = cpu_seconds();
        let t = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let devices = plan.len() as u32;
        for (i, (msgs, transport)) in plan.into_iter().zip(transports).enumerate() {
            let window = a.window;
            // Devices' clocks are independent: each starts at its own phase of the period,
            // so together they offer an even rate rather than bursts of every device at once.
            let pace = period.map(|p| (t + p * i as u32 / devices, p));
            tasks.spawn(async move { device_run(transport, msgs, window, pace).await });
        }
        let mut latencies = Vec::with_capacity(a.messages);
        while let Some(r) = tasks.join_next().await {
            latencies.extend(r??);
        }
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds()
            .zip(cpu_before)
            .map(|(after, before)| after - before);
        hub.stop().await;
        anyhow::Ok((secs, latencies, cpu))
    })?;
    committer.stop();
    let n = latencies.len() as f64;
    let rate = n / secs;
    // Paced, the first second warms up (fresh connections, an empty ledger's first growth)
    // and is left out of the percentiles, as `bench http` measures on a warm server.
    let warm = latencies.iter().map(|(due, _)| *due).min();
    let mut latencies: Vec<Duration> = latencies
        .into_iter()
        .filter(|(due, _)| a.rate.is_none() || warm.is_none_or(|w| *due >= w + WARMUP))
        .map(|(_, d)| d)
        .collect();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let (p50, p99, p999) = (pct(0.50), pct(0.99), pct(0.999));
    let offered = a.rate.map_or_else(
        || "as fast as it goes".to_owned(),
        |r| format!("{r:.0} msg/s offered"),
    );
    println!(
        "bench mqtt: {n} messages, {} devices, window {}, {offered}, {label} broker",
        a.devices, a.window
    );
    println!("  end to end (publish → ack, durable) {rate:>10.0} msg/s");
    println!(
        "  latency under this load{}: p50 {p50:.1} ms, p99 {p99:.1} ms, p999 {p999:.1} ms",
        if a.rate.is_some() {
            " (after 1 s of warm-up)"
        } else {
            ""
        }
    );
    // Other work on the machine slows the run down; the process's own CPU time does not
    // depend on it, and says what the cores could do if the hub had them to itself.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu_us = cpu.map(|c| c / n * 1e6);
    if let Some(us) = cpu_us {
        println!(
            "  CPU (hub, broker and devices together) {us:.1} µs/message: {:.0} msg/s on {cores} idle cores",
            cores as f64 * 1e6 / us
        );
    }
    println!("  target (SPEC §6): ≥ 30000 msg/s");
    let report = json!({
        "bench": "mqtt",
        "broker": label,
        "messages": n as usize,
        "devices": a.devices,
        "window": a.window,
        "offered_msgs_per_s": a.rate,
        "msgs_per_s": rate,
        "latency_p50_ms": p50,
        "latency_p99_ms": p99,
        "latency_p999_ms": p999,
        "latency_warmup_excluded_s": a.rate.map(|_| WARMUP.as_secs_f64()),
        "cpu_us_per_message": cpu_us,
        "target_msgs_per_s": 30_000,
    });
    if let Some(parent) = a.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&a.out, serde_json::to_string_pretty(&report)?)?;
    println!("  results in {}", a.out.display());
    Ok(report)
}

/// User and system CPU seconds of this process so far (Linux; `None` elsewhere).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports these in USER_HZ ticks, 100 per second on every mainstream platform.
    Some((utime + stime) / 100.0)
}

/// Publishes one device's messages with `window` in flight; paced, one per period from its start.
/// returns each one's latency.
async fn device_run(
    t: Arc<MqttTransport>,
    msgs: Vec<Message>,
    window: usize,
    pace: Option<(Instant, Duration)>,
) -> anyhow::Result<Vec<(Instant, Duration)>> {
    let mut out = Vec::with_capacity(msgs.len());
    let mut inflight = tokio::task::JoinSet::new();
    let mut tick = pace.map(|(start, period)| tokio::time::interval_at(start.into(), period));
    for m in msgs {
        // Paced, a message is timed from when it was due (open loop): a stall that delays
        // its sending counts against it.
        let started = match &mut tick {
            Some(tick) => tick.tick().await.into_std(),
            None => Instant::now(),
        };
        let f = t.start(m).await?;
        inflight.spawn(async move {
            let r = f.wait().await?;
            if !r.valid {
                bail!("message {} was judged invalid", r.seq);
            }
            anyhow::Ok((started, started.elapsed()))
        });
        while inflight.len() >= window {
            if let Some(r) = inflight.join_next().await {
                out.push(r??);
            }
        }
    }
    while let Some(r) = inflight.join_next().await {
        out.push(r??);
    }
    t.disconnect().await;
    Ok(out)
}
