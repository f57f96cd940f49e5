//! `m2mhub demo`: the hub on its embedded defaults with a simulated smart home and smart-city
//! street. Devices sign their own messages and send them over the API; chains of cause and
//! effect run several hops deep; a compromised smart TV ends up switching the oven on, and
//! the demo asks the ledger why.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use m2mhub_ledger::{Ledger, MessageFilter};
use m2mhub_server::AppState;

use crate::{
    cmd::serve::{open, shutdown_signal},
    demo::{CHAINS, Network, device::Hub},
};

/// `m2mhub demo` options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory (default: a temporary directory, deleted on exit).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Address for the API and the console.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Background messages per second once the story has run (0: none).
    #[arg(long, default_value_t = 4.0)]
    pub rate: f64,
    /// Run the story, print the answer and stop (no background traffic).
    #[arg(long)]
    pub once: bool,
    /// Three hubs of one federation instead (SPEC §7): a home, a street and the power grid,
    /// each its own `serve` process listening on --listen's port and the next two.
    #[arg(long)]
    pub federation: bool,
    /// With --mqtt, the devices talk to the hub over MQTT through the device SDK.
    #[command(flatten)]
    pub mqtt: crate::mqtt::MqttArgs,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let data = a
        .data
        .clone()
        .unwrap_or_else(|| tmp.path().join("m2mhub-data"));
    if a.federation {
        let rt = tokio::runtime::Runtime::new()?;
        let host = a.listen.ip().to_string();
        rt.block_on(crate::demo::federation::run(
            &data,
            &host,
            a.listen.port(),
            a.once,
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let (ledger, token) = open(&data, None)?;
    tokio::runtime::Runtime::new()?.block_on(demo(a, &data, ledger, token))?;
    Ok(ExitCode::SUCCESS)
}

async fn demo(
    a: Args,
    data: &std::path::Path,
    ledger: std::sync::Arc<Ledger>,
    token: String,
) -> anyhow::Result<()> {
    let state = AppState::new(ledger.clone(), token.clone())?
        .with_simulated_keys(&data.join("simulated"))
        .map_err(anyhow::Error::msg)?
        .with_security_events(super::serve::security_events(data)?);
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("binding {}", a.listen))?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mqtt = a.mqtt.start(&state).await?;
    let signal = shutdown_signal();
    let server = tokio::spawn(m2mhub_server::run(listener, state, async {
        tokio::select! {
            () = signal => {},
            _ = stopped => {},
        }
    }));
    println!("listening on {url}");

    let hub = Hub::new(&url, &token);
    let steps: usize = CHAINS.iter().map(|(_, s)| s.len()).sum();
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(ProgressStyle::with_template(
        "{spinner} {bar:30} {pos}/{len} {msg}",
    )?);
    bar.set_message("registering devices");
    let mut net = Network::register(&hub).await?;
    if let Some((_, broker)) = &mqtt {
        net.connect_mqtt(broker).await?;
    }
    for (title, chain) in CHAINS {
        bar.set_message(*title);
        net.run_chain(&hub, chain, || bar.inc(1)).await?;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    bar.finish_and_clear();

    let l = ledger.clone();
    let answer = tokio::task::spawn_blocking(move || investigate(&l)).await??;
    println!("{answer}");
    println!("console: {url}   (trace any transaction: m2mhub trace TX --url {url})");

    if a.once {
        let _ = stop.send(());
    } else if a.rate > 0.0 {
        println!("background traffic at {} msg/s; Ctrl-C to stop", a.rate);
        let period = Duration::from_secs_f64(2.0 / a.rate);
        let mut round = 0;
        let traffic = async {
            loop {
                tokio::time::sleep(period).await;
                if let Err(e) = net.background(&hub, round).await {
                    tracing::warn!("background traffic: {e:#}");
                }
                round += 1;
            }
        };
        tokio::select! {
            () = traffic => {},
            r = server => { r??; return Ok(()); }
        }
        return Ok(());
    }
    server.await??;
    Ok(())
}

/// Why did the oven switch on? Finds the message that switched it on, its transaction's
/// provenance, the causal chain, and which devices' transactions hold the most invalid
/// messages.
fn investigate(ledger: &Ledger) -> anyhow::Result<String> {
    // The newest messages first.
    let to_oven = ledger.messages(&MessageFilter {
        device: Some("oven".into()),
        before: Some(u64::MAX),
        limit: Some(1000),
        ..Default::default()
    })?;
    let on = to_oven
        .items
        .iter()
        .find(|r| r.receiver == "oven" && r.contents.as_deref().is_some_and(|c| c.contains("ON")))
        .context("no message switched the oven on")?;
    let t = ledger.transaction(on.tx, None, Some(m2mhub_ledger::MAX_PAGE))?;
    let root = ledger
        .view()
        .registry
        .registry
        .get(&t.provenance)
        .map(|d| d.clearance);
    let notices: Vec<&str> = on.notices.iter().map(|n| n.code()).collect();
    let mut out = String::from("\nWhy did the oven switch on?\n");
    out.push_str(&format!(
        "  #{} {} → oven \"{}\" in tx {} — {}\n",
        on.seq,
        on.sender,
        on.contents.as_deref().unwrap_or(""),
        on.tx,
        if on.valid {
            "valid".to_owned()
        } else {
            format!("flagged: {}", notices.join(", "))
        }
    ));
    out.push_str(&format!(
        "  root cause: {} (clearance {}), the provenance of tx {}\n\n",
        t.provenance,
        root.map_or("?".into(), |c| c.to_string()),
        t.tx
    ));
    for line in m2mhub_server::graph::to_text(&t).lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str("\nDevices whose transactions hold invalid messages:\n");
    for p in &ledger.provenance_ranking(None, Some(5))?.items {
        out.push_str(&format!(
            "  {:<18} {} invalid\n",
            p.provenance, p.invalid_messages
        ));
    }
    Ok(out)
}
