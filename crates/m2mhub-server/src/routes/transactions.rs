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

async fn load(s: &AppState, tx: u64) -> ApiResult<TransactionView> {
    let ledger = s.ledger.clone();
    tokio::task::spawn_blocking(move || ledger.transaction(tx))
        .await
        .map_err(|_| ApiError::from(LedgerError::Unavailable))?
        .map_err(|e| match e {
            LedgerError::NotFound(m) => {
                ApiError::new(axum::http::StatusCode::NOT_FOUND, "unknown_transaction", m)
            }
            other => other.into(),
        })
}

/// `GET /v1/transactions/{tx}`.
pub async fn show(
    State(s): State<AppState>,
    PathParams(tx): PathParams<u64>,
) -> ApiResult<Json<TransactionView>> {
    load(&s, tx).await.map(Json)
}

/// `GET /v1/transactions/{tx}/graph` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphQuery {
    format: Option<String>,
}

/// `GET /v1/transactions/{tx}/graph?format=json|dot|prov`.
pub async fn graph(
    State(s): State<AppState>,
    PathParams(tx): PathParams<u64>,
    Params(q): Params<GraphQuery>,
) -> ApiResult<Response> {
    let t = load(&s, tx).await?;
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
