//! `m2mhub export`: the ledger from a running hub as JSON lines (every entry with its bytes),
//! W3C PROV-JSON or Graphviz DOT (every transaction, or one with `--tx`).

use std::{
    io::{BufWriter, Write},
    process::ExitCode,
};

use clap::ValueEnum;
use m2mhub_ledger::TransactionView;
use serde_json::Value;

use crate::remote::Hub;

/// Export formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// One JSON object per entry: decoded fields, entry_bytes, leaf_hash, contents.
    Jsonl,
    /// W3C PROV-JSON, one document per transaction (JSON lines).
    Prov,
    /// Graphviz DOT, one digraph per transaction.
    Dot,
}

/// `m2mhub export` options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Only this transaction (prov and dot).
    #[arg(long)]
    pub tx: Option<u64>,
    /// The hub.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    let hub = Hub::new(&a.url);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    rt.block_on(async {
        match a.format {
            Format::Jsonl => {
                let mut after: Option<u64> = None;
                loop {
                    let page = hub.page::<Value>("/v1/entries?limit=1000", after).await?;
                    for e in page.items {
                        let seq = e["seq"].as_u64().unwrap_or_default();
                        let full: Value = hub.json(&format!("/v1/entries/{seq}")).await?;
                        writeln!(out, "{full}")?;
                    }
                    let Some(next) = page.next else { break };
                    after = Some(next);
                }
            }
            Format::Prov | Format::Dot => {
                let txs: Box<dyn Iterator<Item = u64>> = match a.tx {
                    Some(t) => Box::new(std::iter::once(t)),
                    None => Box::new(1..),
                };
                for tx in txs {
                    let Some(t): Option<TransactionView> = hub.transaction(tx).await? else {
                        if a.tx.is_some() {
                            anyhow::bail!("the hub has no transaction {tx}");
                        }
                        break;
                    };
                    match a.format {
                        Format::Prov => writeln!(out, "{}", m2mhub_server::graph::to_prov(&t))?,
                        _ => write!(out, "{}", m2mhub_server::graph::to_dot(&t))?,
                    }
                }
            }
        }
        out.flush()?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
