//! `m2mhub chain deploy`, and the chain options of `serve` (anchoring, mirroring), `verify`
//! (the local ledger against the anchored roots) and `bench gas`. The logic lives in
//! `m2mhub-chain`; this file parses options and prints.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use anyhow::{Context, bail};
use m2mhub_chain::{
    Address, B256, ChainError,
    anchor::Anchorer,
    gas,
    mirror::Mirror,
    rpc::{self, Addresses},
};
use m2mhub_ledger::Ledger;

/// Chain subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Deploy M2MHubAnchor and M2MHubLedger, owned by the key's address; print their
    /// addresses and (with --data) write them to DATA/chain.json for `serve` and `verify`.
    Deploy(DeployArgs),
}

/// `m2mhub chain deploy` options.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// JSON-RPC endpoint of any EVM node (anvil, geth, reth, a public chain).
    #[arg(long)]
    pub rpc: String,
    /// File holding the hub's chain private key (hex); its address owns the contracts.
    #[arg(long)]
    pub key_file: PathBuf,
    /// The hub's data directory: the addresses go to DATA/chain.json.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// What `serve` does on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Anchor checkpoints in M2MHubAnchor.
    Anchor,
    /// Anchor, and mirror every registry change and message to M2MHubLedger.
    Full,
}

/// `serve`'s chain options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Anchor checkpoints through this JSON-RPC endpoint (addresses from DATA/chain.json).
    #[arg(long, requires = "chain_key_file")]
    pub chain_rpc: Option<String>,
    /// File holding the hub's chain private key (hex), the contracts' owner.
    #[arg(long)]
    pub chain_key_file: Option<PathBuf>,
    /// How often to anchor the latest checkpoint.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub anchor_every: Duration,
    /// `anchor`: checkpoints only; `full`: also every entry to M2MHubLedger.
    #[arg(long, value_enum, default_value = "anchor")]
    pub chain_mode: Mode,
    /// M2MHubAnchor's address (default: from DATA/chain.json).
    #[arg(long)]
    pub chain_anchor: Option<Address>,
    /// M2MHubLedger's address (default: from DATA/chain.json).
    #[arg(long)]
    pub chain_ledger: Option<Address>,
}

/// `verify`'s chain options.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Also check the ledger against the roots anchored through this JSON-RPC endpoint
    /// (addresses from DATA/chain.json; with --url, give --chain-anchor).
    #[arg(long)]
    pub chain_rpc: Option<String>,
    /// M2MHubAnchor's address (default: from DATA/chain.json).
    #[arg(long)]
    pub chain_anchor: Option<Address>,
}

/// `m2mhub bench gas` options.
#[derive(Debug, clap::Args)]
pub struct GasArgs {
    /// Largest number of prior operations in the Figure 7 reproduction.
    #[arg(long, default_value_t = 1000)]
    pub max_n: u64,
    /// Entries anchored before the measured anchors (sets the proofs' length).
    #[arg(long, default_value_t = 1_000_000)]
    pub anchor_prior: u64,
    /// JSON results file.
    #[arg(long, default_value = "bench-results/gas.json")]
    pub out: PathBuf,
    /// SVG chart file.
    #[arg(long, default_value = "bench-results/gas.svg")]
    pub svg: PathBuf,
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Deploy(a) => deploy(&a),
    }
}

fn deploy(a: &DeployArgs) -> anyhow::Result<ExitCode> {
    let key = rpc::read_key_file(&a.key_file)?;
    let hub = rpc::key_address(&key);
    let provider = rpc::connect(&a.rpc, key)?;
    let addrs = tokio::runtime::Runtime::new()?.block_on(rpc::deploy(&provider, hub))?;
    println!("owner (hub)    {hub}");
    println!("M2MHubAnchor   {}", addrs.anchor);
    println!("M2MHubLedger   {}", addrs.ledger);
    println!(
        "chain id {} · block {}",
        addrs.chain_id, addrs.deployed_block
    );
    if let Some(data) = &a.data {
        std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
        addrs.save(data)?;
        println!("wrote {}", data.join(rpc::ADDRESSES_FILE).display());
    }
    Ok(ExitCode::SUCCESS)
}

fn addresses(
    data: &Path,
    anchor: Option<Address>,
    ledger: Option<Address>,
) -> anyhow::Result<Addresses> {
    match (Addresses::load(data), anchor) {
        (Ok(mut a), _) => {
            a.anchor = anchor.unwrap_or(a.anchor);
            a.ledger = ledger.unwrap_or(a.ledger);
            Ok(a)
        }
        (Err(_), Some(anchor)) => Ok(Addresses {
            chain_id: 0,
            anchor,
            ledger: ledger.unwrap_or(Address::ZERO),
            deployed_block: 0,
        }),
        (Err(e), None) => {
            Err(e).context("run `m2mhub chain deploy --data DIR` or pass --chain-anchor")
        }
    }
}

