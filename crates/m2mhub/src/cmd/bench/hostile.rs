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

use super::{report::Row, workload::Fleet};

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
/// Most attack requests in flight; past it offered ones are dropped (and counted).
const MAX_ATTACK_IN_FLIGHT: usize = 2000;

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

/// Offers `bodies` (cycled) at `rate` per second to `route`, from `clients` in turn, until
/// `stop`; counts the answers by status.
async fn flood(
    clients: Vec<reqwest::Client>,
    url: String,
    bodies: Vec<Vec<u8>>,
    rate: u64,
    statuses: Arc<Mutex<BTreeMap<String, u64>>>,
    stop: Arc<AtomicBool>,
) {
    if rate == 0 || bodies.is_empty() || clients.is_empty() {
        return;
    }
    let in_flight = Arc::new(AtomicUsize::new(0));
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep_until(start + interval * i as u32).await;
        let note = |k: &str| {
            let mut m = statuses.lock().unwrap_or_else(|p| p.into_inner());
            *m.entry(k.to_owned()).or_default() += 1;
        };
        if in_flight.load(Ordering::Relaxed) >= MAX_ATTACK_IN_FLIGHT {
            note("dropped by the attacker (too many in flight)");
            i += 1;
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let (c, body) = (
            clients[i % clients.len()].clone(),
            bodies[i % bodies.len()].clone(),
        );
        let (url, statuses, in_flight) = (url.clone(), statuses.clone(), in_flight.clone());
        tokio::spawn(async move {
            let r = c
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let k = match r {
                Ok(r) => {
                    let s = r.status().as_u16().to_string();
                    let _ = r.bytes().await;
                    s
                }
                Err(_) => "transport error".to_owned(),
            };
            let mut m = statuses.lock().unwrap_or_else(|p| p.into_inner());
            *m.entry(k).or_default() += 1;
            in_flight.fetch_sub(1, Ordering::Relaxed);
        });
        i += 1;
    }
}

/// Runs the hostile benchmark.
pub fn hostile(a: &HostileArgs) -> anyhow::Result<(serde_json::Value, Vec<Row>)> {
    let open_files = super::super::serve::raise_open_files();
    let needed = (a.idle + a.slowloris + MAX_ATTACK_IN_FLIGHT * 2 + 1024) as u64;
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

async fn run(
    a: &HostileArgs,
    addr: SocketAddr,
    url: &str,
    replayed: Vec<Vec<u8>>,
    forged: Vec<Vec<u8>>,
    good: Vec<Vec<u8>>,
) -> anyhow::Result<(serde_json::Value, Vec<Row>)> {
    let stop = Arc::new(AtomicBool::new(false));
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
    let clients = |from: std::ops::Range<usize>| -> anyhow::Result<Vec<reqwest::Client>> {
        from.map(|i| {
            reqwest::Client::builder()
                .local_address(attacker(i))
                .build()
                .map_err(anyhow::Error::from)
        })
        .collect()
    };
    let forged_statuses = Arc::new(Mutex::new(BTreeMap::new()));
    let replayed_statuses = Arc::new(Mutex::new(BTreeMap::new()));
    let submit = format!("{url}/v1/messages");
    tasks.push(tokio::spawn(flood(
        clients(0..50)?,
        submit.clone(),
        forged,
        a.forged_rate,
        forged_statuses.clone(),
        stop.clone(),
    )));
    tasks.push(tokio::spawn(flood(
        clients(100..150)?,
        submit.clone(),
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

    let client = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .build()?;
    let start = Instant::now() + Duration::from_millis(100);
    let interval = Duration::from_secs_f64(1.0 / a.rate as f64);
    let mut sent = Vec::with_capacity(good.len());
    let mut held_min = usize::MAX;
    for (i, body) in good.into_iter().enumerate() {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due).await;
        if i % a.rate.max(1) as usize == 0 {
            held_min = held_min.min(held.open.load(Ordering::Relaxed));
        }
        let (client, submit) = (client.clone(), submit.clone());
        sent.push(tokio::spawn(async move {
            let r = client
                .post(submit)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let ok = match r {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            (due.elapsed(), ok)
        }));
    }
    let mut lat = Vec::with_capacity(sent.len());
    let mut errors = 0u64;
    for t in sent {
        let (d, ok) = t.await?;
        errors += u64::from(!ok);
        lat.push(d.as_secs_f64() * 1000.0);
    }
    stop.store(true, Ordering::Relaxed);
    for t in &tasks {
        t.abort();
    }
    if lat.is_empty() {
        bail!("no message was sent");
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    let (p50, p99, p999) = (pct(0.50), pct(0.99), pct(0.999));
    let closed = held.closed_by_hub.load(Ordering::Relaxed);
    let take = |m: &Mutex<BTreeMap<String, u64>>| m.lock().map(|m| m.clone()).unwrap_or_default();
    let (forged_statuses, replayed_statuses) = (take(&forged_statuses), take(&replayed_statuses));
    eprintln!(
        "devices at {} msg/s under attack: p50 {p50:.2} ms, p99 {p99:.2} ms, p999 {p999:.2} ms, \
         {errors} errors; attack connections held ≥ {held_min}, closed by the hub {closed}; \
         forged answers {forged_statuses:?}; replayed answers {replayed_statuses:?}",
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
        },
        "targets": {"p99_ms": 50},
    });
    let rows = vec![
        Row::info(
            "hostile load (hub in its own process)",
            format!(
                "{} idle + {} slowloris connections, {} forged + {} replayed msg/s",
                a.idle, a.slowloris, a.forged_rate, a.replayed_rate
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
