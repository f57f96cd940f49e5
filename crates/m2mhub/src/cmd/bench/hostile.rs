//! `m2mhub bench hostile`: SPEC §6's hostile load. The hub runs in its own process (`serve`,
//! default front-door limits); attackers bound to 127.0.1.x hold idle and slowloris
//! connections (reopening each one the hub closes) and offer forged and replayed messages,
//! while well-behaved devices on 127.0.0.1 send single messages at a fixed rate. The figure is
//! the devices' latency, open loop: each message is timed from when it was due.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, bail};
use m2mhub_core::{
    ids::TxId,
    message::{Action, Message},
};
use m2mhub_ledger::{DataDir, Ledger, LedgerConfig, Submission};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpSocket,
    time::Instant,
};

use super::{
    report::Row,
    workload::{Fleet, OpenLoop},
};

/// `m2mhub bench hostile` options.
#[derive(Debug, Clone, clap::Args)]
pub struct HostileArgs {
    /// Idle connections the attackers hold (each reopened when the hub closes it).
    #[arg(long, default_value_t = 5000)]
    pub idle: usize,
    /// Slowloris connections: a request head sent one byte a second, never finished.
    #[arg(long, default_value_t = 5000)]
    pub slowloris: usize,
    /// Forged messages offered per second (registered senders, wrong signatures).
    #[arg(long, default_value_t = 5000)]
    pub forged_rate: u64,
    /// Replayed messages offered per second (exact copies of recorded messages).
    #[arg(long, default_value_t = 5000)]
    pub replayed_rate: u64,
    /// The well-behaved devices' rate, messages/s.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Length of the measured run, seconds (after the attack is in place).
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// JSON results file.
    #[arg(long, default_value = "bench-results/hostile.json")]
    pub out: PathBuf,
}

/// Well-behaved devices, then the replaying and the forging attackers' devices.
const GOOD: usize = 1000;
const REPLAYERS: usize = 100;
const FORGERS: usize = 100;
/// Attackers' source addresses: 127.0.1.1 ..= 127.0.1.250.
const ATTACK_ADDRS: u8 = 250;

fn attacker(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        1,
        (i % ATTACK_ADDRS as usize) as u8 + 1,
    ))
}

fn message(fleet: &Fleet, d: usize, counter: u64) -> Message {
    Message {
        sender: fleet.names[d].clone(),
        receiver: fleet.names[d].clone(),
        action: Action::Begin,
        tx: TxId(0),
        cause: None,
        counter,
        contents: format!("{{\"reading\":{},\"unit\":\"C\"}}", counter % 40),
        signature: [0; 64],
        form: m2mhub_core::message::Form::OneHub,
    }
}

fn bodies(fleet: &Fleet, msgs: Vec<(usize, Message)>) -> Vec<Vec<u8>> {
    let mut msgs = msgs;
    fleet.sign_all(&mut msgs);
    msgs.into_iter()
        .map(|(_, m)| serde_json::to_vec(&m.to_submission()).unwrap_or_default())
        .collect()
}

/// `serve` in its own process on `data`; returns it and its URL.
fn start_hub(data: &std::path::Path, max_connections: u64) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["serve", "--data"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .args(["--max-connections", &max_connections.to_string()])
        .env("M2MHUB_OPERATOR_TOKEN", "bench")
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the hub")?;
    let out = child.stdout.take().context("the hub's stdout")?;
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(out));
    let url = loop {
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(u) = l.strip_prefix("listening on ") {
                    break u.to_owned();
                }
            }
            _ => bail!("the hub exited before listening"),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok((child, url))
}

