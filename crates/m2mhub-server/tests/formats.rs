//! Formats other tools read (issue 14): a transaction's causal graph as Graphviz DOT, drawn by
//! Debian's real `dot` and read back from its SVG, so every node label is the lines it is meant
//! to be (no literal `\n`), hostile names included; and its W3C PROV-JSON, read by the Python
//! `prov` package without a warning (device names keep to SPEC §3.4's characters, which PROV-N
//! can write in a qualified name; `prov` warns about others).
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    collections::BTreeMap,
    io::Write,
    path::Path,
    process::{Command, Stdio},
};

use m2mhub_ledger::TransactionView;
use m2mhub_server::{AppState, Limits, graph};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "formats-test-token";

async fn start(dir: &Path) -> common::Hub {
    let ledger = common::ledger(dir, "m2mhub/formats-test");
    let state = AppState::new(ledger, TOKEN.into())
        .unwrap()
        .with_simulated_keys(&dir.join("simulated"))
        .unwrap();
    common::Hub::serve(state, Limits::default()).await
}

/// Runs `program args` with `input` on stdin; its stdout, or a panic naming its stderr.
fn run(program: &Path, args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed: {stderr}",
        program.display()
    );
    assert!(stderr.is_empty(), "{} warned: {stderr}", program.display());
    String::from_utf8(out.stdout).unwrap()
}

/// XML character references and the five predefined entities, as Graphviz writes them.
fn xml_text(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').unwrap() + i;
        let name = &rest[i + 1..end];
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = match name.strip_prefix("#x") {
                    Some(h) => u32::from_str_radix(h, 16).unwrap(),
                    None => name.strip_prefix('#').unwrap().parse().unwrap(),
                };
                char::from_u32(code).unwrap()
            }
        };
        out.push(if c == '\u{a0}' { ' ' } else { c });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Draws `dot_source` with Graphviz (`dot -Tsvg`) and reads back the text lines of every
/// group it drew, by the group's title: the graph's name for the graph label, `m<seq>` for
/// a message's node.
fn drawn_lines(dot: &Path, dot_source: &str) -> BTreeMap<String, Vec<String>> {
    let svg = run(dot, &["-Tsvg"], dot_source.as_bytes());
    let mut groups = BTreeMap::new();
    for group in svg.split("<g id=\"").skip(1) {
        let title = group
            .split_once("<title>")
            .and_then(|(_, t)| t.split_once("</title>"))
            .map(|(t, _)| xml_text(t))
            .unwrap();
        let lines: Vec<String> = group
            .split("<text")
            .skip(1)
            .map(|t| {
                let (_, body) = t.split_once('>').unwrap();
                xml_text(body.split_once("</text>").unwrap().0)
            })
            .collect();
        groups.insert(title, lines);
    }
    groups
}

/// What a message's node should say, line by line.
fn node_lines(seq: u64, sender: &str, receiver: &str, rest: &[&str]) -> Vec<String> {
    let head = format!("#{seq} {sender} → {receiver}");
    head.split('\n')
        .map(str::to_owned)
        .chain(rest.iter().map(|s| (*s).to_owned()))
        .collect()
}

