//! `verify --federation FILE`, the fork check (SPEC §7): for every member log, what each other
//! member cosigned of it as a witness (`GET /tlog-witness/<sha256(origin)>/checkpoint`, C2SP
//! tlog-witness's monitoring read), checked pairwise. Two checkpoints of one log, both signed
//! by its key, must be one tree: equal roots at equal sizes, and otherwise a consistency proof
//! (asked of the log itself, `GET /v1/proof/consistency`) that verifies against both roots. A
//! pair that fails names the forking hub and the two trees: the log signed both.

use anyhow::Context;
use base64::{Engine as _, engine::general_purpose::STANDARD};
use m2mhub_core::{
    cosignature::{CosignatureVerifier, split_note},
    federation::{Federation, Member},
    hash::{Hash, sha256},
    merkle::{empty_root, verify_consistency},
    witness::TreeHead,
};
use serde::Deserialize;

/// One witness's view of one log.
#[derive(Clone, Debug)]
struct View {
    witness: String,
    head: TreeHead,
}

/// What the check found.
#[derive(Debug, Default)]
pub struct Report {
    /// Witnessed checkpoints read and checked.
    pub views: usize,
    /// Pairs found consistent.
    pub pairs: usize,
    /// Forks, each naming the hub and the two trees.
    pub forks: Vec<String>,
    /// What could not be checked (a member unreachable, a bad answer), by member.
    pub unchecked: Vec<String>,
}

#[derive(Deserialize)]
struct Proof {
    path: Vec<String>,
}

fn tree(v: &View) -> String {
    format!(
        "{} holds tree {} root {}",
        v.witness,
        v.head.size,
        STANDARD.encode(v.head.root)
    )
}

/// Reads what `witness` cosigned of `log`: `None` if it never did.
async fn view(log: &Member, witness: &Member) -> anyhow::Result<Option<View>> {
    let hash = hex::encode(sha256(log.origin.as_bytes()));
    let path = format!("/tlog-witness/{hash}/checkpoint");
    let url = format!("{}{path}", witness.url);
    let hub = crate::remote::Hub::with_timeout(&witness.url, std::time::Duration::from_secs(10))?;
    let Some(note) = hub.text_opt(&path).await? else {
        return Ok(None);
    };
    let text = log
        .key
        .open(&note)
        .with_context(|| format!("{url}: not signed by {}'s key", log.name))?;
    let (body, sigs) = split_note(&note)?;
    CosignatureVerifier::of_member(&witness.key)
        .verify(body, sigs)
        .with_context(|| format!("{url}: no valid cosignature by {}", witness.name))?;
    Ok(Some(View {
        witness: witness.name.clone(),
        head: TreeHead::parse(text)?,
    }))
}

/// Checks one pair of views of `log`, smaller tree first: `Ok(false)` is a fork.
async fn consistent(
    http: &reqwest::Client,
    log: &Member,
    a: &View,
    b: &View,
) -> anyhow::Result<bool> {
    if a.head.size == b.head.size {
        return Ok(a.head.root == b.head.root);
    }
    if a.head.size == 0 {
        return Ok(a.head.root == empty_root());
    }
    let url = format!(
        "{}/v1/proof/consistency?from={}&to={}",
        log.url, a.head.size, b.head.size
    );
    let r = http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    if !r.status().is_success() {
        // The log cannot prove its own two signed trees consistent: that is the fork.
        return Ok(false);
    }
    let proof: Proof = r.json().await.with_context(|| format!("decoding {url}"))?;
    let path: Option<Vec<Hash>> = proof
        .path
        .iter()
        .map(|h| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h, &mut out).ok().map(|()| out)
        })
        .collect();
    Ok(path.is_some_and(|p| {
        verify_consistency(a.head.size, b.head.size, &a.head.root, &b.head.root, &p).is_ok()
    }))
}

/// Runs the fork check over every member of `fed`.
pub async fn check(fed: &Federation) -> anyhow::Result<Report> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let mut report = Report::default();
    for log in &fed.members {
        let mut views = Vec::new();
        for w in fed.others(&log.name) {
            match view(log, w).await {
                Ok(Some(v)) => views.push(v),
                Ok(None) => {}
                Err(e) => report.unchecked.push(format!("{}: {e:#}", w.name)),
            }
        }
        report.views += views.len();
        views.sort_by_key(|v| v.head.size);
        for (i, a) in views.iter().enumerate() {
            for b in &views[i + 1..] {
                match consistent(&http, log, a, b).await {
                    Ok(true) => report.pairs += 1,
                    Ok(false) => report.forks.push(format!(
                        "hub {} ({}) forked: {}, {}, and the two are not one tree",
                        log.name,
                        log.origin,
                        tree(a),
                        tree(b)
                    )),
                    Err(e) => report.unchecked.push(format!("{}: {e:#}", log.name)),
                }
            }
        }
    }
    Ok(report)
}
