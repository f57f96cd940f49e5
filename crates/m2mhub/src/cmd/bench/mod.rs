//! `m2mhub bench`: the performance suite of SPEC §6. Each part prints its figures and writes
//! JSON under `bench-results/`; `bench all` runs every part and adds a Markdown summary of
//! every figure beside its target (`bench-results/BENCH.md`, embedded in the README).

mod disk;
mod federation;
mod hostile;
mod http;
mod ingest;
mod mqtt;
mod report;
mod scale;
mod workload;

use std::{path::PathBuf, process::ExitCode};

use report::Row;
use serde_json::json;

pub use federation::FederationArgs;
pub use hostile::HostileArgs;
pub use http::HttpArgs;
pub use ingest::IngestArgs;
pub use mqtt::MqttArgs;
pub use scale::ScaleArgs;

/// Bench subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Every benchmark below, then a summary table against the targets.
    All(AllArgs),
    /// Durable ingest through the library API, against its ceilings.
    Ingest(IngestArgs),
    /// HTTP batch and single ingest, and latency at a fixed offered rate.
    Http(HttpArgs),
    /// Append rate, trace, proofs, investigation, size and verify at 1M/10M entries.
    Scale(ScaleArgs),
    /// Gas: the paper's Figure 7 (PaperBaseline vs M2MHubLedger) and anchor mode, in revm.
    Gas(super::chain::GasArgs),
    /// End to end over MQTT: device publish → durable record → acknowledgement.
    Mqtt(MqttArgs),
    /// Devices' latency while attackers hold idle and slowloris connections and flood forged
    /// and replayed messages (the hub in its own process).
    Hostile(HostileArgs),
    /// Three federation members on this machine (SPEC §7): the latency a cross-hub message
    /// adds, import lag, witness round trip, and aggregate throughput against one member.
    Federation(FederationArgs),
}

/// `m2mhub bench all` options.
#[derive(Debug, clap::Args)]
pub struct AllArgs {
    /// Ledger sizes for the scale part (10000000 for the full run: ~5 GB of disk).
    #[arg(long, value_delimiter = ',', default_value = "1000000")]
    pub sizes: Vec<u64>,
    /// Directory for the JSON results and the summary.
    #[arg(long, default_value = "bench-results")]
    pub out: PathBuf,
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::All(a) => all(&a),
        Command::Ingest(a) => ingest::ingest(&a).map(|_| ExitCode::SUCCESS),
        Command::Http(a) => {
            let (_, rows) = http::http(&a)?;
            println!("{}", report::markdown(&rows));
            Ok(ExitCode::SUCCESS)
        }
        Command::Scale(a) => {
            let (_, rows) = scale::scale(&a)?;
            println!("{}", report::markdown(&rows));
            Ok(ExitCode::SUCCESS)
        }
        Command::Gas(a) => super::chain::bench_gas(&a),
        Command::Mqtt(a) => mqtt::run(&a),
        Command::Hostile(a) => {
            let (_, rows) = hostile::hostile(&a)?;
            println!("{}", report::markdown(&rows));
            Ok(ExitCode::SUCCESS)
        }
        Command::Federation(a) => {
            let (_, rows) = federation::federation(&a)?;
            println!("{}", report::markdown(&rows));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Rows for the ingest report.
fn ingest_rows(r: &serde_json::Value) -> Vec<Row> {
    let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
    let raw = f("raw_bytes_per_message");
    vec![
        Row::at_least(
            "library ingest, durable, signatures verified",
            f("ingest_msgs_per_s"),
            "msg/s",
            100_000.0,
        ),
        Row::info(
            "… against Ed25519 verification alone",
            format!(
                "{:.2}× ({} msg/s)",
                f("ingest_over_verify"),
                report::human(f("verify_only_msgs_per_s"))
            ),
        ),
        Row::info(
            "… against a raw fsync'd append",
            format!(
                "{:.2}× ({} msg/s)",
                f("ingest_over_raw"),
                report::human(f("raw_append_msgs_per_s"))
            ),
        ),
        Row::at_most(
            &format!("bytes on disk per entry (raw message {raw:.0} B)"),
            f("bytes_on_disk_per_entry"),
            "B",
            2.0 * raw + 200.0,
        ),
        Row::info(
            "… apparent file length per entry (holes included)",
            format!("{:.0} B", f("apparent_bytes_per_entry")),
        ),
    ]
}

fn all(a: &AllArgs) -> anyhow::Result<ExitCode> {
    let out = |name: &str| a.out.join(name);
    let ingest = ingest::ingest(&IngestArgs {
        messages: 200_000,
        devices: 1000,
        batch: 4096,
        data: None,
        out: out("ingest.json"),
    })?;
    let mut rows = ingest_rows(&ingest);
    let (http, http_rows) = http::http(&HttpArgs {
        batch_messages: 200_000,
        batch_size: 1000,
        single_messages: 30_000,
        clients: 64,
        rate: 5000,
        seconds: 10,
        prune_during_latency: false,
        out: out("http.json"),
    })?;
    rows.extend(http_rows);
    let mqtt_args = |rate: Option<f64>, messages: usize, file: &str| MqttArgs {
        messages,
        devices: 50,
        window: 256,
        rate,
        broker: None,
        data: None,
        out: out(file),
    };
    let mqtt = mqtt::measure(&mqtt_args(None, 200_000, "mqtt.json"))?;
    let mqtt_latency = mqtt::measure(&mqtt_args(Some(5000.0), 50_000, "mqtt-latency.json"))?;
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    rows.push(Row::at_least(
        "MQTT ingest, embedded broker, publish → durable ack",
        f(&mqtt, "msgs_per_s"),
        "msg/s",
        30_000.0,
    ));
    rows.push(Row::at_most(
        "MQTT latency p99 at 5000 msg/s",
        f(&mqtt_latency, "latency_p99_ms"),
        "ms",
        10.0,
    ));
    let (hostile, hostile_rows) = hostile::hostile(&HostileArgs {
        idle: 5000,
        slowloris: 5000,
        forged_rate: 5000,
        replayed_rate: 5000,
        rate: 1000,
        seconds: 20,
        out: out("hostile.json"),
    })?;
    rows.extend(hostile_rows);
    let (scale, scale_rows) = scale::scale(&ScaleArgs {
        sizes: a.sizes.clone(),
        devices: 5000,
        batch: 4096,
        data: None,
        out: out("scale.json"),
    })?;
    rows.extend(scale_rows);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let table = report::markdown(&rows);
    let md = format!(
        "Measured by `m2mhub bench all` on {cores} cores ({cpu}), release build.\n\n{table}"
    );
    std::fs::create_dir_all(&a.out)?;
    std::fs::write(out("BENCH.md"), &md)?;
    std::fs::write(
        out("bench.json"),
        serde_json::to_string_pretty(&json!({
            "cores": cores, "cpu": cpu, "ingest": ingest, "http": http, "mqtt": mqtt,
            "mqtt_latency": mqtt_latency, "hostile": hostile, "scale": scale, "summary": rows,
        }))?,
    )?;
    println!("\n{md}");
    println!("results in {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}
