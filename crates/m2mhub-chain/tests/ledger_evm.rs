//! `M2MHubLedger` in an in-process EVM: the paper's scenario with SPEC §3.3's verdicts, every
//! registry function and its refusals, owner-only access, and a differential test: on random
//! sequences of registry changes and messages the contract and `m2mhub-core`'s rules (the
//! reference `Machine`) agree on every verdict, every tx id, every seq and every refusal.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_arguments,
    clippy::type_complexity
)]

use std::collections::BTreeSet;

use alloy::primitives::{Address, B256};
use alloy::sol_types::SolCall;
use ed25519_dalek::{Signer, SigningKey};
use m2mhub_chain::{
    contracts::M2MHubLedger::{self, M2MHubLedgerErrors},
    device_id,
    evm::{CallError, Evm, account},
    mirror::{message_call, notice_bits},
};
use m2mhub_core::{
    CoreError,
    auth::Refusal,
    entry::{Entry, MessageEntry, Registration},
    ids::{Seq, TxId},
    machine::Machine,
    message::{Action, Message},
    names::DeviceName,
    notice::{Notice, Notices},
};
use proptest::prelude::*;

const HUB: u8 = 1;

fn name(s: &str) -> DeviceName {
    DeviceName::new(s).unwrap()
}

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i + 1; 32])
}

/// The reference machine and the contract, driven together.
struct Both {
    m: Machine,
    evm: Evm,
    c: Address,
}

impl Both {
    fn new() -> Both {
        let mut evm = Evm::new();
        let (c, _) = evm
            .deploy(
                account(HUB),
                &M2MHubLedger::BYTECODE,
                &M2MHubLedger::constructorCall { hub: account(HUB) },
            )
            .unwrap();
        Both {
            m: Machine::new(),
            evm,
            c,
        }
    }

    fn call<C: alloy::sol_types::SolCall>(&mut self, call: &C) -> Result<C::Return, CallError> {
        self.evm.call(account(HUB), self.c, call).map(|c| c.ret)
    }

    /// Applies a registry change to both; returns the Rust outcome after checking the contract
    /// refused exactly when Rust did, with the same error.
    fn registry(&mut self, e: Entry) -> Result<(), CoreError> {
        let rust = self.m.apply_registry(&e).map(|_| ());
        let chain = match &e {
            Entry::DeviceRegistered(r) => self
                .call(&M2MHubLedger::registerCall {
                    name: r.name.to_string(),
                    clearance: r.clearance,
                    publicKey: B256::from(r.public_key),
                    accepts: r.exceptions.iter().map(|n| device_id(n.as_str())).collect(),
                })
                .map(|_| ()),
            Entry::ExceptionGranted { device, sender } => self
                .call(&M2MHubLedger::grantExceptionCall {
                    device: device_id(device.as_str()),
                    sender: device_id(sender.as_str()),
                })
                .map(|_| ()),
            Entry::ExceptionWithdrawn { device, sender } => self
                .call(&M2MHubLedger::withdrawExceptionCall {
                    device: device_id(device.as_str()),
                    sender: device_id(sender.as_str()),
                })
                .map(|_| ()),
            Entry::DeviceRevoked { device } => self
                .call(&M2MHubLedger::revokeCall {
                    device: device_id(device.as_str()),
                })
                .map(|_| ()),
            Entry::DeviceRekeyed { device, public_key } => self
                .call(&M2MHubLedger::rekeyCall {
                    device: device_id(device.as_str()),
                    publicKey: B256::from(*public_key),
                })
                .map(|_| ()),
            Entry::Message(_) | Entry::FederationMembership(_) | Entry::Import(_) => {
                unreachable!()
            }
        };
        match (&rust, chain) {
            (Ok(()), Ok(())) => {}
            (Err(r), Err(c)) => {
                let c = c.decode::<M2MHubLedgerErrors>().expect("a contract error");
                let same = matches!(
                    (r, &c),
                    (CoreError::NameTaken(_), M2MHubLedgerErrors::NameTaken(_))
                        | (CoreError::KeyTaken, M2MHubLedgerErrors::KeyTaken(_))
                        | (
                            CoreError::UnknownDevice(_),
                            M2MHubLedgerErrors::UnknownDevice(_)
                        )
                        | (
                            CoreError::DeviceRevoked(_),
                            M2MHubLedgerErrors::DeviceRevoked(_)
                        )
                        | (
                            CoreError::ExceptionExists(..),
                            M2MHubLedgerErrors::ExceptionExists(_)
                        )
                        | (
                            CoreError::NoSuchException(..),
                            M2MHubLedgerErrors::NoSuchException(_)
                        )
                );
                assert!(same, "rust refused with {r:?}, the contract with {c:?}");
            }
            (r, c) => panic!("rust {r:?}, contract {c:?} for {e:?}"),
        }
        rust
    }

