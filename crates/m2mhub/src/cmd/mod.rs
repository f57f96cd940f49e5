//! The subcommands, one per file, each with `Args` and `run`.

pub mod backup;
pub mod bench;
pub mod chain;
pub mod demo;
pub mod device;
pub mod export;
pub mod mirror;
pub mod restore;
pub mod serve;
pub mod status;
pub mod trace;
pub mod verify;
