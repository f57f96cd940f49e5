//! `m2mhub trace TX`: a transaction's causal tree as text, from a running hub.

use std::process::ExitCode;

use anyhow::bail;
use m2mhub_ledger::TransactionView;

use crate::remote::Hub;

/// `m2mhub trace` options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The transaction id.
    pub tx: u64,
    /// The hub.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    let t: Option<TransactionView> = rt.block_on(Hub::new(&a.url).transaction(a.tx))?;
    let Some(t) = t else {
        bail!("the hub has no transaction {}", a.tx)
    };
    print!("{}", m2mhub_server::graph::to_text(&t));
    Ok(ExitCode::SUCCESS)
}
