//! A cap on authentication failures per source address, so a flood of forged or malformed
//! submissions cannot spend the hub's signature-checking time that real devices need.
//!
//! Each source has a bucket of `burst` failures that refills at `per_sec`. Every refusal that
//! costs the hub work and proves nothing (`malformed`, `too_large`, `unknown_sender`,
//! `bad_signature`) takes one, and so does every request answered only with originals (exact
//! resubmissions: records are public, so anyone can replay them; `gate::brought_nothing_new`); while a source's bucket is empty, its submissions are answered
//! `429 too_many_failures` before their body is read (`gate::throttle_first`). Sources that
//! behave never notice.
//!
//! A flood spread over many addresses gets an allowance per address, so the sum is capped as
//! well: the hub as a whole allows [`GLOBAL_BURST_FACTOR`] bursts at once, refilled at
//! [`GLOBAL_RATE_FACTOR`] times the per-source rate. While that is spent, sources with failures
//! of their own in their bucket are refused too; sources with a clean record never notice.
//! Behind a reverse proxy every device shares the proxy's address: raise the limits there.
//!
//! Written by hand: the rate-limiting crates limit requests, not failures, and this is ~60
//! lines.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Most sources tracked at once; beyond it, full (idle) buckets are forgotten first.
const MAX_SOURCES: usize = 65_536;
/// The hub-wide burst, in per-source bursts.
pub const GLOBAL_BURST_FACTOR: f64 = 10.0;
/// The hub-wide refill rate, in per-source rates.
pub const GLOBAL_RATE_FACTOR: f64 = 25.0;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Per-source failure buckets, and the hub-wide one.
#[derive(Debug)]
pub struct FailureThrottle {
    burst: f64,
    per_sec: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    sources: HashMap<IpAddr, Bucket>,
    global: Bucket,
}

fn refill(b: Bucket, now: Instant, burst: f64, per_sec: f64) -> Bucket {
    let t = b.tokens + now.duration_since(b.at).as_secs_f64() * per_sec;
    Bucket {
        tokens: t.min(burst),
        at: now,
    }
}

fn wait(tokens: f64, per_sec: f64) -> Duration {
    Duration::from_secs_f64(((1.0 - tokens) / per_sec).clamp(0.0, 86_400.0))
}

impl FailureThrottle {
    /// Allows `burst` failures at once per source, refilled at `per_sec` per second (and the
    /// hub-wide allowance in proportion).
    pub fn new(burst: u32, per_sec: f64) -> FailureThrottle {
        let burst = f64::from(burst.max(1));
        FailureThrottle {
            burst,
            per_sec: per_sec.max(0.001),
            state: Mutex::new(State {
                sources: HashMap::new(),
                global: Bucket {
                    tokens: burst * GLOBAL_BURST_FACTOR,
                    at: Instant::now(),
                },
            }),
        }
    }

    fn global_burst(&self) -> f64 {
        self.burst * GLOBAL_BURST_FACTOR
    }

    fn global_rate(&self) -> f64 {
        self.per_sec * GLOBAL_RATE_FACTOR
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(wait)` when `source` has used up its failures, or has failures of its own while
    /// the hub-wide allowance is spent; `wait` is when one is back.
    pub fn check(&self, source: Option<IpAddr>) -> Result<(), Duration> {
        let Some(ip) = source else { return Ok(()) };
        let now = Instant::now();
        let (global_burst, global_rate) = (self.global_burst(), self.global_rate());
        let mut st = self.lock();
        st.global = refill(st.global, now, global_burst, global_rate);
        let global = st.global.tokens;
        let Some(b) = st.sources.get_mut(&ip) else {
            return Ok(());
        };
        *b = refill(*b, now, self.burst, self.per_sec);
        if b.tokens < 1.0 {
            Err(wait(b.tokens, self.per_sec))
        } else if b.tokens < self.burst && global < 1.0 {
            Err(wait(global, global_rate))
        } else {
            Ok(())
        }
    }

    /// Counts `n` failures against `source` (and the hub).
    pub fn failed(&self, source: Option<IpAddr>, n: usize) {
        let Some(ip) = source else { return };
        if n == 0 {
            return;
        }
        let now = Instant::now();
        let (burst, per_sec) = (self.burst, self.per_sec);
        let (global_burst, global_rate) = (self.global_burst(), self.global_rate());
        let mut st = self.lock();
        let mut g = refill(st.global, now, global_burst, global_rate);
        g.tokens = (g.tokens - n as f64).max(-global_burst);
        st.global = g;
        let sources = &mut st.sources;
        if sources.len() >= MAX_SOURCES && !sources.contains_key(&ip) {
            sources
                .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_sec < burst);
            if sources.len() >= MAX_SOURCES {
                // Everyone tracked is failing: forget an arbitrary one rather than grow.
                if let Some(k) = sources.keys().next().copied() {
                    sources.remove(&k);
                }
            }
        }
        let b = sources.entry(ip).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let mut r = refill(*b, now, burst, per_sec);
        // A flood keeps its source blocked: the debt is capped at one more burst.
        r.tokens = (r.tokens - n as f64).max(-burst);
        *b = r;
    }

    /// True for the refusals that count as failures.
    pub fn counts(code: &str) -> bool {
        matches!(
            code,
            "malformed" | "too_large" | "unknown_sender" | "bad_signature" | "unauthorized"
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_blocked_after_its_burst_and_others_are_not() {
        let t = FailureThrottle::new(3, 0.5);
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        t.failed(a, 2);
        assert!(t.check(a).is_ok());
        t.failed(a, 1);
        let wait = t.check(a).unwrap_err();
        assert!(wait > Duration::from_millis(1500) && wait <= Duration::from_secs(2));
        assert!(t.check(b).is_ok());
        assert!(t.check(None).is_ok());
        t.failed(None, 100);
        assert!(t.check(None).is_ok());
    }

    #[test]
    fn the_table_of_sources_stays_bounded() {
        let t = FailureThrottle::new(1, 1.0);
        for i in 0..(MAX_SOURCES as u32 + 10) {
            t.failed(Some(IpAddr::from(i.to_be_bytes())), 1);
        }
        assert!(t.lock().sources.len() <= MAX_SOURCES);
    }

    #[test]
    fn a_flood_over_many_sources_is_capped_hub_wide_and_clean_sources_pass() {
        let t = FailureThrottle::new(3, 0.001);
        let source = |i: u32| Some(IpAddr::from((0x0a00_0000 + i).to_be_bytes()));
        // Each source stays within its own allowance of 3: two failures each.
        for i in 0..15 {
            assert!(t.check(source(i)).is_ok(), "source {i}");
            t.failed(source(i), 2);
        }
        // 30 failures spent the hub-wide allowance of 30: sources with failures are refused...
        assert!(t.check(source(0)).is_err());
        assert!(t.check(source(14)).is_err());
        // ...a source with a clean record, or none, is not.
        assert!(t.check(source(100)).is_ok());
        assert!(t.check(None).is_ok());
    }
}
