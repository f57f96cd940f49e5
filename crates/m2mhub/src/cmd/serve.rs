//! `m2mhub serve`: open the data directory, start the API, stop cleanly on SIGTERM/SIGINT.

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use anyhow::Context;
use m2mhub_ledger::{DataDir, Ledger, LedgerConfig, now_ms, store::StoreOptions};
use m2mhub_server::{
    AppState, Limits,
    federation::Federated,
    security::{self, SecurityEvents},
};

/// `m2mhub serve` options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A TOML file of these flags, spelled as here without the dashes in front
    /// (`listen = "0.0.0.0:8080"`, `simulated = true`); a flag given here wins over the file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (created if missing).
    #[arg(long, default_value = "./m2mhub-data")]
    pub data: PathBuf,
    /// Address to listen on, HOST:PORT; a host name is resolved and the first of its addresses
    /// that can be bound is used (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Checkpoint origin line (default m2mhub/<hostname>; fixed once the ledger exists).
    #[arg(long)]
    pub origin: Option<String>,
    /// Delete message contents older than this (e.g. 30d, 12h); proofs and verdicts still verify.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub retain_contents: Option<Duration>,
    /// Refused submissions (malformed, unknown sender, bad signature) one source address may
    /// make in a burst before it is answered 429 without any signature check.
    #[arg(long, default_value_t = m2mhub_server::state::FAILURE_BURST)]
    pub auth_failure_burst: u32,
    /// How fast a source's allowance of refused submissions refills, per second.
    #[arg(long, default_value_t = m2mhub_server::state::FAILURE_RATE)]
    pub auth_failure_rate: f64,
    /// How long a connection may take to send a request's head, counted from when the hub
    /// waits for it (also how long a kept-alive connection may sit idle).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,
    /// How long a request may take from its head to its answer (408 past it).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
    /// Most HTTP connections open at once; more wait in the kernel's accept queue. Default:
    /// three quarters of the open-file limit (raised to its hard maximum at start).
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Most HTTP requests handled at once; more wait their turn.
    #[arg(long, default_value_t = Limits::default().max_requests)]
    pub max_requests: usize,
    /// Most HTTP connections one source address may hold at once (raise it behind a reverse
    /// proxy, where every client shares the proxy's address).
    #[arg(long, default_value_t = Limits::default().max_connections_per_source)]
    pub max_connections_per_source: usize,
    /// Most entries waiting to be committed; past it submissions are answered 503 `busy`
    /// with Retry-After.
    #[arg(long, default_value_t = m2mhub_ledger::DEFAULT_MAX_QUEUED)]
    pub commit_queue: usize,
    /// Memory for the store's page cache, MiB.
    #[arg(long, default_value_t = 1024)]
    pub cache_mb: usize,
    /// Skip checking every page's checksum at start (faster start on a large ledger; a store
    /// edited while the hub was stopped may then crash it instead of being refused).
    #[arg(long)]
    pub no_check_store: bool,
    /// Start a new, empty ledger although the data directory holds this hub's key (refused
    /// otherwise: a missing ledger was deleted or moved). Anchored checkpoints still expose a
    /// new history presented as the old one.
    #[arg(long)]
    pub new_ledger: bool,
    /// Let the operator register simulated devices, whose keys the hub makes and holds in
    /// DATA/simulated (their registration entries say so): for demos and tests, never for
    /// devices whose messages must prove anything.
    #[arg(long)]
    pub simulated: bool,
    /// The federation file (SPEC §7): this hub witnesses the other members' checkpoints,
    /// asks them to witness its own, and serves only witnessed checkpoints at /tlog/checkpoint.
    #[arg(long, value_name = "FILE", requires = "hub_name")]
    pub federation: Option<PathBuf>,
    /// This hub's member name in the federation file.
    #[arg(long, value_name = "NAME", requires = "federation")]
    pub hub_name: Option<String>,
    #[command(flatten)]
    pub chain: super::chain::ServeArgs,
    #[command(flatten)]
    pub mqtt: crate::mqtt::MqttArgs,
}

