//! `m2mhub trace TX`: a transaction's causal tree as text, from a running hub; with
//! `--federation FILE`, `trace hub:tx` reads it from that member (SPEC §7: a transaction lives
//! in its home hub's ledger) and checks every hop against the member's witnessed checkpoint.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context, bail};
use m2mhub_ledger::TransactionView;

use crate::remote::Hub;

/// `m2mhub trace` options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The transaction: its id, or `hub:tx` with `--federation`.
    pub tx: String,
    /// The hub (without `--federation`).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The federation file (SPEC §7): `TX` is `hub:tx`, read from that member and each hop
    /// proved in its checkpoint cosigned by the `[witness]` policy's number of members.
    #[arg(long)]
    pub federation: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    let Some(file) = &a.federation else {
        let tx: u64 = a.tx.parse().with_context(|| {
            format!(
                "{:?} is no transaction id (hub:tx needs --federation)",
                a.tx
            )
        })?;
        let t: Option<TransactionView> = rt.block_on(Hub::new(&a.url).transaction(tx))?;
        let Some(t) = t else {
            bail!("the hub has no transaction {tx}")
        };
        print!("{}", m2mhub_server::graph::to_text(&t));
        return Ok(ExitCode::SUCCESS);
    };
    let federation = crate::witnessing::load(file)?;
    let (hub, tx) =
        a.tx.split_once(':')
            .and_then(|(h, t)| Some((h, t.parse::<u64>().ok()?)))
            .with_context(|| format!("{:?} is not hub:tx", a.tx))?;
    rt.block_on(crate::hops::trace(&federation, hub, tx))
}
