//! Message routes: submit one, submit a batch, list with filters, show one.

use axum::{Json, extract::State};
use m2mhub_core::message::{Message, MessageSubmission};
use m2mhub_ledger::{Appended, LedgerError, MessageFilter, Page, Record, Submission};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    error::{ApiError, ApiResult},
    extract::{JsonBody, Params, PathParams, Source},
    security::{Refusal, Transport},
    state::AppState,
    throttle::FailureThrottle,
};

/// Most messages one batch may carry.
pub const MAX_BATCH: usize = 10_000;

fn decode(v: Value) -> Result<Message, ApiError> {
    let sub: MessageSubmission =
        serde_json::from_value(v).map_err(|e| ApiError::malformed(e.to_string()))?;
    Message::try_from(sub).map_err(|e| ApiError::malformed(e.to_string()))
}

/// The sender a submission claims, however broken the rest of it is.
fn claimed_sender(v: &Value) -> Option<String> {
    v.get("sender").and_then(Value::as_str).map(str::to_owned)
}

fn outcome(r: Result<Appended, LedgerError>) -> Result<Record, ApiError> {
    match r {
        Ok(Appended::Message(rec)) => Ok(rec),
        Ok(Appended::Registry { .. }) => Err(LedgerError::Unavailable.into()),
        Err(e) => Err(ApiError::from(e)),
    }
}

/// Every refused submission answered over HTTP passes here (SPEC §3.2): counted and kept as a
/// security event ([`AppState::refused`]), and charged to its source when it is an
/// authentication failure.
fn refuse(s: &AppState, source: Source, sender: Option<&str>, e: ApiError) -> ApiError {
    let ip = source.0.map(|ip| ip.to_string());
    s.refused(&Refusal {
        transport: Transport::Http,
        source: ip.as_deref(),
        sender,
        code: e.code,
        message: &e.message,
    });
    if FailureThrottle::counts(e.code) {
        s.throttle.failed(source.0, 1);
    }
    e
}

async fn submit(s: &AppState, msgs: Vec<Message>) -> Vec<Result<Appended, LedgerError>> {
    let n = msgs.len();
    let (tx, rx) = tokio::sync::oneshot::channel();
    s.committer.submit(
        msgs.into_iter().map(Submission::Message).collect(),
        move |r| {
            let _ = tx.send(r);
        },
    );
    rx.await
        .unwrap_or_else(|_| (0..n).map(|_| Err(LedgerError::Unavailable)).collect())
}

/// Refuses a source that used up its authentication failures (before any signature check).
fn throttled(s: &AppState, source: Source) -> Result<(), ApiError> {
    s.throttle
        .check(source.0)
        .map_err(|wait| refuse(s, source, None, ApiError::too_many_failures(wait)))
}

/// `POST /v1/messages`.
pub async fn post(
    State(s): State<AppState>,
    source: Source,
    body: Result<JsonBody<Value>, ApiError>,
) -> ApiResult<Json<Record>> {
    throttled(&s, source)?;
    let JsonBody(v) = body.map_err(|e| refuse(&s, source, None, e))?;
    let sender = claimed_sender(&v);
    let msg = decode(v).map_err(|e| refuse(&s, source, sender.as_deref(), e))?;
    let r = submit(&s, vec![msg])
        .await
        .pop()
        .unwrap_or(Err(LedgerError::Unavailable));
    outcome(r)
        .map_err(|e| refused_by_ledger(&s, source, sender.as_deref(), e))
        .map(Json)
}

/// A ledger answer that is a refusal is kept; `unavailable` and internal errors are not the
/// submitter's doing and are answered as they are.
fn refused_by_ledger(s: &AppState, source: Source, sender: Option<&str>, e: ApiError) -> ApiError {
    if e.status.is_client_error() {
        refuse(s, source, sender, e)
    } else {
        e
    }
}

/// `POST /v1/messages/batch`: one answer per message, in order.
pub async fn batch(
    State(s): State<AppState>,
    source: Source,
    body: Result<JsonBody<Vec<Value>>, ApiError>,
) -> ApiResult<Json<Vec<Value>>> {
    throttled(&s, source)?;
    let JsonBody(items) = body.map_err(|e| refuse(&s, source, None, e))?;
    if items.len() > MAX_BATCH {
        return Err(refuse(
            &s,
            source,
            None,
            ApiError::malformed(format!("a batch holds at most {MAX_BATCH} messages")),
        ));
    }
    let mut answers: Vec<Option<Value>> = Vec::with_capacity(items.len());
    let mut msgs = Vec::with_capacity(items.len());
    for v in items {
        let sender = claimed_sender(&v);
        match decode(v) {
            Ok(m) => {
                msgs.push(m);
                answers.push(None);
            }
            Err(e) => {
                let e = refuse(&s, source, sender.as_deref(), e);
                answers.push(Some(serde_json::to_value(e.body()).unwrap_or(Value::Null)));
            }
        }
    }
    let senders: Vec<String> = msgs.iter().map(|m| m.sender.to_string()).collect();
    let mut results = submit(&s, msgs).await.into_iter().zip(senders);
    let out = answers
        .into_iter()
        .map(|a| {
            a.unwrap_or_else(|| {
                let (r, sender) = results
                    .next()
                    .map_or((Err(LedgerError::Unavailable), None), |(r, n)| (r, Some(n)));
                match outcome(r) {
                    Ok(rec) => serde_json::to_value(rec).unwrap_or(Value::Null),
                    Err(e) => {
                        let e = refused_by_ledger(&s, source, sender.as_deref(), e);
                        serde_json::to_value(e.body()).unwrap_or(Value::Null)
                    }
                }
            })
        })
        .collect();
    Ok(Json(out))
}

/// `GET /v1/messages` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    tx: Option<u64>,
    device: Option<String>,
    valid: Option<bool>,
    after: Option<u64>,
    before: Option<u64>,
    limit: Option<usize>,
}

/// `GET /v1/messages`: one bounded page, `{items, next}`.
pub async fn list(
    State(s): State<AppState>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Page<Record>>> {
    let f = MessageFilter {
        tx: q.tx,
        device: q.device,
        valid: q.valid,
        after: q.after,
        before: q.before,
        limit: q.limit,
    };
    let ledger = s.ledger.clone();
    let records = tokio::task::spawn_blocking(move || ledger.messages(&f))
        .await
        .map_err(|_| ApiError::from(LedgerError::Unavailable))??;
    Ok(Json(records))
}

/// `GET /v1/messages/{seq}`.
pub async fn show(
    State(s): State<AppState>,
    PathParams(seq): PathParams<u64>,
) -> ApiResult<Json<Record>> {
    Ok(Json(s.ledger.record(seq)?))
}
