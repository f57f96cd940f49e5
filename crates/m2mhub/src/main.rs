//! The `m2mhub` command: one module per subcommand under `cmd/`.

mod cmd;
mod config;
mod demo;
mod follow;
mod fork;
mod hops;
mod imports;
mod members;
mod mqtt;
mod remote;
mod streak;
mod tiles;
mod witnessing;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

// Small allocations dominate the MQTT path (a few per message per hop); mimalloc serves them
// with about a fifth less CPU than glibc's malloc in `bench mqtt`. Built without transparent
// huge pages (`no_thp` in Cargo.toml): while a fresh hub's memory grew, the kernel zeroed a
// 2 MiB page at each first touch, and `bench mqtt --rate 5000` had p99 15–24 ms instead of ~5.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// M2MHub records every machine-to-machine message of an IoT network in a tamper-evident
/// ledger, tracks which device caused each one, and flags messages that break the clearance
/// policy.
#[derive(Debug, Parser)]
#[command(name = "m2mhub", version, about, long_about = None)]
struct Cli {
    /// How to write logs (on stderr): text for people, or JSON lines for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event: timestamp, level, target, fields.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the hub with a simulated smart home and city street, and ask it why the oven
    /// switched on. Console on http://127.0.0.1:8080.
    Demo(cmd::demo::Args),
    /// Run the hub: HTTP API and web console on one port.
    Serve(Box<cmd::serve::Args>),
    /// A running hub at a glance: readiness, size, last block, anchor lag, disk.
    Status(cmd::status::Args),
    /// Check a ledger end to end: every verdict, leaf, root, signature and block link.
    Verify(cmd::verify::Args),
    /// Back up a running hub's ledger (a consistent snapshot, taken while it runs).
    Backup(cmd::backup::Args),
    /// Copy a hub's C2SP tiles to a directory (for an object store or a CDN), checking them.
    Mirror(cmd::mirror::Args),
    /// Build a new data directory from a backup; it continues the same log.
    Restore(cmd::restore::Args),
    /// Print a transaction's causal tree from a running hub.
    Trace(cmd::trace::Args),
    /// Export the ledger from a running hub as JSON lines, W3C PROV-JSON or Graphviz DOT.
    Export(cmd::export::Args),
    /// Device tools.
    #[command(subcommand)]
    Device(cmd::device::Command),
    /// Ethereum: deploy the anchoring and ledger contracts.
    #[command(subcommand)]
    Chain(cmd::chain::Command),
    /// Measure the hub: `bench ingest`, `bench gas`.
    #[command(subcommand)]
    Bench(cmd::bench::Command),
}

/// Logs to stderr in `format`, filtered by `M2MHUB_LOG` (tracing's env-filter syntax).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("M2MHUB_LOG")
        // rumqttd (the embedded broker) logs every client that goes away as an error.
        .unwrap_or_else(|_| "m2mhub=info,warn,rumqttd=off".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

fn main() -> std::process::ExitCode {
    // `serve --config FILE` becomes the flags it holds before clap reads them.
    let args = match config::expand(Cli::command(), std::env::args_os().collect()) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let cli = Cli::parse_from(args);
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::run(a),
        Command::Serve(a) => cmd::serve::run(*a),
        Command::Status(a) => cmd::status::run(a),
        Command::Verify(a) => cmd::verify::run(a),
        Command::Backup(a) => cmd::backup::run(a),
        Command::Mirror(a) => cmd::mirror::run(a),
        Command::Restore(a) => cmd::restore::run(a),
        Command::Trace(a) => cmd::trace::run(a),
        Command::Export(a) => cmd::export::run(a),
        Command::Device(c) => cmd::device::run(c),
        Command::Chain(c) => cmd::chain::run(c),
        Command::Bench(c) => cmd::bench::run(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
