//! Message routes: submit one, submit a batch, list with filters, show one.

use std::fmt;

use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};
use m2mhub_core::{
    message::{Message, MessageSubmission},
    names::DeviceName,
};
use m2mhub_ledger::{Appended, LedgerError, MessageFilter, MessagePage, Record, Submission};
use serde::Serialize;
use serde::{
    Deserialize, Deserializer,
    de::{Error as _, SeqAccess, Visitor},
};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{JsonBytes, Params, PathParams, Source},
    gate::{brought_nothing_new, refused, refused_from},
    state::AppState,
};

/// Most messages one batch may carry.
pub const MAX_BATCH: usize = 10_000;

fn decode(json: &str) -> Result<Message, ApiError> {
    let sub: MessageSubmission =
        serde_json::from_str(json).map_err(|e| ApiError::malformed(e.to_string()))?;
    Message::try_from(sub).map_err(|e| ApiError::malformed(e.to_string()))
}

/// The items of a batch, each left unparsed (borrowed from the body), at most [`MAX_BATCH`]:
/// parsing stops at the first item past the cap, so an array of millions of tiny objects
/// costs no more than the cap. Each item is then decoded on its own, so one bad item is
/// answered in its place and the others still count.
struct BatchItems<'a>(Vec<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for BatchItems<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Items<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Items<'a> {
            type Value = BatchItems<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a JSON array of at most {MAX_BATCH} messages")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // The size hint comes from the client: never trust it beyond the cap.
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_BATCH));
                while let Some(item) = seq.next_element::<&'de RawValue>()? {
                    if items.len() == MAX_BATCH {
                        return Err(A::Error::custom(format!(
                            "a batch holds at most {MAX_BATCH} messages"
                        )));
                    }
                    items.push(item);
                }
                Ok(BatchItems(items))
            }
        }
        d.deserialize_seq(Items(std::marker::PhantomData))
    }
}

fn outcome(r: Result<Appended, LedgerError>) -> Result<Record, ApiError> {
    match r {
        Ok(Appended::Message(rec)) => Ok(rec),
        Ok(Appended::Registry { .. }) => Err(LedgerError::Unavailable.into()),
        Err(e) => Err(ApiError::from(e)),
    }
}

/// Queues `msgs` without blocking this thread; 503 `busy` when the commit queue is full.
async fn submit(s: &AppState, msgs: Vec<Message>) -> ApiResult<Vec<Result<Appended, LedgerError>>> {
    let n = msgs.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    s.committer.try_submit(
        msgs.into_iter().map(Submission::Message).collect(),
        move |r| {
            let _ = tx.send(r);
        },
    )?;
    Ok(rx
        .await
        .unwrap_or_else(|_| (0..n).map(|_| Err(LedgerError::Unavailable)).collect()))
}

/// Splits off the exact resubmissions of messages already on disk (SPEC §3.2): their records
/// come from a read, without a signature check or a place in a block, so replaying public
/// records costs the hub little. `copies[i]` answers `msgs[i]` when it is one. Read off the
/// async threads.
async fn recorded_copies(
    s: &AppState,
    msgs: Vec<Message>,
) -> ApiResult<(Vec<Message>, Vec<Option<Record>>)> {
    let ledger = s.ledger.clone();
    tokio::task::spawn_blocking(move || {
        let copies = ledger.recorded_copies(&msgs)?;
        Ok((msgs, copies))
    })
    .await
    .map_err(|_| ApiError::from(LedgerError::Unavailable))?
}

/// The sender a refused submission claims, however broken the rest of it is (for its
/// security event).
fn claimed_sender(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Claim {
        sender: Option<String>,
    }
    serde_json::from_slice::<Claim>(body).ok()?.sender
}

