//! Tamper-evidence routes: entries, proofs, checkpoint, verifier key, blocks.

use axum::{Json, extract::State, http::header, response::IntoResponse};
use base64::{Engine, engine::general_purpose::STANDARD};
use m2mhub_ledger::{BlockRow, ConsistencyProof, InclusionProof, Page};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::{
    error::{ApiResult, ErrorBody},
    extract::{Params, PathParams},
    routes::devices::entry_json,
    state::AppState,
};

/// The shape of `GET /v1/entries/{seq}`'s answer, for the OpenAPI document only: the handler
/// writes the decoded fields of each kind with `entry_json` (shared with the SSE `entry`
/// events), then adds the fields below that every kind has.
#[derive(Debug, ToSchema)]
#[schema(as = Entry)]
pub struct EntryShape {
    /// The entry's seq.
    pub seq: u64,
    /// What the entry records.
    #[schema(value_type = String, pattern = "^(device_registered|simulated_device_registered|exception_granted|exception_withdrawn|device_revoked|device_rekeyed|federation_membership|import|message|federated_message)$")]
    pub kind: String,
    /// Its canonical bytes, standard base64 (SPEC §4.2).
    #[schema(content_encoding = "base64")]
    pub entry_bytes: String,
    /// SHA-256(0x00 ‖ entry bytes), hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub leaf_hash: String,
    /// Height of the block that holds it.
    pub block: u64,
}

/// `GET /v1/entries/{seq}`: `{seq, kind, entry_bytes, leaf_hash, block, …decoded fields}`.
#[utoipa::path(get, path = "/v1/entries/{seq}", operation_id = "show_entry", tag = "ledger",
    summary = "An entry: canonical bytes, leaf hash and decoded fields",
    params(("seq" = u64, Path, description = "the entry's seq")),
    responses((status = 200, description = "the entry", body = EntryShape),
        (status = 404, description = "not_found: no entry at that seq", body = ErrorBody)))]
pub async fn entry(
    State(s): State<AppState>,
    PathParams(seq): PathParams<u64>,
) -> ApiResult<Json<Value>> {
    let ledger = s.ledger.clone();
    let e = super::read(move || ledger.entry(seq)).await?;
    let mut v = entry_json(seq, &e.entry);
    if let Value::Object(m) = &mut v {
        m.insert("entry_bytes".into(), json!(STANDARD.encode(&e.bytes)));
        m.insert("leaf_hash".into(), json!(hex::encode(e.leaf_hash)));
        m.insert("block".into(), json!(e.block));
        if matches!(e.entry, m2mhub_core::entry::Entry::Message(_)) {
            m.insert("contents".into(), json!(e.contents));
        }
    }
    Ok(Json(v))
}

/// `GET /v1/entries?after=&limit=` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EntriesQuery {
    /// Only seqs greater than this (the previous page's `next`).
    after: Option<u64>,
    /// At most this many items (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Only registry changes (every entry but messages), through the registry index: what
    /// the other members of a federation follow to import this hub's changes (SPEC §7).
    registry: Option<bool>,
}

/// One raw entry of `GET /v1/entries`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RawEntry {
    /// Its seq.
    pub seq: u64,
    /// Its canonical bytes, standard base64.
    #[schema(content_encoding = "base64")]
    pub entry_bytes: String,
    /// A message's contents (null for other entries, and once pruned).
    pub contents: Option<String>,
}

/// `GET /v1/entries`: raw entries in seq order, `{items, next}`, for outside verifiers (an
/// extension of SPEC §5).
#[utoipa::path(get, path = "/v1/entries", operation_id = "list_entries", tag = "ledger",
    summary = "Raw entries by seq, for outside verifiers (extension): {items, next}", params(EntriesQuery),
    responses((status = 200, description = "one page", body = Page<RawEntry>)))]
pub async fn entries(
    State(s): State<AppState>,
    Params(q): Params<EntriesQuery>,
) -> ApiResult<Json<Page<RawEntry>>> {
    let ledger = s.ledger.clone();
    let page = tokio::task::spawn_blocking(move || -> m2mhub_ledger::Result<Page<RawEntry>> {
        let rows = if q.registry == Some(true) {
            ledger.registry_entries(q.after, q.limit)?
        } else {
            ledger.entries(q.after, q.limit)?
        };
        let snap = ledger.snapshot()?;
        let mut items = Vec::with_capacity(rows.items.len());
        for (seq, bytes) in rows.items {
            items.push(RawEntry {
                seq,
                entry_bytes: STANDARD.encode(&bytes),
                contents: snap.contents(seq)?,
            });
        }
        Ok(Page {
            items,
            next: rows.next,
            rows_read: rows.rows_read,
        })
    })
    .await
    .map_err(|_| m2mhub_ledger::LedgerError::Unavailable)??;
    Ok(Json(page))
}

