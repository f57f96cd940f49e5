//! `deploy/` checked with the operators' own tools: the systemd unit with `systemd-analyze
//! verify` and `systemd-analyze security --offline` (its exposure score must stay low), its
//! `ExecStart` with the binary's own parser; the Prometheus rules with `promtool check rules`
//! and `promtool test rules alerts.test.yml`; and every metric the rules name on a live hub's
//! `/metrics` (anchoring's, which a hub shows only when it anchors, in `chain.rs`; a
//! federation member's, in `federation_messages.rs`).
#![allow(clippy::unwrap_used)]

mod common;

use std::{path::Path, process::Command};

use common::{
    BIN, TOKEN, alert_metric_names, deploy_dir, missing_metrics, serve, signed, stop, tool,
};
use ed25519_dalek::SigningKey;
use m2mhub_core::message::Action;
use serde_json::json;

/// Where the unit expects the binary; the test points it at the one cargo built.
const INSTALLED: &str = "/usr/local/bin/m2mhub";

/// Runs `program args`: success, stdout, stderr.
fn run(program: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(program).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The value of `key=` in `unit` (its last setting).
fn setting<'a>(unit: &'a str, key: &str) -> &'a str {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .next_back()
        .unwrap_or_else(|| panic!("the unit sets no {key}"))
}

#[test]
fn the_systemd_unit_verifies_and_stays_hardened() {
    let unit = std::fs::read_to_string(deploy_dir().join("m2mhub.service")).unwrap();
    // The connection cap the hub derives from the open-file limit covers the 10,000
    // connections of SPEC §6's hostile load.
    let nofile: u64 = setting(&unit, "LimitNOFILE").parse().unwrap();
    let cap = nofile.saturating_sub(256) / 4 * 3;
    assert!(
        cap >= 10_000,
        "LimitNOFILE={nofile} caps connections at {cap}"
    );
    // ExecStart's flags are ones `serve` takes (clap refuses an unknown flag before --help).
    let exec = setting(&unit, "ExecStart");
    let args: Vec<&str> = exec
        .strip_prefix(INSTALLED)
        .unwrap()
        .split_whitespace()
        .chain(["--help"])
        .collect();
    let (ok, _, err) = run(Path::new(BIN), &args);
    assert!(ok, "ExecStart={exec}: {err}");

    let Some(analyze) = tool("systemd-analyze") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("m2mhub.service");
    std::fs::write(&path, unit.replace(INSTALLED, BIN)).unwrap();
    let path = path.to_str().unwrap();
    // Unknown keys and bad values are warnings on stderr with exit status 0: both must be clean.
    let (ok, out, err) = run(&analyze, &["verify", "--man=no", path]);
    assert!(ok && err.is_empty() && out.is_empty(), "{out}{err}");
    // Exposure 2.0 of 10 at most ("OK"); the unit scores 1.4.
    let (ok, out, err) = run(
        &analyze,
        &["security", "--offline=true", "--threshold=20", path],
    );
    assert!(ok, "{out}{err}");
    // And the check can fail: a unit that drops the hardening is refused.
    let weak: String = unit
        .lines()
        .filter(|l| !l.starts_with("Protect") && !l.starts_with("Private"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(
        tmp.path().join("m2mhub.service"),
        weak.replace(INSTALLED, BIN),
    )
    .unwrap();
    let (ok, ..) = run(
        &analyze,
        &["security", "--offline=true", "--threshold=20", path],
    );
    assert!(!ok, "a unit without Protect*/Private* passed the threshold");
}

#[test]
fn the_alert_rules_pass_promtool_and_their_tests() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let dir = deploy_dir();
    let rules = dir.join("alerts.yml");
    let (ok, out, err) = run(&promtool, &["check", "rules", rules.to_str().unwrap()]);
    assert!(ok && out.contains("SUCCESS"), "{out}{err}");
    let tests = dir.join("alerts.test.yml");
    let (ok, out, err) = run(&promtool, &["test", "rules", tests.to_str().unwrap()]);
    assert!(ok && out.contains("SUCCESS"), "{out}{err}");
}

#[test]
fn every_metric_the_alerts_name_is_on_a_live_hubs_metrics() {
    let names = alert_metric_names();
    let tmp = tempfile::tempdir().unwrap();
    let (hub, url) = serve(&tmp.path().join("data"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let metrics = rt.block_on(async {
        // A hub at work: one device breaks the clearance policy (a family shows once it has
        // a series, and invalid messages are counted by their sender).
        let c = reqwest::Client::new();
        let (lamp, door) = (
            SigningKey::from_bytes(&[3; 32]),
            SigningKey::from_bytes(&[4; 32]),
        );
        for (name, key, clearance) in [("lamp", &lamp, 1), ("door", &door, 3)] {
            let body = json!({"name": name, "clearance": clearance,
                "public_key": hex::encode(key.verifying_key().as_bytes())});
            let r = c
                .post(format!("{url}/v1/devices"))
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
        let m = signed(&lamp, "lamp", "door", Action::Begin, 0, None, 1);
        let r: serde_json::Value = c
            .post(format!("{url}/v1/messages"))
            .json(&m)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["notices"], json!(["insufficient_clearance"]), "{r}");
        reqwest::get(format!("{url}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    stop(hub);
    assert!(
        metrics.contains("\nm2mhub_invalid_messages_total{sender=\"lamp\"} 1\n"),
        "{metrics}"
    );
    // Anchor lag shows only on a hub that anchors (chain.rs checks it on one), the
    // federation's metrics only on a member (federation_messages.rs).
    let missing: Vec<&str> = missing_metrics(&names, &metrics)
        .into_iter()
        .filter(|n| !n.starts_with("m2mhub_anchor_") && !n.starts_with("m2mhub_federation_"))
        .collect();
    assert!(
        missing.is_empty(),
        "not on /metrics: {missing:?}\n{metrics}"
    );
    // The disk gauges measure the data directory: its file system has room, and a store.
    let value = |name: &str| -> u64 {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} sample:\n{metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let (free, size, store) = (
        value("m2mhub_data_free_bytes"),
        value("m2mhub_data_size_bytes"),
        value("m2mhub_store_bytes"),
    );
    assert!(
        0 < free && free <= size && store > 0,
        "{free} {size} {store}"
    );
}
