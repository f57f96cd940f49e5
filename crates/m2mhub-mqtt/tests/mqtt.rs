//! The hub on real brokers (the embedded rumqttd and a real Mosquitto), with devices talking
//! through the SDK: verdicts and tx ids in acknowledgements, delivery to the right inbox,
//! `enforce` holding invalid messages back, refusals recorded nowhere, resubmissions recorded
//! once, and a broker restart in the middle of a stream losing nothing acknowledged.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::{Mosquitto, device, hub, key_of, ledger, transport};
use m2mhub_client::{ClientError, TxHandle, wire::Delivery};
use m2mhub_core::message::Action;
use m2mhub_mqtt::{EmbeddedBroker, Policy, Release};
use tokio::sync::mpsc::Receiver;

fn embedded() -> EmbeddedBroker {
    EmbeddedBroker::start("127.0.0.1:0".parse().unwrap(), None).unwrap()
}

async fn next(inbox: &mut Receiver<Delivery>) -> Delivery {
    inbox.recv().await.expect("the inbox closed")
}

/// The paper's scenario (SPEC §3.3) over MQTT: each acknowledgement carries the verdict, a
/// `begin`'s tx id, and deliveries reach the receiver's inbox with tx, provenance, verdict
/// and a signature the receiver can check.
async fn scenario(url: &str, release: Release) {
    let l = ledger();
    let hub = hub(&l, url, Policy::Audit, release).await;
    let top = device(url, "top_level").await;
    let low = device(url, "low_level").await;
    let low_inbox_t = transport(url, "low_level", true).await;
    let mut low_inbox = low_inbox_t.take_inbox().unwrap();
    let top_inbox_t = transport(url, "top_level", true).await;
    let mut top_inbox = top_inbox_t.take_inbox().unwrap();

    // 1: top → low, begin: valid, tx 1.
    let (tx, r1) = top.begin("low_level", "unlock").await.unwrap();
    assert!(r1.valid, "{r1:?}");
    assert_eq!((r1.tx, r1.provenance.as_deref()), (1, Some("top_level")));
    assert_eq!(r1.contents, None, "acknowledgements leave the contents out");
    let d = next(&mut low_inbox).await;
    assert_eq!((d.record.seq, d.record.tx), (r1.seq, 1));
    assert_eq!(d.record.contents.as_deref(), Some("unlock"));
    assert_eq!(d.record.provenance.as_deref(), Some("top_level"));
    assert!(d.record.valid);
    d.verify_signature(&key_of("top_level").public()).unwrap();
    assert!(d.verify_signature(&key_of("low_level").public()).is_err());

    // 2: low → top, continue tx 1, caused by the delivery: valid.
    let (tx2, r2) = low
        .continue_tx(&TxHandle::answering(&d), "top_level", "unlocked")
        .await
        .unwrap();
    assert!(r2.valid, "{r2:?}");
    assert_eq!((r2.tx, r2.cause), (1, Some(r1.seq)));
    assert_eq!(tx2.tx, tx.tx);
    let d2 = next(&mut top_inbox).await;
    assert_eq!(
        (d2.record.seq, d2.record.sender.as_str()),
        (r2.seq, "low_level")
    );

    // 3: top → low, end tx 1: valid; 4: continue the closed tx: flagged, still delivered.
    let r3 = top
        .end(&TxHandle::answering(&d2), "low_level", "bye")
        .await
        .unwrap();
    assert!(r3.valid);
    let r4 = top
        .send("low_level", Action::Continue, 1, None, "again")
        .await
        .unwrap();
    assert_eq!(r4.notices, ["transaction_closed"]);
    assert_eq!(next(&mut low_inbox).await.record.seq, r3.seq);
    let d4 = next(&mut low_inbox).await;
    assert_eq!(d4.record.seq, r4.seq);
    assert!(!d4.record.valid);
    assert_eq!(d4.record.notices, ["transaction_closed"]);

    // 5: low → top, begin: insufficient clearance, tx 2 rejected (an invalid begin consumes an id).
    let (_, r5) = low.begin("top_level", "open the door").await.unwrap();
    assert_eq!((r5.tx, r5.valid), (2, false));
    assert_eq!(r5.notices, ["insufficient_clearance"]);

    // The ledger holds exactly these five messages, as acknowledged.
    let recorded: Vec<u64> = l.messages_of("top_level").iter().map(|r| r.seq).collect();
    assert_eq!(recorded, [r1.seq, r2.seq, r3.seq, r4.seq, r5.seq]);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_acks_verdicts_and_delivers() {
    let b = embedded();
    scenario(&b.url(), Release::OnReceipt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_acks_verdicts_and_delivers() {
    let Some(m) = Mosquitto::start() else { return };
    scenario(&m.url(), Release::AfterCommit).await;
}

/// Under `enforce`, invalid messages are recorded and acknowledged with their verdict but
/// never delivered: the receiver's first delivery is the valid message sent after them.
async fn enforce(url: &str, release: Release) {
    let l = ledger();
    let hub = hub(&l, url, Policy::Enforce, release).await;
    let low = device(url, "low_level").await;
    let mid = device(url, "mid_level").await;
    let inbox_t = transport(url, "top_level", true).await;
    let mut inbox = inbox_t.take_inbox().unwrap();
    let (_, bad) = low.begin("top_level", "let me in").await.unwrap();
    assert_eq!(bad.notices, ["insufficient_clearance"]);
    let (_, bad2) = mid.begin("top_level", "me too").await.unwrap();
    assert!(!bad2.valid);
    // A valid message to the same inbox: top_level may hear from itself.
    let top = device(url, "top_level").await;
    let (_, good) = top.begin("top_level", "self check").await.unwrap();
    assert!(good.valid);
    let d = next(&mut inbox).await;
    assert_eq!(d.record.seq, good.seq, "an invalid message was delivered");
    assert_eq!(
        l.messages_of("top_level").len(),
        3,
        "all three are recorded"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_enforce_holds_invalid_messages() {
    let b = embedded();
    enforce(&b.url(), Release::OnReceipt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_enforce_holds_invalid_messages() {
    let Some(m) = Mosquitto::start() else { return };
    enforce(&m.url(), Release::AfterCommit).await;
}

/// An exact resubmission is answered with the original record and recorded once; refusals
/// (bad signature, unknown sender, stale counter, malformed) are acknowledged with their
/// code, recorded nowhere, and reported (for security events) with their topic and the sender
/// they claimed.
async fn duplicates_and_refusals(url: &str, release: Release) {
    let l = ledger();
    let (hub, refusals) = common::hub_counting(&l, url, release).await;
    let t = transport(url, "mid_level", false).await;
    let mut d = m2mhub_client::Device::new(
        "mid_level",
        key_of("mid_level"),
        m2mhub_client::counter::Counter::in_memory(0),
    )
    .unwrap();
    let m = d.sign("low_level", Action::Begin, 0, None, "ping").unwrap();
    let first = t.submit(m.clone()).await.unwrap();
    assert!(!first.duplicate);
    let again = t.submit(m.clone()).await.unwrap();
    assert!(again.duplicate);
    assert_eq!((again.seq, again.tx), (first.seq, first.tx));

    // Changed contents under the old signature: bad signature.
    let mut forged = m.clone();
    forged.contents = "pong".into();
    forged.counter = m.counter + 100;
    let e = t.submit(forged).await.unwrap_err();
    assert!(
        matches!(e, ClientError::Refused(ref r) if r.error == "bad_signature"),
        "{e}"
    );
    // The same counter, properly signed over other contents: stale.
    let mut stale = m.clone();
    stale.contents = "other".into();
    stale.signature = {
        use ed25519_dalek::Signer;
        key_of("mid_level")
            .signing_key()
            .sign(&stale.signing_bytes())
            .to_bytes()
    };
    let e = t.submit(stale).await.unwrap_err();
    assert!(
        matches!(e, ClientError::Refused(ref r) if r.error == "stale_counter"),
        "{e}"
    );

    // An unregistered device.
    let ghost_t = transport(url, "ghost", false).await;
    let mut ghost = m2mhub_client::Device::new(
        "ghost",
        key_of("ghost"),
        m2mhub_client::counter::Counter::in_memory(0),
    )
    .unwrap();
    let g = ghost
        .sign("low_level", Action::Begin, 0, None, "boo")
        .unwrap();
    let e = ghost_t.submit(g).await.unwrap_err();
    assert!(
        matches!(e, ClientError::Refused(ref r) if r.error == "unknown_sender"),
        "{e}"
    );

    // One record of all that.
    let mine: Vec<_> = l
        .messages_of("mid_level")
        .into_iter()
        .filter(|r| r.sender == "mid_level")
        .collect();
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0].seq, first.seq);
    // A payload too broken to record, published on mid_level's outbox but claiming to be
    // from low_level: reported with the topic it came on and the sender it claimed.
    let b = m2mhub_client::mqtt::BrokerConfig::parse(url).unwrap();
    let (raw, mut raw_loop) = rumqttc::v5::AsyncClient::new(
        rumqttc::v5::MqttOptions::new("raw-publisher", b.host, b.port),
        10,
    );
    let polling = tokio::spawn(async move { while raw_loop.poll().await.is_ok() {} });
    raw.publish(
        "m2m/out/mid_level",
        rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        false,
        br#"{"sender":"low_level","counter":"x"}"#.to_vec(),
    )
    .await
    .unwrap();
    for _ in 0..200 {
        if refusals.lock().unwrap().len() == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    polling.abort();

    // Every refusal was reported, in order, with where it came from and whom it claimed.
    let reported = |code: &str, device: &str| {
        (
            code.to_owned(),
            format!("m2m/out/{device}"),
            Some(device.to_owned()),
        )
    };
    assert_eq!(
        *refusals.lock().unwrap(),
        [
            reported("bad_signature", "mid_level"),
            reported("stale_counter", "mid_level"),
            reported("unknown_sender", "ghost"),
            (
                "malformed".into(),
                "m2m/out/mid_level".into(),
                Some("low_level".into())
            ),
        ]
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_duplicates_recorded_once() {
    let b = embedded();
    duplicates_and_refusals(&b.url(), Release::OnReceipt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_duplicates_recorded_once() {
    let Some(m) = Mosquitto::start() else { return };
    duplicates_and_refusals(&m.url(), Release::AfterCommit).await;
}

/// What a restart in the middle of a stream must keep: every message acknowledged, each
/// recorded exactly once, every acknowledged record in the ledger as acknowledged.
fn check_stream(l: &common::Ledgered, acked: &[m2mhub_client::Record], n: usize) {
    assert_eq!(acked.len(), n);
    let recorded = l.messages_of("top_level");
    let mut by_contents: HashMap<String, Vec<u64>> = HashMap::new();
    for r in &recorded {
        by_contents
            .entry(r.contents.clone().unwrap())
            .or_default()
            .push(r.seq);
    }
    assert_eq!(by_contents.len(), n, "every message is recorded");
    for (c, seqs) in &by_contents {
        assert_eq!(seqs.len(), 1, "{c} recorded at seqs {seqs:?}");
    }
    let by_seq: HashMap<u64, &m2mhub_ledger::Record> =
        recorded.iter().map(|r| (r.seq, r)).collect();
    for a in acked {
        let r = by_seq
            .get(&a.seq)
            .expect("an acknowledged seq is not in the ledger");
        assert_eq!(
            (r.counter, r.tx, &r.leaf_hash),
            (a.counter, a.tx, &a.leaf_hash)
        );
    }
}

/// Streams `n` messages from top_level with 64 in flight; acknowledged records go to `acked`.
fn stream(
    top: std::sync::Arc<m2mhub_client::Client>,
    n: usize,
    acked: tokio::sync::mpsc::UnboundedSender<m2mhub_client::Record>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            // Sign and publish in order; wait for acknowledgements concurrently.
            let sent = top
                .start("low_level", Action::Begin, 0, None, &format!("reading {i}"))
                .await
                .unwrap();
            let (top, acked) = (top.clone(), acked.clone());
            tasks.spawn(async move {
                let r = top.finish(sent).await.unwrap();
                let _ = acked.send(r);
            });
            while tasks.len() >= 64 {
                tasks.join_next().await.unwrap().unwrap();
            }
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
    })
}

/// Mosquitto killed and restarted in the middle of a stream loses nothing acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_restart_mid_stream_loses_nothing_acknowledged() {
    let Some(mut m) = Mosquitto::start() else {
        return;
    };
    let url = m.url();
    let l = ledger();
    let hub = hub(&l, &url, Policy::Audit, Release::AfterCommit).await;
    let top = device(&url, "top_level").await;
    const N: usize = 600;
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel();
    let sender = stream(top, N, acked_tx);
    let mut acked = Vec::new();
    while acked.len() < N / 3 {
        acked.push(acked_rx.recv().await.unwrap());
    }
    m.restart();
    sender.await.unwrap();
    while let Some(r) = acked_rx.recv().await {
        acked.push(r);
    }
    check_stream(&l, &acked, N);
    hub.stop().await;
}

/// The hub stopped and started again (ledger closed and reopened from disk) in the middle of a
/// stream: the broker keeps the hub's session, the devices retry, nothing acknowledged is lost
/// and nothing is recorded twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_restart_mid_stream_loses_nothing_acknowledged() {
    let Some(m) = Mosquitto::start() else { return };
    let url = m.url();
    let mut l = ledger();
    let first = hub(&l, &url, Policy::Audit, Release::AfterCommit).await;
    let top = device(&url, "top_level").await;
    const N: usize = 600;
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel();
    let sender = stream(top, N, acked_tx);
    let mut acked = Vec::new();
    while acked.len() < N / 3 {
        acked.push(acked_rx.recv().await.unwrap());
    }
    first.stop().await;
    l = tokio::task::spawn_blocking(move || l.restart())
        .await
        .unwrap();
    let second = hub(&l, &url, Policy::Audit, Release::AfterCommit).await;
    sender.await.unwrap();
    while let Some(r) = acked_rx.recv().await {
        acked.push(r);
    }
    check_stream(&l, &acked, N);
    second.stop().await;
}