    fn register(&mut self, n: &str, clearance: u32, key_index: u8, exceptions: &[&str]) {
        self.registry(Entry::DeviceRegistered(Registration {
            name: name(n),
            clearance,
            public_key: key(key_index).verifying_key().to_bytes(),
            exceptions: exceptions.iter().map(|e| name(e)).collect::<BTreeSet<_>>(),
            simulated: false,
        }))
        .unwrap();
    }

    /// Submits a message to both, signed with `signer`'s key; checks they agree on the
    /// outcome and returns Rust's.
    fn message(
        &mut self,
        signer: u8,
        from: &str,
        to: &str,
        action: Action,
        tx: u64,
        cause: Option<u64>,
        counter: u64,
    ) -> Result<MessageEntry, Refusal> {
        let mut msg = Message {
            sender: name(from),
            receiver: name(to),
            action,
            tx: TxId(tx),
            cause: cause.map(Seq),
            counter,
            contents: format!("{from} to {to} #{counter}"),
            signature: [0; 64],
            form: m2mhub_core::message::Form::OneHub,
        };
        msg.signature = key(signer).sign(&msg.signing_bytes()).to_bytes();
        let seq = self.m.size();
        let rust = self.m.submit(&msg);
        let call = M2MHubLedger::recordCall {
            m: M2MHubLedger::Message {
                sender: device_id(from),
                receiver: device_id(to),
                action: action.code(),
                tx,
                causePlusOne: cause.map_or(0, |c| c + 1),
                counter,
                contentsHash: B256::from(msg.contents_hash()),
                signatureR: B256::from_slice(&msg.signature[..32]),
                signatureS: B256::from_slice(&msg.signature[32..]),
            },
        };
        let chain = self.evm.call(account(HUB), self.c, &call);
        match (&rust, chain) {
            (Ok(entry), Ok(called)) => {
                let r = called.ret;
                assert_eq!(
                    (r.seq, r.txId, r.notices),
                    (
                        seq,
                        entry.transaction().map_or(0, |t| t.0),
                        notice_bits(entry.notices)
                    ),
                    "verdicts differ for {msg:?}: rust {:?}",
                    entry.notices.iter().map(|n| n.code()).collect::<Vec<_>>()
                );
                // The event carries exactly what the mirror would relay, signature included.
                let ev = called
                    .logs
                    .iter()
                    .find_map(|l| {
                        <M2MHubLedger::Recorded as alloy::sol_types::SolEvent>::decode_log(l).ok()
                    })
                    .expect("Recorded event");
                assert_eq!(ev.data.message, message_call(entry));
                let prov = entry
                    .provenance
                    .as_ref()
                    .map_or(B256::ZERO, |p| device_id(p.as_str()));
                assert_eq!(ev.data.provenance, prov);
            }
            (Err(Refusal::UnknownSender(_)), Err(e)) => assert!(matches!(
                e.decode::<M2MHubLedgerErrors>(),
                Some(M2MHubLedgerErrors::UnknownSender(_))
            )),
            (Err(Refusal::StaleCounter { .. }), Err(e)) => assert!(matches!(
                e.decode::<M2MHubLedgerErrors>(),
                Some(M2MHubLedgerErrors::StaleCounter(_))
            )),
            (r, c) => panic!("rust {r:?}, contract {c:?} for {msg:?}"),
        }
        rust
    }
}

fn notices(e: &MessageEntry) -> Vec<Notice> {
    e.notices.iter().collect()
}