async fn post(c: &Client, url: &str, path: &str, body: Value) -> Value {
    let r = c
        .post(format!("{url}{path}"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

/// Sends the paper's first four messages (begin, continue, end, then a continue of the
/// closed transaction) between devices whose names use every punctuation SPEC §3.4 allows.
async fn closed_transaction(c: &Client, url: &str) -> Vec<Value> {
    for (name, clearance) in [("top.level-3", 3), ("low_level.1", 1)] {
        post(
            c,
            url,
            "/v1/devices",
            json!({"name": name, "clearance": clearance, "simulated": true}),
        )
        .await;
    }
    let mut records: Vec<Value> = Vec::new();
    let steps = [
        ("top.level-3", "low_level.1", "begin"),
        ("low_level.1", "top.level-3", "continue"),
        ("top.level-3", "low_level.1", "end"),
        ("top.level-3", "low_level.1", "continue"),
    ];
    for (from, to, action) in steps {
        let mut body = json!({"receiver": to, "action": action, "contents": "x"});
        if let Some(prev) = records.last() {
            body["tx"] = prev["tx"].clone();
            body["cause"] = prev["seq"].clone();
        }
        records.push(post(c, url, &format!("/v1/devices/{from}/send"), body).await);
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphviz_draws_the_apis_dot_labels_as_lines() {
    let Some(dot) = common::tool("dot") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hub = start(tmp.path()).await;
    let c = Client::new();
    let records = closed_transaction(&c, &hub.url).await;
    let r = c
        .get(format!("{}/v1/transactions/1/graph?format=dot", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let source = r.text().await.unwrap();
    let drawn = drawn_lines(&dot, &source);
    let seq = |i: usize| records[i]["seq"].as_u64().unwrap();
    let (top, low) = ("top.level-3", "low_level.1");
    let want: BTreeMap<String, Vec<String>> = [
        (
            "tx1".to_owned(),
            vec!["tx 1 (closed), provenance top.level-3".to_owned()],
        ),
        (
            format!("m{}", seq(0)),
            node_lines(seq(0), top, low, &["begin"]),
        ),
        (
            format!("m{}", seq(1)),
            node_lines(seq(1), low, top, &["continue"]),
        ),
        (
            format!("m{}", seq(2)),
            node_lines(seq(2), top, low, &["end"]),
        ),
        (
            format!("m{}", seq(3)),
            node_lines(seq(3), top, low, &["continue", "transaction_closed"]),
        ),
    ]
    .into_iter()
    .chain((0..3).map(|i| (format!("m{}->m{}", seq(i), seq(i + 1)), vec![])))
    .collect();
    assert_eq!(drawn, want, "{source}");
    hub.stop().await;
}

/// A transaction view whose names hold what SPEC §3.4 keeps out of device names today but a
/// careless escaper would pass to Graphviz: quotes, backslashes (Graphviz's own `\N`, `\l`
/// and `\n` escapes among them), a newline, angle brackets, braces and `&`.
fn hostile_view() -> TransactionView {
    let (a, b) = ("a\"b\\c\\N <x> &", "d\\l\ne}{\\\"f");
    let record = |seq: u64, from: &str, to: &str, action: &str, notices: Value| {
        json!({"seq": seq, "tx": 7, "provenance": a, "sender": from, "receiver": to,
            "action": action, "cause": if seq == 0 { Value::Null } else { json!(seq - 1) },
            "counter": seq + 1, "contents": "<b>\"hi\"</b>\n\\", "valid": notices == json!([]),
            "notices": notices, "block": 1, "time": null, "leaf_hash": "00".repeat(32)})
    };
    serde_json::from_value(json!({
        "tx": 7, "provenance": a, "state": "open", "participants": [a, b], "message_count": 2,
        "messages": [record(0, a, b, "begin", json!([])),
            record(1, b, a, "continue", json!(["not_a_participant", "bad_cause"]))],
        "next": null,
    }))
    .unwrap()
}

#[test]
fn graphviz_draws_hostile_names_as_they_are() {
    let Some(dot) = common::tool("dot") else {
        return;
    };
    let view = hostile_view();
    let (a, b) = (
        view.messages[0].sender.clone(),
        view.messages[0].receiver.clone(),
    );
    let source = graph::to_dot(&view);
    let drawn = drawn_lines(&dot, &source);
    let mut want = BTreeMap::new();
    want.insert(
        "tx7".to_owned(),
        format!("tx 7 (open), provenance {a}")
            .split('\n')
            .map(str::to_owned)
            .collect::<Vec<_>>(),
    );
    want.insert("m0".to_owned(), node_lines(0, &a, &b, &["begin"]));
    want.insert(
        "m1".to_owned(),
        node_lines(1, &b, &a, &["continue", "not_a_participant, bad_cause"]),
    );
    want.insert("m0->m1".to_owned(), vec![]);
    assert_eq!(drawn, want, "{source}");
}

/// Reads PROV-JSON with the `prov` package (PyPI; `make deps` installs it) and writes it back
/// as PROV-N.
fn prov_n(python: &Path, doc: &Value) -> String {
    let script = "import sys, prov\n\
        d = prov.read(sys.stdin, format='json')\n\
        assert d.get_records(), 'no records'\n\
        print(d.serialize(format='provn'))\n";
    run(python, &["-c", script], doc.to_string().as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prov_reads_the_apis_prov_json_without_a_warning() {
    let Some(python) = common::tool("python3") else {
        return;
    };
    let has_prov = Command::new(&python)
        .args(["-c", "import prov"])
        .status()
        .unwrap()
        .success();
    if !has_prov {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "the prov package is not installed (make deps installs it)"
        );
        eprintln!("the prov package is not installed: skipping (make deps installs it)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let hub = start(tmp.path()).await;
    let c = Client::new();
    let records = closed_transaction(&c, &hub.url).await;
    let doc: Value = c
        .get(format!("{}/v1/transactions/1/graph?format=prov", hub.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let provn = prov_n(&python, &doc);
    for r in &records {
        assert!(
            provn.contains(&format!("entity(m2m:message/{}", r["seq"])),
            "{provn}"
        );
    }
    assert!(provn.contains("wasDerivedFrom("), "{provn}");
    hub.stop().await;
}
