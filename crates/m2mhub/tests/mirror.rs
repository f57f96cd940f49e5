//! `m2mhub mirror` and `m2mhub verify --tiles` through the binary (SPEC §7): a mirror of a
//! running hub's C2SP tiles, verified from the directory; the hub grows and the mirror resumes
//! from what it holds; a mirror of the mirror (directory to directory); every entry replayed
//! from the tiles; and each kind of damage to a mirror named: a hash tile, an entry bundle, a
//! checkpoint signed by another key, a rolled-back source.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{m2mhub, serve, stop};
use ed25519_dalek::SigningKey;
use m2mhub_core::message::Action;

/// Sends `n` messages from `a` to `b` in one batch, counters from `counter + 1`.
fn send(url: &str, key: &SigningKey, counter: &mut u64, n: usize) {
    let batch: Vec<serde_json::Value> = (0..n)
        .map(|_| {
            *counter += 1;
            common::signed(
                key,
                "mirror_a",
                "mirror_b",
                Action::Begin,
                0,
                None,
                *counter,
            )
        })
        .collect();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/messages/batch"))
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    });
}

fn get_text(url: &str) -> String {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() })
}

fn verify_tiles(src: &str, key: &str) -> (bool, String) {
    m2mhub(&["verify", "--tiles", src, "--key", key])
}

/// Kills the hub if the test panics before stopping it (a hub left running would keep the
/// test's output pipe open).
struct Running(Option<std::process::Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn flip_byte(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 1;
    std::fs::write(path, b).unwrap();
}

#[test]
fn mirror_resumes_verifies_and_names_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let (hub, url) = serve(&tmp.path().join("hub"));
    let mut hub = Running(Some(hub));
    let a = SigningKey::from_bytes(&[61; 32]);
    let b = SigningKey::from_bytes(&[62; 32]);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let c = reqwest::Client::new();
        common::register(&c, &url, "mirror_a", &a, 2).await;
        common::register(&c, &url, "mirror_b", &b, 2).await;
    });
    let mut counter = 0;
    send(&url, &a, &mut counter, 298);
    let key = get_text(&format!("{url}/v1/key")).trim().to_owned();
    let tlog = format!("{url}/tlog");
    let m1 = tmp.path().join("mirror");
    let m1s = m1.to_str().unwrap();

    // First copy: the key is pinned from the hub and kept in the mirror.
    let (ok, out) = m2mhub(&["mirror", "--from", &tlog, "--to", m1s]);
    assert!(ok, "{out}");
    assert!(out.contains("pinned the hub's key"), "{out}");
    assert!(out.contains("mirrored 300 new entries (0 → 300)"), "{out}");
    assert_eq!(std::fs::read_to_string(m1.join("key")).unwrap().trim(), key);
    for f in [
        "checkpoint",
        "tile/0/000",
        "tile/0/001.p/44",
        "tile/1/000.p/1",
        "tile/entries/000",
        "tile/entries/001.p/44",
    ] {
        assert!(m1.join(f).is_file(), "{f} missing from the mirror");
    }
    let (ok, out) = verify_tiles(m1s, &key);
    assert!(ok, "{out}");
    assert!(out.contains("ok: 300 entries replayed from tiles"), "{out}");
    let old300 = tmp.path().join("old300");
    common::copy_dir(&m1, &old300);

    // The hub grows; the mirror resumes from its partial tiles and reads only the rest.
    send(&url, &a, &mut counter, 700);
    let (ok, out) = m2mhub(&["mirror", "--from", &tlog, "--to", m1s]);
    assert!(ok, "{out}");
    assert!(
        out.contains("mirrored 700 new entries (300 → 1000)"),
        "{out}"
    );
    let (ok, out) = verify_tiles(m1s, &key);
    assert!(
        ok && out.contains("ok: 1000 entries replayed from tiles"),
        "{out}"
    );
    // The hub's own tiles verify the same way, and agree with the mirror byte for byte.
    let (ok, out) = m2mhub(&["verify", "--tiles", &tlog]);
    assert!(ok && out.contains("tree of 1000 entries"), "{out}");
    let (ok, out) = m2mhub(&["mirror", "--from", &tlog, "--to", m1s]);
    assert!(
        ok && out.contains("mirrored 0 new entries (1000 → 1000)"),
        "{out}"
    );

    // A mirror of the mirror, directory to directory, with the key given.
    let m2 = tmp.path().join("mirror2");
    let (ok, out) = m2mhub(&[
        "mirror",
        "--from",
        m1s,
        "--to",
        m2.to_str().unwrap(),
        "--key",
        &key,
    ]);
    assert!(ok && out.contains("mirrored 1000 new entries"), "{out}");

    // Damage, each named. A flipped byte in a full hash tile:
    let m3 = tmp.path().join("m3");
    common::copy_dir(&m2, &m3);
    flip_byte(&m3.join("tile/0/001"), 100);
    let (ok, out) = verify_tiles(m3.to_str().unwrap(), &key);
    assert!(!ok && out.contains("FAILED: tile/0/001 differs"), "{out}");
    // In an entry bundle: the tree no longer makes the signed root (or the entry no longer
    // decodes or verifies; either way verification fails and names it).
    common::copy_dir(&m2, &m3);
    flip_byte(&m3.join("tile/entries/002"), 40);
    let (ok, out) = verify_tiles(m3.to_str().unwrap(), &key);
    assert!(!ok && out.contains("FAILED"), "{out}");
    // A checkpoint of another log (another key) in place of ours:
    let other = tmp.path().join("other");
    let (other_hub, other_url) = serve(&other);
    let mut other_hub = Running(Some(other_hub));
    common::copy_dir(&m2, &m3);
    std::fs::write(
        m3.join("checkpoint"),
        get_text(&format!("{other_url}/tlog/checkpoint")),
    )
    .unwrap();
    let (ok, out) = verify_tiles(m3.to_str().unwrap(), &key);
    assert!(!ok && out.contains("does not open under"), "{out}");
    stop(other_hub.0.take().unwrap());
    // A source that shows a smaller tree than the mirror holds (a rollback, or a fork) is
    // refused, and the mirror keeps its checkpoint.
    let before = std::fs::read(m2.join("checkpoint")).unwrap();
    let (ok, out) = m2mhub(&[
        "mirror",
        "--from",
        old300.to_str().unwrap(),
        "--to",
        m2.to_str().unwrap(),
    ]);
    assert!(
        !ok && out.contains("smaller than the 1000 already verified"),
        "{out}"
    );
    assert_eq!(std::fs::read(m2.join("checkpoint")).unwrap(), before);
    // A source whose bundle alters an entry the mirror already verified (in its partial
    // bundle) is refused, though the new tiles and the root would still check out.
    let tampered = tmp.path().join("tampered");
    common::copy_dir(&m2, &tampered);
    flip_byte(&tampered.join("tile/entries/001"), 40);
    let resumed = tmp.path().join("resumed");
    common::copy_dir(&old300, &resumed);
    let (ok, out) = m2mhub(&[
        "mirror",
        "--from",
        tampered.to_str().unwrap(),
        "--to",
        resumed.to_str().unwrap(),
    ]);
    assert!(
        !ok && out.contains("tile/entries/001: entry 256 differs from the one already verified"),
        "{out}"
    );
    // A mirror whose own tiles were altered refuses to resume.
    flip_byte(&m2.join("tile/0/003.p/232"), 0);
    let (ok, out) = m2mhub(&["mirror", "--from", &tlog, "--to", m2.to_str().unwrap()]);
    assert!(!ok && out.contains("the mirror was altered"), "{out}");
    stop(hub.0.take().unwrap());
}
