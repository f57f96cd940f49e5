//! A federated transaction's hops checked from outside (SPEC §7, `m2mhub trace hub:tx
//! --federation`): the member's witnessed checkpoint is opened with its key and must carry the
//! `[witness]` policy's number of other members' cosignatures; then each message's entry is
//! proved in that tree (its bytes hash to the leaf, the inclusion proof reaches the root).
//! Messages newer than the witnessed tree are shown, marked as not yet witnessed.

use std::process::ExitCode;

use anyhow::{Context, bail};
use m2mhub_core::{
    checkpoint::Checkpoint,
    cosignature::CosignatureVerifier,
    federation::Federation,
    merkle::{leaf_hash, verify_inclusion},
    names::{qualify_str, split_party},
};

use crate::remote::Hub;

/// How long one request to a member may take.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Prints transaction `tx` of member `hub` with its hops, each proved in the member's
/// witnessed checkpoint; fails when a hop does not verify.
pub async fn trace(federation: &Federation, hub: &str, tx: u64) -> anyhow::Result<ExitCode> {
    let member = federation
        .member(hub)
        .with_context(|| format!("the federation has no member {hub:?}"))?;
    let client = Hub::with_timeout(&member.url, TIMEOUT)?;
    let note = client
        .text_opt("/tlog/checkpoint")
        .await?
        .with_context(|| format!("{hub} has no witnessed checkpoint yet"))?;
    let cp = Checkpoint::open(&note, &member.key)
        .map_err(|e| anyhow::anyhow!("{hub}'s witnessed checkpoint: {e}"))?;
    let cosigners: Vec<&str> = federation
        .others(hub)
        .filter(|w| CosignatureVerifier::of_member(&w.key).open(&note).is_ok())
        .map(|w| w.name.as_str())
        .collect();
    if cosigners.len() < federation.cosignatures {
        bail!(
            "{hub}'s checkpoint of size {} carries {} member cosignature(s); the policy needs {}",
            cp.tree_size,
            cosigners.len(),
            federation.cosignatures
        );
    }
    let Some(t) = client.transaction(tx).await? else {
        bail!("{hub} has no transaction {tx}")
    };
    println!(
        "{hub}:{tx}  provenance {}@{hub}  {:?}",
        split_party(&t.provenance).0,
        t.state
    );
    print!("{}", m2mhub_server::graph::to_text(&t));
    println!(
        "hops, recorded by {hub} (tree of {} cosigned by {}):",
        cp.tree_size,
        cosigners.join(", ")
    );
    let mut unwitnessed = 0;
    for r in &t.messages {
        let hop = format!(
            "  {hub}:{}  {} -> {}  {}{}",
            r.seq,
            qualify_str(&r.sender, hub),
            qualify_str(&r.receiver, hub),
            r.action,
            if r.valid {
                String::new()
            } else {
                format!("  INVALID [{}]", codes(r))
            }
        );
        if r.seq >= cp.tree_size {
            unwitnessed += 1;
            println!("{hop}  (not witnessed yet)");
            continue;
        }
        let entry: crate::remote::RawEntry = client.json(&format!("/v1/entries/{}", r.seq)).await?;
        let leaf = leaf_hash(&entry.bytes()?);
        let path = client.inclusion_path(r.seq, cp.tree_size).await?;
        verify_inclusion(&leaf, r.seq, cp.tree_size, &path, &cp.root).map_err(|e| {
            anyhow::anyhow!(
                "{hub}:{}: the entry is not in {hub}'s witnessed tree: {e}",
                r.seq
            )
        })?;
        println!("{hop}  proved");
    }
    if unwitnessed > 0 {
        println!("{unwitnessed} hop(s) newer than the witnessed checkpoint: trace again later");
    }
    Ok(ExitCode::SUCCESS)
}

fn codes(r: &m2mhub_ledger::Record) -> String {
    r.notices
        .iter()
        .map(|n| n.code())
        .collect::<Vec<_>>()
        .join(", ")
}