/// How long `serve` waits for the chain's last anchor before refusing to start.
const ANCHOR_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts the anchorer (and in full mode the mirror) on the current runtime, if `--chain-rpc`
/// is given. They run beside the server and never hold up the ledger. Returns the tree size
/// anchored so far, which the anchorer keeps up to date (for the anchor lag metric).
///
/// First it reads the last anchor and refuses a ledger smaller than the anchored tree (a
/// restore from an old backup): appending to it would fork the anchored history.
pub async fn start(
    a: &ServeArgs,
    ledger: &Arc<Ledger>,
    data: &Path,
) -> anyhow::Result<Option<Arc<AtomicU64>>> {
    let Some(url) = &a.chain_rpc else {
        return Ok(None);
    };
    let key_file = a
        .chain_key_file
        .as_ref()
        .context("--chain-rpc needs --chain-key-file")?;
    let addrs = addresses(data, a.chain_anchor, a.chain_ledger)?;
    let provider = rpc::connect(url, rpc::read_key_file(key_file)?)?;
    let latest = rpc::latest_anchor(&provider, addrs.anchor);
    refuse_smaller_than_anchored(latest, url, &addrs, ledger, data).await?;
    println!(
        "anchoring on {url} every {} in M2MHubAnchor {}",
        humantime::format_duration(a.anchor_every),
        addrs.anchor
    );
    let anchorer = Anchorer::new(ledger.clone(), provider.clone(), addrs.anchor);
    let anchored = anchorer.anchored();
    tokio::spawn(anchorer.run(a.anchor_every));
    if a.chain_mode == Mode::Full {
        if addrs.ledger == Address::ZERO {
            bail!("--chain-mode full needs M2MHubLedger's address (chain.json or --chain-ledger)");
        }
        println!("mirroring every entry to M2MHubLedger {}", addrs.ledger);
        tokio::spawn(
            Mirror::new(ledger.clone(), provider, addrs.ledger).run(Duration::from_millis(500)),
        );
    }
    Ok(Some(anchored))
}

/// Fails when the chain has anchored more entries than `ledger` holds, or when the last
/// anchor cannot be read (then whether the ledger is behind is unknown).
async fn refuse_smaller_than_anchored(
    latest: impl std::future::Future<Output = m2mhub_chain::Result<Option<rpc::Anchor>>>,
    url: &str,
    addrs: &Addresses,
    ledger: &Ledger,
    data: &Path,
) -> anyhow::Result<()> {
    let latest = tokio::time::timeout(ANCHOR_READ_TIMEOUT, latest)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {ANCHOR_READ_TIMEOUT:?}"))
        .and_then(|r| r.map_err(anyhow::Error::from))
        .with_context(|| {
            format!(
                "reading the last anchor of M2MHubAnchor {} on {url}: serve checks that the ledger \
             is not behind the anchored history before it starts (start without --chain-rpc \
             to serve without anchoring)",
                addrs.anchor
            )
        })?;
    let size = ledger.view().head.tree_size;
    match latest {
        Some(a) if a.tree_size > size => bail!(
            "refusing to serve: the ledger in {} holds {size} entries but M2MHubAnchor {} on \
             {url} has anchored a tree of {} entries (anchor {}). This ledger is older than \
             the anchored history (restored from an old backup?) and appending to it would \
             fork that history: restore a backup that covers at least {} entries",
            data.display(),
            addrs.anchor,
            a.tree_size,
            a.index,
            a.tree_size
        ),
        _ => Ok(()),
    }
}