/// The default origin: `m2mhub/<hostname>`.
pub fn default_origin() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && !h.contains(char::is_whitespace))
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("m2mhub/{host}")
}

/// Opens the hub's ledger and state in `data`.
pub fn open(
    data: &std::path::Path,
    origin: Option<String>,
) -> anyhow::Result<(Arc<Ledger>, String)> {
    open_with(
        data,
        origin,
        &StoreOptions {
            check_integrity: true,
            ..StoreOptions::default()
        },
    )
}

/// [`open`] with store options.
pub fn open_with(
    data: &std::path::Path,
    origin: Option<String>,
    options: &StoreOptions,
) -> anyhow::Result<(Arc<Ledger>, String)> {
    let dir = DataDir::create(data).with_context(|| format!("opening {}", data.display()))?;
    let ledger = Ledger::open_with(
        &dir,
        &LedgerConfig {
            origin,
            default_origin: default_origin(),
        },
        options,
    )
    .with_context(|| format!("opening the ledger in {}", data.display()))?;
    let (token, file) = dir.operator_token(std::env::var("M2MHUB_OPERATOR_TOKEN").ok())?;
    match file {
        Some(f) => println!("operator token in {}", f.display()),
        None => println!("operator token from M2MHUB_OPERATOR_TOKEN"),
    }
    Ok((Arc::new(ledger), token))
}

