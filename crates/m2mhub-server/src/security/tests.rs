//! The security-event store's unit tests: bounds, folding of repeats, the writer thread.
#![allow(clippy::unwrap_used)]

use super::*;

fn refusal(code: &'static str) -> Refusal<'static> {
    Refusal {
        transport: Transport::Http,
        source: Some("10.0.0.1"),
        sender: Some("mallory"),
        code,
        message: "no",
    }
}

/// Keeps every refusal as its own event.
fn unfolded() -> Bound {
    Bound {
        fold_window: Duration::ZERO,
        ..Bound::default()
    }
}

fn all(s: &SecurityEvents) -> Vec<SecurityEvent> {
    s.list(None, 100_000).unwrap().0
}

#[test]
fn keeps_events_in_order_and_pages_them() {
    let s = SecurityEvents::in_memory(unfolded()).unwrap();
    for _ in 0..5 {
        assert!(matches!(
            s.record(&refusal("bad_signature")),
            Recorded::Kept(_)
        ));
    }
    s.close();
    let (page, next) = s.list(None, 2).unwrap();
    assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(next, Some(2));
    let (page, next) = s.list(next, 2).unwrap();
    assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), [3, 4]);
    let (page, next) = s.list(next, 2).unwrap();
    assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), [5]);
    assert_eq!(next, None);
    assert_eq!(page[0].sender.as_deref(), Some("mallory"));
    assert_eq!(s.record(&refusal("x")), Recorded::Dropped, "closed");
}

#[test]
fn the_newest_events_are_kept_and_old_ones_pruned_in_chunks() {
    let s = SecurityEvents::in_memory(Bound {
        max_events: 10,
        max_age_ms: u64::MAX,
        fold_window: Duration::ZERO,
    })
    .unwrap();
    for _ in 0..25 {
        s.record(&refusal("malformed"));
    }
    s.close();
    let ids: Vec<u64> = all(&s).iter().map(|e| e.id).collect();
    assert_eq!(ids, (16..=25).collect::<Vec<_>>());
}

#[test]
fn pruning_deletes_at_most_a_chunk_per_transaction() {
    let db = Database::builder()
        .create_with_backend(redb::backends::InMemoryBackend::new())
        .unwrap();
    let event = |id| SecurityEvent {
        id,
        time_ms: 1000,
        transport: Transport::Mqtt,
        source: None,
        sender: None,
        code: "malformed".into(),
        message: String::new(),
        repeated: 0,
    };
    let batch: Vec<_> = (1..=2500).map(event).collect();
    let unbounded = Bound {
        max_events: u64::MAX,
        max_age_ms: u64::MAX,
        fold_window: Duration::ZERO,
    };
    write(&db, &batch, unbounded, 2000).unwrap();
    // Everything is older than a 500 ms bound at 2000 ms: three chunks to prune.
    let aged = Bound {
        max_events: u64::MAX,
        max_age_ms: 500,
        fold_window: Duration::ZERO,
    };
    let count = |db: &Database| {
        let r = db.begin_read().unwrap();
        r.open_table(EVENTS).unwrap().iter().unwrap().count()
    };
    assert!(write(&db, &[], aged, 2000).unwrap().more);
    assert_eq!(count(&db), 1500);
    assert!(write(&db, &[], aged, 2000).unwrap().more);
    let last = write(&db, &[], aged, 2000).unwrap();
    assert!(last.committed && !last.more);
    assert_eq!(count(&db), 0);
    assert!(!write(&db, &[], aged, 2000).unwrap().committed);
}

#[test]
fn events_survive_a_restart_and_ids_keep_growing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("security-events.redb");
    let s = SecurityEvents::open(&path, Bound::default()).unwrap();
    s.record(&refusal("stale_counter"));
    s.record(&refusal("unknown_sender"));
    drop(s);
    let s = SecurityEvents::open(&path, Bound::default()).unwrap();
    assert_eq!(s.record(&refusal("bad_signature")), Recorded::Kept(3));
    s.close();
    let codes: Vec<String> = all(&s).into_iter().map(|e| e.code).collect();
    assert_eq!(codes, ["stale_counter", "unknown_sender", "bad_signature"]);
}

