//! A federation member's metrics (SPEC §7), registered into the hub's `/metrics` when it
//! joins a federation: messages forwarded to each member by outcome, registry changes imported
//! from each member, cosignatures gathered from each witness, and the size of the newest
//! checkpoint that met the witness policy.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemberLabel {
    member: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ForwardLabel {
    member: String,
    outcome: String,
}

/// What a forwarded message came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forwarded {
    /// The member recorded it (or answered with the original of an exact resubmission).
    Recorded,
    /// The member refused it (SPEC §3.2).
    Refused,
    /// The member did not answer before the device's deadline.
    Unavailable,
}

impl Forwarded {
    fn as_str(self) -> &'static str {
        match self {
            Forwarded::Recorded => "recorded",
            Forwarded::Refused => "refused",
            Forwarded::Unavailable => "unavailable",
        }
    }
}

/// The federation's metrics. Cheap to clone: clones count into the same series.
#[derive(Clone, Debug, Default)]
pub struct FederationMetrics {
    forwarded: Family<ForwardLabel, Counter>,
    imports: Family<MemberLabel, Counter>,
    cosignatures: Family<MemberLabel, Counter>,
    witnessed_size: Gauge,
}

impl FederationMetrics {
    /// Registers the families into `r` (the hub's registry, prefix `m2mhub`), each member's
    /// series at zero from the start so that rates and alerts see them before the first event.
    pub(crate) fn register<'a>(&self, r: &mut Registry, others: impl Iterator<Item = &'a str>) {
        for m in others {
            for o in [
                Forwarded::Recorded,
                Forwarded::Refused,
                Forwarded::Unavailable,
            ] {
                let _ = self.forwarded.get_or_create(&ForwardLabel {
                    member: m.to_owned(),
                    outcome: o.as_str().to_owned(),
                });
            }
            let label = MemberLabel {
                member: m.to_owned(),
            };
            let _ = self.imports.get_or_create(&label);
            let _ = self.cosignatures.get_or_create(&label);
        }
        r.register(
            "federation_forwarded",
            "Messages forwarded to the member that records them (SPEC §7), by member and outcome",
            self.forwarded.clone(),
        );
        r.register(
            "federation_imports",
            "Registry changes of each member imported into this ledger",
            self.imports.clone(),
        );
        r.register(
            "federation_cosignatures",
            "Cosignatures of this hub's checkpoints gathered from each member witness",
            self.cosignatures.clone(),
        );
        r.register(
            "federation_witnessed_tree_size",
            "Tree size of the newest checkpoint that met the witness policy (/tlog/checkpoint)",
            self.witnessed_size.clone(),
        );
    }

    /// Counts `n` messages forwarded to `member` that came to `outcome`.
    pub fn forwarded(&self, member: &str, outcome: Forwarded, n: u64) {
        self.forwarded
            .get_or_create(&ForwardLabel {
                member: member.to_owned(),
                outcome: outcome.as_str().to_owned(),
            })
            .inc_by(n);
    }

    /// Counts `n` registry changes of `member` imported.
    pub fn imported(&self, member: &str, n: u64) {
        self.imports
            .get_or_create(&MemberLabel {
                member: member.to_owned(),
            })
            .inc_by(n);
    }

    /// Counts a cosignature of this hub's checkpoint by `witness`.
    pub fn cosigned(&self, witness: &str) {
        self.cosignatures
            .get_or_create(&MemberLabel {
                member: witness.to_owned(),
            })
            .inc();
    }

    /// Notes that the checkpoint of `size` entries met the witness policy.
    pub fn witnessed(&self, size: u64) {
        self.witnessed_size
            .set(i64::try_from(size).unwrap_or(i64::MAX));
    }
}
