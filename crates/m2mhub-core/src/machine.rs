//! An in-memory replica of the whole rule state: registry, transactions and which seqs are
//! valid messages. The replay verifier drives it over every entry; tests use it as the
//! reference for SPEC §3. (The sequencer keeps the same state, but backed by its store.)

use std::collections::HashMap;

use crate::{
    CoreError,
    auth::{self, Refusal},
    entry::{Entry, MessageEntry},
    ids::{Seq, TxId},
    message::{Action, Message},
    registry::{Device, Registry},
    rules::{self, Facts, Head, TxState},
};

/// Marks a seq that is not a valid message in [`Machine`]'s dense index.
const NOT_A_VALID_MESSAGE: u64 = 0;

/// The rule state after some prefix of the ledger.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    registry: Registry,
    txs: HashMap<TxId, TxState>,
    next_tx: TxId,
    /// For each seq, the tx id if it is a valid message, else 0. Dense: 8 bytes per entry.
    valid_tx_of: Vec<u64>,
    /// Invalid messages so far.
    invalid: u64,
}

/// Why an entry does not replay: the ledger is not what the rules would have written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// A registry entry the registry would have refused.
    #[error("registry change refused: {0}")]
    Registry(String),
    /// A message the hub should have refused at authentication.
    #[error("message should have been refused: {0}")]
    Refused(String),
    /// The recorded tx, provenance or notices differ from the recomputed ones.
    #[error("verdict differs: recorded {recorded}, recomputed {recomputed}")]
    Verdict {
        /// What the entry says.
        recorded: String,
        /// What the rules say.
        recomputed: String,
    },
}

impl Machine {
    /// The state of an empty ledger.
    pub fn new() -> Self {
        Self {
            next_tx: TxId(1),
            ..Self::default()
        }
    }

