//! Prometheus metrics (`GET /metrics`): every family with HELP and TYPE, in the Prometheus text
//! format 0.0.4 (what `promtool check metrics` reads), or in OpenMetrics 1.0 when the scraper
//! asks for it (`Accept: application/openmetrics-text`).

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::State,
    http::{HeaderMap, header},
    response::IntoResponse,
};
use m2mhub_ledger::{Committed, datadir::STORE_FILE};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

use crate::state::AppState;

/// The codes a refusal is counted under from the start: SPEC 3.2's and the throttle's 429.
const REFUSAL_CODES: [&str; 5] = [
    "malformed",
    "unknown_sender",
    "bad_signature",
    "stale_counter",
    "too_many_failures",
];

/// Content type of the Prometheus text format.
pub const TEXT_0_0_4: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of OpenMetrics text.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ValidLabel {
    valid: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SenderLabel {
    sender: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabel {
    stream: String,
}

/// The hub's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    messages: Family<ValidLabel, Counter>,
    invalid_by_sender: Family<SenderLabel, Counter>,
    refusals: Family<CodeLabel, Counter>,
    entries: Gauge,
    blocks: Gauge,
    block_entries: Counter,
    block_size: Histogram,
    ingest: Histogram,
    queued: Gauge,
    sse_clients: Family<StreamLabel, Gauge>,
    security_dropped: Counter,
    anchor_lag: Gauge,
    /// The tree size the chain has anchored, once anchoring is on.
    anchored: OnceLock<Arc<AtomicU64>>,
    data_free: Gauge,
    data_size: Gauge,
    store_bytes: Gauge,
    /// The data directory whose file system and store are measured, once given.
    data_dir: OnceLock<PathBuf>,
    /// A federation member's metrics, once the hub joins one.
    federation: OnceLock<crate::federation_metrics::FederationMetrics>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("m2mhub");
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            messages: Family::default(),
            invalid_by_sender: Family::default(),
            refusals: Family::default(),
            entries: Gauge::default(),
            blocks: Gauge::default(),
            block_entries: Counter::default(),
            // 1, 4, 16, … 16,384 entries (a block holds at most 8,192 plus one submission).
            block_size: Histogram::new(exponential_buckets(1.0, 4.0, 8)),
            // 0.25 ms, 0.5 ms, … ~8 s.
            ingest: Histogram::new(exponential_buckets(0.000_25, 2.0, 16)),
            queued: Gauge::default(),
            sse_clients: Family::default(),
            security_dropped: Counter::default(),
            anchor_lag: Gauge::default(),
            anchored: OnceLock::new(),
            data_free: Gauge::default(),
            data_size: Gauge::default(),
            store_bytes: Gauge::default(),
            data_dir: OnceLock::new(),
            federation: OnceLock::new(),
        };
        r.register(
            "messages",
            "Messages recorded since start, by validity",
            m.messages.clone(),
        );
        // One series per device that ever sent an invalid message: only registered devices
        // with valid signatures get here (SPEC 3.2), so the registry bounds the series.
        r.register(
            "invalid_messages",
            "Invalid messages recorded since start (flagged, SPEC 3.3), by sender",
            m.invalid_by_sender.clone(),
        );
        r.register(
            "refusals",
            "Submissions refused without an entry (SPEC 3.2) and 429s of the failure throttle, by code",
            m.refusals.clone(),
        );
        r.register("ledger_entries", "Entries in the ledger", m.entries.clone());
        r.register(
            "ledger_block_height",
            "Height of the last block",
            m.blocks.clone(),
        );
        r.register(
            "block_entries",
            "Entries committed in blocks since start",
            m.block_entries.clone(),
        );
        r.register(
            "block_size_entries",
            "Entries per committed block",
            m.block_size.clone(),
        );
        r.register(
            "ingest_seconds",
            "Time from a submission reaching the committer to its durable answer (a batch counts once), HTTP and MQTT",
            m.ingest.clone(),
        );
        r.register(
            "committer_queue_messages",
            "Messages submitted to the committer and not yet answered (queued, being verified or committed)",
            m.queued.clone(),
        );
        r.register(
            "sse_clients",
            "Open Server-Sent Events streams, by stream",
            m.sse_clients.clone(),
        );
        r.register(
            "security_events_dropped",
            "Security events dropped because their writer was behind (the refusals are still counted)",
            m.security_dropped.clone(),
        );
        *m.registry.lock().unwrap_or_else(|p| p.into_inner()) = r;
        // Both streams show from the start, at zero.
        for s in ["events", "security"] {
            let _ = m
                .sse_clients
                .get_or_create(&StreamLabel { stream: s.into() });
        }
        // So do the refusal codes of SPEC 3.2 and the throttle's: a family without a series
        // is not written at all, and a series that first shows at N hides its first N from
        // `increase()` (deploy/alerts.yml's refusal flood).
        for code in REFUSAL_CODES {
            m.refusal_series(code);
        }
        m
    }

    /// Counts a refusal by its code.
    pub fn refusal(&self, code: &str) {
        self.refusal_series(code).inc();
    }

    fn refusal_series(&self, code: &str) -> Counter {
        self.refusals
            .get_or_create(&CodeLabel {
                code: code.to_owned(),
            })
            .clone()
    }

    /// Counts a security event its store had no room for.
    pub fn security_event_dropped(&self) {
        self.security_dropped.inc();
    }

    /// Accounts for a committed block.
    pub fn committed(&self, c: &Committed) {
        let valid = c.records.iter().filter(|r| r.valid).count() as u64;
        let invalid = c.records.len() as u64 - valid;
        self.messages
            .get_or_create(&ValidLabel {
                valid: "true".into(),
            })
            .inc_by(valid);
        self.messages
            .get_or_create(&ValidLabel {
                valid: "false".into(),
            })
            .inc_by(invalid);
        for r in c.records.iter().filter(|r| !r.valid) {
            self.invalid_by_sender
                .get_or_create(&SenderLabel {
                    sender: r.sender.clone(),
                })
                .inc();
        }
        self.entries.set(c.block.tree_size as i64);
        self.blocks.set(c.block.height as i64);
        self.block_entries.inc_by(c.block.size);
        self.block_size.observe(c.block.size as f64);
    }

    /// Accounts for an answered submission (see `Committer::observe`).
    pub fn answered(&self, took: Duration) {
        self.ingest.observe(took.as_secs_f64());
    }

    /// Reports the anchor lag (tree size minus the tree size last anchored) from now on;
    /// `anchored` is kept up to date by the anchorer.
    pub fn anchoring(&self, anchored: Arc<AtomicU64>) {
        if self.anchored.set(anchored).is_ok() {
            self.registry
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .register(
                    "anchor_lag_entries",
                    "Entries in the ledger not yet covered by an anchor on chain",
                    self.anchor_lag.clone(),
                );
        }
    }

    /// The federation's metrics, registered the first time with a series for each of the
    /// `others` members (SPEC §7).
    pub fn federation<'a>(
        &self,
        others: impl Iterator<Item = &'a str>,
    ) -> crate::federation_metrics::FederationMetrics {
        self.federation
            .get_or_init(|| {
                let f = crate::federation_metrics::FederationMetrics::default();
                let mut r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
                f.register(&mut r, others);
                f
            })
            .clone()
    }

    /// Reports, from now on, the space left on the file system of the data directory `dir`,
    /// that file system's size and the size of the store (`dir/ledger.redb`).
    pub fn data_dir(&self, dir: PathBuf) {
        if self.data_dir.set(dir).is_ok() {
            let mut r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
            r.register(
                "data_free_bytes",
                "Bytes the hub may still write on the file system of its data directory",
                self.data_free.clone(),
            );
            r.register(
                "data_size_bytes",
                "Size of the file system of the hub's data directory, bytes",
                self.data_size.clone(),
            );
            r.register(
                "store_bytes",
                "Size of the ledger's store file, bytes",
                self.store_bytes.clone(),
            );
        }
    }

    /// Counts an open SSE stream until the returned guard is dropped.
    pub fn sse_client(&self, stream: &str) -> SseClient {
        let g = self
            .sse_clients
            .get_or_create(&StreamLabel {
                stream: stream.to_owned(),
            })
            .clone();
        g.inc();
        SseClient(g)
    }

    /// Sets the gauges read at scrape time.
    fn refresh(&self, s: &AppState) {
        let head = s.ledger.view().head;
        self.entries.set(head.tree_size as i64);
        self.blocks.set(head.height as i64);
        self.queued.set(s.committer.queued() as i64);
        if let Some(a) = self.anchored.get() {
            let lag = head.tree_size.saturating_sub(a.load(Ordering::Relaxed));
            self.anchor_lag.set(lag as i64);
        }
        if let Some(dir) = self.data_dir.get() {
            // Two quick system calls per scrape; a failure leaves the last values.
            if let Ok(fs) = rustix::fs::statvfs(dir) {
                let gauge = |blocks: u64| i64::try_from(blocks.saturating_mul(fs.f_frsize));
                if let (Ok(free), Ok(size)) = (gauge(fs.f_bavail), gauge(fs.f_blocks)) {
                    self.data_free.set(free);
                    self.data_size.set(size);
                }
            }
            if let Ok(m) = std::fs::metadata(dir.join(STORE_FILE)) {
                self.store_bytes
                    .set(i64::try_from(m.len()).unwrap_or(i64::MAX));
            }
        }
    }

    /// The OpenMetrics exposition.
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &r);
        out
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        to_text_0_0_4(&self.render_openmetrics())
    }
}