/// Forwards the message `json` to member `home` and answers with its answer, as it came.
async fn relay(s: &AppState, home: &str, json: bytes::Bytes) -> ApiResult<Response> {
    let forwarder = s.forwarder.as_ref().ok_or_else(ApiError::busy)?;
    let json = String::from_utf8(json.to_vec())
        .ok()
        .and_then(|j| RawValue::from_string(j).ok())
        .ok_or_else(|| ApiError::malformed("the body is not one JSON value"))?;
    let (status, body) = forwarder.forward(home, json).await?;
    Ok((
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

/// `POST /v1/messages` (the throttle ran before: `gate::throttle_first`).
#[utoipa::path(post, path = "/v1/messages", operation_id = "submit_message", tag = "messages",
    summary = "Submit a signed message; the record is durable when this returns",
    request_body = MessageSubmission,
    responses(
        (status = 200, description = "its record (with duplicate: true for an exact resubmission)", body = Record, links(
            ("show" = (operation_id = "show_message", parameters(("seq" = "$response.body#/seq")))),
            ("entry" = (operation_id = "show_entry", parameters(("seq" = "$response.body#/seq")))),
            ("transaction" = (operation_id = "show_transaction", parameters(("tx" = "$response.body#/tx")))),
            ("graph" = (operation_id = "transaction_graph", parameters(("tx" = "$response.body#/tx")))),
            ("inclusion" = (operation_id = "inclusion_proof", parameters(("seq" = "$response.body#/seq")))),
            ("block" = (operation_id = "show_block", parameters(("height" = "$response.body#/block")))),
        )),
        (status = 401, description = "unknown_sender or bad_signature: nothing recorded", body = ErrorBody),
        (status = 409, description = "stale_counter: nothing recorded", body = ErrorBody),
        (status = 429, description = "too_many_failures: this address failed too often (Retry-After)", body = ErrorBody),
    ))]
pub async fn post(
    State(s): State<AppState>,
    Source(source): Source,
    body: Result<JsonBytes, ApiError>,
) -> ApiResult<Response> {
    let JsonBytes(b) = body.inspect_err(|e| refused(&s, source, e))?;
    let msg = std::str::from_utf8(&b)
        .map_err(|_| ApiError::malformed("the body is not UTF-8"))
        .and_then(decode)
        .inspect_err(|e| refused_from(&s, source, claimed_sender(&b).as_deref(), e))?;
    if let Some(home) = crate::forward::recording_member(&s, &msg).inspect_err(|e| {
        refused_from(&s, source, Some(msg.sender.as_str()), e);
    })? {
        return relay(&s, &home, b).await;
    }
    drop(b);
    let (mut msgs, mut copies) = recorded_copies(&s, vec![msg]).await?;
    if let Some(Some(original)) = copies.pop() {
        brought_nothing_new(&s, source);
        return Ok(Json(original).into_response());
    }
    let sender = msgs
        .first()
        .map(|m| m.sender.to_string())
        .unwrap_or_default();
    let r = submit(&s, std::mem::take(&mut msgs))
        .await?
        .pop()
        .unwrap_or(Err(LedgerError::Unavailable));
    let r = outcome(r).inspect_err(|e| refused_from(&s, source, Some(&sender), e))?;
    if r.duplicate {
        brought_nothing_new(&s, source);
    }
    Ok(Json(r).into_response())
}

/// One answer of a batch: the message's record, or why it was refused.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum BatchAnswer {
    /// Recorded (or an exact resubmission's original record).
    Record(Record),
    /// Refused: nothing recorded for this message.
    Error(ErrorBody),
    /// Forwarded to the member that records it (SPEC §7): its answer as it came, a record or
    /// an error.
    #[schema(value_type = Record)]
    Forwarded(Box<RawValue>),
}

/// `POST /v1/messages/batch`: one answer per message, in order (the throttle ran before:
/// `gate::throttle_first`).
#[utoipa::path(post, path = "/v1/messages/batch", operation_id = "submit_batch", tag = "messages",
    summary = "Submit many signed messages in one block; one answer per message, in order",
    request_body(content = Vec<MessageSubmission>, description = "at most 10,000 messages"),
    responses(
        (status = 200, description = "one answer per message, in order", body = Vec<BatchAnswer>),
        (status = 429, description = "too_many_failures: this address failed too often (Retry-After)", body = ErrorBody),
    ))]
