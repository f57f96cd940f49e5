//! Investigation and simulated-device routes: which transactions reached a device and who
//! began them, which devices begin the most invalid traffic, and sending as a simulated
//! device (operator only; the hub signs with the key it holds).

use axum::{Json, extract::State, http::StatusCode};
use m2mhub_core::{
    message::{ActionJson, Message, MessageSubmission},
    names::DeviceName,
};
use m2mhub_ledger::{
    Appended, DeviceTransaction, HistoryItem, LedgerError, Page, ProvenanceCount, Record,
    Submission,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{JsonBody, Operator, Params, PathParams},
    state::AppState,
};

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> m2mhub_ledger::Result<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::from(LedgerError::Unavailable))?
        .map_err(ApiError::from)
}

/// `after` and `limit` of a paged list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The previous page's `next`.
    after: Option<u64>,
    /// At most this many items (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// `GET /v1/devices/{name}/transactions` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeviceTxQuery {
    /// The previous page's `next`: only messages (with `begun`: `begin`s) below that seq.
    after: Option<u64>,
    /// At most this many items (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// true: only the transactions the device began, newest first, each with its
    /// `message_count` and `invalid_count`.
    begun: Option<bool>,
}

/// `GET /v1/devices/{name}/transactions?after=&limit=&begun=`: the transactions that reached
/// the device (or that it began), newest first, with the device that began each,
/// `{items, next}`.
#[utoipa::path(get, path = "/v1/devices/{name}/transactions", operation_id = "device_transactions", tag = "investigation",
    summary = "Transactions whose messages reached the device (or, with begun=true, that it began), newest first, with their provenance: {items, next}",
    description = "Counts messages_to_device and invalid_to_device cover the messages the page looked at (with begun=true, the begin only); message_count and invalid_count (begun=true only) cover the whole transaction.",
    params(("name" = DeviceName, Path, description = "the device"), DeviceTxQuery),
    responses((status = 200, description = "one page", body = Page<DeviceTransaction>),
        (status = 404, description = "unknown_device", body = ErrorBody)))]
pub async fn device_transactions(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
    Params(q): Params<DeviceTxQuery>,
) -> ApiResult<Json<Page<DeviceTransaction>>> {
    let ledger = s.ledger.clone();
    blocking(move || {
        if q.begun == Some(true) {
            ledger.device_begun(&name, q.after, q.limit)
        } else {
            ledger.device_transactions(&name, q.after, q.limit)
        }
    })
    .await
    .map_err(ApiError::unknown_device)
    .map(Json)
}

/// `GET /v1/devices/{name}/history?after=&limit=`: the device's registry entries, oldest
/// first, `{items, next}`.
#[utoipa::path(get, path = "/v1/devices/{name}/history", operation_id = "device_history", tag = "investigation",
    summary = "The device's registry history, oldest first: registration, exceptions granted and withdrawn (by it or naming it as sender), re-keys, revocation: {items, next}",
    params(("name" = DeviceName, Path, description = "the device"), PageQuery),
    responses((status = 200, description = "one page", body = Page<HistoryItem>),
        (status = 404, description = "unknown_device", body = ErrorBody)))]
pub async fn device_history(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<Page<HistoryItem>>> {
    let ledger = s.ledger.clone();
    blocking(move || ledger.device_history(&name, q.after, q.limit))
        .await
        .map_err(ApiError::unknown_device)
        .map(Json)
}

/// `GET /v1/provenance/ranking?after=&limit=`: provenance devices by the invalid messages
/// their transactions hold ("who is misbehaving"), kept up to date on append, `{items, next}`.
#[utoipa::path(get, path = "/v1/provenance/ranking", operation_id = "provenance_ranking", tag = "investigation",
    summary = "Provenance devices by the invalid messages their transactions hold, kept up to date on append: {items, next}",
    params(PageQuery),
    responses((status = 200, description = "one page", body = Page<ProvenanceCount>)))]
pub async fn ranking(
    State(s): State<AppState>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<Page<ProvenanceCount>>> {
    let ledger = s.ledger.clone();
    blocking(move || ledger.provenance_ranking(q.after, q.limit))
        .await
        .map(Json)
}

/// `POST /v1/devices/{name}/send` body: a message without sender, counter or signature.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SimulatedMessage)]
pub struct SendBody {
    /// The receiving device.
    #[schema(value_type = DeviceName)]
    receiver: String,
    /// begin, continue or end (or 0, 1, 2).
    action: ActionJson,
    /// The transaction; absent or 0 for begin.
    #[serde(default, deserialize_with = "m2mhub_core::jsonint::opt_u64")]
    tx: Option<u64>,
    /// The seq of the message that caused this one.
    #[serde(default, deserialize_with = "m2mhub_core::jsonint::opt_u64")]
    #[schema(maximum = 18446744073709551614_u64)]
    cause: Option<u64>,
    /// UTF-8 contents, at most 16 KiB (16,384 bytes of UTF-8).
    #[schema(max_length = 16384)]
    contents: String,
}

/// `POST /v1/devices/{name}/send` (operator): the hub signs as the simulated device, with
/// its next counter, and records the message like any other.
#[utoipa::path(post, path = "/v1/devices/{name}/send", operation_id = "send_as_simulated", tag = "investigation",
    summary = "Send as a simulated device: the hub signs with the key it holds and the device's next counter",
    security(("operator" = [])), request_body = SendBody,
    params(("name" = DeviceName, Path, description = "the simulated device")),
    responses((status = 200, description = "the message's record", body = Record),
        (status = 409, description = "not_simulated: the hub does not hold this device's key", body = ErrorBody)))]
pub async fn send(
    _: Operator,
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
    JsonBody(b): JsonBody<SendBody>,
) -> ApiResult<Json<Record>> {
    // Held across signing and recording: one simulated device's counters stay in order.
    let mut keys = s.simulated.keys.lock().await;
    let Some((key, used)) = keys.get_mut(&name) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_simulated",
            format!("the hub does not hold {name}'s key: it is not a simulated device"),
        ));
    };
    let ledger = s.ledger.clone();
    let n = name.clone();
    let recorded = blocking(move || ledger.last_counter(&n))
        .await?
        .unwrap_or(0);
    let counter = (*used).max(recorded) + 1;
    let sub = MessageSubmission {
        sender: name,
        receiver: b.receiver,
        action: b.action,
        tx: b.tx,
        tx_hub: None,
        cause: b.cause,
        counter,
        contents: b.contents,
        signature: "0".repeat(128),
    };
    let mut msg = Message::try_from(sub).map_err(ApiError::from)?;
    msg.signature = ed25519_dalek::Signer::sign(key, &msg.signing_bytes()).to_bytes();
    let (tx, rx) = tokio::sync::oneshot::channel();
    s.committer
        .try_submit(vec![Submission::Message(msg)], move |r| {
            let _ = tx.send(r);
        })
        .map_err(ApiError::from)?;
    let result = rx
        .await
        .ok()
        .and_then(|mut r| r.pop())
        .unwrap_or(Err(LedgerError::Unavailable));
    match result {
        Ok(Appended::Message(r)) => {
            *used = counter;
            Ok(Json(r))
        }
        Ok(Appended::Registry { .. }) => Err(LedgerError::Unavailable.into()),
        Err(e) => {
            let e = ApiError::from(e);
            s.metrics.refusal(e.code);
            Err(e)
        }
    }
}
