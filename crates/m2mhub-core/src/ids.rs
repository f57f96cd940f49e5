//! Newtypes for the ledger's numbers: entry sequence numbers, transaction ids, block heights.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<u64> for $name {
            fn from(v: u64) -> Self {
                Self(v)
            }
        }
    };
}

id_type!(
    /// An entry's index in the ledger, from 0; also its leaf index in the Merkle tree.
    Seq
);
id_type!(
    /// A transaction id: 1, 2, 3, … in ledger order (SPEC §3.1); 0 means "none".
    TxId
);
id_type!(
    /// A block's height: 0 is the genesis block (no entries), then 1, 2, 3, …
    Height
);