    /// Number of entries applied.
    pub fn size(&self) -> u64 {
        self.valid_tx_of.len() as u64
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// A transaction's state.
    pub fn transaction(&self, tx: TxId) -> Option<&TxState> {
        self.txs.get(&tx)
    }

    /// Number of transactions (every begin makes one, valid or not).
    pub fn transaction_count(&self) -> usize {
        self.txs.len()
    }

    /// Number of invalid messages replayed.
    pub fn invalid_count(&self) -> u64 {
        self.invalid
    }

    /// The id the next `begin` gets.
    pub fn next_tx(&self) -> TxId {
        self.next_tx
    }

    /// Applies a registry change as the next entry.
    pub fn apply_registry(&mut self, entry: &Entry) -> Result<Seq, CoreError> {
        let seq = Seq(self.size());
        self.registry.apply(seq, entry)?;
        self.valid_tx_of.push(NOT_A_VALID_MESSAGE);
        Ok(seq)
    }

    /// Authenticates, judges and records `msg` as the next entry. (Exact resubmissions are
    /// refused here as stale: spotting them needs the recorded entries, which the ledger has.)
    pub fn submit(&mut self, msg: &Message) -> Result<MessageEntry, Refusal> {
        let device = auth::sender(&self.registry, msg)?;
        let contents_hash = msg.contents_hash();
        if !auth::verify_signature(device, msg, &contents_hash) {
            return Err(Refusal::BadSignature(msg.sender.to_string()));
        }
        auth::check_counter(device, msg.counter)?;
        let head = Head {
            action: msg.action,
            tx: msg.tx,
            cause: msg.cause,
        };
        let receiver = self.registry.canonical(&msg.receiver);
        let verdict = rules::judge(
            head,
            self.next_tx,
            &self.facts(head, device, receiver.as_str()),
        );
        let entry =
            MessageEntry::recording(msg, device.name.clone(), receiver, contents_hash, verdict);
        self.record(&entry);
        Ok(entry)
    }

    /// Replays a recorded entry: checks it is exactly what the rules would have recorded,
    /// then applies it.
    pub fn replay(&mut self, entry: &Entry) -> Result<(), ReplayError> {
        match entry {
            Entry::Message(m) => {
                let device = self
                    .registry
                    .party(m.sender.as_str())
                    .ok_or_else(|| ReplayError::Refused(format!("unknown sender {}", m.sender)))?;
                let bytes = m.signing_bytes(self.registry.hub()).ok_or_else(|| {
                    ReplayError::Refused("a federated message before any membership".into())
                })?;
                if !device.key.verify(&bytes, &m.signature) {
                    return Err(ReplayError::Refused(format!(
                        "bad signature by {}",
                        m.sender
                    )));
                }
                self.replay_verified(m)
            }
            other => self
                .apply_registry(other)
                .map(|_| ())
                .map_err(|e| ReplayError::Registry(e.to_string())),
        }
    }

    /// [`Machine::replay`] for a message whose signature the caller has already verified
    /// (the verifier checks signatures in parallel batches).
    pub fn replay_verified(&mut self, m: &MessageEntry) -> Result<(), ReplayError> {
        if m.federated {
            self.check_federated(m)?;
        }
        let device = self
            .registry
            .party(m.sender.as_str())
            .ok_or_else(|| ReplayError::Refused(format!("unknown sender {}", m.sender)))?;
        auth::check_counter(device, m.counter).map_err(|e| ReplayError::Refused(e.to_string()))?;
        let head = Head {
            action: m.action,
            tx: m.signed_tx(),
            cause: m.cause,
        };
        let v = rules::judge(
            head,
            self.next_tx,
            &self.facts(head, device, m.receiver.as_str()),
        );
        if v.tx != m.tx || v.provenance != m.provenance || v.notices != m.notices {
            return Err(ReplayError::Verdict {
                recorded: describe(m.tx, m.provenance.as_ref(), m.notices),
                recomputed: describe(v.tx, v.provenance.as_ref(), v.notices),
            });
        }
        self.record(m);
        Ok(())
    }

    /// What the hub's own checks guarantee of a federated entry (SPEC §7): a membership in
    /// force, names as this ledger writes them, and a `begin` only by this hub's own device
    /// (a begin's home is its sender's hub).
    fn check_federated(&self, m: &MessageEntry) -> Result<(), ReplayError> {
        let refused = |why: &str| Err(ReplayError::Refused(why.into()));
        if self.registry.hub().is_none() {
            return refused("a federated message before any membership");
        }
        if self.registry.canonical(&m.sender) != m.sender
            || self.registry.canonical(&m.receiver) != m.receiver
        {
            return refused("a federated message names this hub's device as name@hub");
        }
        if m.action == Action::Begin && m.sender.split().1.is_some() {
            return refused("a begin by another hub's device: its home is the sender's hub");
        }
        Ok(())
    }

    fn facts<'a>(&'a self, head: Head, sender: &'a Device, receiver: &str) -> Facts<'a> {
        let tx = match head.action {
            Action::Begin => None,
            _ => self.txs.get(&head.tx),
        };
        Facts {
            sender,
            receiver: self.registry.party(receiver),
            tx,
            provenance: tx.and_then(|t| self.registry.party(t.provenance.as_str())),
            cause_tx: head
                .cause
                .and_then(|c| self.valid_tx_of.get(c.0 as usize).copied())
                .filter(|t| *t != NOT_A_VALID_MESSAGE)
                .map(TxId),
            hub: self.registry.hub(),
        }
    }

    fn record(&mut self, m: &MessageEntry) {
        let head = Head {
            action: m.action,
            tx: m.tx,
            cause: m.cause,
        };
        let verdict = rules::Verdict {
            tx: m.tx,
            provenance: m.provenance.clone(),
            notices: m.notices,
        };
        if let Some(state) =
            rules::next_tx_state(head, &m.sender, &m.receiver, &verdict, self.txs.get(&m.tx))
        {
            self.txs.insert(m.tx, state);
        }
        if m.action == Action::Begin {
            self.next_tx = TxId(self.next_tx.0 + 1);
        }
        self.registry.note_counter(m.sender.as_str(), m.counter);
        self.invalid += u64::from(!m.valid());
        self.valid_tx_of.push(if m.valid() {
            m.tx.0
        } else {
            NOT_A_VALID_MESSAGE
        });
    }
}

fn describe(
    tx: TxId,
    provenance: Option<&crate::names::DeviceName>,
    notices: crate::notice::Notices,
) -> String {
    let codes: Vec<_> = notices.iter().map(|n| n.code()).collect();
    format!(
        "tx {tx}, provenance {}, notices [{}]",
        provenance.map_or("none", |p| p.as_str()),
        codes.join(", ")
    )
}
