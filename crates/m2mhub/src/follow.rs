//! Following the other members' registries (SPEC §7): one background follower per other
//! member reads its registry changes (`GET /v1/entries?registry=true`), proves each one in the
//! member's witnessed checkpoint (`GET /tlog/checkpoint`, `GET /v1/proof/inclusion`) and
//! records it as an import entry of this hub's ledger, in source order. An import the rules
//! refuse stops that follower (a skipped revocation would be worse than a late one); anything
//! else is retried with backoff. A follower writes through the ledger's writer like any
//! registry change, one small block per page, so ingest waits at most for that block.

use std::{sync::Arc, time::Duration};

use m2mhub_core::{
    checkpoint::Checkpoint,
    entry::{Entry, Import},
    federation::{Federation, Member},
};
use m2mhub_ledger::{Appended, Ledger, LedgerError, Submission};

use m2mhub_server::federation_metrics::FederationMetrics;

use crate::remote::Hub;

/// Registry changes asked for per page.
const PAGE: usize = 100;
/// How often a follower looks for new changes when it found none.
const EVERY: Duration = Duration::from_secs(1);
/// Longest wait between two tries after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a round stopped short.
#[derive(Debug)]
pub enum Stop {
    /// The member or the network failed: retry later.
    Retry(anyhow::Error),
    /// This hub's rules refused an import: following that member stops.
    Refused(String),
}

/// A follower of one member.
pub struct Follower {
    ledger: Arc<Ledger>,
    member: Member,
    hub: Hub,
    /// The source seq after which to read next: skips the member's own memberships and
    /// imports, which are not imported again (they stay in their own ledger).
    after: Option<u64>,
}

impl Follower {
    /// A follower of `member` for `ledger`, from the last change imported from it.
    pub fn new(ledger: Arc<Ledger>, member: Member) -> anyhow::Result<Follower> {
        let after = ledger
            .view()
            .registry
            .registry
            .last_imported(&member.origin);
        let hub = Hub::with_timeout(&member.url, REQUEST_TIMEOUT)?;
        Ok(Follower {
            ledger,
            member,
            hub,
            after,
        })
    }

    /// One round: imports the member's registry changes that its witnessed checkpoint covers,
    /// up to a page; how many it imported.
    pub async fn round(&mut self) -> Result<usize, Stop> {
        let note = self
            .hub
            .text("/tlog/checkpoint")
            .await
            .map_err(Stop::Retry)?;
        let cp = Checkpoint::open(&note, &self.member.key)
            .map_err(|e| Stop::Retry(anyhow::anyhow!("{}'s checkpoint: {e}", self.member.name)))?;
        let page = self
            .hub
            .registry_page(self.after, PAGE)
            .await
            .map_err(Stop::Retry)?;
        let mut imports = Vec::new();
        let mut last_seen = self.after;
        for e in page.items {
            if e.seq >= cp.tree_size {
                break; // not witnessed yet: the next round
            }
            last_seen = Some(e.seq);
            let bytes = e.bytes().map_err(Stop::Retry)?;
            if matches!(
                Entry::from_bytes(&bytes),
                Ok(Entry::FederationMembership(_) | Entry::Import(_))
            ) {
                continue;
            }
            let proof = self
                .hub
                .inclusion_path(e.seq, cp.tree_size)
                .await
                .map_err(Stop::Retry)?;
            imports.push(Submission::Registry(Entry::Import(Import {
                origin: self.member.origin.clone(),
                seq: e.seq,
                entry: bytes,
                proof,
                checkpoint: note.clone(),
            })));
        }
        let n = imports.len();
        // One import per block, stopping at the first failure: in one block a refused import
        // would not keep a later one of the same page out.
        let ledger = self.ledger.clone();
        let done = tokio::task::spawn_blocking(move || {
            for sub in imports {
                match ledger.append(vec![sub]).pop() {
                    Some(Ok(Appended::Registry { .. })) => {}
                    Some(Err(LedgerError::Registry(e))) => {
                        return Err(Stop::Refused(e.to_string()));
                    }
                    Some(Err(e)) => return Err(Stop::Retry(e.into())),
                    other => return Err(Stop::Retry(anyhow::anyhow!("unexpected {other:?}"))),
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| Stop::Retry(e.into()))?;
        done?;
        // Everything up to `last_seen` is imported or skipped.
        self.after = last_seen;
        Ok(n)
    }

    /// Follows the member until this hub's rules refuse one of its changes.
    pub async fn run(mut self, metrics: FederationMetrics) {
        let mut backoff = EVERY;
        let mut streak = crate::streak::Streak::new("following the registry", &self.member.name);
        loop {
            match self.round().await {
                Ok(n) if n > 0 => {
                    streak.ok();
                    metrics.imported(&self.member.name, n as u64);
                    tracing::info!("imported {n} registry change(s) of {}", self.member.name);
                    backoff = EVERY;
                    continue;
                }
                Ok(_) => {
                    streak.ok();
                    backoff = EVERY;
                }
                Err(Stop::Retry(e)) => {
                    streak.fail(&e);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(Stop::Refused(e)) => {
                    tracing::error!(
                        "following {} stopped: this hub refuses its change: {e}",
                        self.member.name
                    );
                    return;
                }
            }
            tokio::time::sleep(backoff).await;
        }
    }
}

/// Starts one follower per other member of `federation` (in the current runtime).
pub fn start(
    federation: &Federation,
    me: &str,
    ledger: &Arc<Ledger>,
    metrics: &FederationMetrics,
) -> anyhow::Result<()> {
    for m in federation.others(me) {
        let f = Follower::new(ledger.clone(), m.clone())?;
        tokio::spawn(f.run(metrics.clone()));
    }
    Ok(())
}
