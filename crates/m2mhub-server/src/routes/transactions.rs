//! Transaction routes: the transaction with its messages, and its causal graph.

use axum::{
    Json,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use m2mhub_ledger::{LedgerError, TransactionView};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::{
    error::{ApiError, ApiResult, ErrorBody},
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
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Only messages after this seq (the previous page's `next`).
    after: Option<u64>,
    /// At most this many messages (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// `GET /v1/transactions/{tx}?after=&limit=`: the transaction with one page of its messages.
#[utoipa::path(get, path = "/v1/transactions/{tx}", operation_id = "show_transaction", tag = "transactions",
    summary = "A transaction: provenance, state, participants, message_count and one page of its messages",
    params(("tx" = u64, Path, description = "the transaction id"), PageQuery),
    responses((status = 200, description = "the transaction", body = TransactionView),
        (status = 404, description = "unknown_transaction", body = ErrorBody)))]
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
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GraphQuery {
    /// json (the default), dot (Graphviz) or prov (W3C PROV-JSON).
    #[param(value_type = Option<GraphFormat>)]
    format: Option<String>,
    /// Messages drawn (default 1,000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// The formats of a graph, for the OpenAPI document (the handler matches the strings).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum GraphFormat {
    /// `{tx, provenance, state, participants, message_count, truncated, nodes, edges, roots}`.
    Json,
    /// Graphviz DOT.
    Dot,
    /// W3C PROV-JSON.
    Prov,
}

/// `GET /v1/transactions/{tx}/graph?format=json|dot|prov&limit=`: the causal tree of the
/// first `limit` messages (1,000 by default), `truncated` when the transaction has more.
#[utoipa::path(get, path = "/v1/transactions/{tx}/graph", operation_id = "transaction_graph", tag = "transactions",
    summary = "The causal tree of the first limit messages as json, dot or prov; truncated when the transaction has more",
    params(("tx" = u64, Path, description = "the transaction id"), GraphQuery),
    responses((status = 200, description = "the graph: JSON for json and prov, DOT for dot", content(
            (Value = "application/json"), (String = "text/vnd.graphviz"))),
        (status = 404, description = "unknown_transaction", body = ErrorBody)))]
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
