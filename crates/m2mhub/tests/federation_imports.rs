//! Membership and import entries with real processes (SPEC §7): three `m2mhub serve` of one
//! federation (cosignatures = 1) record the membership once, import each other's registry
//! changes (a revocation included) in order, pass `verify --federation` and each replays alone
//! (`verify --data`); a member that skipped a revocation is named by `verify --federation`.
//! Go's `sumdb/note` and `sumdb/tlog` open a member's cosigned checkpoint and check its tiles.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../../tests/go-tlog/checker.rs"]
mod go_checker;

use common::federation::{
    Hub, NAMES, federation_file, get, grow, revoke, rt, size_of, start_federation, wait_imported,
};

#[test]
fn members_record_the_membership_and_import_each_others_registry_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut hubs, file) = start_federation(tmp.path(), |_| Vec::new());
    let (home, street) = (&hubs[0], &hubs[1]);
    rt().block_on(async {
        let (_, first) = get(&home.url, "/v1/entries/0").await;
        assert!(
            first.contains("\"kind\":\"federation_membership\""),
            "{first}"
        );
        grow(&street.url, "meter", 71).await;
        grow(&street.url, "lamp", 72).await;
        revoke(&street.url, "lamp").await;
        // Street's entries: 0 membership, 1 meter, 2 lamp, 3 the revocation. Home and grid
        // import 1–3 once a checkpoint covering them is witnessed.
        let want: Vec<(String, u64, String)> = [
            (1, "device_registered"),
            (2, "device_registered"),
            (3, "device_revoked"),
        ]
        .iter()
        .map(|(s, k)| ("m2mhub/street".to_owned(), *s, (*k).to_owned()))
        .collect();
        for h in [&hubs[0], &hubs[2]] {
            assert_eq!(
                wait_imported(&h.url, "m2mhub/street", 3).await,
                want,
                "{}",
                h.name
            );
        }
    });
    // A restart records no second membership, and each ledger replays on its own.
    hubs[0].kill();
    hubs[0].start(Some(&file));
    rt().block_on(async {
        let memberships = get(&hubs[0].url, "/v1/entries?registry=true&limit=1000")
            .await
            .1;
        let n = memberships.matches("AQgA").count(); // base64 of 0x01 0x08 0x00: kind 8
        assert_eq!(n, 1, "{memberships}");
    });
    let file_arg = file.to_str().unwrap();
    let (ok, out) = common::m2mhub(&["verify", "--federation", file_arg]);
    assert!(ok, "{out}");
    // Outside checks of a member's witnessed log: its /tlog/checkpoint carries a cosignature
    // line, which Go's note.Open must pass over, and its tiles hold its imports.
    if let Some(go) = common::tool("go") {
        let checker = go_checker::build(&go, tmp.path());
        let note = rt().block_on(get(&hubs[0].url, "/tlog/checkpoint")).1;
        assert!(
            note.matches('\u{2014}').count() >= 2,
            "not cosigned: {note}"
        );
        let (ok, out) = go_checker::check(&checker, tmp.path(), &hubs[0].url, &[]);
        assert!(ok, "{out}");
    }
    // PyPI's tlog-scales, another outside reader: the member's signature, the other members'
    // cosignatures (tlog-cosignature/v1, key type 0x04), the tiles, entries and proofs.
    if tlog_scales_installed() {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/tlog-scales/check.py"
        );
        let out = std::process::Command::new("python3")
            .arg(script)
            .args([&hubs[0].url, "1", &hubs[0].key, &hubs[1].key, &hubs[2].key])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("ok: tlog-scales verified"), "{text}");
        // A member named with another's key is no cosigner: the policy's one is then missing.
        let out = std::process::Command::new("python3")
            .arg(script)
            .args([&hubs[0].url, "1", &hubs[0].key, &hubs[0].key])
            .output()
            .unwrap();
        assert!(!out.status.success());
    }
    for h in &mut hubs {
        h.kill();
    }
    for h in &hubs {
        let (ok, out) = common::m2mhub(&["verify", "--data", h.dir.to_str().unwrap()]);
        assert!(ok, "{}: {out}", h.name);
    }
}

