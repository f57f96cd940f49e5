//! Federated messages with real processes (SPEC §7): devices of three `m2mhub serve` members
//! sign the federation form (`name@hub`, `tx_hub`); a transaction lives in its home hub's
//! ledger, a message for another member's transaction is authenticated by its sender's hub
//! and forwarded there, and the device gets the recording hub's record. A revocation at the
//! sender's hub is in force at the recording hub from its import on. Every ledger replays on
//! its own (`verify --data`) and `verify --federation` passes.
#![allow(clippy::unwrap_used)]

mod common;

use common::federation::{
    NAMES, get, post_message, revoke, rt, signed_v2, size_of, start_federation, wait_for,
    wait_imported,
};
use ed25519_dalek::SigningKey;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

#[test]
fn a_transaction_is_recorded_by_its_home_and_reached_through_the_senders_hub() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut hubs, file) = start_federation(tmp.path(), |_| Vec::new());
    let (home, grid) = (&hubs[0].url, &hubs[2].url);
    let (tv, meter, controller) = (key(1), key(2), key(3));
    rt().block_on(async {
        let c = reqwest::Client::new();
        common::register(&c, home, "tv", &tv, 2).await;
        common::register(&c, home, "meter", &meter, 2).await;
        common::register(&c, grid, "controller", &controller, 3).await;
        wait_imported(grid, "m2mhub/home", 2).await;
        wait_imported(home, "m2mhub/grid", 1).await;

        // A begin is recorded by the sender's hub, whatever hub the receiver belongs to.
        let m = signed_v2(&tv, "tv@home", "meter@home", "begin", 0, None, None, 1);
        let (status, r) = post_message(home, &m).await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(
            (r["tx"].as_u64(), r["valid"].as_bool()),
            (Some(1), Some(true))
        );
        let (status, r) = post_message(
            home,
            &signed_v2(
                &meter,
                "meter@home",
                "controller@grid",
                "continue",
                1,
                Some("home"),
                None,
                1,
            ),
        )
        .await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["receiver"], "controller@grid", "{r}");
        assert_eq!(r["provenance"], "tv", "{r}");
        // Provenance tv has clearance 2, below the controller's 3.
        assert_eq!(
            r["notices"],
            serde_json::json!(["insufficient_clearance"]),
            "{r}"
        );

        // Grid's transaction: its controller begins it, home's meter continues it through
        // its own hub, which forwards; the record is grid's.
        let (status, r) = post_message(
            grid,
            &signed_v2(
                &controller,
                "controller@grid",
                "meter@home",
                "begin",
                0,
                None,
                None,
                1,
            ),
        )
        .await;
        assert_eq!(status, 200, "{r}");
        let grid_tx = r["tx"].as_u64().unwrap();
        let begin_seq = r["seq"].as_u64().unwrap();
        let home_size = get(home, "/v1/checkpoint").await.1;
        let reply = signed_v2(
            &meter,
            "meter@home",
            "controller@grid",
            "continue",
            grid_tx,
            Some("grid"),
            Some(begin_seq),
            2,
        );
        let (status, r) = post_message(home, &reply).await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["sender"], "meter@home", "{r}");
        assert_eq!(r["receiver"], "controller", "{r}");
        assert_eq!(r["provenance"], "controller", "{r}");
        assert_eq!(r["valid"], true, "{r}");
        let seq = r["seq"].as_u64().unwrap();
        let (_, at_grid) = get(grid, &format!("/v1/messages/{seq}")).await;
        let at_grid: serde_json::Value = serde_json::from_str(&at_grid).unwrap();
        assert_eq!(at_grid["sender"], "meter@home");
        let (_, entry) = get(grid, &format!("/v1/entries/{seq}")).await;
        assert!(entry.contains("\"kind\":\"federated_message\""), "{entry}");
        // Nothing was recorded at home.
        assert_eq!(get(home, "/v1/checkpoint").await.1, home_size);
        // An exact resubmission through home gets grid's original record.
        let (status, again) = post_message(home, &reply).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(
            (again["seq"].as_u64(), again["duplicate"].as_bool()),
            (Some(seq), Some(true))
        );

        // Home authenticates before it forwards: a bad signature never reaches grid.
        let mut forged = signed_v2(
            &tv,
            "meter@home",
            "controller@grid",
            "continue",
            grid_tx,
            Some("grid"),
            None,
            3,
        );
        forged["contents"] = "forged".into();
        let (status, r) = post_message(home, &forged).await;
        assert_eq!(
            (status, r["error"].as_str()),
            (401, Some("bad_signature")),
            "{r}"
        );
        // Only the sender's hub forwards; the wrong hub for a begin is refused.
        let stray = signed_v2(&tv, "tv@home", "meter@home", "begin", 0, None, None, 9);
        let (status, r) = post_message(grid, &stray).await;
        assert_eq!(
            (status, r["error"].as_str()),
            (400, Some("malformed")),
            "{r}"
        );

        // Home revokes its meter; grid records the meter's next message with
        // sender_revoked once it imported the revocation.
        revoke(home, "meter").await;
        wait_imported(grid, "m2mhub/home", 3).await;
        let (status, r) = post_message(
            home,
            &signed_v2(
                &meter,
                "meter@home",
                "controller@grid",
                "continue",
                grid_tx,
                Some("grid"),
                None,
                4,
            ),
        )
        .await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["notices"], serde_json::json!(["sender_revoked"]), "{r}");

        // Home's metrics count what it forwarded (the reply, its resubmission and the revoked
        // meter's message; the forged one never left home), grid's what it imported.
        let (_, metrics) = get(home, "/metrics").await;
        assert!(
            metrics.contains(
                r#"m2mhub_federation_forwarded_total{member="grid",outcome="recorded"} 3"#
            ),
            "{metrics}"
        );
        assert!(
            metrics.contains(
                r#"m2mhub_federation_forwarded_total{member="street",outcome="recorded"} 0"#
            ),
            "{metrics}"
        );
        let (_, metrics) = get(grid, "/metrics").await;
        assert!(
            metrics.contains(r#"m2mhub_federation_imports_total{member="home"} 3"#),
            "{metrics}"
        );
        assert!(
            metrics.contains("m2mhub_federation_witnessed_tree_size "),
            "{metrics}"
        );
        // Every federation metric deploy/alerts.yml names is on a member's /metrics.
        let names: Vec<String> = common::alert_metric_names()
            .into_iter()
            .filter(|n| n.starts_with("m2mhub_federation_"))
            .collect();
        assert!(!names.is_empty());
        let missing = common::missing_metrics(&names, &metrics);
        assert!(missing.is_empty(), "not on /metrics: {missing:?}");
        if let Some(promtool) = common::tool("promtool") {
            let file = std::env::temp_dir().join(format!("fed-metrics-{}", std::process::id()));
            std::fs::write(&file, &metrics).unwrap();
            let out = std::process::Command::new(promtool)
                .args(["check", "metrics"])
                .stdin(std::fs::File::open(&file).unwrap())
                .output()
                .unwrap();
            let _ = std::fs::remove_file(&file);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }

        // The grid operator asks the federation what reached its controller: home's
        // transaction 1, begun by tv@home, and grid's own.
        let (status, page) = get(grid, "/v1/federation/devices/controller@grid/transactions").await;
        assert_eq!(status, 200, "{page}");
        let page: serde_json::Value = serde_json::from_str(&page).unwrap();
        let ids: Vec<(&str, &str)> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["id"].as_str().unwrap(), t["provenance"].as_str().unwrap()))
            .collect();
        assert!(ids.contains(&("home:1", "tv@home")), "{page}");
        assert!(ids.contains(&("grid:1", "controller@grid")), "{page}");
        assert_eq!(page["unreachable"], serde_json::json!([]), "{page}");
        let (status, _) = get(grid, "/v1/federation/devices/controller/transactions").await;
        assert_eq!(status, 400);
        // Home's witnessed checkpoint covers its transaction, for the trace below.
        let size = size_of(&get(home, "/v1/checkpoint").await.1);
        wait_for(
            home,
            "/tlog/checkpoint",
            "home's witnessed checkpoint",
            |n| size_of(n) >= size,
        )
        .await;
    });
    // The trace follows home:1 to its provenance, each hop proved in home's cosigned tree.
    let (ok, out) = common::m2mhub(&["trace", "home:1", "--federation", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("provenance tv@home"), "{out}");
    assert!(
        out.contains(
            "meter@home -> controller@grid  continue  INVALID [insufficient_clearance]  proved"
        ),
        "{out}"
    );
    let (ok, out) = common::m2mhub(&["trace", "home:99", "--federation", file.to_str().unwrap()]);
    assert!(!ok && out.contains("home has no transaction 99"), "{out}");
    let file_arg = file.to_str().unwrap();
    let (ok, out) = common::m2mhub(&["verify", "--federation", file_arg]);
    assert!(ok, "{out}");
    for h in &mut hubs {
        h.kill();
        let (ok, out) = common::m2mhub(&["verify", "--data", h.dir.to_str().unwrap()]);
        assert!(ok, "{}: {out}", h.name);
    }
}

#[test]
fn the_federated_demo_traces_the_grids_trouble_to_the_tv_at_home() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    let (ok, out) = common::m2mhub(&[
        "demo",
        "--federation",
        "--once",
        "--listen",
        "127.0.0.1:0",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("home:1     begun by smart_tv@home"), "{out}");
    assert!(
        out.contains("INVALID [insufficient_clearance]  proved"),
        "{out}"
    );
    assert!(
        out.contains("root cause: smart_tv@home, the provenance of home:1"),
        "{out}"
    );
    // Each member's ledger replays on its own; together they pass the federation check.
    for hub in NAMES {
        let (ok, out) = common::m2mhub(&["verify", "--data", data.join(hub).to_str().unwrap()]);
        assert!(ok, "{hub}: {out}");
    }
}
