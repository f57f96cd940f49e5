//! `serve --federation FILE --hub-name NAME`: the federation file, this hub's member state, and
//! the log side of C2SP tlog-witness (SPEC §7): one background submitter per other member.
//!
//! Each submitter keeps at most one `add-checkpoint` in flight to its witness, always with the
//! hub's newest checkpoint and a consistency proof from the size the witness last acknowledged.
//! It starts from old size 0 and learns the witness's size from the 409 that answers it,
//! resynchronises the same way on any later 409, backs off (up to 10 s) on other failures,
//! and waits for the next block when the newest checkpoint is cosigned. It reads the ledger
//! (the checkpoint, a proof) and never writes it, so ingest never waits for a witness.

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use m2mhub_core::{
    cosignature::split_note,
    federation::{Federation, FederationFile, Member},
    hash::Hash,
    witness::{AddCheckpoint, TreeHead},
};
use m2mhub_ledger::{DataDir, Ledger};
use m2mhub_server::{
    federation::Federated, federation_metrics::FederationMetrics, witness_store::WitnessStore,
};
use tokio::sync::watch;

/// Longest wait between two tries after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// First wait after a failure.
const MIN_BACKOFF: Duration = Duration::from_millis(200);
/// How long one add-checkpoint may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads and checks the federation file at `path`.
pub fn load(path: &Path) -> anyhow::Result<Federation> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: FederationFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Federation::new(file).with_context(|| format!("checking {}", path.display()))
}

/// This hub's member state: the federation file checked against the hub's own origin and key,
/// with the witness store `DATA/witness.redb`.
pub fn open(path: &Path, me: &str, ledger: &Ledger, data: &Path) -> anyhow::Result<Federated> {
    let federation = load(path)?;
    let key = DataDir::existing(data)?
        .existing_hub_key()?
        .context("the data directory has no hub key")?;
    let store_path = data.join(m2mhub_server::witness_store::FILE);
    let store = WitnessStore::open(&store_path)
        .with_context(|| format!("opening {}", store_path.display()))?;
    Federated::new(federation, me, key, ledger.origin(), store).map_err(anyhow::Error::msg)
}

/// Starts one submitter per other member (in the current runtime).
pub fn start(fed: &Arc<Federated>, ledger: &Arc<Ledger>, metrics: &FederationMetrics) {
    let (tx, rx) = watch::channel(());
    // Runs on the committing thread: a watch send never blocks.
    ledger.on_commit(move |_| tx.send_replace(()));
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap_or_default();
    for m in fed.others() {
        tokio::spawn(submit_loop(
            fed.clone(),
            ledger.clone(),
            m.clone(),
            http.clone(),
            (rx.clone(), metrics.clone()),
        ));
    }
}

/// What one try gave.
enum Outcome {
    /// Cosigned at this size; true when that made the checkpoint meet the witness policy.
    Cosigned(u64, bool),
    /// The witness holds this size instead.
    Conflict(u64),
}

async fn submit_loop(
    fed: Arc<Federated>,
    ledger: Arc<Ledger>,
    witness: Member,
    http: reqwest::Client,
    (mut blocks, metrics): (watch::Receiver<()>, FederationMetrics),
) {
    let url = format!("{}/tlog-witness/add-checkpoint", witness.url);
    // The size the witness holds, as far as we know (0 until a 409 or a 200 tells).
    let mut known = 0u64;
    let mut cosigned: Option<String> = None;
    let mut backoff = MIN_BACKOFF;
    let mut conflicts = 0u32;
    let mut streak = crate::streak::Streak::new("add-checkpoint", &witness.name);
    loop {
        let note = ledger.checkpoint();
        if cosigned.as_deref() == Some(note.as_str()) {
            // Wait for the next block (or look again now and then, should a wake-up be lost).
            let _ = tokio::time::timeout(Duration::from_secs(5), blocks.changed()).await;
            continue;
        }
        match try_once(&fed, &ledger, &witness, &http, &url, &note, known).await {
            Ok(Outcome::Cosigned(size, witnessed)) => {
                streak.ok();
                metrics.cosigned(&witness.name);
                if witnessed {
                    metrics.witnessed(size);
                }
                known = size;
                cosigned = Some(note);
                backoff = MIN_BACKOFF;
                conflicts = 0;
            }
            Ok(Outcome::Conflict(size)) => {
                tracing::debug!(
                    witness = witness.name,
                    held = size,
                    "witness holds another size"
                );
                known = size;
                conflicts += 1;
                // Two conflicts in a row mean the witness moves under us (or holds a tree we
                // cannot prove from): slow down rather than spin.
                if conflicts > 1 {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            Err(e) => {
                streak.fail(&e);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

async fn try_once(
    fed: &Arc<Federated>,
    ledger: &Arc<Ledger>,
    witness: &Member,
    http: &reqwest::Client,
    url: &str,
    note: &str,
    known: u64,
) -> anyhow::Result<Outcome> {
    let (text, _) = split_note(note)?;
    let size = TreeHead::parse(text)?.size;
    if known > size {
        anyhow::bail!(
            "the witness holds a tree of {known} entries, more than this hub's {size}: this \
             hub's ledger was replaced, or it showed the witness another tree"
        );
    }
    let proof: Vec<Hash> = if known == 0 || known == size {
        Vec::new()
    } else {
        let l = ledger.clone();
        let p =
            tokio::task::spawn_blocking(move || l.consistency_proof(known, Some(size))).await??;
        p.path
            .iter()
            .map(|h| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(h, &mut out).map(|()| out)
            })
            .collect::<Result<_, _>>()?
    };
    let r = http
        .post(url)
        .header("content-type", "text/plain")
        .body(AddCheckpoint::to_body(known, &proof, note))
        .send()
        .await?;
    let status = r.status();
    let body = r.text().await?;
    match status.as_u16() {
        200 => {
            let mut witnessed = false;
            for line in body.split_inclusive('\n') {
                let (fed, note, witness, line) = (
                    fed.clone(),
                    note.to_owned(),
                    witness.clone(),
                    line.to_owned(),
                );
                witnessed |= tokio::task::spawn_blocking(move || {
                    fed.add_cosignature(&note, &witness, &line)
                })
                .await?
                .map_err(anyhow::Error::msg)
                .context("the witness's answer")?;
            }
            Ok(Outcome::Cosigned(size, witnessed))
        }
        409 => {
            let held = body
                .strip_suffix('\n')
                .and_then(|s| s.parse().ok())
                .with_context(|| format!("409 with a body that is not a size: {body:?}"))?;
            Ok(Outcome::Conflict(held))
        }
        _ => anyhow::bail!("{status}: {}", body.trim()),
    }
}
