//! A cap on authentication failures per source address, so a flood of forged or malformed
//! submissions cannot spend the hub's signature-checking time that real devices need.
//!
//! Each source has a bucket of `burst` failures that refills at `per_sec`. Every refusal that
//! costs the hub work and proves nothing (`malformed`, `too_large`, `unknown_sender`,
//! `bad_signature`) takes one, and so does every request answered only with originals (exact
//! resubmissions: records are public, so anyone can replay them; `gate::brought_nothing_new`); while a source's bucket is empty, its submissions are answered
//! `429 too_many_failures` before their body is read (`gate::throttle_first`). Sources that
//! behave never notice.
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

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Per-source failure buckets.
#[derive(Debug)]
pub struct FailureThrottle {
    burst: f64,
    per_sec: f64,
    sources: Mutex<HashMap<IpAddr, Bucket>>,
}

impl FailureThrottle {
    /// Allows `burst` failures at once per source, refilled at `per_sec` per second.
    pub fn new(burst: u32, per_sec: f64) -> FailureThrottle {
        FailureThrottle {
            burst: f64::from(burst.max(1)),
            per_sec: per_sec.max(0.001),
            sources: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, b: Bucket, now: Instant) -> Bucket {
        let t = b.tokens + now.duration_since(b.at).as_secs_f64() * self.per_sec;
        Bucket {
            tokens: t.min(self.burst),
            at: now,
        }
    }

    /// `Err(wait)` when `source` has used up its failures; `wait` is when one is back.
    pub fn check(&self, source: Option<IpAddr>) -> Result<(), Duration> {
        let Some(ip) = source else { return Ok(()) };
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let Some(b) = sources.get_mut(&ip) else {
            return Ok(());
        };
        *b = self.refilled(*b, Instant::now());
        if b.tokens >= 1.0 {
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.per_sec))
        }
    }

    /// Counts `n` failures against `source`.
    pub fn failed(&self, source: Option<IpAddr>, n: usize) {
        let Some(ip) = source else { return };
        if n == 0 {
            return;
        }
        let now = Instant::now();
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if sources.len() >= MAX_SOURCES && !sources.contains_key(&ip) {
            let burst = self.burst;
            let per_sec = self.per_sec;
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
            tokens: self.burst,
            at: now,
        });
        let mut r = self.refilled(*b, now);
        // A flood keeps its source blocked: the debt is capped at one more burst.
        r.tokens = (r.tokens - n as f64).max(-self.burst);
        *b = r;
    }

    /// True for the refusals that count as failures.
    pub fn counts(code: &str) -> bool {
        matches!(
            code,
            "malformed" | "too_large" | "unknown_sender" | "bad_signature"
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
        assert!(t.sources.lock().unwrap().len() <= MAX_SOURCES);
    }
}
