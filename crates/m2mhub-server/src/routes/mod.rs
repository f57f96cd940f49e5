//! One module per route group of SPEC §5.

pub mod devices;
pub mod investigate;
pub mod ledger;
pub mod messages;
pub mod security;
pub mod transactions;
pub mod ui;
