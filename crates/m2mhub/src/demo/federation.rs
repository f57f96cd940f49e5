//! `m2mhub demo --federation` (SPEC §7): three hubs of one federation — a home, a street and
//! the power grid — each its own `m2mhub serve` process with its own ledger, witnessing the
//! others. Their devices talk across hubs in the federation form (`name@hub`): the grid asks
//! home's smart meter for its load, the street reports a lamp fault to the grid, and a
//! compromised smart TV at home makes the meter tell the grid's substation to shed load. The
//! grid operator then asks the federation what reached the substation and traces it back to
//! `smart_tv@home`, every hop proved in home's cosigned checkpoint.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use m2mhub_client::{Device, counter::Counter, keys::DeviceKey};
use m2mhub_core::message::Action;
use m2mhub_ledger::Record;

use crate::demo::device::Hub;

/// The members: (name, devices as (name, clearance)).
const HUBS: [(&str, &[(&str, u32)]); 3] = [
    (
        "home",
        &[("smart_tv", 1), ("smart_meter", 1), ("thermostat", 1)],
    ),
    ("street", &[("street_lamp", 3), ("traffic_camera", 2)]),
    ("grid", &[("substation", 3), ("dispatcher", 3)]),
];

/// One member: its `serve` process (killed on drop) and its client.
struct Member {
    name: &'static str,
    url: String,
    child: Child,
    hub: Hub,
}