#[test]
fn the_papers_scenario_gets_specs_verdicts_on_chain() {
    let mut b = Both::new();
    b.register("low_level", 1, 0, &[]);
    b.register("mid_level", 2, 1, &[]);
    b.register("top_level", 3, 2, &[]);
    use Action::*;
    let cases: [(u8, &str, &str, Action, u64, u64, Vec<Notice>); 8] = [
        (2, "top_level", "low_level", Begin, 0, 1, vec![]),
        (0, "low_level", "top_level", Continue, 1, 1, vec![]),
        (2, "top_level", "low_level", End, 1, 1, vec![]),
        (
            2,
            "top_level",
            "low_level",
            Continue,
            1,
            1,
            vec![Notice::TransactionClosed],
        ),
        (
            0,
            "low_level",
            "top_level",
            Begin,
            0,
            2,
            vec![Notice::InsufficientClearance],
        ),
        (
            2,
            "top_level",
            "mid_level",
            Continue,
            6000,
            6000,
            vec![Notice::UnknownTransaction],
        ),
        (1, "mid_level", "low_level", Begin, 0, 3, vec![]),
        (
            0,
            "low_level",
            "top_level",
            Continue,
            3,
            3,
            vec![Notice::InsufficientClearance],
        ),
    ];
    let mut counters = std::collections::HashMap::new();
    for (i, (k, from, to, action, tx, want_tx, want)) in cases.into_iter().enumerate() {
        let c = counters.entry(from).or_insert(0u64);
        *c += 1;
        let e = b.message(k, from, to, action, tx, None, *c).unwrap();
        assert_eq!(notices(&e), want, "message {}", i + 1);
        assert_eq!(e.tx.0, want_tx, "message {}", i + 1);
    }
    let t = b.call(&M2MHubLedger::transactionsCall::new((1,))).unwrap();
    assert_eq!(t.status, 2, "tx 1 closed");
    let t = b.call(&M2MHubLedger::transactionsCall::new((2,))).unwrap();
    assert_eq!(t.status, 3, "tx 2 rejected");
}

#[test]
fn every_notice_and_skip_rule_matches_the_rules() {
    let mut b = Both::new();
    b.register("a", 2, 0, &[]);
    b.register("b", 1, 1, &[]);
    b.register("c", 3, 2, &["b"]);
    b.register("d", 1, 3, &[]);
    use Action::*;
    // Begin a → b (valid, tx 1, seq 4), then a cause chain.
    let e = b.message(0, "a", "b", Begin, 0, None, 1).unwrap();
    assert!(e.valid());
    let e = b.message(1, "b", "a", Continue, 1, Some(4), 1).unwrap();
    assert!(e.valid());
    // bad_cause: a cause of another tx, a begin with a cause, a cause that is not a message.
    let e = b.message(0, "a", "b", Continue, 1, Some(0), 2).unwrap();
    assert_eq!(notices(&e), vec![Notice::BadCause]);
    let e = b.message(0, "a", "b", Begin, 0, Some(4), 3).unwrap();
    assert_eq!(notices(&e), vec![Notice::BadCause]);
    // not_a_participant.
    let e = b.message(3, "d", "a", Continue, 1, None, 1).unwrap();
    assert_eq!(notices(&e), vec![Notice::NotAParticipant]);
    // insufficient_clearance, and the exception c lists for b (b begins: provenance b).
    let e = b.message(0, "a", "c", Begin, 0, None, 4).unwrap();
    assert_eq!(notices(&e), vec![Notice::InsufficientClearance]);
    let e = b.message(1, "b", "c", Begin, 0, None, 2).unwrap();
    assert!(e.valid());
    // unknown_receiver skips insufficient_clearance; unknown_transaction skips the rest.
    let e = b.message(0, "a", "ghost", Begin, 0, None, 5).unwrap();
    assert_eq!(notices(&e), vec![Notice::UnknownReceiver]);
    let e = b.message(0, "a", "c", Continue, 99, Some(4), 6).unwrap();
    assert_eq!(notices(&e), vec![Notice::UnknownTransaction]);
    // transaction_rejected (tx 2 was a begin with a cause) with not_a_participant.
    let e = b.message(1, "b", "a", Continue, 2, None, 3).unwrap();
    assert_eq!(
        notices(&e),
        vec![Notice::TransactionRejected, Notice::NotAParticipant]
    );
    // Revocations: sender_revoked, receiver_revoked.
    b.registry(Entry::DeviceRevoked { device: name("d") })
        .unwrap();
    let e = b.message(0, "a", "d", Begin, 0, None, 7).unwrap();
    assert_eq!(notices(&e), vec![Notice::ReceiverRevoked]);
    let e = b.message(3, "d", "b", Begin, 0, None, 2).unwrap();
    assert_eq!(notices(&e), vec![Notice::SenderRevoked]);
    // Refusals: unknown sender, stale counter.
    assert!(matches!(
        b.message(0, "ghost", "a", Begin, 0, None, 1),
        Err(Refusal::UnknownSender(_))
    ));
    assert!(matches!(
        b.message(0, "a", "b", Begin, 0, None, 7),
        Err(Refusal::StaleCounter { .. })
    ));
}

