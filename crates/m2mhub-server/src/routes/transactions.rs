//! Transaction routes: the transaction with its messages, and its causal graph.

use axum::{
    Json,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use m2mhub_ledger::{LedgerError, TransactionView};
use serde::Deserialize;

use crate::{
    error::{ApiError, ApiResult},
    extract::{Params, PathParams},
    graph,
    state::AppState,
};

async fn load(
    s: &AppState,
    tx: u64,
    after: Option<u64>,
    limit: Option<usize>,
) -> ApiResult<TransactionView> {
    let ledger = s.ledger.clone();
    tokio::task::spawn_blocking(move || ledger.transaction(tx, after, limit))
        .await
        .map_err(|_| ApiError::from(LedgerError::Unavailable))?
        .map_err(|e| match e {
            LedgerError::NotFound(m) => {
                ApiError::new(axum::http::StatusCode::NOT_FOUND, "unknown_transaction", m)
            }
            other => other.into(),
        })
}

/// `GET /v1/transactions/{tx}` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

/// `GET /v1/transactions/{tx}?after=&limit=`: the transaction with one page of its messages.
pub async fn show(
    State(s): State<AppState>,
    PathParams(tx): PathParams<u64>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<TransactionView>> {
    load(&s, tx, q.after, q.limit).await.map(Json)
}

/// Messages a graph draws unless `limit` says fewer.
pub const GRAPH_LIMIT: usize = m2mhub_ledger::MAX_PAGE;

/// `GET /v1/transactions/{tx}/graph` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphQuery {
    format: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/transactions/{tx}/graph?format=json|dot|prov&limit=`: the causal tree of the
/// first `limit` messages (1,000 by default), `truncated` when the transaction has more.
pub async fn graph(
    State(s): State<AppState>,
    PathParams(tx): PathParams<u64>,
    Params(q): Params<GraphQuery>,
) -> ApiResult<Response> {
    let t = load(&s, tx, None, Some(q.limit.unwrap_or(GRAPH_LIMIT))).await?;
    Ok(match q.format.as_deref().unwrap_or("json") {
        "json" => Json(graph::to_json(&t)).into_response(),
        "dot" => (
            [(header::CONTENT_TYPE, "text/vnd.graphviz; charset=utf-8")],
            graph::to_dot(&t),
        )
            .into_response(),
        "prov" => (
            [(header::CONTENT_TYPE, "application/json")],
            graph::to_prov(&t).to_string(),
        )
            .into_response(),
        other => {
            return Err(ApiError::malformed(format!(
                "format must be json, dot or prov, not {other:?}"
            )));
        }
    })
}
