//! Witnesses with real processes (SPEC §7, C2SP tlog-witness): three `m2mhub serve` on loopback
//! with one federation file (cosignatures = 1) cosign each other's checkpoints; a partitioned hub
//! keeps `/tlog/checkpoint` at its last witnessed tree while `/v1/checkpoint` moves on, and
//! catches up when the others return; a witness killed with SIGKILL keeps what it cosigned.
//! Cosigned checkpoints are also checked by the independent Python model
//! (`testdata/gen_cosignature_vectors.py verify`). Every wait is bounded, and every process is
//! killed when its guard drops, so a failure never leaves a hub behind.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    io::Write as _,
    process::{Command, Stdio},
};

use common::federation::{
    Hub, NAMES, cosigners, federation_file, free_port, get, grow, rt, size_of, wait_for,
};
use ed25519_dalek::SigningKey;
use m2mhub_core::{
    cosignature::{CosignatureVerifier, split_note},
    hash::sha256,
};

/// The Python model's verdict on `note`: log signature by `log`, ≥ k cosignatures of `others`.
fn python_verifies(note: &str, log: &Hub, others: &[&Hub], k: usize) -> bool {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/gen_cosignature_vectors.py"
    );
    let mut cmd = Command::new("python3");
    cmd.args([
        script,
        "verify",
        "--log-key",
        &log.key,
        "--cosignatures",
        &k.to_string(),
    ]);
    for o in others {
        cmd.args(["--cosigner", &o.key]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(note.as_bytes())
        .unwrap();
    child.wait().unwrap().success()
}

#[test]
fn three_hubs_witness_each_other_through_a_partition_and_a_kill() {
    let tmp = tempfile::tempdir().unwrap();
    let [mut home, mut street, mut grid] = NAMES.map(|n| Hub::create(tmp.path(), n));
    let fed = federation_file(
        &tmp.path().join("federation.toml"),
        &[&home, &street, &grid],
        1,
    );
    for h in [&mut home, &mut street, &mut grid] {
        h.start(Some(&fed));
    }
    let rt = rt();
    let home_origin_hash = hex::encode(sha256(home.origin().as_bytes()));

    // Checkpoints get cosigned: /tlog/checkpoint carries a valid member cosignature.
    let size = rt.block_on(grow(&home.url, "lamp", 1));
    let witnessed = rt.block_on(wait_for(
        &home.url,
        "/tlog/checkpoint",
        "a witnessed tree",
        |n| size_of(n) >= size,
    ));
    home.verifier().open(&witnessed).unwrap();
    assert!(
        !cosigners(&witnessed, &[&street, &grid]).is_empty(),
        "{witnessed}"
    );
    assert!(
        cosigners(&witnessed, &[&home]).is_empty(),
        "a hub does not cosign itself"
    );
    assert!(
        python_verifies(&witnessed, &home, &[&street, &grid], 1),
        "{witnessed}"
    );
    assert!(!python_verifies(&witnessed, &home, &[&street, &grid], 3));
    // /v1/checkpoint gathers both other members' cosignatures.
    rt.block_on(wait_for(
        &home.url,
        "/v1/checkpoint",
        "two cosignatures",
        |n| cosigners(n, &[&street, &grid]).len() == 2,
    ));
    // Each witness serves what it cosigned for home (C2SP monitoring read).
    let path = format!("/tlog-witness/{home_origin_hash}/checkpoint");
    let held = rt.block_on(wait_for(&street.url, &path, "street's copy", |n| {
        size_of(n) >= size
    }));
    assert_eq!(cosigners(&held, &[&street]), ["street"]);

    // Partition: the others stop; home's tree grows, /tlog/checkpoint stays witnessed.
    street.kill();
    grid.kill();
    let before = rt.block_on(get(&home.url, "/tlog/checkpoint")).1;
    let grown = rt.block_on(async {
        grow(&home.url, "fan", 2).await;
        grow(&home.url, "heater", 3).await
    });
    assert!(grown > size_of(&before));
    let (_, v1) = rt.block_on(get(&home.url, "/v1/checkpoint"));
    assert_eq!(size_of(&v1), grown);
    assert!(cosigners(&v1, &[&street, &grid]).is_empty(), "{v1}");
    let (status, after) = rt.block_on(get(&home.url, "/tlog/checkpoint"));
    assert_eq!((status, after.as_str()), (200, before.as_str()));

    // They return: home catches up.
    street.start(Some(&fed));
    grid.start(Some(&fed));
    let caught = rt.block_on(wait_for(
        &home.url,
        "/tlog/checkpoint",
        "catching up",
        |n| size_of(n) == grown,
    ));
    assert!(!cosigners(&caught, &[&street, &grid]).is_empty());
    assert!(python_verifies(&caught, &home, &[&street, &grid], 1));

    // kill -9 a witness right after it cosigned; restarted, it still holds that tree and
    // answers a stale `old` with 409 and its size.
    let v1 = rt.block_on(wait_for(
        &home.url,
        "/v1/checkpoint",
        "street's cosignature",
        |n| size_of(n) == grown && cosigners(n, &[&street]).len() == 1,
    ));
    street.kill();
    street.start(Some(&fed));
    let stale = format!(
        "old 0\n\n{}",
        home.verifier().open(&v1).map(|_| v1.clone()).unwrap()
    );
    let r = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/tlog-witness/add-checkpoint", street.url))
            .body(stale)
            .send()
            .await
            .unwrap()
    });
    assert_eq!(r.status(), 409);
    assert_eq!(r.headers()["content-type"], "text/x.tlog.size");
    let held: u64 = rt.block_on(r.text()).unwrap().trim_end().parse().unwrap();
    assert!(
        held >= grown,
        "street forgot what it cosigned: holds {held}, cosigned {grown}"
    );
}