/// A member that skipped one of another member's changes (here a revocation, with a later
/// registration imported after it) is named by `verify --federation`, with the entry of its
/// ledger and the source seq it lacks; the members that imported everything pass.
#[test]
fn verify_federation_names_a_member_that_skipped_a_revocation() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hubs: Vec<Hub> = NAMES.iter().map(|n| Hub::create(tmp.path(), n)).collect();
    let file = federation_file(
        &tmp.path().join("federation.toml"),
        &hubs.iter().collect::<Vec<_>>(),
        1,
    );
    hubs[1].start(Some(&file));
    hubs[2].start(Some(&file));
    let (street, grid) = (&hubs[1], &hubs[2]);
    // Street: 0 membership, 1 meter, 2 lamp, 3 lamp revoked, 4 bell.
    let (note, proofs) = rt().block_on(async {
        grow(&street.url, "meter", 81).await;
        grow(&street.url, "lamp", 82).await;
        revoke(&street.url, "lamp").await;
        grow(&street.url, "bell", 83).await;
        wait_imported(&grid.url, "m2mhub/street", 4).await;
        let note = get(&street.url, "/tlog/checkpoint").await.1;
        let size = size_of(&note);
        let mut proofs = Vec::new();
        for seq in [1u64, 2, 4] {
            let (_, p) = get(
                &street.url,
                &format!("/v1/proof/inclusion?seq={seq}&tree_size={size}"),
            )
            .await;
            let (_, e) = get(&street.url, &format!("/v1/entries/{seq}")).await;
            proofs.push((seq, p, e));
        }
        (note, proofs)
    });
    // Home's ledger, written offline: the membership, then street's 1, 2 and 4 — not 3.
    {
        let ledger = m2mhub_ledger::Ledger::open(
            &m2mhub_ledger::DataDir::create(&hubs[0].dir).unwrap(),
            &m2mhub_ledger::LedgerConfig {
                origin: None,
                default_origin: "m2mhub/home".into(),
            },
        )
        .unwrap();
        let fed: m2mhub_core::federation::FederationFile =
            toml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let fed = m2mhub_core::federation::Federation::new(fed).unwrap();
        ledger
            .record_membership(fed.membership("home").unwrap())
            .unwrap();
        for (seq, p, e) in proofs {
            use base64::Engine as _;
            let p: serde_json::Value = serde_json::from_str(&p).unwrap();
            let e: serde_json::Value = serde_json::from_str(&e).unwrap();
            let import = m2mhub_core::entry::Import {
                origin: "m2mhub/street".into(),
                seq,
                entry: base64::engine::general_purpose::STANDARD
                    .decode(e["entry_bytes"].as_str().unwrap())
                    .unwrap(),
                proof: p["path"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| {
                        hex::decode(h.as_str().unwrap())
                            .unwrap()
                            .try_into()
                            .unwrap()
                    })
                    .collect(),
                checkpoint: note.clone(),
            };
            let r = ledger.append(vec![m2mhub_ledger::Submission::Registry(
                m2mhub_core::entry::Entry::Import(import),
            )]);
            assert!(r[0].is_ok(), "{:?}", r[0]);
        }
    }
    hubs[0].start(Some(&file));
    let (ok, out) = common::m2mhub(&["verify", "--federation", file.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("imports street seq 4, but street seq 3 comes first and was never imported"),
        "{out}"
    );
    assert!(out.contains("home:"), "{out}");
    assert!(!out.contains("grid:"), "grid imported everything: {out}");
}

/// Whether Python has tlog-scales (`make deps` installs it); in CI its absence fails.
fn tlog_scales_installed() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import tlog_scales"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "tlog-scales is not installed (make deps installs it)"
        );
        eprintln!("tlog-scales is not installed: skipping (make deps installs it)");
    }
    ok
}