/// `verify --chain-rpc URL`: every anchored root must be the ledger's root at that size, the
/// ledger being a stopped hub's data directory (`--data`) or a running hub whose blocks were
/// just verified (`--url`; anchors are taken at block boundaries, so each anchored size is a
/// verified block's tree size). Prints what it checked; false on any difference.
pub fn verify(a: &VerifyArgs, data: Option<&Path>, url: Option<&str>) -> anyhow::Result<bool> {
    let Some(rpc_url) = &a.chain_rpc else {
        return Ok(true);
    };
    let provider = rpc::connect_read_only(rpc_url)?;
    let rt = tokio::runtime::Runtime::new()?;
    let (addrs, checked, size) = match (data, url) {
        (Some(data), _) => {
            let addrs = addresses(data, a.chain_anchor, None)?;
            let dir = m2mhub_ledger::DataDir::existing(data)?;
            let store = m2mhub_ledger::store::Store::open(&dir.store_path())
                .context("opening the store (is the hub still running?)")?;
            let snap = store.snapshot()?;
            let size = snap.size()?;
            let checked = rt.block_on(rpc::check_ledger(&provider, &addrs, size, |n| {
                m2mhub_core::merkle::tree_hash(n, &snap)
                    .map(B256::from)
                    .map_err(|e| ChainError::Mismatch(e.to_string()))
            }));
            (addrs, checked, size)
        }
        (None, Some(url)) => {
            let anchor = a
                .chain_anchor
                .context("with --url, give M2MHubAnchor's address: --chain-anchor ADDR")?;
            let addrs = Addresses {
                chain_id: 0,
                anchor,
                ledger: Address::ZERO,
                deployed_block: 0,
            };
            let roots = rt.block_on(block_roots(url))?;
            let size = roots.keys().next_back().copied().unwrap_or(0);
            let checked = rt.block_on(rpc::check_ledger(&provider, &addrs, size, |n| {
                roots.get(&n).copied().ok_or_else(|| {
                    ChainError::Mismatch(format!("no block of the hub ends at tree size {n}"))
                })
            }));
            (addrs, checked, size)
        }
        (None, None) => bail!("give --data DIR or --url URL"),
    };
    match checked {
        Ok(c) if c.anchors.is_empty() => {
            println!("chain: nothing anchored yet in {}", addrs.anchor);
            Ok(true)
        }
        Ok(c) => {
            let last = c.anchors.iter().map(|a| a.tree_size).max().unwrap_or(0);
            println!(
                "chain ok: {} anchors in {} match the ledger (latest covers {last} of {size} entries){}",
                c.anchors.len(),
                addrs.anchor,
                if c.events_unavailable {
                    "; events unavailable, latest checked"
                } else {
                    ""
                }
            );
            Ok(true)
        }
        Err(ChainError::Mismatch(m)) => {
            println!("FAILED: chain: {m}");
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// `verify --federation FILE --chain-rpc URL` (SPEC §7): every member's ledger, read through
/// its API, against the roots anchored in its own M2MHubAnchor (`anchor` in its `[[member]]`).
/// Returns (all good, members checked); a member that names no anchor is reported unchecked
/// and fails the check.
pub fn verify_federation(
    a: &VerifyArgs,
    fed: &m2mhub_core::federation::Federation,
) -> anyhow::Result<(bool, usize)> {
    if a.chain_rpc.is_none() {
        return Ok((true, 0));
    }
    let (mut ok, mut checked) = (true, 0);
    for m in &fed.members {
        let Some(anchor) = &m.anchor else {
            println!("unchecked: member {} names no anchor contract", m.name);
            ok = false;
            continue;
        };
        let anchor: Address = anchor
            .parse()
            .with_context(|| format!("member {}'s anchor {anchor:?} is no address", m.name))?;
        println!("member {}:", m.name);
        let args = VerifyArgs {
            chain_rpc: a.chain_rpc.clone(),
            chain_anchor: Some(anchor),
        };
        if verify(&args, None, Some(&m.url))? {
            checked += 1;
        } else {
            ok = false;
        }
    }
    Ok((ok, checked))
}

/// A running hub's blocks: tree size → root.
async fn block_roots(url: &str) -> anyhow::Result<std::collections::BTreeMap<u64, B256>> {
    let hub = crate::remote::Hub::new(url);
    let mut roots = std::collections::BTreeMap::new();
    let mut after: Option<u64> = None;
    loop {
        let page = hub
            .page::<m2mhub_ledger::BlockRow>("/v1/blocks?limit=1000", after)
            .await?;
        for b in page.items {
            let root: [u8; 32] = hex::decode(&b.root)
                .ok()
                .and_then(|r| r.try_into().ok())
                .with_context(|| format!("block {}: bad root", b.height))?;
            roots.insert(b.tree_size, B256::from(root));
        }
        let Some(next) = page.next else { break };
        after = Some(next);
    }
    Ok(roots)
}

/// `m2mhub bench gas`.
pub fn bench_gas(a: &GasArgs) -> anyhow::Result<ExitCode> {
    let points: Vec<u64> = gas::FIGURE7_POINTS
        .into_iter()
        .filter(|n| *n <= a.max_n)
        .chain((!gas::FIGURE7_POINTS.contains(&a.max_n)).then_some(a.max_n))
        .collect();
    eprintln!(
        "Figure 7: up to {} prior operations on each contract…",
        a.max_n
    );
    let figure7 = gas::figure7(&points)?;
    eprintln!(
        "anchor mode: batches {:?} after {} entries…",
        gas::ANCHOR_BATCHES,
        a.anchor_prior
    );
    let anchor = gas::anchor_gas(&gas::ANCHOR_BATCHES, a.anchor_prior, 4)?;
    let report = gas::GasReport {
        figure7,
        anchor,
        anchor_prior_entries: a.anchor_prior,
    };
    print!("{}", report.table());
    for (path, text) in [
        (&a.out, serde_json::to_string_pretty(&report)? + "\n"),
        (&a.svg, report.svg()),
    ] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
