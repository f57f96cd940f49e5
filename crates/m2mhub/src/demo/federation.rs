//! `m2mhub demo --federation` (SPEC §7): three hubs of one federation — a home, a street and
//! the power grid — each its own `m2mhub serve` process with its own ledger, witnessing the
//! others. Their devices talk across hubs in the federation form (`name@hub`): the grid asks
//! home's smart meter for its load, the street reports a lamp fault to the grid, and a
//! compromised smart TV at home makes the meter tell the grid's substation to shed load. The
//! grid operator then asks the federation what reached the substation and traces it back to
//! `smart_tv@home`, every hop proved in home's cosigned checkpoint.

use std::path::Path;

use anyhow::Context;
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
    let names: Vec<&str> = HUBS.iter().map(|(n, _)| *n).collect();
    let fed = crate::members::start(root, host, port, &names, 1, &[])?;
    let (members, file) = (&fed.members, &fed.file);
    for m in members {
        println!(
            "hub {:<6} {}  data {}",
            m.name,
            m.url,
            root.join(&m.name).display()
        );
    }
    println!(
        "federation of 3 hubs (home, street, grid), file {}",
        file.display()
    );

    // Every device registers at its own hub; the others learn of it by importing.
    let mut devs = Vec::new();
    for ((hub, devices), m) in HUBS.iter().zip(members) {
        for (name, clearance) in *devices {
            let device = Device::new(name, DeviceKey::generate()?, Counter::in_memory(0))?;
            let body = serde_json::json!({"name": name, "clearance": clearance,
                "public_key": device.key().public_hex()});
            m.hub.register_json(name, body).await?;
            devs.push(Dev { hub, device });
        }
    }
    for m in members {
        let others = devs.iter().filter(|d| d.hub != m.name).count();
        crate::members::wait_imports(&m.url, others).await?;
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
    crate::members::wait_witnessed(&home.url, tv_says.seq + 2).await?;
    println!();
    let federation = crate::witnessing::load(file)?;
    crate::hops::trace(&federation, "home", tv_says.tx).await?;
    println!(
        "\nroot cause: smart_tv@home, the provenance of home:{}",
        tv_says.tx
    );
    for m in members {
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