#[test]
fn registry_functions_and_their_refusals() {
    let mut b = Both::new();
    b.register("a", 1, 0, &[]);
    b.register("b", 2, 1, &["a"]);
    let reg = |n: &str, k: u8| {
        Entry::DeviceRegistered(Registration {
            name: name(n),
            clearance: 0,
            public_key: key(k).verifying_key().to_bytes(),
            exceptions: BTreeSet::new(),
            simulated: false,
        })
    };
    assert!(matches!(
        b.registry(reg("a", 5)),
        Err(CoreError::NameTaken(_))
    ));
    assert!(matches!(b.registry(reg("z", 0)), Err(CoreError::KeyTaken)));
    let grant = |d: &str, s: &str| Entry::ExceptionGranted {
        device: name(d),
        sender: name(s),
    };
    let withdraw = |d: &str, s: &str| Entry::ExceptionWithdrawn {
        device: name(d),
        sender: name(s),
    };
    assert!(matches!(
        b.registry(grant("b", "a")),
        Err(CoreError::ExceptionExists(..))
    ));
    assert!(matches!(
        b.registry(withdraw("a", "b")),
        Err(CoreError::NoSuchException(..))
    ));
    assert!(matches!(
        b.registry(grant("nobody", "a")),
        Err(CoreError::UnknownDevice(_))
    ));
    b.registry(withdraw("b", "a")).unwrap();
    b.registry(grant("a", "b")).unwrap();
    // Re-keying (SPEC §3.2.2): a key once registered stays taken, retired or not.
    let rekey = |d: &str, k: u8| Entry::DeviceRekeyed {
        device: name(d),
        public_key: key(k).verifying_key().to_bytes(),
    };
    b.registry(rekey("b", 7)).unwrap();
    for taken in [0, 1, 7] {
        assert!(matches!(
            b.registry(rekey("b", taken)),
            Err(CoreError::KeyTaken)
        ));
    }
    assert!(matches!(
        b.registry(rekey("nobody", 8)),
        Err(CoreError::UnknownDevice(_))
    ));
    // The contract takes the hub's word for signatures; the machine checks the new key.
    assert!(
        b.message(7, "b", "a", Action::Begin, 0, None, 1)
            .unwrap()
            .valid()
    );
    b.registry(Entry::DeviceRevoked { device: name("a") })
        .unwrap();
    assert!(matches!(
        b.registry(rekey("a", 8)),
        Err(CoreError::DeviceRevoked(_))
    ));
    assert!(matches!(
        b.registry(Entry::DeviceRevoked { device: name("a") }),
        Err(CoreError::DeviceRevoked(_))
    ));
    assert!(matches!(
        b.registry(grant("a", "b")),
        Err(CoreError::DeviceRevoked(_))
    ));
    assert_eq!(b.call(&M2MHubLedger::entryCountCall {}).unwrap(), 7);
    let d = b
        .call(&M2MHubLedger::devicesCall::new((device_id("b"),)))
        .unwrap();
    assert_eq!((d.registered, d.revoked, d.clearance), (true, false, 2));
    assert_eq!(d.publicKey, B256::from(key(7).verifying_key().to_bytes()));
    assert!(
        b.call(&M2MHubLedger::exceptionsCall::new((
            device_id("a"),
            device_id("b"),
        )))
        .unwrap()
    );

    // Names outside 1–64 bytes; malformed messages.
    for bad in [String::new(), "x".repeat(65)] {
        let e = b
            .call(&M2MHubLedger::registerCall {
                name: bad,
                clearance: 0,
                publicKey: B256::repeat_byte(9),
                accepts: vec![],
            })
            .unwrap_err();
        assert!(matches!(
            e.decode::<M2MHubLedgerErrors>(),
            Some(M2MHubLedgerErrors::BadName(_))
        ));
    }
    let mut m = message_call(&MessageEntry {
        sender: name("b"),
        receiver: name("a"),
        action: Action::Continue,
        tx: TxId(1),
        cause: None,
        counter: 2, // above b's message after its re-key
        contents_hash: [0; 32],
        signature: [0; 64],
        provenance: None,
        notices: Notices::none(),
        federated: false,
    });
    m.action = 0; // a begin naming tx 1
    let e = b
        .call(&M2MHubLedger::recordCall { m: m.clone() })
        .unwrap_err();
    assert!(matches!(
        e.decode::<M2MHubLedgerErrors>(),
        Some(M2MHubLedgerErrors::Malformed(_))
    ));
    m.action = 3;
    let e = b.call(&M2MHubLedger::recordCall { m }).unwrap_err();
    assert!(matches!(
        e.decode::<M2MHubLedgerErrors>(),
        Some(M2MHubLedgerErrors::Malformed(_))
    ));
}

