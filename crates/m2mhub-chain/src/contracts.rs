//! Bindings to the contracts, generated from the committed Foundry-style artifacts in
//! `contracts/out` (ABI and bytecode), which `make contracts-check` proves match the sources.

#![allow(
    missing_docs,
    missing_debug_implementations,
    clippy::too_many_arguments
)]

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    M2MHubAnchor,
    "../../contracts/out/M2MHubAnchor.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    M2MHubLedger,
    "../../contracts/out/M2MHubLedger.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    PaperBaseline,
    "../../contracts/out/PaperBaseline.json"
);
