//! M2MHub's ledger: the sequencer that authenticates, validates and appends submissions and
//! commits them in signed, hash-linked blocks to a durable embedded store (redb); the queries
//! over it; and replay verification.
//!
//! It implements SPEC §3 through `m2mhub-core`'s rules and §4's formats; it does not speak
//! HTTP or MQTT (transports call [`Ledger::append`] or a [`Committer`]) and never waits on a
//! blockchain. A record is returned only after its block is durable on disk.

mod append;
pub mod backup;
pub mod block;
mod committer;
mod copies;
pub mod datadir;
mod error;
pub mod fs;
mod investigate;
mod ledger;
mod lists;
mod membership;
mod migrate;
pub mod parties;
mod query;
pub mod record;
mod sigverify;
#[cfg(any(test, feature = "testing"))]
pub mod simfs;
pub mod store;
mod tiles;
mod txcodec;
pub mod verify;

pub use append::{Appended, Submission, Verified};
pub use block::BlockRow;
pub use committer::{Committer, DEFAULT_MAX_QUEUED, MAX_BLOCK_ENTRIES};
pub use datadir::DataDir;
pub use error::{LedgerError, Result};
pub use investigate::{
    DeviceActivity, HistoryItem, HistoryKind, IncidentItem, IncidentPage, LastSeen,
    MAX_RATE_BUCKETS, RATE_BUCKETS, RateBucket, Rates,
};
pub use ledger::{Committed, Ledger, LedgerConfig, RegistryView, View, now_ms};
pub use lists::{
    DEFAULT_PAGE, DeviceTransaction, MAX_PAGE, MessageFilter, MessagePage, Page, ProvenanceCount,
    SCAN_FACTOR, TransactionView, page_limit,
};
pub use query::{ConsistencyProof, EntryView, InclusionProof, Logged};
pub use record::Record;
pub use sigverify::{SigCheck, verify_all};
pub use tiles::{TILE_WIDTH, Tile};