/// An open SSE stream, counted in `m2mhub_sse_clients` while it lives.
#[derive(Debug)]
pub struct SseClient(Gauge);

impl Drop for SseClient {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Rewrites prometheus-client's OpenMetrics text as Prometheus text 0.0.4: a counter family
/// `x` becomes `x_total` in its HELP and TYPE lines (its samples already are `x_total`),
/// `# UNIT` and `# EOF` lines go. prometheus-client writes only OpenMetrics, and promtool (and
/// many scrapers) read 0.0.4, hence these lines; the encoder's other output (gauges,
/// histograms, label sets, escaping) is the same in both formats.
fn to_text_0_0_4(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let rest = line
            .strip_prefix("# HELP ")
            .map(|r| ("# HELP ", r))
            .or_else(|| line.strip_prefix("# TYPE ").map(|r| ("# TYPE ", r)));
        match rest {
            Some((kind, r)) => {
                let name = r.split(' ').next().unwrap_or("");
                if counters.contains(name) {
                    out.push_str(kind);
                    out.push_str(name);
                    out.push_str("_total");
                    out.push_str(&r[name.len()..]);
                } else {
                    out.push_str(line);
                }
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// `GET /metrics`: Prometheus text 0.0.4, or OpenMetrics when `Accept` names it.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    summary = "Prometheus metrics: text format 0.0.4, or OpenMetrics 1.0 when Accept names application/openmetrics-text",
    responses((status = 200, description = "the metrics", content(
        (String = "text/plain"), (String = "application/openmetrics-text")))))]
pub async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    s.metrics.refresh(&s);
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if openmetrics {
        (
            [(header::CONTENT_TYPE, OPENMETRICS)],
            s.metrics.render_openmetrics(),
        )
    } else {
        ([(header::CONTENT_TYPE, TEXT_0_0_4)], s.metrics.render())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_with_total_in_the_text_format() {
        let m = Metrics::new();
        m.refusal("bad_signature");
        m.answered(Duration::from_millis(3));
        let om = m.render_openmetrics();
        assert!(om.contains("# TYPE m2mhub_refusals counter\n"), "{om}");
        assert!(om.ends_with("# EOF\n"), "{om}");
        let text = m.render();
        assert!(
            text.contains("# TYPE m2mhub_refusals_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP m2mhub_refusals_total Submissions"),
            "{text}"
        );
        assert!(text.contains("m2mhub_refusals_total{code=\"bad_signature\"} 1\n"));
        assert!(
            text.contains("# TYPE m2mhub_ingest_seconds histogram\n"),
            "{text}"
        );
        assert!(text.contains("m2mhub_ingest_seconds_count 1\n"), "{text}");
        assert!(!text.contains("# EOF"), "{text}");
        assert!(!text.contains("_total_total"), "{text}");
    }

    #[test]
    fn refusal_codes_show_at_zero_and_disk_gauges_register_once() {
        let m = Metrics::new();
        let text = m.render();
        for code in REFUSAL_CODES {
            assert!(
                text.contains(&format!("m2mhub_refusals_total{{code=\"{code}\"}} 0\n")),
                "{text}"
            );
        }
        assert!(!text.contains("m2mhub_data_free_bytes"), "{text}");
        let dir = std::env::temp_dir();
        m.data_dir(dir.clone());
        m.data_dir(dir);
        let text = m.render();
        assert_eq!(
            text.matches("# TYPE m2mhub_data_free_bytes gauge").count(),
            1,
            "{text}"
        );
    }

    #[test]
    fn anchor_lag_appears_once_anchoring_is_on() {
        let m = Metrics::new();
        assert!(!m.render().contains("anchor_lag"));
        m.anchoring(Arc::new(AtomicU64::new(5)));
        m.anchoring(Arc::new(AtomicU64::new(6)));
        let text = m.render();
        assert_eq!(
            text.matches("# TYPE m2mhub_anchor_lag_entries gauge")
                .count(),
            1
        );
    }

    #[test]
    fn sse_clients_are_counted_while_they_stream() {
        let m = Metrics::new();
        let a = m.sse_client("events");
        let _b = m.sse_client("events");
        assert!(
            m.render()
                .contains("m2mhub_sse_clients{stream=\"events\"} 2\n")
        );
        drop(a);
        assert!(
            m.render()
                .contains("m2mhub_sse_clients{stream=\"events\"} 1\n")
        );
    }
}