fn stop_hub(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Attack connections open now, and how many the hub has closed.
#[derive(Default)]
struct Held {
    open: AtomicUsize,
    closed_by_hub: AtomicU64,
}

/// Holds one connection from `from` to `hub` at all times until `stop`: idle (sends nothing)
/// or slowloris (a byte of a never-ending head every second).
async fn hold(from: IpAddr, hub: SocketAddr, slow: bool, held: Arc<Held>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(sock) = TcpSocket::new_v4() else {
            return;
        };
        if sock.bind(SocketAddr::new(from, 0)).is_err() {
            return;
        }
        let Ok(mut s) = sock.connect(hub).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        held.open.fetch_add(1, Ordering::Relaxed);
        let head = b"POST /v1/messages HTTP/1.1\r\nHost: hub\r\nX-Padding: ";
        let mut i = 0usize;
        let mut buf = [0u8; 512];
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if slow {
                let b = head.get(i).copied().unwrap_or(b'a');
                i += 1;
                if s.write_all(&[b]).await.is_err() {
                    held.closed_by_hub.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
            match tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await {
                Err(_) => {}
                Ok(Ok(n)) if n > 0 => {}
                Ok(_) => {
                    held.closed_by_hub.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        held.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Flood connections per attack (each paces its share of the rate).
const FLOOD_CONNECTIONS: usize = 200;

/// Offers `bodies` (cycled) at `rate` per second as `POST /v1/messages`, over
/// [`FLOOD_CONNECTIONS`] kept-alive connections from the attackers' addresses `from`, until
/// `stop`; counts the answers by status. Requests are written as prepared bytes on raw
/// sockets: an attacker spends as little as it can per request, and on this shared machine
/// every cycle the attacker saves is one the hub would not have on its own.
async fn flood(
    from: std::ops::Range<usize>,
    hub: SocketAddr,
    bodies: Vec<Vec<u8>>,
    rate: u64,
    statuses: Arc<Mutex<BTreeMap<String, u64>>>,
    stop: Arc<AtomicBool>,
) {
    if rate == 0 || bodies.is_empty() || from.is_empty() {
        return;
    }
    let requests: Arc<Vec<Vec<u8>>> = Arc::new(
        bodies
            .iter()
            .map(|b| {
                let mut r = format!(
                    "POST /v1/messages HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\n\r\n",
                    b.len()
                )
                .into_bytes();
                r.extend_from_slice(b);
                r
            })
            .collect(),
    );
    let per_connection = Duration::from_secs_f64(FLOOD_CONNECTIONS as f64 / rate as f64);
    let mut tasks = Vec::new();
    for c in 0..FLOOD_CONNECTIONS {
        let addr = attacker(from.start + c % from.len());
        let (requests, statuses, stop) = (requests.clone(), statuses.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            // Spread the connections' ticks over one interval.
            let start = Instant::now() + per_connection * c as u32 / FLOOD_CONNECTIONS as u32;
            let mut tick = 0u32;
            let mut conn: Option<tokio::net::TcpStream> = None;
            let mut buf = Vec::with_capacity(4096);
            while !stop.load(Ordering::Relaxed) {
                let due = start + per_connection * tick;
                tick += 1;
                let now = Instant::now();
                if now > due + per_connection {
                    // Still busy with an earlier request: this one is not offered.
                    note(&statuses, "dropped by the attacker (answer too slow)");
                    continue;
                }
                tokio::time::sleep_until(due).await;
                if conn.is_none() {
                    conn = connect_from(addr, hub).await;
                }
                let Some(s) = conn.as_mut() else {
                    note(&statuses, "transport error");
                    continue;
                };
                let req = &requests[(c + tick as usize * FLOOD_CONNECTIONS) % requests.len()];
                match exchange(s, req, &mut buf).await {
                    Some((status, keep)) => {
                        note(&statuses, &status.to_string());
                        if !keep {
                            conn = None;
                        }
                    }
                    None => {
                        note(&statuses, "transport error");
                        conn = None;
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

fn note(statuses: &Mutex<BTreeMap<String, u64>>, k: &str) {
    let mut m = statuses.lock().unwrap_or_else(|p| p.into_inner());
    *m.entry(k.to_owned()).or_default() += 1;
}

async fn connect_from(from: IpAddr, hub: SocketAddr) -> Option<tokio::net::TcpStream> {
    let sock = TcpSocket::new_v4().ok()?;
    sock.bind(SocketAddr::new(from, 0)).ok()?;
    let s = sock.connect(hub).await.ok()?;
    let _ = s.set_nodelay(true);
    Some(s)
}

/// Writes `req` and reads one answer: its status and whether the connection stays open.
async fn exchange(
    s: &mut tokio::net::TcpStream,
    req: &[u8],
    buf: &mut Vec<u8>,
) -> Option<(u16, bool)> {
    s.write_all(req).await.ok()?;
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&buf[..end]).ok()?.to_ascii_lowercase();
        let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let keep = !head.contains("connection: close");
        while buf.len() < end + 4 + length {
            let n = s.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        return Some((status, keep));
    }
}

/// The hub's own p99 from submission to durable answer (all submissions, attackers' included),
/// as the upper bound of its `m2mhub_ingest_seconds` bucket: tells queueing in the committer
/// apart from queueing before it.
async fn committer_p99_ms(url: &str) -> Option<f64> {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("m2mhub_ingest_seconds_bucket{le=\""))
        .filter_map(|l| {
            let (le, n) = l.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, n.trim().parse().ok()?))
        })
        .collect();
    let total = buckets.last()?.1;
    buckets
        .iter()
        .find(|(_, n)| *n >= total * 0.99)
        .map(|(le, _)| le * 1000.0)
}

/// Runs the hostile benchmark.
pub fn hostile(a: &HostileArgs) -> anyhow::Result<(serde_json::Value, Vec<Row>)> {
    let open_files = super::super::serve::raise_open_files();
    let needed = (a.idle + a.slowloris + FLOOD_CONNECTIONS * 2 + 1024) as u64;
    if open_files < needed {
        bail!("this process may open {open_files} files; the attack needs {needed}");
    }
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("hub");
    let fleet = Fleet::new(GOOD + REPLAYERS + FORGERS)?;
    eprintln!("registering the fleet and recording the messages to replay…");
    let replayed = {
        let ledger = Ledger::open(
            &DataDir::create(&dir)?,
            &LedgerConfig {
                origin: Some("m2mhub/bench".into()),
                default_origin: String::new(),
            },
        )?;
        fleet.register(&ledger)?;
        let msgs: Vec<(usize, Message)> = (0..REPLAYERS * 20)
            .map(|k| {
                let d = GOOD + k % REPLAYERS;
                (d, message(&fleet, d, (k / REPLAYERS) as u64 + 1))
            })
            .collect();
        let mut signed = msgs.clone();
        fleet.sign_all(&mut signed);
        for r in ledger.append(
            signed
                .iter()
                .map(|(_, m)| Submission::Message(m.clone()))
                .collect(),
        ) {
            r.context("recording the messages to replay")?;
        }
        bodies(&fleet, msgs)
    };
    let forged: Vec<Vec<u8>> = {
        let mut msgs: Vec<(usize, Message)> = (0..FORGERS * 20)
            .map(|k| {
                let d = GOOD + REPLAYERS + k % FORGERS;
                (d, message(&fleet, d, (k / FORGERS) as u64 + 1))
            })
            .collect();
        fleet.sign_all(&mut msgs);
        msgs.into_iter()
            .map(|(_, mut m)| {
                m.signature[0] ^= 1;
                serde_json::to_vec(&m.to_submission()).unwrap_or_default()
            })
            .collect()
    };
    let n_good = (a.rate * a.seconds) as usize;
    let good: Vec<Vec<u8>> = bodies(
        &fleet,
        (0..n_good)
            .map(|k| (k % GOOD, message(&fleet, k % GOOD, (k / GOOD) as u64 + 1)))
            .collect(),
    );

    // The hub gets a connection cap above the attack, within its own open-file limit (the
    // same as this process's, inherited).
    let cap = open_files.saturating_sub(1024).min(1_000_000);
    let (mut hub, url) = start_hub(&dir, cap)?;
    let addr: SocketAddr = url
        .strip_prefix("http://")
        .context("the hub's URL")?
        .parse()?;
    let rt = tokio::runtime::Runtime::new()?;
    let result = rt.block_on(run(a, addr, &url, replayed, forged, good));
    stop_hub(&mut hub);
    let (report, rows) = result?;
    if let Some(parent) = a.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&a.out, serde_json::to_string_pretty(&report)?)?;
    Ok((report, rows))
}

/// The well-behaved devices: `good` sent at `rate`, open loop, from 127.0.0.1; returns each
/// message's latency from when it was due, and the fewest attack connections
/// seen held while sending.
async fn send_devices(
    good: Vec<Vec<u8>>,
    rate: u64,
    submit: String,
    held: Arc<Held>,
) -> anyhow::Result<(OpenLoop, usize)> {
    let client = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .build()?;
    let mut held_min = usize::MAX;
    let run = OpenLoop::run(&client, &submit, good, rate, |i| {
        if i % rate.max(1) as usize == 0 {
            held_min = held_min.min(held.open.load(Ordering::Relaxed));
        }
    })
    .await?;
    Ok((run, held_min))
}

async fn run(
    a: &HostileArgs,
    addr: SocketAddr,
    url: &str,
    replayed: Vec<Vec<u8>>,
    forged: Vec<Vec<u8>>,
    good: Vec<Vec<u8>>,
) -> anyhow::Result<(serde_json::Value, Vec<Row>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let attack_start = Instant::now();
    let held = Arc::new(Held::default());
    let mut tasks = Vec::new();
    for i in 0..a.idle + a.slowloris {
        tasks.push(tokio::spawn(hold(
            attacker(i),
            addr,
            i >= a.idle,
            held.clone(),
            stop.clone(),
        )));
    }
    let forged_statuses = Arc::new(Mutex::new(BTreeMap::new()));
    let replayed_statuses = Arc::new(Mutex::new(BTreeMap::new()));
    let submit = format!("{url}/v1/messages");
    tasks.push(tokio::spawn(flood(
        0..50,
        addr,
        forged,
        a.forged_rate,
        forged_statuses.clone(),
        stop.clone(),
    )));
    tasks.push(tokio::spawn(flood(
        100..150,
        addr,
        replayed,
        a.replayed_rate,
        replayed_statuses.clone(),
        stop.clone(),
    )));
    // Let the attack take hold: connections opened, the forgers past their first allowance.
    let target = a.idle + a.slowloris;
    let ramp = Instant::now();
    while held.open.load(Ordering::Relaxed) < target * 9 / 10
        && ramp.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    eprintln!(
        "attack in place: {} connections held; devices start sending {} msg/s",
        held.open.load(Ordering::Relaxed),
        a.rate
    );

    // The devices run on a runtime of their own, on their own thread, so what is measured is
    // the hub's answer and not the attackers' tasks queued ahead of the devices' in this
    // process (the attackers would be other machines).
    let devices = {
        let (rate, submit, held) = (a.rate, submit.clone(), held.clone());
        std::thread::spawn(move || -> anyhow::Result<(OpenLoop, usize)> {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(send_devices(good, rate, submit, held))
        })
    };
    let (run, held_min) = tokio::task::spawn_blocking(move || devices.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the devices' thread panicked"))??;
    stop.store(true, Ordering::Relaxed);
    let attack_secs = attack_start.elapsed().as_secs_f64();
    for t in &tasks {
        t.abort();
    }
    if run.latencies_ms.is_empty() {
        bail!("no message was sent");
    }
    let errors = run.errors;
    let (p50, p99, p999) = (run.quantile(0.50), run.quantile(0.99), run.quantile(0.999));
    let closed = held.closed_by_hub.load(Ordering::Relaxed);
    let committer_p99 = committer_p99_ms(url).await;
    let take = |m: &Mutex<BTreeMap<String, u64>>| m.lock().map(|m| m.clone()).unwrap_or_default();
    let (forged_statuses, replayed_statuses) = (take(&forged_statuses), take(&replayed_statuses));
    // Requests the hub answered, per second of attack: with throttled answers held back
    // (tarpit), a flooder gets about one per connection per second, whatever it offers.
    let answered = |m: &BTreeMap<String, u64>| {
        m.iter()
            .filter(|(k, _)| k.parse::<u16>().is_ok())
            .map(|(_, n)| *n)
            .sum::<u64>() as f64
            / attack_secs
    };
    let (forged_answered, replayed_answered) =
        (answered(&forged_statuses), answered(&replayed_statuses));
    eprintln!(
        "devices at {} msg/s under attack: p50 {p50:.2} ms, p99 {p99:.2} ms, p999 {p999:.2} ms, \
         {errors} errors; committer p99 ≤ {committer_p99:?} ms (every submission); attack connections held ≥ {held_min}, closed by the hub {closed}; \
         forged answers {forged_statuses:?} ({forged_answered:.0}/s); replayed answers \
         {replayed_statuses:?} ({replayed_answered:.0}/s)",
        a.rate
    );
    let report = json!({
        "bench": "hostile",
        "rate_msgs_per_s": a.rate,
        "seconds": a.seconds,
        "latency_ms": {"p50": p50, "p99": p99, "p999": p999},
        "errors": errors,
        "attack": {
            "idle_connections": a.idle,
            "slowloris_connections": a.slowloris,
            "connections_held_min": held_min,
            "connections_closed_by_hub": closed,
            "forged_offered_per_s": a.forged_rate,
            "forged_answers": forged_statuses,
            "replayed_offered_per_s": a.replayed_rate,
            "replayed_answers": replayed_statuses,
            "forged_answered_per_s": forged_answered,
            "replayed_answered_per_s": replayed_answered,
            "flood_connections_each": FLOOD_CONNECTIONS,
        },
        "committer_p99_ms_at_most": committer_p99,
        "targets": {"p99_ms": 50},
    });
    let rows = vec![
        Row::info(
            "hostile load (hub in its own process)",
            format!(
                "{} idle + {} slowloris connections, {} forged + {} replayed msg/s offered over \
                 {} connections each ({forged_answered:.0} + {replayed_answered:.0}/s answered)",
                a.idle, a.slowloris, a.forged_rate, a.replayed_rate, FLOOD_CONNECTIONS
            ),
        ),
        Row::info(
            format!("devices' latency p50 at {} msg/s under attack", a.rate),
            format!("{p50:.2} ms ({errors} errors)"),
        ),
        Row::at_most(
            &format!("devices' latency p99 at {} msg/s under attack", a.rate),
            p99,
            "ms",
            50.0,
        ),
    ];
    Ok((report, rows))
}