pub async fn batch(
    State(s): State<AppState>,
    Source(source): Source,
    body: Result<JsonBytes, ApiError>,
) -> ApiResult<Json<Vec<BatchAnswer>>> {
    let JsonBytes(bytes) = body.inspect_err(|e| refused(&s, source, e))?;
    let BatchItems(items) = serde_json::from_slice::<BatchItems<'_>>(&bytes)
        .map_err(|e| ApiError::malformed(e.to_string()))
        .inspect_err(|e| refused(&s, source, e))?;
    let mut answers: Vec<Option<BatchAnswer>> = Vec::with_capacity(items.len());
    let mut msgs = Vec::with_capacity(items.len());
    // Messages another member records (SPEC §7): forwarded in order, answered in place.
    let mut forwarded = Vec::new();
    for item in items {
        match decode(item.get()).and_then(|m| Ok((crate::forward::recording_member(&s, &m)?, m))) {
            Ok((Some(home), m)) => {
                let json = RawValue::from_string(item.get().to_owned())
                    .map_err(|e| ApiError::malformed(e.to_string()))?;
                forwarded.push((answers.len(), m.sender.to_string(), home, json));
                answers.push(Some(BatchAnswer::Error(ApiError::busy().body())));
            }
            Ok((None, m)) => {
                msgs.push(m);
                answers.push(None);
            }
            Err(e) => {
                let claimed = claimed_sender(item.get().as_bytes());
                refused_from(&s, source, claimed.as_deref(), &e);
                answers.push(Some(BatchAnswer::Error(e.body())));
            }
        }
    }
    drop(bytes);
    if let Some(f) = &s.forwarder {
        // Queued one after another, so each member receives them in the batch's order.
        let pending: Vec<_> = forwarded
            .into_iter()
            .map(|(i, sender, home, json)| (i, sender, f.forward_owned(home, json)))
            .collect();
        for (i, sender, answer) in pending {
            answers[i] = Some(match answer.await {
                Ok((_, body)) => BatchAnswer::Forwarded(
                    RawValue::from_string(String::from_utf8_lossy(&body).into_owned())
                        .map_err(|e| ApiError::internal(&e))?,
                ),
                Err(e) => {
                    refused_from(&s, source, Some(&sender), &e);
                    BatchAnswer::Error(e.body())
                }
            });
        }
    }
    // Copies of recorded messages are answered from the store; the rest go to the committer.
    let (msgs, copies) = recorded_copies(&s, msgs).await?;
    let msgs_len = msgs.len();
    let mut fresh = Vec::with_capacity(msgs.len());
    let mut senders = Vec::with_capacity(msgs.len());
    let mut decoded = answers.iter_mut().filter(|a| a.is_none());
    for (m, copy) in msgs.into_iter().zip(copies) {
        let slot = decoded.next();
        match copy {
            Some(original) => {
                if let Some(slot) = slot {
                    *slot = Some(BatchAnswer::Record(original));
                }
            }
            None => {
                senders.push(m.sender.to_string());
                fresh.push(m);
            }
        }
    }
    let mut duplicates = msgs_len - fresh.len();
    let mut results = submit(&s, fresh).await?.into_iter().zip(senders);
    let mut recorded = 0usize;
    let out: Vec<BatchAnswer> = answers
        .into_iter()
        .map(|a| {
            a.unwrap_or_else(|| {
                let (r, sender) = results
                    .next()
                    .unwrap_or((Err(LedgerError::Unavailable), String::new()));
                match outcome(r) {
                    Ok(rec) => {
                        recorded += usize::from(!rec.duplicate);
                        duplicates += usize::from(rec.duplicate);
                        BatchAnswer::Record(rec)
                    }
                    Err(e) => {
                        refused_from(&s, source, Some(&sender), &e);
                        BatchAnswer::Error(e.body())
                    }
                }
            })
        })
        .collect();
    if recorded == 0 && duplicates > 0 {
        brought_nothing_new(&s, source);
    }
    Ok(Json(out))
}