/// The test plays a member log: its key, its tree of `n` leaves, its signed checkpoints.
struct TestLog {
    signer: m2mhub_core::note::NoteSigner,
    stored: Vec<m2mhub_core::hash::Hash>,
}

impl TestLog {
    fn new() -> TestLog {
        let key = SigningKey::from_bytes(&[7; 32]);
        let (mut f, mut stored) = (m2mhub_core::merkle::Frontier::new(), Vec::new());
        for i in 0..64u64 {
            f.push(
                m2mhub_core::merkle::leaf_hash(&i.to_be_bytes()),
                &mut stored,
            );
        }
        TestLog {
            signer: m2mhub_core::note::NoteSigner::new("m2mhub/tester", key).unwrap(),
            stored,
        }
    }

    fn text(&self, size: u64, root: &m2mhub_core::hash::Hash) -> String {
        use base64::Engine as _;
        let root = base64::engine::general_purpose::STANDARD.encode(root);
        format!("m2mhub/tester\n{size}\n{root}\n")
    }

    fn note(&self, size: u64) -> String {
        let root = m2mhub_core::merkle::tree_hash(size, &self.stored).unwrap();
        self.signer.sign(&self.text(size, &root)).unwrap()
    }

    fn request(&self, old: u64, size: u64) -> String {
        let proof = if old == 0 || old == size {
            Vec::new()
        } else {
            m2mhub_core::merkle::prove_consistency(old, size, &self.stored).unwrap()
        };
        m2mhub_core::witness::AddCheckpoint::to_body(old, &proof, &self.note(size))
    }
}

async fn add(url: &str, body: String) -> (u16, String, String) {
    let r = reqwest::Client::new()
        .post(format!("{url}/tlog-witness/add-checkpoint"))
        .body(body)
        .send()
        .await
        .unwrap();
    let ct = r
        .headers()
        .get("content-type")
        .map_or("", |v| v.to_str().unwrap())
        .to_owned();
    (r.status().as_u16(), ct, r.text().await.unwrap())
}