impl Drop for Member {
    fn drop(&mut self) {
        // SIGTERM would be gentler; the demo's data is throwaway unless --data was given, and
        // every acknowledged entry is durable anyway.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A device of the demo, signing for itself.
struct Dev {
    hub: &'static str,
    device: Device,
}

impl Dev {
    fn name(&self) -> String {
        format!("{}@{}", self.device.name(), self.hub)
    }
}

/// Runs the federated demo under `root`, members listening on `port`, `port + 1`, `port + 2`
/// (port 0: three free ports).
pub async fn run(root: &Path, host: &str, port: u16, once: bool) -> anyhow::Result<()> {
    let token = hex::encode(rand_bytes()?);
    let ports = ports(host, port)?;
    let exe = std::env::current_exe().context("finding the m2mhub binary")?;
    // Each hub's data directory and key first: the federation file names their keys.
    let mut lines = String::from("[witness]\ncosignatures = 1\n");
    for (i, (name, _)) in HUBS.iter().enumerate() {
        let data = root.join(name);
        let (ledger, _) = crate::cmd::serve::open(&data, Some(format!("m2mhub/{name}")))?;
        lines.push_str(&format!(
            "\n[[member]]\nname = \"{name}\"\norigin = \"m2mhub/{name}\"\nkey = \"{}\"\nurl = \"http://{host}:{}\"\n",
            ledger.verifier_key(),
            ports[i]
        ));
    }
    let file = root.join("federation.toml");
    std::fs::write(&file, lines)?;
    let mut members = Vec::new();
    for (i, (name, _)) in HUBS.iter().enumerate() {
        members.push(start(
            &exe,
            root,
            name,
            &file,
            &format!("{host}:{}", ports[i]),
            &token,
        )?);
    }
    println!(
        "federation of 3 hubs (home, street, grid), file {}",
        file.display()
    );

    // Every device registers at its own hub; the others learn of it by importing.
    let mut devs = Vec::new();
    for ((hub, devices), m) in HUBS.iter().zip(&members) {
        for (name, clearance) in *devices {
            let device = Device::new(name, DeviceKey::generate()?, Counter::in_memory(0))?;
            let body = serde_json::json!({"name": name, "clearance": clearance,
                "public_key": device.key().public_hex()});
            m.hub.register_json(name, body).await?;
            devs.push(Dev { hub, device });
        }
    }
    for m in &members {
        let others = devs.iter().filter(|d| d.hub != m.name).count();
        wait_imports(&m.url, others).await?;
    }
    println!("each hub imported the others' registrations (witnessed, with proofs)");

    let find = |n: &str| devs.iter().position(|d| d.name() == n);
    let idx = |n: &str| find(n).with_context(|| format!("no device {n}"));
    let (tv, meter, substation, lamp, dispatcher) = (
        idx("smart_tv@home")?,
        idx("smart_meter@home")?,
        idx("substation@grid")?,
        idx("street_lamp@street")?,
        idx("dispatcher@grid")?,
    );
    let hub_of = |d: &Dev| members.iter().find(|m| m.name == d.hub).map(|m| &m.hub);

    // 1. The grid's dispatcher asks home's meter for its load; the meter answers through its
    //    own hub, which forwards the answer to the grid (the transaction's home).
    let ask = send(
        &mut devs[dispatcher],
        hub_of,
        "smart_meter@home",
        Action::Begin,
        None,
        "report load",
    )
    .await?;
    send(
        &mut devs[meter],
        hub_of,
        "dispatcher@grid",
        Action::Continue,
        Some(&ask),
        "load 3.2 kW",
    )
    .await?;
    // 2. The street reports a lamp fault to the substation.
    let fault = send(
        &mut devs[lamp],
        hub_of,
        "substation@grid",
        Action::Begin,
        None,
        "lamp 17 fault",
    )
    .await?;
    send(
        &mut devs[substation],
        hub_of,
        "street_lamp@street",
        Action::End,
        Some(&fault),
        "crew sent",
    )
    .await?;
    // 3. The compromised TV tells the meter to "update"; the meter, obeying, tells the grid's
    //    substation to shed the neighbourhood's load.
    let tv_says = send(
        &mut devs[tv],
        hub_of,
        "smart_meter@home",
        Action::Begin,
        None,
        "firmware: report max load",
    )
    .await?;
    send(
        &mut devs[meter],
        hub_of,
        "substation@grid",
        Action::Continue,
        Some(&tv_says),
        "SHED LOAD NOW",
    )
    .await?;

    // The grid operator's investigation.
    let grid = members
        .iter()
        .find(|m| m.name == "grid")
        .context("no grid hub")?;
    let home = members
        .iter()
        .find(|m| m.name == "home")
        .context("no home hub")?;
    println!("\nWhy did the substation get SHED LOAD NOW? (asked at the grid's hub)");
    let page: serde_json::Value = reqwest::get(format!(
        "{}/v1/federation/devices/substation@grid/transactions",
        grid.url
    ))
    .await?
    .json()
    .await?;
    for t in page["items"].as_array().into_iter().flatten() {
        println!(
            "  {:<10} begun by {:<20} {} message(s) to the substation, {} flagged",
            t["id"].as_str().unwrap_or("?"),
            t["provenance"].as_str().unwrap_or("?"),
            t["messages_to_device"],
            t["invalid_to_device"]
        );
    }
    // The trace needs home's witnessed checkpoint to cover the transaction.
    wait_witnessed(&home.url, tv_says.seq + 2).await?;
    println!();
    let federation = crate::witnessing::load(&file)?;
    crate::hops::trace(&federation, "home", tv_says.tx).await?;
    println!(
        "\nroot cause: smart_tv@home, the provenance of home:{}",
        tv_says.tx
    );
    for m in &members {
        println!("console of {:<6} {}/", m.name, m.url);
    }
    println!(
        "trace it yourself: m2mhub trace home:{} --federation {}",
        tv_says.tx,
        file.display()
    );
    if !once {
        println!("Ctrl-C to stop the three hubs");
        crate::cmd::serve::shutdown_signal().await;
    }
    Ok(())
}

/// Signs `action` from `d` to `to` and sends it to `d`'s own hub: a `begin` starts a
/// transaction there; a `continue` or `end` carries on `prior`'s, wherever its home is.
async fn send<'a>(
    d: &mut Dev,
    hub_of: impl Fn(&Dev) -> Option<&'a Hub>,
    to: &str,
    action: Action,
    prior: Option<&Sent>,
    contents: &str,
) -> anyhow::Result<Sent> {
    let (tx, tx_hub, cause) = match prior {
        Some(p) => (p.tx, p.hub.as_str(), Some(p.seq)),
        None => (0, "", None),
    };
    let m = d
        .device
        .sign_federated(d.hub, to, action, tx, tx_hub, cause, contents)?;
    let home = if action == Action::Begin {
        d.hub
    } else {
        tx_hub
    };
    let hub = hub_of(d).with_context(|| format!("no hub for {}", d.name()))?;
    let r: Record = hub.post_message(&m).await?;
    println!(
        "  {home}:{:<4} {} -> {}  {action:<8} \"{contents}\"{}",
        r.seq,
        d.name(),
        to,
        if r.valid {
            String::new()
        } else {
            let codes: Vec<_> = r.notices.iter().map(|n| n.code()).collect();
            format!("  flagged: {}", codes.join(", "))
        }
    );
    Ok(Sent {
        hub: home.to_owned(),
        tx: r.tx,
        seq: r.seq,
    })
}

/// Where a sent message was recorded.
struct Sent {
    hub: String,
    tx: u64,
    seq: u64,
}

/// Starts member `name`'s `serve` process and waits for its `listening on` line.
fn start(
    exe: &Path,
    root: &Path,
    name: &'static str,
    file: &Path,
    listen: &str,
    token: &str,
) -> anyhow::Result<Member> {
    let data: PathBuf = root.join(name);
    let mut child = Command::new(exe)
        .args(["serve", "--data"])
        .arg(&data)
        .args(["--listen", listen, "--origin", &format!("m2mhub/{name}")])
        .arg("--federation")
        .arg(file)
        .args(["--hub-name", name])
        .env("M2MHUB_OPERATOR_TOKEN", token)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting hub {name}"))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut url = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(u) = line.strip_prefix("listening on ") {
            url = Some(u.trim().to_owned());
            break;
        }
    }
    let Some(url) = url else {
        let _ = child.kill();
        bail!("hub {name} did not start (is {listen} free? try --listen with another port)");
    };
    println!("hub {name:<6} {url}  data {}", data.display());
    Ok(Member {
        name,
        hub: Hub::new(&url, token),
        url,
        child,
    })
}