/// `GET /v1/messages` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only messages naming this tx.
    tx: Option<u64>,
    /// Only messages this device sent or received (`name@hub` for another member's, SPEC §7).
    #[param(value_type = Option<m2mhub_core::names::PartyName>)]
    device: Option<String>,
    /// Only valid (true) or only invalid (false) messages.
    valid: Option<bool>,
    /// The previous page's `next`: only seqs greater than this (smaller with `order=desc`).
    after: Option<u64>,
    /// Only seqs smaller than this, newest first; `next` is then the next page's `before`.
    before: Option<u64>,
    /// asc (oldest first, the default) or desc (newest first).
    order: Option<Order>,
    /// Only messages in blocks sealed at or after this time (`2026-01-31T09:30:00.000Z`, or
    /// without the fraction).
    #[param(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{3})?Z$")]
    from: Option<String>,
    /// Only messages in blocks sealed at or before this time (as `from`).
    #[param(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{3})?Z$")]
    to: Option<String>,
    /// Only the invalid messages this device caused (its transactions', and its own naming
    /// tx ids not issued yet): needs valid=false.
    #[param(value_type = Option<DeviceName>)]
    provenance: Option<String>,
    /// Only the message whose Merkle leaf hash is this (hex), found through an index; no
    /// other filter may be given with it.
    #[param(pattern = "^[0-9a-fA-F]{64}$", min_length = 64, max_length = 64)]
    leaf_hash: Option<String>,
    /// At most this many items (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// A list's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

/// `GET /v1/messages`: one bounded page, `{items, next, total}`.
#[utoipa::path(get, path = "/v1/messages", operation_id = "list_messages", tag = "messages",
    summary = "Records filtered by tx, device, validity, provenance and time, paged: {items, next, total}",
    description = "Paged forward with after, newest first with order=desc (after then means older than), or backward with before; a page may hold fewer items than limit, even none, while next is set. from and to keep the messages of blocks sealed in that range (found by binary search over block times). total counts the matches over the whole ledger when a counter knows it, else null. leaf_hash finds one message through an index (0 or 1 item) and takes no other filter.",
    params(ListQuery),
    responses((status = 200, description = "one page", body = MessagePage),
        (status = 404, description = "unknown_device: no device has the provenance name", body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<MessagePage>> {
    // An unknown device has no messages, but a name no device can have is a malformed query.
    // In a federation `device` may be `name@hub` (SPEC §7), this hub's own as its bare name.
    if let Some(p) = &q.provenance {
        DeviceName::new(p)?;
    }
    let device = match &q.device {
        Some(d) => {
            let d = DeviceName::party(d)?;
            Some(s.ledger.view().registry.registry.canonical(&d).to_string())
        }
        None => None,
    };
    let time = |what: &str, t: &Option<String>| {
        t.as_deref()
            .map(|t| m2mhub_ledger::record::parse_time(what, t))
            .transpose()
    };
    let f = MessageFilter {
        tx: q.tx,
        device,
        valid: q.valid,
        after: q.after,
        before: q.before,
        newest_first: q.order == Some(Order::Desc),
        from_ms: time("from", &q.from)?,
        to_ms: time("to", &q.to)?,
        provenance: q.provenance,
        leaf_hash: q
            .leaf_hash
            .as_deref()
            .map(|h| m2mhub_core::message::parse_hex_array::<32>(h, "leaf_hash"))
            .transpose()?,
        limit: q.limit,
    };
    let ledger = s.ledger.clone();
    super::read(move || ledger.messages(&f))
        .await
        .map_err(ApiError::unknown_device)
        .map(Json)
}

/// `GET /v1/messages/{seq}`.
#[utoipa::path(get, path = "/v1/messages/{seq}", operation_id = "show_message", tag = "messages",
    summary = "One record", params(("seq" = u64, Path, description = "the message's seq")),
    responses((status = 200, description = "its record", body = Record),
        (status = 404, description = "not_found: no message at that seq", body = ErrorBody)))]
pub async fn show(
    State(s): State<AppState>,
    PathParams(seq): PathParams<u64>,
) -> ApiResult<Json<Record>> {
    Ok(Json(s.ledger.record(seq)?))
}
