//! Logging a background task's failures once per streak: the first failure of a streak is a
//! warning, later ones are debug lines (with a warning again every minute the streak lasts),
//! and the first success after it says how long it lasted. Members of a federation start one
//! by one, so a hub would otherwise warn several times a second until the others are up.

use std::time::{Duration, Instant};

/// How often a long streak warns again.
const REMIND: Duration = Duration::from_secs(60);

/// One task's failure streak towards one peer.
#[derive(Debug)]
pub struct Streak {
    peer: String,
    what: &'static str,
    failures: u32,
    since: Option<Instant>,
    warned: Option<Instant>,
}

impl Streak {
    /// A streak of `what` (e.g. "add-checkpoint") towards `peer`.
    pub fn new(what: &'static str, peer: &str) -> Streak {
        Streak {
            peer: peer.to_owned(),
            what,
            failures: 0,
            since: None,
            warned: None,
        }
    }

    /// Notes a failure.
    pub fn fail(&mut self, e: &anyhow::Error) {
        let now = Instant::now();
        self.failures += 1;
        self.since.get_or_insert(now);
        if self.warned.is_none_or(|w| now.duration_since(w) >= REMIND) {
            self.warned = Some(now);
            tracing::warn!(
                peer = self.peer,
                failures = self.failures,
                "{} failing: {e:#}",
                self.what
            );
        } else {
            tracing::debug!(peer = self.peer, "{} failed: {e:#}", self.what);
        }
    }

    /// Notes a success, ending any streak.
    pub fn ok(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::info!(
                peer = self.peer,
                "{} works again after {} failure(s) over {:.1} s",
                self.what,
                self.failures,
                since.elapsed().as_secs_f64()
            );
        }
        self.failures = 0;
        self.warned = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_warns_once_then_resets_on_success() {
        let mut s = Streak::new("add-checkpoint", "grid");
        let e = anyhow::anyhow!("connection refused");
        s.fail(&e);
        let first = s.warned;
        s.fail(&e);
        s.fail(&e);
        assert_eq!(
            (s.failures, s.warned),
            (3, first),
            "one warning for the streak"
        );
        assert!(first.is_some() && s.since.is_some());
        s.ok();
        assert_eq!((s.failures, s.warned, s.since), (0, None, None));
        s.fail(&e);
        assert!(s.warned.is_some(), "a new streak warns again");
    }
}
