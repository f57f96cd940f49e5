//! The rules of SPEC §3.1 and §3.3: how a transaction evolves and which notices a message
//! earns. Pure functions over [`Facts`] that the caller gathers, so the same rules serve the
//! sequencer (facts from its store), the replay verifier and the tests (facts from memory).

use crate::{
    ids::{Seq, TxId},
    message::Action,
    names::{DeviceName, as_seen_by},
    notice::{Notice, Notices},
    registry::Device,
};

/// The state of a transaction (SPEC §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TxStatus {
    /// Its `begin` was valid and no valid `end` has come.
    Open,
    /// A valid `end` closed it for good.
    Closed,
    /// Its `begin` was invalid: it can never be continued.
    Rejected,
}

/// What the rules know of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxState {
    /// The device that sent its `begin`.
    pub provenance: DeviceName,
    /// Open, closed or rejected.
    pub status: TxStatus,
    /// Its provenance and every sender and receiver of a valid message in it, sorted.
    pub participants: Vec<DeviceName>,
}

impl TxState {
    /// True when `name` is a participant.
    pub fn is_participant(&self, name: &str) -> bool {
        self.participants
            .binary_search_by(|p| p.as_str().cmp(name))
            .is_ok()
    }

    fn add_participant(&mut self, name: &DeviceName) {
        if let Err(at) = self
            .participants
            .binary_search_by(|p| p.as_str().cmp(name.as_str()))
        {
            self.participants.insert(at, name.clone());
        }
    }
}

/// Everything the rules need to judge one message, gathered by the caller.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// The (authenticated, hence registered) sender.
    pub sender: &'a Device,
    /// The receiver, if registered.
    pub receiver: Option<&'a Device>,
    /// For `continue`/`end`: the named transaction, if it exists.
    pub tx: Option<&'a TxState>,
    /// For `continue`/`end`: the device of that transaction's provenance.
    pub provenance: Option<&'a Device>,
    /// When the message gives a cause: that message's tx if it is a *valid* message, else None.
    pub cause_tx: Option<TxId>,
    /// In a federation, the judging hub's member name: names are as its ledger writes them
    /// (bare for its own devices, `name@hub` for another member's), and a foreign receiver's
    /// exceptions are as that receiver's hub writes them (SPEC §7).
    pub hub: Option<&'a str>,
}

/// What the hub decides for a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The transaction: newly assigned for `begin`, the named one otherwise.
    pub tx: TxId,
    /// The transaction's provenance; `None` when the transaction is unknown.
    pub provenance: Option<DeviceName>,
    /// Failed checks, in SPEC order; empty means valid.
    pub notices: Notices,
}

impl Verdict {
    /// True when no check failed.
    pub fn valid(&self) -> bool {
        self.notices.is_empty()
    }
}

/// The header of a message, as far as the rules care.
#[derive(Clone, Copy, Debug)]
pub struct Head {
    /// What the message does.
    pub action: Action,
    /// The named transaction (ignored for `begin`).
    pub tx: TxId,
    /// The seq of its cause, if given.
    pub cause: Option<Seq>,
}

/// Runs every check of SPEC §3.3 in order. `next_tx` is the id a `begin` gets (valid or not).
pub fn judge(head: Head, next_tx: TxId, facts: &Facts<'_>) -> Verdict {
    let mut notices = Notices::none();
    if facts.sender.is_revoked() {
        notices.add(Notice::SenderRevoked);
    }
    match facts.receiver {
        None => notices.add(Notice::UnknownReceiver),
        Some(r) if r.is_revoked() => notices.add(Notice::ReceiverRevoked),
        Some(_) => {}
    }

    // The transaction and its provenance device; `None` means the later checks are skipped.
    let (tx, provenance): (TxId, Option<&Device>) = match head.action {
        Action::Begin => (next_tx, Some(facts.sender)),
        Action::Continue | Action::End => match facts.tx {
            None => {
                notices.add(Notice::UnknownTransaction);
                (head.tx, None)
            }
            Some(state) => {
                match state.status {
                    TxStatus::Rejected => notices.add(Notice::TransactionRejected),
                    TxStatus::Closed => notices.add(Notice::TransactionClosed),
                    TxStatus::Open => {}
                }
                if !state.is_participant(facts.sender.name.as_str()) {
                    notices.add(Notice::NotAParticipant);
                }
                (head.tx, facts.provenance)
            }
        },
    };

    if let (Some(prov), Some(receiver)) = (provenance, facts.receiver)
        && prov.clearance < receiver.clearance
        && !receiver.has_exception_for(&as_seen_by(
            prov.name.as_str(),
            receiver.name.as_str(),
            facts.hub,
        ))
    {
        notices.add(Notice::InsufficientClearance);
    }

    // A begin opens a new transaction, so no earlier message can belong to it.
    let tx_is_known = head.action == Action::Begin || facts.tx.is_some();
    if head.cause.is_some() && tx_is_known {
        let ok = head.action != Action::Begin && facts.cause_tx == Some(tx);
        if !ok {
            notices.add(Notice::BadCause);
        }
    }

    Verdict {
        tx,
        provenance: match head.action {
            Action::Begin => Some(facts.sender.name.clone()),
            _ => facts.tx.map(|t| t.provenance.clone()),
        },
        notices,
    }
}

/// The transaction's state after a judged message, or `None` when it does not change
/// (only valid messages change state; an invalid `begin` creates a rejected transaction).
pub fn next_tx_state(
    head: Head,
    sender: &DeviceName,
    receiver: &DeviceName,
    verdict: &Verdict,
    prior: Option<&TxState>,
) -> Option<TxState> {
    let valid = verdict.valid();
    match head.action {
        Action::Begin => {
            let mut s = TxState {
                provenance: sender.clone(),
                status: if valid {
                    TxStatus::Open
                } else {
                    TxStatus::Rejected
                },
                participants: vec![sender.clone()],
            };
            if valid {
                s.add_participant(receiver);
            }
            Some(s)
        }
        Action::Continue | Action::End if valid => {
            let mut s = prior?.clone();
            s.add_participant(sender);
            s.add_participant(receiver);
            if head.action == Action::End {
                s.status = TxStatus::Closed;
            }
            Some(s)
        }
        Action::Continue | Action::End => None,
    }
}
