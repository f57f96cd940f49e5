//! The front door: accepts connections up to a cap, serves HTTP/1.1 with hyper under a
//! header-read timeout, bounds each request's time and the requests handled at once, and
//! shuts down gracefully.
//!
//! Why hyper directly and not `axum::serve`: axum's server exposes no header-read timeout, and
//! without one a client that sends its headers a byte at a time (slowloris), or a socket that
//! sends nothing, holds a connection forever. hyper's `header_read_timeout` runs whenever the
//! server waits for a request head: on a new connection and between the requests of a kept-
//! alive one, so it is also the idle timeout. HTTP/2 is not served: its preface read has no
//! timeout in hyper-util's auto builder, and devices and browsers speak HTTP/1.1 to the hub.

use std::{
    convert::Infallible,
    future::Future,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    error_handling::HandleErrorLayer,
    extract::{ConnectInfo, Request},
    response::{IntoResponse, Response},
};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tower::{BoxError, ServiceBuilder, ServiceExt, limit::GlobalConcurrencyLimitLayer};

use crate::{error::ApiError, gate::Tarpit};

/// Limits of the front door. Defaults suit a hub on the open network.
#[derive(Clone, Debug)]
pub struct Limits {
    /// How long a connection may take to send a request's head (line and headers), counted
    /// from when the server starts waiting for it: on a new connection, and after each answer
    /// on a kept-alive one (so also how long a connection may sit idle). Closed past it. Each
    /// connection gets a deadline spread evenly between half of this and all of it, so
    /// connections opened together (a flood of idle ones) do not all close, and reopen,
    /// together: a burst of thousands of closes and accepts would stall everyone's answers.
    pub header_read_timeout: Duration,
    /// How long a request may take from its head to its answer, body read included; 408
    /// `timeout` past it. Streams (SSE) count until their headers are sent.
    pub request_timeout: Duration,
    /// Most connections open at once; the next ones wait in the kernel's accept queue, which
    /// costs the hub no file descriptor.
    pub max_connections: usize,
    /// Most requests handled at once; the next ones wait (within their request timeout).
    pub max_requests: usize,
    /// Most connections one source address may hold at once; past it a new one is closed as
    /// soon as it is accepted, so one address cannot take the whole connection cap. Behind a
    /// reverse proxy every client shares the proxy's address: raise it there.
    pub max_connections_per_source: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            max_requests: 1024,
            max_connections_per_source: 1000,
        }
    }
}

/// `app` behind the request timeout and the concurrency limit, answering JSON errors.
fn guarded(
    app: Router,
    limits: &Limits,
) -> impl tower::Service<Request, Response = Response, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    let limit = limits.request_timeout;
    ServiceBuilder::new()
        .layer(HandleErrorLayer::new(move |e: BoxError| async move {
            if e.is::<tower::timeout::error::Elapsed>() {
                ApiError::timeout(limit).into_response()
            } else {
                ApiError::internal(&e).into_response()
            }
        }))
        .timeout(limits.request_timeout)
        .layer(GlobalConcurrencyLimitLayer::with_semaphore(Arc::new(
            Semaphore::new(limits.max_requests.max(1)),
        )))
        .service(app)
}

/// Connections open per source address.
#[derive(Debug, Default)]
struct PerSource(std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>);

/// One connection counted against its source; uncounted when dropped.
struct Held(Arc<PerSource>, IpAddr);

impl PerSource {
    /// Counts a connection from `ip`, unless it already holds `cap`.
    fn admit(this: &Arc<PerSource>, ip: IpAddr, cap: usize) -> Option<Held> {
        let mut open = this.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= cap.max(1) {
            return None;
        }
        *n += 1;
        Some(Held(this.clone(), ip))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut open = self.0.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// `full` scaled by a factor in [½, 1] that the `n`th connection gets: a Weyl sequence (the
/// golden ratio's fractional part), evenly spread for any run of consecutive connections. No
/// secret is needed: spreading deadlines is not a defence against a client that knows them.
fn spread(full: Duration, n: u64) -> Duration {
    let frac = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64;
    full.mul_f64(0.5 + frac / 2.0)
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes, then lets in-flight
/// requests finish (for at most the request timeout).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = guarded(app, limits);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut accepted: u64 = 0;
    let per_source = Arc::new(PerSource::default());
    let graceful = GracefulShutdown::new();
    let mut backoff = Duration::ZERO;
    tokio::pin!(shutdown);
    loop {
        // A permit first: past the cap, connections wait in the kernel, not in our fds.
        let permit = tokio::select! {
            p = connections.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => {
                    backoff = Duration::ZERO;
                    c
                }
                Err(e) => {
                    // Out of file descriptors (EMFILE) or a transient error: retrying at once
                    // would spin a core while nothing frees up.
                    backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                    tracing::warn!("accepting a connection failed: {e}; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(held) =
            PerSource::admit(&per_source, addr.ip(), limits.max_connections_per_source)
        else {
            // Dropping the stream closes it; the permit goes back with it.
            continue;
        };
        let _ = stream.set_nodelay(true);
        accepted += 1;
        let mut http = http.clone();
        http.header_read_timeout(spread(limits.header_read_timeout, accepted));
        let service = service.clone();
        let per_request = hyper::service::service_fn(move |req: hyper::Request<_>| {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(addr));
            let answer = service.clone().oneshot(req);
            async move {
                let r = answer.await?;
                // Past the concurrency limit already: holding back costs a timer, not a permit.
                if let Some(Tarpit(d)) = r.extensions().get::<Tarpit>().copied() {
                    tokio::time::sleep(d).await;
                }
                Ok::<_, Infallible>(r)
            }
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), per_request));
        tokio::spawn(async move {
            // Errors here are the client's (reset, timeout, bad request line): nothing to do.
            let _ = conn.await;
            drop((permit, held));
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.request_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the grace period were dropped");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_spread_evenly_between_half_and_all_of_the_timeout() {
        let full = Duration::from_secs(10);
        let mut per_second = [0u32; 5];
        for n in 1..=1000 {
            let d = spread(full, n);
            assert!(d >= full / 2 && d <= full, "{d:?}");
            per_second[((d.as_secs_f64() - 5.0) as usize).min(4)] += 1;
        }
        // Each second of the 5-second spread holds a fifth of the connections, give or take.
        assert!(
            per_second.iter().all(|&c| (180..=220).contains(&c)),
            "{per_second:?}"
        );
    }
}
