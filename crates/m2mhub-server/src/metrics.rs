//! Prometheus metrics (`GET /metrics`).

use std::sync::Mutex;

use axum::{extract::State, http::header, response::IntoResponse};
use m2mhub_ledger::Committed;
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ValidLabel {
    valid: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: String,
}

/// The hub's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    messages: Family<ValidLabel, Counter>,
    refusals: Family<CodeLabel, Counter>,
    entries: Gauge,
    blocks: Gauge,
    block_entries: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("m2mhub");
        let messages = Family::<ValidLabel, Counter>::default();
        let refusals = Family::<CodeLabel, Counter>::default();
        let entries = Gauge::default();
        let blocks = Gauge::default();
        let block_entries = Counter::default();
        registry.register(
            "messages",
            "Messages recorded since start, by validity",
            messages.clone(),
        );
        registry.register(
            "refusals",
            "Submissions refused without an entry (SPEC 3.2), by code",
            refusals.clone(),
        );
        registry.register("ledger_entries", "Entries in the ledger", entries.clone());
        registry.register(
            "ledger_block_height",
            "Height of the last block",
            blocks.clone(),
        );
        registry.register(
            "block_entries",
            "Entries committed in blocks since start",
            block_entries.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            messages,
            refusals,
            entries,
            blocks,
            block_entries,
        }
    }

    /// Counts a refusal by its code.
    pub fn refusal(&self, code: &str) {
        self.refusals
            .get_or_create(&CodeLabel {
                code: code.to_owned(),
            })
            .inc();
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
        self.entries.set(c.block.tree_size as i64);
        self.blocks.set(c.block.height as i64);
        self.block_entries.inc_by(c.block.size);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &r);
        out
    }
}

/// `GET /metrics`.
pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let head = s.ledger.view().head;
    s.metrics.entries.set(head.tree_size as i64);
    s.metrics.blocks.set(head.height as i64);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}
