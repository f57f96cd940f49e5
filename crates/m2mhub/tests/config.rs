//! `serve --config FILE` against the real binary: a TOML file's listen, data, origin,
//! simulated devices and log format are honoured; a flag on the command line wins over the
//! file; an unknown key is refused by name and nothing starts.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
};

use common::{BIN, TOKEN, listening_url, m2mhub, stop};
use serde_json::{Value, json};

/// Starts `serve` with `args`; its URL, what it printed on stdout before listening is
/// drained, and a thread collecting its stderr until it exits.
fn start(
    args: &[&str],
) -> (
    std::process::Child,
    String,
    std::thread::JoinHandle<Vec<String>>,
) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("M2MHUB_OPERATOR_TOKEN", TOKEN)
        .env_remove("M2MHUB_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let logs = std::thread::spawn(move || stderr.lines().map_while(Result::ok).collect());
    let url = listening_url(&mut child);
    (child, url, logs)
}

fn origin_and_simulated(url: &str) -> (String, u16) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let note = c.get(format!("{url}/v1/checkpoint")).send().await.unwrap();
        let note = note.text().await.unwrap();
        let r = c
            .post(format!("{url}/v1/devices"))
            .bearer_auth(TOKEN)
            .json(&json!({"name": "sim", "clearance": 1, "simulated": true}))
            .send()
            .await
            .unwrap();
        (note.lines().next().unwrap().to_owned(), r.status().as_u16())
    })
}

fn write_config(path: &Path, data: &Path, extra: &str) {
    let text = format!(
        "# a hub's settings\nlisten = \"127.0.0.1:0\"\ndata = \"{}\"\norigin = \"m2mhub/from-file\"\nsimulated = true\nmax-requests = 64\nretain-contents = \"30d\"\n{extra}",
        data.display()
    );
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_config_file_sets_serve_and_a_flag_wins_over_it() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("hub.toml");
    let data = tmp.path().join("from-file");
    write_config(&file, &data, "log-format = \"json\"\n");
    let file_s = file.to_str().unwrap();

    let (hub, url, logs) = start(&["serve", "--config", file_s]);
    let (origin, simulated) = origin_and_simulated(&url);
    stop(hub);
    assert_eq!(
        (origin.as_str(), simulated),
        ("m2mhub/from-file", 201),
        "the file's origin, and simulated devices on"
    );
    assert!(
        data.join("ledger.redb").is_file(),
        "the file's data directory"
    );
    // Logs are JSON lines: the start is one of them.
    let logs = logs.join().unwrap();
    let serving: Vec<Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "serving")
        .collect();
    assert_eq!(serving.len(), 1, "{logs:?}");
    assert_eq!(serving[0]["fields"]["origin"], "m2mhub/from-file");
    assert_eq!(serving[0]["level"], "INFO");

    // Flags win over the file: another origin and data directory, text logs.
    let data2 = tmp.path().join("from-flags");
    let (hub, url, logs) = start(&[
        "serve",
        "--config",
        file_s,
        "--origin",
        "m2mhub/from-flag",
        "--data",
        data2.to_str().unwrap(),
        "--log-format",
        "text",
    ]);
    let (origin, _) = origin_and_simulated(&url);
    stop(hub);
    assert_eq!(origin, "m2mhub/from-flag");
    assert!(data2.join("ledger.redb").is_file());
    let logs = logs.join().unwrap();
    assert!(
        logs.iter()
            .any(|l| l.contains("serving") && serde_json::from_str::<Value>(l).is_err()),
        "{logs:?}"
    );
}

#[test]
fn an_unknown_key_is_refused_by_name_and_nothing_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("hub.toml");
    let data = tmp.path().join("never");
    write_config(&file, &data, "mqtt-brokr = \"127.0.0.1:1883\"\n");
    let (ok, out) = m2mhub(&["serve", "--config", file.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("unknown key `mqtt-brokr`") && out.contains("hub.toml"),
        "{out}"
    );
    assert!(!out.contains("listening on"), "{out}");
    assert!(!data.exists(), "nothing was created");
    // A value serve's own parser refuses is reported against the file too.
    write_config(&file, &data, "max-connections = \"lots\"\n");
    let (ok, out) = m2mhub(&["serve", "--config", file.to_str().unwrap()]);
    assert!(
        !ok && out.contains("hub.toml") && out.contains("'lots'"),
        "{out}"
    );
    assert!(!data.exists(), "nothing was created");
}
