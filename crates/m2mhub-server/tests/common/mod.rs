//! The server tests' harness: a ledger in a test directory, and a hub serving it on a free
//! port of 127.0.0.1 until stopped or dropped.
#![allow(dead_code, clippy::unwrap_used)]

use std::{path::Path, sync::Arc};

use m2mhub_ledger::{DataDir, Ledger, LedgerConfig};
use m2mhub_server::{AppState, Limits};

/// Opens (or creates) the ledger in `dir` with origin `origin`.
pub fn ledger(dir: &Path, origin: &str) -> Arc<Ledger> {
    let config = LedgerConfig {
        origin: None,
        default_origin: origin.into(),
    };
    Arc::new(Ledger::open(&DataDir::create(dir).unwrap(), &config).unwrap())
}

/// A running hub. Dropping it stops the server too (its stop channel closes).
pub struct Hub {
    pub addr: std::net::SocketAddr,
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Hub {
    /// Serves `state` within `limits`.
    pub async fn serve(state: AppState, limits: Limits) -> Hub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            m2mhub_server::run_with(listener, state, &limits, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Hub {
            addr,
            url: format!("http://{addr}"),
            stop: Some(stop),
            task,
        }
    }

    /// Stops the server and waits until it has released the ledger.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        (&mut self.task).await.unwrap();
    }
}

/// The path of command `name` on `PATH` (a real tool a test drives: `dot`, `promtool`,
/// `systemd-analyze`; `make deps` installs them). Outside CI a machine without it skips the
/// check (`None`); in CI (`CI=true`) its absence fails the test.
pub fn tool(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "{name} is not installed (make deps installs it)"
        );
        eprintln!("{name} is not installed: skipping (make deps installs it)");
    }
    found
}