#[test]
fn the_witness_answers_every_status_of_the_protocol() {
    let tmp = tempfile::tempdir().unwrap();
    let mut home = Hub::create(tmp.path(), "home");
    let log = TestLog::new();
    // The test's member: a URL nobody listens on (home's submitter to it just backs off).
    let tester = Hub {
        name: "tester".into(),
        dir: tmp.path().join("none"),
        port: free_port(),
        url: String::new(),
        key: log.signer.verifier_key(),
        child: None,
    };
    let fed = federation_file(&tmp.path().join("federation.toml"), &[&home, &tester], 1);
    home.start(Some(&fed));
    let rt = rt();
    let url = home.url.clone();
    let cosigner = CosignatureVerifier::of_member(&home.verifier());
    rt.block_on(async {
        // 200: from nothing, then with a proof; the line is home's cosignature of the text.
        let (s, ct, line) = add(&url, log.request(0, 5)).await;
        assert_eq!(
            (s, ct.as_str()),
            (200, "text/plain; charset=utf-8"),
            "{line}"
        );
        let text = split_note(&log.note(5)).unwrap().0.to_owned();
        assert!(cosigner.verify(&text, &line).is_ok(), "{line}");
        assert_eq!(add(&url, log.request(5, 8)).await.0, 200);
        assert_eq!(add(&url, log.request(8, 8)).await.0, 200);
        // 409: a stale old size, answered with the held size.
        let (s, ct, body) = add(&url, log.request(5, 9)).await;
        assert_eq!(
            (s, ct.as_str(), body.as_str()),
            (409, "text/x.tlog.size", "8\n")
        );
        // 422: a proof with a flipped bit; the same size with another root.
        let mut proof = m2mhub_core::merkle::prove_consistency(8, 12, &log.stored).unwrap();
        proof[0][0] ^= 1;
        let bad = m2mhub_core::witness::AddCheckpoint::to_body(8, &proof, &log.note(12));
        assert_eq!(add(&url, bad).await.0, 422);
        let other = log.signer.sign(&log.text(8, &sha256(b"fork"))).unwrap();
        assert_eq!(add(&url, format!("old 8\n\n{other}")).await.0, 422);
        // 400: old past the checkpoint's size, and bodies that are not requests.
        assert_eq!(
            add(&url, log.request(8, 8).replacen("old 8", "old 9", 1))
                .await
                .0,
            400
        );
        for body in ["", "old 8\n", "old 08\n\nx\n", "new 8\n\n"] {
            assert_eq!(add(&url, body.into()).await.0, 400, "{body:?}");
        }
        // 403: the member's name with another key; a tampered note.
        let stranger =
            m2mhub_core::note::NoteSigner::new("m2mhub/tester", SigningKey::from_bytes(&[8; 32]))
                .unwrap();
        let root = m2mhub_core::merkle::tree_hash(8, &log.stored).unwrap();
        let forged = stranger.sign(&log.text(8, &root)).unwrap();
        assert_eq!(add(&url, format!("old 8\n\n{forged}")).await.0, 403);
        let tampered = log.request(8, 8).replacen("\n8\n", "\n9\n", 1);
        assert_eq!(add(&url, tampered).await.0, 403);
        // 404: an origin outside the federation, and home's own (it witnesses only others).
        let outsider =
            m2mhub_core::note::NoteSigner::new("m2mhub/outsider", SigningKey::from_bytes(&[7; 32]))
                .unwrap();
        let foreign = outsider
            .sign("m2mhub/outsider\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n")
            .unwrap();
        assert_eq!(add(&url, format!("old 0\n\n{foreign}")).await.0, 404);
        let own = get(&url, "/v1/checkpoint").await.1;
        assert_eq!(add(&url, format!("old 0\n\n{own}")).await.0, 404);
        // 413: a body past the cap.
        assert_eq!(add(&url, "x".repeat(70_000)).await.0, 413);
        // Monitoring: what home holds for the tester's origin, with its cosignature.
        let hash = hex::encode(sha256(b"m2mhub/tester"));
        let (s, held) = get(&url, &format!("/tlog-witness/{hash}/checkpoint")).await;
        assert_eq!((s, size_of(&held)), (200, 8));
        assert!(cosigner.open(&held).is_ok());
        log.signer.verifier().open(&held).unwrap();
        let unknown = hex::encode(sha256(b"m2mhub/nobody"));
        assert_eq!(
            get(&url, &format!("/tlog-witness/{unknown}/checkpoint"))
                .await
                .0,
            404
        );
        assert_eq!(get(&url, "/tlog-witness/ABC/checkpoint").await.0, 400);
    });
    // kill -9: the state was durable before the answer.
    home.kill();
    home.start(Some(&fed));
    let (s, _, body) = rt.block_on(add(&home.url, log.request(0, 9)));
    assert_eq!((s, body.as_str()), (409, "8\n"));
    assert_eq!(rt.block_on(add(&home.url, log.request(8, 9))).0, 200);
}

#[test]
fn verify_federation_names_a_hub_that_shows_two_trees() {
    let tmp = tempfile::tempdir().unwrap();
    let [mut home, mut street, mut grid] = NAMES.map(|n| Hub::create(tmp.path(), n));
    let fed = federation_file(
        &tmp.path().join("federation.toml"),
        &[&home, &street, &grid],
        1,
    );
    // Home's own copy of the file sends grid nothing: there grid is at a port nobody serves.
    let unreachable = Hub {
        name: grid.name.clone(),
        dir: tmp.path().join("none"),
        port: free_port(),
        url: String::new(),
        key: grid.key.clone(),
        child: None,
    };
    let homes = federation_file(
        &tmp.path().join("home.toml"),
        &[&home, &street, &unreachable],
        1,
    );
    home.start(Some(&homes));
    street.start(Some(&fed));
    grid.start(Some(&fed));
    let rt = rt();
    let size = rt.block_on(grow(&home.url, "lamp", 1));
    let path = format!(
        "/tlog-witness/{}/checkpoint",
        hex::encode(sha256(b"m2mhub/home"))
    );
    rt.block_on(wait_for(&street.url, &path, "street's copy", |n| {
        size_of(n) == size
    }));
    let fed_arg = fed.to_str().unwrap();
    let (ok, out) = common::m2mhub(&["verify", "--federation", fed_arg]);
    assert!(ok && out.contains("ok: 3 members"), "{out}");

    // Home signs another tree of the same size with its key file and shows it to grid only.
    let seed = std::fs::read_to_string(home.dir.join("hub-key")).unwrap();
    let seed: [u8; 32] = hex::decode(seed.trim()).unwrap().try_into().unwrap();
    let signer = m2mhub_core::note::NoteSigner::new("m2mhub/home", SigningKey::from_bytes(&seed));
    let forged_root = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(sha256(b"another history"))
    };
    let forged = signer
        .unwrap()
        .sign(&format!("m2mhub/home\n{size}\n{forged_root}\n"))
        .unwrap();
    let (s, _, _) = rt.block_on(add(&grid.url, format!("old 0\n\n{forged}")));
    assert_eq!(s, 200, "grid cosigns what it has no reason to doubt");

    let (ok, out) = common::m2mhub(&["verify", "--federation", fed_arg]);
    assert!(!ok, "{out}");
    assert!(out.contains("FORK: hub home (m2mhub/home) forked"), "{out}");
    assert!(
        out.contains(&format!("street holds tree {size} root")),
        "{out}"
    );
    assert!(
        out.contains(&format!("grid holds tree {size} root {forged_root}")),
        "{out}"
    );
}
