//! M2MHub's HTTP API (SPEC §5): thin axum handlers that decode, call the ledger and encode.
//! No rule lives here. Errors become responses in one place ([`error`]).
//!
//! [`run`] takes a bound listener and a shutdown future, so tests bind `127.0.0.1:0`; the
//! connection handling, timeouts and limits live in [`front`].

pub mod error;
pub mod events;
pub mod extract;
pub mod federation;
pub mod federation_metrics;
pub mod forward;
pub mod front;
pub mod gate;
pub mod graph;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod security;
pub mod simulated;
pub mod state;
pub mod throttle;
pub mod witness_store;

use std::{convert::Infallible, future::Future};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    middleware::from_fn_with_state,
    routing::{get, post},
};
use tokio::net::TcpListener;
use tower::limit::GlobalConcurrencyLimitLayer;

pub use front::Limits;
pub use state::AppState;

use routes::{devices, health, incidents, investigate, ledger, messages, transactions, ui};

/// Body cap for every route but the batch route: a message is at most 16 KiB of contents.
pub const BODY_LIMIT: usize = 256 * 1024;
/// Body cap for `POST /v1/messages/batch`.
pub const BATCH_BODY_LIMIT: usize = 64 * 1024 * 1024;
/// Most batch requests handled at once (each may hold a body of up to [`BATCH_BODY_LIMIT`]
/// in memory, so this bounds that memory to 1 GiB); the next ones wait their turn.
pub const BATCH_CONCURRENCY: usize = 16;

/// The API's router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(ui::index))
        .route("/v1/devices", post(devices::register).get(devices::list))
        .route("/v1/devices/{name}", get(devices::show))
        .route("/v1/devices/{name}/exceptions", post(devices::grant))
        .route(
            "/v1/devices/{name}/exceptions/{sender}",
            axum::routing::delete(devices::withdraw),
        )
        .route("/v1/devices/{name}/revoke", post(devices::revoke))
        .route("/v1/devices/{name}/rekey", post(devices::rekey))
        .route("/v1/devices/{name}/send", post(investigate::send))
        .route(
            "/v1/devices/{name}/transactions",
            get(investigate::device_transactions),
        )
        .route(
            "/v1/devices/{name}/history",
            get(investigate::device_history),
        )
        .route(
            "/v1/federation/devices/{name}/transactions",
            get(routes::federation::device_transactions),
        )
        .route("/v1/incidents", get(incidents::list))
        .route("/v1/stats/rates", get(routes::stats::rates))
        .route("/v1/provenance/ranking", get(investigate::ranking))
        .route(
            "/v1/messages",
            post(messages::post)
                .route_layer(from_fn_with_state(state.clone(), gate::throttle_first))
                .get(messages::list),
        )
        .route(
            "/v1/messages/batch",
            // Throttled sources are refused before they wait for a batch slot.
            post(messages::batch)
                .layer::<_, Infallible>(DefaultBodyLimit::max(BATCH_BODY_LIMIT))
                .layer::<_, Infallible>(GlobalConcurrencyLimitLayer::new(BATCH_CONCURRENCY))
                .route_layer(from_fn_with_state(state.clone(), gate::throttle_first)),
        )
        .route("/v1/messages/{seq}", get(messages::show))
        .route("/v1/transactions/{tx}", get(transactions::show))
        .route("/v1/transactions/{tx}/graph", get(transactions::graph))
        .route("/v1/entries", get(ledger::entries))
        .route("/v1/entries/{seq}", get(ledger::entry))
        .route("/v1/checkpoint", get(ledger::checkpoint))
        .route("/v1/key", get(ledger::key))
        .route("/v1/proof/inclusion", get(ledger::inclusion))
        .route("/v1/proof/consistency", get(ledger::consistency))
        .route("/v1/blocks", get(ledger::blocks))
        .route("/v1/blocks/{height}", get(ledger::block))
        .route("/v1/events", get(events::stream))
        .route("/v1/security-events", get(routes::security::list))
        .route("/v1/security-events/stream", get(routes::security::stream))
        .route("/v1/backup", get(routes::backup::backup))
        .route("/v1/openapi.json", get(openapi::serve))
        .route("/tlog/checkpoint", get(routes::tlog::checkpoint))
        .route("/tlog/tile/{*path}", get(routes::tlog::tile))
        .route(
            "/tlog-witness/add-checkpoint",
            post(routes::witness::add_checkpoint).layer::<_, Infallible>(DefaultBodyLimit::max(
                m2mhub_core::witness::MAX_REQUEST_LEN,
            )),
        )
        .route(
            "/tlog-witness/{origin_hash}/checkpoint",
            get(routes::witness::witnessed),
        )
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(|| async { error::ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async { error::ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serves the API on `listener` with the default [`Limits`] until `shutdown` completes, then
/// finishes in-flight requests.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, state, &Limits::default(), shutdown).await
}

/// [`run`] within `limits`.
pub async fn run_with(
    listener: TcpListener,
    state: AppState,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let closer = state.clone();
    let shutdown = async move {
        shutdown.await;
        closer.close();
    };
    let committer = state.committer.clone();
    let security = state.security.clone();
    let served = front::serve(listener, router(state), limits, shutdown).await;
    // Commit what is queued and release the ledger before returning.
    let _ = tokio::task::spawn_blocking(move || {
        committer.stop();
        security.close();
    })
    .await;
    served
}
