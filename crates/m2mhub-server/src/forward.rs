//! Forwarding (SPEC §7): a federated message whose transaction lives at another member is
//! authenticated here, by its sender's hub, then sent to that member, which judges and records
//! it; the device's answer is that member's record, relayed as it came.
//!
//! One task per member keeps one request in flight: it takes every message queued for that
//! member, in arrival order, and posts them as one `POST /v1/messages/batch`. So messages keep
//! their order (a sender's counters arrive increasing) and a busy link costs one round trip
//! per batch, not per message. A member that does not answer is asked again with the same
//! batch (exact resubmissions are answered with their original records, SPEC §3.2) until
//! each message's deadline passes; its device is then answered 503 `hub_unavailable` and may
//! send again.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use axum::http::StatusCode;
use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};

use m2mhub_core::message::Message;

use crate::{
    error::ApiError,
    federation_metrics::{FederationMetrics, Forwarded},
};

/// How long a device waits for the recording member before it is answered 503.
pub const DEADLINE: Duration = Duration::from_secs(10);
/// How long one request to a member may take.
const ATTEMPT: Duration = Duration::from_secs(5);
/// Most messages queued for one member; past it, devices are answered 503 `busy`.
const QUEUE: usize = 10_000;
/// Most messages one forwarded batch carries.
const MAX_BATCH: usize = 1_000;

/// What the recording member answered for one message: its status and JSON body.
pub type Answer = Result<(StatusCode, Bytes), ApiError>;

struct Job {
    /// The message's JSON, as the device sent it.
    json: Box<RawValue>,
    deadline: Instant,
    answer: oneshot::Sender<Answer>,
}

/// The forwarding queues, one per other member.
#[derive(Debug, Default)]
pub struct Forwarder {
    peers: HashMap<String, mpsc::Sender<Job>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").finish_non_exhaustive()
    }
}

impl Forwarder {
    /// Starts one forwarding task per member in `members` (name, base URL) on the current
    /// tokio runtime.
    pub fn start<'a>(
        members: impl IntoIterator<Item = (&'a str, &'a str)>,
        metrics: FederationMetrics,
    ) -> Forwarder {
        let http = reqwest::Client::builder().timeout(ATTEMPT).build().ok();
        let mut peers = HashMap::new();
        for (name, url) in members {
            let (tx, rx) = mpsc::channel(QUEUE);
            let url = format!("{}/v1/messages/batch", url.trim_end_matches('/'));
            tokio::spawn(run(name.to_owned(), url, http.clone(), rx, metrics.clone()));
            peers.insert(name.to_owned(), tx);
        }
        Forwarder { peers }
    }

    /// Sends `json` (one message) to member `hub` and waits for its answer.
    pub async fn forward(&self, hub: &str, json: Box<RawValue>) -> Answer {
        self.forward_owned(hub.to_owned(), json).await
    }

    /// [`Forwarder::forward`], queued at once (before the returned future is polled), so
    /// that messages queued one after another reach the member in that order.
    pub fn forward_owned(
        &self,
        hub: String,
        json: Box<RawValue>,
    ) -> impl std::future::Future<Output = Answer> + use<> {
        let (answer, rx) = oneshot::channel();
        let queued = match self.peers.get(&hub) {
            None => Err(ApiError::malformed(format!(
                "no member hub named {hub:?} in this federation"
            ))),
            Some(peer) => peer
                .try_send(Job {
                    json,
                    deadline: Instant::now() + DEADLINE,
                    answer,
                })
                .map_err(|_| ApiError::busy()),
        };
        async move {
            queued?;
            rx.await.unwrap_or_else(|_| Err(unavailable(&hub)))
        }
    }
}

/// The member that records `msg` when it is not this hub (SPEC §7), once the message passed
/// this hub's authentication as its sender's hub (`auth::check_forward`); `None` when this
/// hub records it (or is in no federation).
pub fn recording_member(
    s: &crate::state::AppState,
    msg: &Message,
) -> Result<Option<String>, ApiError> {
    // A one-hub message, or a hub in no federation: nothing to look up.
    let (Some(home), Some(_)) = (msg.recording_hub(), &s.forwarder) else {
        return Ok(None);
    };
    let view = s.ledger.view();
    let registry = &view.registry.registry;
    match registry.hub() {
        Some(here) if home != here => {
            m2mhub_core::auth::check_forward(registry, msg)?;
            Ok(Some(home.to_owned()))
        }
        _ => Ok(None),
    }
}