/// Raises this process's soft limit of open files to its hard limit (a service gets 1,024 by
/// default, which a thousand idle connections exhaust) and returns the limit now in force.
pub fn raise_open_files() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut l = getrlimit(Resource::Nofile);
    if l.current.is_some() && l.current != l.maximum {
        l.current = l.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, l) {
            tracing::warn!("cannot raise the open-file limit: {e}");
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// The default connection cap for an open-file limit: three quarters of it once 256 are set
/// aside for the store and outgoing connections (at least 64). The rest is the embedded
/// broker's: past it, its accepts fail and it backs off (vendor/README.md).
pub fn default_max_connections(open_files: u64) -> usize {
    usize::try_from(open_files.saturating_sub(256) / 4 * 3)
        .unwrap_or(usize::MAX)
        .clamp(64, 1_000_000)
}

/// How `serve` handles HTTP connections and its commit queue.
#[derive(Clone, Debug)]
pub struct Door {
    /// Timeouts and caps of the HTTP server.
    pub limits: Limits,
    /// Most entries waiting to be committed.
    pub commit_queue: usize,
}

/// Runs the server on an already opened ledger until SIGTERM/SIGINT. `anchored` is the tree
/// size the anchorer has anchored, when anchoring is on (see `chain::start`).
#[allow(clippy::too_many_arguments)] // one caller, which passes its parsed options through
pub async fn serve(
    ledger: Arc<Ledger>,
    token: String,
    data: &std::path::Path,
    listen: &str,
    retain: Option<Duration>,
    failures: (u32, f64),
    door: &Door,
    mqtt: &crate::mqtt::MqttArgs,
    anchored: Option<Arc<AtomicU64>>,
    simulated: bool,
    federation: Option<Arc<Federated>>,
) -> anyhow::Result<()> {
    let mut state = AppState::with_commit_queue(ledger.clone(), token, door.commit_queue)?
        .with_failure_limit(failures.0, failures.1)
        .with_security_events(security_events(data)?);
    if simulated {
        state = state
            .with_simulated_keys(&data.join("simulated"))
            .map_err(anyhow::Error::msg)?;
    }
    if let Some(a) = anchored {
        state.metrics.anchoring(a);
    }
    if let Some(f) = federation {
        let metrics = state
            .metrics
            .federation(f.others().map(|m| m.name.as_str()));
        crate::witnessing::start(&f, &ledger, &metrics);
        crate::follow::start(&f.federation, &f.me.name, &ledger, &metrics)?;
        state = state.with_federation(f);
    }
    state.metrics.data_dir(data.to_path_buf());
    // A host name resolves to its addresses; the first that binds is used.
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    if let Some(retain) = retain {
        tokio::spawn(prune_loop(ledger.clone(), retain));
    }
    let mqtt = mqtt.start(&state).await?;
    let signal = shutdown_signal();
    // Leave the broker before the committer stops: what is not yet acknowledged stays with
    // the broker and the devices, and comes back to the next hub.
    let stop = async move {
        signal.await;
        if let Some((hub, _)) = mqtt {
            hub.stop().await;
        }
    };
    println!("listening on http://{addr}");
    tracing::info!(origin = ledger.origin(), %addr, "serving");
    m2mhub_server::run_with(listener, state, &door.limits, stop).await?;
    println!("stopped");
    Ok(())
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let open_files = raise_open_files();
    let door = Door {
        limits: Limits {
            header_read_timeout: a.header_read_timeout,
            request_timeout: a.request_timeout,
            max_connections: a
                .max_connections
                .unwrap_or_else(|| default_max_connections(open_files)),
            max_requests: a.max_requests,
            max_connections_per_source: a.max_connections_per_source,
        },
        commit_queue: a.commit_queue,
    };
    if let Some(f) = &a.config {
        println!("settings from {}", f.display());
    }
    let (ledger, token) = open_with(
        &a.data,
        a.origin,
        &StoreOptions {
            cache_bytes: Some(a.cache_mb << 20),
            check_integrity: !a.no_check_store,
            new_ledger: a.new_ledger,
        },
    )?;
    println!(
        "origin {} · {} entries · block {}",
        ledger.origin(),
        ledger.view().head.tree_size,
        ledger.view().head.height
    );
    let federation = match (&a.federation, &a.hub_name) {
        (Some(file), Some(name)) => Some(Arc::new(crate::witnessing::open(
            file, name, &ledger, &a.data,
        )?)),
        _ => None,
    };
    if let Some(f) = &federation {
        println!(
            "member {} of a federation of {} (witness policy: {} cosignature(s))",
            f.me.name,
            f.federation.members.len(),
            f.federation.cosignatures
        );
        // SPEC §7: the membership is an entry of this hub's own ledger whenever it changes.
        let m = f.federation.membership(&f.me.name)?;
        if let Some(seq) = ledger.record_membership(m)? {
            println!("recorded the federation membership as entry {seq}");
        }
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let anchored = super::chain::start(&a.chain, &ledger, &a.data).await?;
        serve(
            ledger,
            token,
            &a.data,
            &a.listen,
            a.retain_contents,
            (a.auth_failure_burst, a.auth_failure_rate),
            &door,
            &a.mqtt,
            anchored,
            a.simulated,
            federation,
        )
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The security events store of the data directory `data` (SPEC §3.2).
pub fn security_events(data: &std::path::Path) -> anyhow::Result<SecurityEvents> {
    let path = data.join(security::FILE);
    SecurityEvents::open(&path, security::Bound::default())
        .with_context(|| format!("opening {}", path.display()))
}

async fn prune_loop(ledger: Arc<Ledger>, retain: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let cutoff = now_ms().saturating_sub(retain.as_millis() as u64);
        let l = ledger.clone();
        match tokio::task::spawn_blocking(move || l.prune_contents_before(cutoff)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!("pruned the contents of {n} messages"),
            Ok(Err(e)) => tracing::warn!("pruning contents failed: {e}"),
            Err(e) => tracing::warn!("pruning task failed: {e}"),
        }
    }
}

/// A future that completes on SIGTERM or SIGINT. The handlers are installed when this is
/// called, not when the future is first polled, so a signal that arrives right after the
/// `listening on` line still stops the hub cleanly. Call it inside the runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {},
                        _ = int.recv() => {},
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
