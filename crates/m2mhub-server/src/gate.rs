//! The one place where refused submissions are handled: a source that used up its
//! authentication failures is answered 429 before its body is read ([`throttle_first`]), and
//! every refusal is counted in the metrics and, when it proves nothing, against its source
//! ([`refused`]). Security-event recording hooks in here.

use std::{net::IpAddr, time::Duration};

use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{
    error::ApiError,
    security::{Refusal, Transport},
    state::AppState,
    throttle::FailureThrottle,
};

/// The source address of a request, when the server knows it.
pub fn source_of(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Longest a throttled answer is held back ([`Tarpit`]).
pub const TARPIT_MAX: Duration = Duration::from_secs(1);

/// Marks a response the front door holds back for this long after the handler is done (its
/// concurrency permit already released): a throttled source's next request on the connection
/// waits for it, so a flooder gets about one answer per connection per second however fast it
/// sends, and its refusals cost the hub little. Devices in good standing never see one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tarpit(pub Duration);

/// Middleware for the submission routes: refuses a throttled source before anything reads,
/// let alone parses, its body, and holds the refusal back ([`Tarpit`]).
pub async fn throttle_first(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let source = source_of(&req);
    match s.throttle.check(source) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            let e = ApiError::too_many_failures(wait);
            keep(&s, source, None, &e);
            let mut r = e.into_response();
            r.extensions_mut().insert(Tarpit(wait.min(TARPIT_MAX)));
            r
        }
    }
}

/// Handles a refused submission from `source`: counts it by code and, when it is an
/// authentication failure (malformed, oversized, unknown sender, bad signature), takes it
/// from the source's allowance.
pub fn refused(s: &AppState, source: Option<IpAddr>, e: &ApiError) {
    refused_from(s, source, None, e);
}

/// [`refused`], for a submission that claimed to come from `sender`.
pub fn refused_from(s: &AppState, source: Option<IpAddr>, sender: Option<&str>, e: &ApiError) {
    if !e.status.is_client_error() {
        // Busy, unavailable or internal: not the submitter's doing.
        return;
    }
    keep(s, source, sender, e);
    if FailureThrottle::counts(e.code) {
        s.throttle.failed(source, 1);
    }
}

/// Handles a request from `source` that recorded nothing new: it was answered only with
/// originals (exact resubmissions, SPEC §3.2). A retry now and then is what at-least-once
/// devices do; a stream of them replays public records at the hub, which costs it work and
/// proves nothing, so each such request takes one failure from the source's allowance, like
/// a forgery (it is not a refusal: no security event).
pub fn brought_nothing_new(s: &AppState, source: Option<IpAddr>) {
    s.throttle.failed(source, 1);
}

/// Counts the refusal and keeps it as a security event (SPEC §3.2).
fn keep(s: &AppState, source: Option<IpAddr>, sender: Option<&str>, e: &ApiError) {
    let ip = source.map(|ip| ip.to_string());
    s.refused(&Refusal {
        transport: Transport::Http,
        source: ip.as_deref(),
        sender,
        code: e.code,
        message: &e.message,
    });
}
