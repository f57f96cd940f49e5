//! What the binary's integration tests share: start `serve` on a data directory, stop it,
//! run a subcommand, sign a message.
#![allow(dead_code, clippy::unwrap_used)]

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
};

use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::{
    ids::{Seq, TxId},
    message::{Action, Message},
    names::DeviceName,
};

pub mod federation;
pub mod mosquitto;
pub mod rng;

pub const BIN: &str = env!("CARGO_BIN_EXE_m2mhub");
pub const TOKEN: &str = "cli-test-token";

pub fn serve(dir: &Path) -> (Child, String) {
    serve_with(dir, &[])
}

/// `serve` with extra arguments.
pub fn serve_with(dir: &Path, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--data",
            dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--origin",
            "m2mhub/cli-test",
        ])
        .args(extra)
        .env("M2MHUB_OPERATOR_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let url = listening_url(&mut child);
    (child, url)
}

/// Waits for a `serve` child's `listening on URL` line and returns the URL; keeps draining its
/// stdout afterwards so the hub never blocks on a full pipe.
pub fn listening_url(child: &mut Child) -> String {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    url
}

pub fn stop(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "serve exited with {exit} after SIGTERM");
}

pub fn m2mhub(args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

pub fn signed(
    key: &SigningKey,
    from: &str,
    to: &str,
    action: Action,
    tx: u64,
    cause: Option<u64>,
    counter: u64,
) -> serde_json::Value {
    let mut m = Message {
        sender: DeviceName::new(from).unwrap(),
        receiver: DeviceName::new(to).unwrap(),
        action,
        tx: TxId(tx),
        cause: cause.map(Seq),
        counter,
        contents: format!("{from} → {to}"),
        signature: [0; 64],
        form: m2mhub_core::message::Form::OneHub,
    };
    m.signature = key.sign(&m.signing_bytes()).to_bytes();
    serde_json::to_value(m.to_submission()).unwrap()
}

/// Runs `serve` on `dir` expecting it to refuse to start; returns what it printed.
pub fn serve_refuses(dir: &Path) -> String {
    serve_refuses_with(dir, &[])
}

/// [`serve_refuses`] with more `serve` arguments.
pub fn serve_refuses_with(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args([
            "serve",
            "--data",
            dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(args)
        .env("M2MHUB_OPERATOR_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success() && !text.contains("listening on"),
        "serve started: {text}"
    );
    text
}

/// Copies a data directory (recursively).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Registers `name` with `key` and `clearance` through the operator API.
pub async fn register(
    c: &reqwest::Client,
    url: &str,
    name: &str,
    key: &SigningKey,
    clearance: u32,
) {
    let body = serde_json::json!({"name": name, "clearance": clearance,
        "public_key": hex::encode(key.verifying_key().as_bytes())});
    let r = c
        .post(format!("{url}/v1/devices"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "registering {name}");
}

/// The path of command `name` on `PATH` (a real tool a test drives: `dot`, `promtool`,
/// `systemd-analyze`; `make deps` installs them). Outside CI a machine without it skips the
/// check (`None`); in CI (`CI=true`) its absence fails the test.
pub fn tool(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "{name} is not installed (make deps installs it)"
        );
        eprintln!("{name} is not installed: skipping (make deps installs it)");
    }
    found
}

/// The repository's `deploy/` folder (systemd unit, Prometheus rules).
pub fn deploy_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Every `m2mhub_…` metric name `deploy/alerts.yml` uses, sorted, without duplicates.
pub fn alert_metric_names() -> Vec<String> {
    let rules = std::fs::read_to_string(deploy_dir().join("alerts.yml")).unwrap();
    let mut names: Vec<String> = rules
        .match_indices("m2mhub_")
        .map(|(i, _)| {
            rules[i..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        .collect();
    names.sort();
    names.dedup();
    assert!(
        names.len() >= 5,
        "alerts.yml names too few metrics: {names:?}"
    );
    names
}

/// The names of `alert_metric_names` missing from a /metrics exposition `metrics` (Prometheus
/// text 0.0.4, where every family has a `# TYPE` line, counters under their `_total` name).
pub fn missing_metrics<'a>(names: &'a [String], metrics: &str) -> Vec<&'a str> {
    names
        .iter()
        .map(String::as_str)
        .filter(|n| !metrics.contains(&format!("\n# TYPE {n} ")))
        .collect()
}