#[test]
fn only_the_owner_writes() {
    let mut b = Both::new();
    b.register("a", 1, 0, &[]);
    let stranger = account(7);
    let c = b.c;
    not_owner(b.evm.call(
        stranger,
        c,
        &M2MHubLedger::registerCall {
            name: "x".into(),
            clearance: 0,
            publicKey: B256::repeat_byte(1),
            accepts: vec![],
        },
    ));
    not_owner(b.evm.call(
        stranger,
        c,
        &M2MHubLedger::grantExceptionCall {
            device: device_id("a"),
            sender: device_id("x"),
        },
    ));
    not_owner(b.evm.call(
        stranger,
        c,
        &M2MHubLedger::withdrawExceptionCall {
            device: device_id("a"),
            sender: device_id("x"),
        },
    ));
    not_owner(b.evm.call(
        stranger,
        c,
        &M2MHubLedger::revokeCall {
            device: device_id("a"),
        },
    ));
    let m = M2MHubLedger::Message {
        sender: device_id("a"),
        receiver: device_id("a"),
        action: 0,
        tx: 0,
        causePlusOne: 0,
        counter: 1,
        contentsHash: B256::ZERO,
        signatureR: B256::ZERO,
        signatureS: B256::ZERO,
    };
    not_owner(b.evm.call(stranger, c, &M2MHubLedger::recordCall { m }));
}

#[test]
fn record_gas_is_flat_in_devices_messages_and_transactions() {
    // The bench's workload at small sizes; the full 1…1000 run is `m2mhub bench gas`.
    let rows = m2mhub_chain::gas::figure7(&[1, 10, 100]).unwrap();
    let (first, last) = (rows[0], rows[rows.len() - 1]);
    assert!(last.record.abs_diff(first.record) <= 300, "{rows:?}");
    assert!(last.register.abs_diff(first.register) <= 300, "{rows:?}");
    // The baseline grows with every device (its linear scans).
    assert!(
        last.baseline_record > first.baseline_record + 100_000,
        "{rows:?}"
    );
    assert!(
        last.baseline_register > first.baseline_register + 100_000,
        "{rows:?}"
    );
}

fn not_owner<T: std::fmt::Debug>(r: Result<m2mhub_chain::evm::Called<T>, CallError>) {
    assert!(matches!(
        r.unwrap_err().decode::<M2MHubLedgerErrors>(),
        Some(M2MHubLedgerErrors::NotOwner(_))
    ))
}

#[test]
fn gas_per_call_is_the_same_after_1000_devices_messages_and_open_transactions() {
    let mut evm = Evm::new();
    let hub = account(HUB);
    let (c, _) = evm
        .deploy(
            hub,
            &M2MHubLedger::BYTECODE,
            &M2MHubLedger::constructorCall { hub },
        )
        .unwrap();
    let msg = |from: u64, to: u64, action: u8, tx: u64, counter: u64| M2MHubLedger::recordCall {
        m: M2MHubLedger::Message {
            sender: device_id(&format!("d{from}")),
            receiver: device_id(&format!("d{to}")),
            action,
            tx,
            causePlusOne: 0,
            counter,
            contentsHash: B256::repeat_byte(1),
            signatureR: B256::repeat_byte(2),
            signatureS: B256::repeat_byte(3),
        },
    };
    // Per step i: register device i, begin tx i+1 from it to device i-1 (left open), then
    // continue it back: after n steps there are n devices, 2n messages, n open transactions.
    let mut gas = Vec::new();
    for i in 0..=1000u64 {
        let reg = evm
            .call(
                hub,
                c,
                &M2MHubLedger::registerCall {
                    name: format!("d{i}"),
                    clearance: 1,
                    publicKey: alloy::primitives::keccak256(i.to_be_bytes()),
                    accepts: vec![],
                },
            )
            .unwrap();
        let peer = i.saturating_sub(1);
        let begin = evm.call(hub, c, &msg(i, peer, 0, 0, 1)).unwrap();
        assert_eq!(begin.ret.notices, 0);
        let cont = evm
            .call(hub, c, &msg(peer, i, 1, i + 1, 2 * i + 2))
            .unwrap();
        assert_eq!(cont.ret.notices, 0);
        gas.push((reg.gas, begin.gas, cont.gas));
    }
    // Names grow from "d1" to "d1000", so calldata differs by a few bytes: allow 300 gas.
    let (first, last) = (gas[1], gas[1000]);
    assert!(
        last.0.abs_diff(first.0) <= 300,
        "register {first:?} → {last:?}"
    );
    assert!(
        last.1.abs_diff(first.1) <= 300,
        "begin {first:?} → {last:?}"
    );
    assert!(
        last.2.abs_diff(first.2) <= 300,
        "continue {first:?} → {last:?}"
    );
}