/// Waits (at most a minute) until the hub at `url` holds `n` import entries.
async fn wait_imports(url: &str, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let page: serde_json::Value =
            reqwest::get(format!("{url}/v1/entries?registry=true&limit=1000"))
                .await?
                .json()
                .await?;
        let mut imports = 0;
        for item in page["items"].as_array().into_iter().flatten() {
            let e: serde_json::Value = reqwest::get(format!("{url}/v1/entries/{}", item["seq"]))
                .await?
                .json()
                .await?;
            imports += usize::from(e["kind"] == "import");
        }
        if imports >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} imported {imports} of {n} registrations in a minute");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits (at most a minute) until the hub at `url` serves a witnessed checkpoint of at least
/// `size` entries.
async fn wait_witnessed(url: &str, size: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = reqwest::get(format!("{url}/tlog/checkpoint")).await?;
        if r.status().is_success() {
            let note = r.text().await?;
            let got = note
                .lines()
                .nth(1)
                .and_then(|l| l.parse::<u64>().ok())
                .unwrap_or(0);
            if got >= size {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("{url} has no witnessed checkpoint of {size} entries after a minute");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `port` and the next two, or for port 0 three ports free now (the federation file must name
/// them before the hubs start).
fn ports(host: &str, port: u16) -> anyhow::Result<[u16; 3]> {
    if port != 0 {
        return Ok([port, port + 1, port + 2]);
    }
    let mut out = [0; 3];
    let held: Vec<std::net::TcpListener> = (0..3)
        .map(|_| std::net::TcpListener::bind((host, 0)))
        .collect::<Result<_, _>>()
        .with_context(|| format!("finding free ports on {host}"))?;
    for (o, l) in out.iter_mut().zip(&held) {
        *o = l.local_addr()?.port();
    }
    Ok(out)
}

fn rand_bytes() -> anyhow::Result<[u8; 16]> {
    let mut b = [0u8; 16];
    m2mhub_ledger::datadir::random_bytes(&mut b)?;
    Ok(b)
}