fn unavailable(hub: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "hub_unavailable",
        format!(
            "hub {hub:?}, which records this message, did not answer in time; send it again \
             (an exact resubmission is answered with the original record)"
        ),
    )
    .with_retry_after(1)
}

async fn run(
    hub: String,
    url: String,
    http: Option<reqwest::Client>,
    mut rx: mpsc::Receiver<Job>,
    metrics: FederationMetrics,
) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut backoff = Duration::from_millis(50);
        loop {
            let attempt = match &http {
                Some(http) => post(http, &url, &jobs).await,
                None => Err("no HTTP client".to_owned()),
            };
            match attempt {
                Ok(answers) => {
                    for (job, a) in jobs.drain(..).zip(answers) {
                        let outcome = if a.0.is_success() {
                            Forwarded::Recorded
                        } else {
                            Forwarded::Refused
                        };
                        metrics.forwarded(&hub, outcome, 1);
                        let _ = job.answer.send(Ok(a));
                    }
                    break;
                }
                Err(why) => {
                    let now = Instant::now();
                    let before = jobs.len();
                    jobs.retain_mut(|j| j.deadline > now && !j.answer.is_closed());
                    let given_up = (before - jobs.len()) as u64;
                    metrics.forwarded(&hub, Forwarded::Unavailable, given_up);
                    if jobs.is_empty() {
                        tracing::warn!(hub = %hub, "forwarding failed: {why}");
                        break;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// Posts the batch; one (status, body) per job, or why the member gave no usable answer.
async fn post(
    http: &reqwest::Client,
    url: &str,
    jobs: &[Job],
) -> Result<Vec<(StatusCode, Bytes)>, String> {
    let items: Vec<&RawValue> = jobs.iter().map(|j| &*j.json).collect();
    let body = serde_json::to_vec(&items).map_err(|e| e.to_string())?;
    let r = http
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let bytes = r.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!(
            "{status}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        ));
    }
    let answers: Vec<Box<RawValue>> =
        serde_json::from_slice(&bytes).map_err(|e| format!("answer is not a JSON array: {e}"))?;
    if answers.len() != jobs.len() {
        return Err(format!(
            "{} answers to {} messages",
            answers.len(),
            jobs.len()
        ));
    }
    Ok(answers.into_iter().map(|a| answer_of(&a)).collect())
}

/// One batch answer as the status and body `POST /v1/messages` would have given: a record is
/// 200, an error body gets the status of its code.
fn answer_of(a: &RawValue) -> (StatusCode, Bytes) {
    #[derive(serde::Deserialize)]
    struct Code {
        error: Option<String>,
    }
    let code = serde_json::from_str::<Code>(a.get())
        .ok()
        .and_then(|c| c.error);
    let status = match code.as_deref() {
        None => StatusCode::OK,
        Some("malformed") => StatusCode::BAD_REQUEST,
        Some("unknown_sender" | "bad_signature") => StatusCode::UNAUTHORIZED,
        Some("stale_counter") => StatusCode::CONFLICT,
        Some("too_many_failures") => StatusCode::TOO_MANY_REQUESTS,
        Some("busy" | "unavailable") => StatusCode::SERVICE_UNAVAILABLE,
        Some(_) => StatusCode::BAD_GATEWAY,
    };
    (status, Bytes::copy_from_slice(a.get().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_answers_get_the_single_routes_status() {
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        assert_eq!(answer_of(&raw(r#"{"seq":3}"#)).0, StatusCode::OK);
        let e = raw(r#"{"error":"stale_counter","message":"x"}"#);
        assert_eq!(answer_of(&e).0, StatusCode::CONFLICT);
        assert_eq!(answer_of(&e).1, Bytes::from(e.get().to_owned()));
        let e = raw(r#"{"error":"bad_signature","message":"x"}"#);
        assert_eq!(answer_of(&e).0, StatusCode::UNAUTHORIZED);
    }
}