#[test]
fn what_an_attacker_sends_is_capped() {
    let s = SecurityEvents::in_memory(Bound::default()).unwrap();
    let long = "é".repeat(10_000);
    s.record(&Refusal {
        sender: Some(&long),
        message: &long,
        ..refusal("malformed")
    });
    s.close();
    let e = &all(&s)[0];
    assert!(e.sender.as_ref().unwrap().len() <= MAX_FIELD_BYTES + '…'.len_utf8());
    assert!(e.message.len() <= MAX_FIELD_BYTES + '…'.len_utf8());
    assert!(e.to_json()["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn a_full_channel_drops_instead_of_blocking() {
    // A writer that never reads: the test holds the receiving end.
    let db = Database::builder()
        .create_with_backend(redb::backends::InMemoryBackend::new())
        .unwrap();
    let (tx, _rx) = mpsc::sync_channel(CHANNEL_DEPTH);
    let s = SecurityEvents {
        db: Arc::new(db),
        bound: unfolded(),
        intake: Arc::new(Mutex::new(Intake {
            next_id: 1,
            tx: Some(tx),
            folds: HashMap::new(),
        })),
        live: broadcast::channel(4).0,
        writer: Mutex::new(None),
    };
    for i in 1..=CHANNEL_DEPTH as u64 {
        assert_eq!(s.record(&refusal("bad_signature")), Recorded::Kept(i));
    }
    assert_eq!(s.record(&refusal("bad_signature")), Recorded::Dropped);
    assert_eq!(s.record(&refusal("bad_signature")), Recorded::Dropped);
    // A dropped event uses no id: the kept ones stay contiguous.
    assert_eq!(s.intake.lock().unwrap().next_id, CHANNEL_DEPTH as u64 + 1);
}

#[test]
fn a_flood_from_one_source_is_folded_into_two_events() {
    let s = SecurityEvents::in_memory(Bound {
        max_events: 3,
        max_age_ms: u64::MAX,
        fold_window: Duration::from_secs(3600),
    })
    .unwrap();
    s.record(&refusal("stale_counter"));
    let mut folded = 0;
    for i in 0..5000 {
        let sender = format!("m{i}");
        let r = s.record(&Refusal {
            sender: Some(&sender),
            ..refusal("too_many_failures")
        });
        folded += u64::from(r == Recorded::Folded);
    }
    assert_eq!(folded, 4999);
    // Another source and another code are events of their own.
    s.record(&Refusal {
        source: Some("10.0.0.2"),
        ..refusal("too_many_failures")
    });
    s.close();
    let events = all(&s);
    let seen: Vec<(&str, Option<&str>, Option<&str>, u64)> = events
        .iter()
        .map(|e| {
            (
                e.code.as_str(),
                e.source.as_deref(),
                e.sender.as_deref(),
                e.repeated,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("too_many_failures", Some("10.0.0.1"), Some("m0"), 0),
            ("too_many_failures", Some("10.0.0.2"), Some("mallory"), 0),
            // Flushed on close: the last of the 4,999 folded, standing for the others.
            ("too_many_failures", Some("10.0.0.1"), Some("m4999"), 4998),
        ],
        "5,001 refusals took three rows: the stale counter is the only one the bound of 3 \
         pushed out"
    );
    assert_eq!(events[2].to_json()["repeated"], 4998);
    assert!(events[0].to_json().get("repeated").is_none());
}

#[test]
fn a_fold_window_ends_on_time_without_another_refusal() {
    let s = SecurityEvents::in_memory(Bound {
        fold_window: Duration::from_millis(100),
        ..Bound::default()
    })
    .unwrap();
    for _ in 0..10 {
        s.record(&refusal("bad_signature"));
    }
    // The writer keeps the summary once the window ends; wait for it (no timing claim).
    let deadline = Instant::now() + Duration::from_secs(30);
    while all(&s).len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let repeated: Vec<u64> = all(&s).iter().map(|e| e.repeated).collect();
    assert_eq!(repeated, [0, 8]);
    s.close();
    assert_eq!(all(&s).len(), 2, "nothing left to flush");
}
