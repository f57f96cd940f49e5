//! Three-hub federations for the binary's tests (SPEC §7): `serve` processes killed when
//! their guard drops, the federation file, and bounded polls.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::{
    cosignature::{CosignatureVerifier, split_note},
    message::{Message, MessageSubmission},
    note::NoteVerifier,
    witness::TreeHead,
};
use serde_json::json;

use super::{BIN, TOKEN, listening_url};

pub const NAMES: [&str; 3] = ["home", "street", "grid"];

/// A `serve` process, killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Hub {
    pub name: String,
    pub dir: PathBuf,
    pub port: u16,
    pub url: String,
    pub key: String,
    pub child: Option<Child>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Hub {
    /// Creates the hub's data directory (and key) by starting it once without a federation.
    pub fn create(root: &Path, name: &str) -> Hub {
        let mut h = Hub {
            name: name.into(),
            dir: root.join(name),
            port: free_port(),
            url: String::new(),
            key: String::new(),
            child: None,
        };
        h.start(None);
        h.key = rt().block_on(get(&h.url, "/v1/key")).1.trim().to_owned();
        h.kill();
        h
    }

    /// Starts `serve` on the hub's port, as a member of `federation` if given.
    pub fn start(&mut self, federation: Option<&Path>) {
        self.start_with(federation, &[]);
    }

    /// [`Hub::start`] with more `serve` arguments.
    pub fn start_with(&mut self, federation: Option<&Path>, extra: &[&str]) {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--data", self.dir.to_str().unwrap()])
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--origin", &format!("m2mhub/{}", self.name)]);
        if let Some(f) = federation {
            cmd.args([
                "--federation",
                f.to_str().unwrap(),
                "--hub-name",
                &self.name,
            ]);
        }
        let mut child = cmd
            .args(extra)
            .env("M2MHUB_OPERATOR_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        self.url = listening_url(&mut child);
        self.child = Some(child);
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier::parse(&self.key).unwrap()
    }

    pub fn origin(&self) -> String {
        format!("m2mhub/{}", self.name)
    }
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

pub async fn get(url: &str, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("{url}{path}")).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Writes the federation file of `hubs` with `[witness] cosignatures = k` to `path`.
pub fn federation_file(path: &Path, hubs: &[&Hub], k: usize) -> PathBuf {
    federation_file_with_anchors(path, hubs, k, &[])
}

/// [`federation_file`] naming `anchors[i]` as hub i's anchor contract.
pub fn federation_file_with_anchors(
    path: &Path,
    hubs: &[&Hub],
    k: usize,
    anchors: &[String],
) -> PathBuf {
    let mut s = format!("[witness]\ncosignatures = {k}\n");
    for (i, h) in hubs.iter().enumerate() {
        s.push_str(&format!(
            "\n[[member]]\nname = \"{}\"\norigin = \"{}\"\nkey = \"{}\"\nurl = \"http://127.0.0.1:{}\"\n",
            h.name,
            h.origin(),
            h.key,
            h.port
        ));
        if let Some(a) = anchors.get(i) {
            s.push_str(&format!("anchor = \"{a}\"\n"));
        }
    }
    std::fs::write(path, s).unwrap();
    path.to_owned()
}

/// Registers a device at `url`: one more entry, one more checkpoint. Returns the new size.
pub async fn grow(url: &str, name: &str, seed: u8) -> u64 {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let body = json!({"name": name, "clearance": 1, "public_key": hex::encode(key.verifying_key().as_bytes())});
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/devices"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    size_of(&get(url, "/v1/checkpoint").await.1)
}

pub fn size_of(note: &str) -> u64 {
    TreeHead::parse(split_note(note).unwrap().0).unwrap().size
}

/// Names of the members among `hubs` whose valid cosignature `note` carries.
pub fn cosigners(note: &str, hubs: &[&Hub]) -> Vec<String> {
    hubs.iter()
        .filter(|h| {
            CosignatureVerifier::of_member(&h.verifier())
                .open(note)
                .is_ok()
        })
        .map(|h| h.name.clone())
        .collect()
}

/// Polls `path` on `url` until `done` holds of a 200 answer, for at most a minute.
pub async fn wait_for(url: &str, path: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get(url, path).await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting for {what}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Revokes `name` at `url`.
pub async fn revoke(url: &str, name: &str) {
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/devices/{name}/revoke"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

/// The import entries of `url`'s ledger, as `GET /v1/entries?registry=true` lists them:
/// (source origin, source seq, the foreign entry's kind).
pub async fn imports(url: &str) -> Vec<(String, u64, String)> {
    let (_, body) = get(url, "/v1/entries?registry=true&limit=1000").await;
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut out = Vec::new();
    for item in page["items"].as_array().unwrap() {
        let (_, e) = get(url, &format!("/v1/entries/{}", item["seq"])).await;
        let e: serde_json::Value = serde_json::from_str(&e).unwrap();
        if e["kind"] == "import" {
            out.push((
                e["origin"].as_str().unwrap().to_owned(),
                e["source_seq"].as_u64().unwrap(),
                e["entry"]["kind"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

/// Waits (at most a minute) until `url` holds `n` imports from `origin`; returns them.
pub async fn wait_imported(url: &str, origin: &str, n: usize) -> Vec<(String, u64, String)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: Vec<_> = imports(url)
            .await
            .into_iter()
            .filter(|i| i.0 == origin)
            .collect();
        if got.len() >= n {
            return got;
        }
        assert!(Instant::now() < deadline, "{url} imported {got:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A message in the federation form (SPEC §7), signed by `key`: `from` and `to` are
/// `name@hub`; `tx_hub` is the transaction's home (`None` for a begin).
#[allow(clippy::too_many_arguments)] // the message's own fields
pub fn signed_v2(
    key: &SigningKey,
    from: &str,
    to: &str,
    action: &str,
    tx: u64,
    tx_hub: Option<&str>,
    cause: Option<u64>,
    counter: u64,
) -> serde_json::Value {
    let mut sub = json!({"sender": from, "receiver": to, "action": action, "counter": counter,
        "contents": format!("{from} → {to}"), "signature": "0".repeat(128)});
    if action != "begin" {
        sub["tx"] = json!(tx);
    }
    if let Some(h) = tx_hub {
        sub["tx_hub"] = json!(h);
    }
    if let Some(c) = cause {
        sub["cause"] = json!(c);
    }
    let sub: MessageSubmission = serde_json::from_value(sub).unwrap();
    let mut m = Message::try_from(sub).unwrap();
    m.signature = key.sign(&m.signing_bytes()).to_bytes();
    serde_json::to_value(m.to_submission()).unwrap()
}

/// Posts `msg` to `url`'s `POST /v1/messages`: (status, JSON answer).
pub async fn post_message(url: &str, msg: &serde_json::Value) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/messages"))
        .json(msg)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// Three members (`NAMES`) of one federation with `[witness] cosignatures = 1`, started under
/// `root`, each `serve` given `extra(hub)` arguments too; and the federation file.
pub fn start_federation(root: &Path, extra: impl Fn(&Hub) -> Vec<String>) -> (Vec<Hub>, PathBuf) {
    let mut hubs: Vec<Hub> = NAMES.iter().map(|n| Hub::create(root, n)).collect();
    let file = federation_file(
        &root.join("federation.toml"),
        &hubs.iter().collect::<Vec<_>>(),
        1,
    );
    for h in &mut hubs {
        let args = extra(h);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        h.start_with(Some(&file), &args);
    }
    (hubs, file)
}
