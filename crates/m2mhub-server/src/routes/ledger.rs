//! Tamper-evidence routes: entries, proofs, checkpoint, verifier key, blocks.

use axum::{Json, extract::State, http::header, response::IntoResponse};
use base64::{Engine, engine::general_purpose::STANDARD};
use m2mhub_ledger::{BlockRow, ConsistencyProof, InclusionProof, Page};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    error::ApiResult,
    extract::{Params, PathParams},
    routes::devices::entry_json,
    state::AppState,
};

/// `GET /v1/entries/{seq}`: `{seq, kind, entry_bytes, leaf_hash, block, …decoded fields}`.
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntriesQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

/// `GET /v1/entries`: raw entries in seq order, `{items, next}`, for outside verifiers (an
/// extension of SPEC §5).
pub async fn entries(
    State(s): State<AppState>,
    Params(q): Params<EntriesQuery>,
) -> ApiResult<Json<Page<Value>>> {
    let ledger = s.ledger.clone();
    let page = tokio::task::spawn_blocking(move || -> m2mhub_ledger::Result<Page<Value>> {
        let rows = ledger.entries(q.after, q.limit)?;
        let snap = ledger.snapshot()?;
        let mut items = Vec::with_capacity(rows.items.len());
        for (seq, bytes) in rows.items {
            items.push(json!({"seq": seq, "entry_bytes": STANDARD.encode(&bytes), "contents": snap.contents(seq)?}));
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    seq: u64,
    tree_size: Option<u64>,
}

/// `GET /v1/proof/inclusion`.
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    from: u64,
    to: Option<u64>,
}

/// `GET /v1/proof/consistency`.
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
pub async fn checkpoint(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        s.ledger.checkpoint(),
    )
}

/// `GET /v1/key`: the hub's verifier key line, text/plain.
pub async fn key(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", s.ledger.verifier_key()),
    )
}

/// `GET /v1/blocks` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlocksQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

/// `GET /v1/blocks`: `{items, next}`.
pub async fn blocks(
    State(s): State<AppState>,
    Params(q): Params<BlocksQuery>,
) -> ApiResult<Json<Page<BlockRow>>> {
    Ok(Json(s.ledger.blocks(q.after, q.limit)?))
}

/// `GET /v1/blocks/{height}`.
pub async fn block(
    State(s): State<AppState>,
    PathParams(h): PathParams<u64>,
) -> ApiResult<Json<BlockRow>> {
    let ledger = s.ledger.clone();
    Ok(Json(super::read(move || ledger.block(h)).await?))
}