/// `GET /v1/proof/inclusion` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// The entry.
    seq: u64,
    /// The tree, by size (default: the latest).
    #[param(minimum = 1)]
    tree_size: Option<u64>,
}

/// `GET /v1/proof/inclusion`.
#[utoipa::path(get, path = "/v1/proof/inclusion", operation_id = "inclusion_proof", tag = "ledger",
    summary = "RFC 9162 inclusion proof of seq in the tree of tree_size", params(InclusionQuery),
    responses((status = 200, description = "the proof", body = InclusionProof),
        (status = 404, description = "not_found: no such tree yet, or seq is not in it", body = ErrorBody)))]
pub async fn inclusion(
    State(s): State<AppState>,
    Params(q): Params<InclusionQuery>,
) -> ApiResult<Json<InclusionProof>> {
    let ledger = s.ledger.clone();
    Ok(Json(
        super::read(move || ledger.inclusion_proof(q.seq, q.tree_size)).await?,
    ))
}

/// `GET /v1/proof/consistency` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older tree's size.
    #[param(minimum = 1)]
    from: u64,
    /// The newer tree's size (default: the latest).
    #[param(minimum = 1)]
    to: Option<u64>,
}

/// `GET /v1/proof/consistency`.
#[utoipa::path(get, path = "/v1/proof/consistency", operation_id = "consistency_proof", tag = "ledger",
    summary = "RFC 9162 consistency proof between tree sizes from and to", params(ConsistencyQuery),
    responses((status = 200, description = "the proof", body = ConsistencyProof),
        (status = 404, description = "not_found: no such tree yet, or from is past to", body = ErrorBody)))]
pub async fn consistency(
    State(s): State<AppState>,
    Params(q): Params<ConsistencyQuery>,
) -> ApiResult<Json<ConsistencyProof>> {
    let ledger = s.ledger.clone();
    Ok(Json(
        super::read(move || ledger.consistency_proof(q.from, q.to)).await?,
    ))
}

/// `GET /v1/checkpoint`: the latest signed note, text/plain.
#[utoipa::path(get, path = "/v1/checkpoint", operation_id = "checkpoint", tag = "ledger",
    summary = "The latest signed checkpoint (C2SP signed note), with the federation's cosignatures gathered so far",
    responses((status = 200, description = "the signed note", body = String, content_type = "text/plain")))]
pub async fn checkpoint(State(s): State<AppState>) -> impl IntoResponse {
    let note = s.ledger.checkpoint();
    // In a federation, with the cosignatures the other members gave it so far (SPEC §7).
    let note = match &s.federation {
        Some(f) => f.with_cosignatures(&note),
        None => note,
    };
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note)
}

/// `GET /v1/key`: the hub's verifier key line, text/plain.
#[utoipa::path(get, path = "/v1/key", operation_id = "verifier_key", tag = "ledger",
    summary = "The hub's verifier key line (SPEC §4.3)",
    responses((status = 200, description = "<key name>+<key id>+<base64 key>", body = String, content_type = "text/plain")))]
pub async fn key(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", s.ledger.verifier_key()),
    )
}

/// `GET /v1/blocks` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BlocksQuery {
    /// Only heights greater than this (the previous page's `next`).
    after: Option<u64>,
    /// At most this many items (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// `GET /v1/blocks`: `{items, next}`.
#[utoipa::path(get, path = "/v1/blocks", operation_id = "list_blocks", tag = "ledger",
    summary = "Blocks by height: {items, next}", params(BlocksQuery),
    responses((status = 200, description = "one page", body = Page<BlockRow>)))]
pub async fn blocks(
    State(s): State<AppState>,
    Params(q): Params<BlocksQuery>,
) -> ApiResult<Json<Page<BlockRow>>> {
    Ok(Json(s.ledger.blocks(q.after, q.limit)?))
}

/// `GET /v1/blocks/{height}`.
#[utoipa::path(get, path = "/v1/blocks/{height}", operation_id = "show_block", tag = "ledger",
    summary = "One block", params(("height" = u64, Path, description = "its height")),
    responses((status = 200, description = "the block", body = BlockRow),
        (status = 404, description = "not_found: no block at that height", body = ErrorBody)))]
pub async fn block(
    State(s): State<AppState>,
    PathParams(h): PathParams<u64>,
) -> ApiResult<Json<BlockRow>> {
    let ledger = s.ledger.clone();
    Ok(Json(super::read(move || ledger.block(h)).await?))
}