/// One random step of the differential test.
#[derive(Clone, Debug)]
enum Op {
    Register {
        dev: u8,
        key: u8,
        clearance: u32,
        exceptions: u8,
    },
    Grant(u8, u8),
    Withdraw(u8, u8),
    Revoke(u8),
    Message {
        from: u8,
        to: u8,
        action: u8,
        tx: u64,
        cause: Option<u64>,
        step: u64,
    },
}

const DEVICES: u8 = 6;

fn dev(i: u8) -> String {
    // Device 5 is never registered by name collision games: it stays an unknown receiver
    // unless a Register op picks it.
    format!("dev-{i}")
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..DEVICES, 0..DEVICES + 1, 0u32..4, any::<u8>()).prop_map(|(dev, key, clearance, exceptions)| Op::Register { dev, key, clearance, exceptions }),
        1 => (0..DEVICES, 0..DEVICES).prop_map(|(a, b)| Op::Grant(a, b)),
        1 => (0..DEVICES, 0..DEVICES).prop_map(|(a, b)| Op::Withdraw(a, b)),
        1 => (0..DEVICES).prop_map(Op::Revoke),
        10 => (0..DEVICES, 0..DEVICES, 0u8..3, 0u64..8, proptest::option::weighted(0.4, 0u64..40), 0u64..3)
            .prop_map(|(from, to, action, tx, cause, step)| Op::Message { from, to, action, tx, cause, step }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn contract_and_rules_agree_on_every_verdict(ops in proptest::collection::vec(op(), 1..80)) {
        let mut b = Both::new();
        for op in ops {
            match op {
                Op::Register { dev: d, key: k, clearance, exceptions } => {
                    let ex: BTreeSet<DeviceName> = (0..DEVICES)
                        .filter(|i| exceptions & (1 << i) != 0)
                        .map(|i| name(&dev(i)))
                        .collect();
                    let _ = b.registry(Entry::DeviceRegistered(Registration {
                        name: name(&dev(d)),
                        clearance,
                        public_key: key(k).verifying_key().to_bytes(),
                        exceptions: ex,
                        simulated: false,
                    }));
                }
                Op::Grant(d, s) => {
                    let _ = b.registry(Entry::ExceptionGranted { device: name(&dev(d)), sender: name(&dev(s)) });
                }
                Op::Withdraw(d, s) => {
                    let _ = b.registry(Entry::ExceptionWithdrawn { device: name(&dev(d)), sender: name(&dev(s)) });
                }
                Op::Revoke(d) => {
                    let _ = b.registry(Entry::DeviceRevoked { device: name(&dev(d)) });
                }
                Op::Message { from, to, action, tx, cause, step } => {
                    let action = Action::from_code(action).unwrap();
                    let tx = if action == Action::Begin { 0 } else { tx };
                    let sender = dev(from);
                    let last = b.m.registry().get(&sender).and_then(|d| d.last_counter);
                    let counter = last.map_or(step, |l| l + step);
                    // The device's own key (the one it registered with) signs.
                    let signer = b.m.registry().get(&sender).map_or(from, |d| {
                        (0..=DEVICES)
                            .find(|k| key(*k).verifying_key().as_bytes() == d.key.as_bytes())
                            .unwrap()
                    });
                    let _ = b.message(signer, &sender, &dev(to), action, tx, cause, counter);
                }
            }
        }
        let count = b.call(&M2MHubLedger::entryCountCall {}).unwrap();
        prop_assert_eq!(count, b.m.size());
        prop_assert_eq!(b.call(&M2MHubLedger::nextTxCall {}).unwrap(), b.m.next_tx().0);
    }
}
