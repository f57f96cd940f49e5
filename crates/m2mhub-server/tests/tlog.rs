//! The hub as a C2SP tlog-tiles log (`/tlog/`, SPEC §7), read by an implementation we did not
//! write: Cloudflare's `tlog_tiles` (a port of Go's sumdb/tlog). It fetches our tiles over
//! HTTP, authenticates them against the tree hash of our checkpoint, and from them alone
//! proves entries and consistency between trees; every entry of every bundle must hash to its
//! leaf in the level-0 tiles.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::{Client, StatusCode};
use serde_json::Value;
use tlog_tiles::{
    Checkpoint, Error as TlogError, HashReader, Tile, TileHashReader, TileReader, check_record,
    check_tree, prove_record, prove_tree, record_hash, tree_hash,
};

mod common;
mod fixture;
#[path = "../../../tests/go-tlog/checker.rs"]
mod go_checker;
use fixture::*;
use m2mhub_core::message::Action;

/// Reads tiles from a hub over HTTP, translating the crate's Go paths (`tile/8/L/N`,
/// `tile/8/data/N`) into C2SP's (`tile/L/N`, `tile/entries/N`), and counts what it fetched.
struct HttpTiles {
    url: String,
    client: Client,
    fetched: Mutex<HashMap<String, usize>>,
}

impl HttpTiles {
    fn c2sp_path(t: &Tile) -> String {
        t.path()
            .replacen("tile/8/data/", "tile/entries/", 1)
            .replacen("tile/8/", "tile/", 1)
    }

    fn get(&self, path: &str) -> (StatusCode, Vec<u8>, Option<String>) {
        let url = format!("{}/tlog/{path}", self.url);
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let r = self.client.get(&url).send().await.unwrap();
                let cache = r
                    .headers()
                    .get("cache-control")
                    .map(|v| v.to_str().unwrap().to_owned());
                (r.status(), r.bytes().await.unwrap().to_vec(), cache)
            })
        })
    }
}

impl TileReader for HttpTiles {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TlogError> {
        let mut out = Vec::new();
        for t in tiles {
            let path = Self::c2sp_path(t);
            let (status, body, cache) = self.get(&path);
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(
                cache.as_deref(),
                Some("public, max-age=31536000, immutable")
            );
            *self.fetched.lock().unwrap().entry(path).or_default() += 1;
            out.push(body);
        }
        Ok(out)
    }

    fn save_tiles(&self, _tiles: &[Tile], _data: &[Vec<u8>]) {}
}

/// The newest checkpoint, parsed, and its signed note.
async fn checkpoint(c: &Client, url: &str) -> (Checkpoint, String) {
    let r = c
        .get(format!("{url}/tlog/checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let note = r.text().await.unwrap();
    let v1 = c
        .get(format!("{url}/v1/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(note, v1, "one checkpoint without a federation policy");
    let body = note.split("\n\n").next().unwrap();
    let cp = Checkpoint::from_bytes(format!("{body}\n").as_bytes()).unwrap();
    (cp, note)
}

/// Sends `n` messages between two devices in one batch.
async fn grow(c: &Client, url: &str, a: &mut Device, n: usize) {
    let batch: Vec<Value> = (0..n)
        .map(|_| sign(a, "tiles_b", Action::Begin, 0, None))
        .collect();
    let r = c
        .post(format!("{url}/v1/messages/batch"))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// Checks every leaf of the tree of `cp` against the entry bundles, and a proof of each
/// entry in `probe` and of consistency with every older tree in `older`, from tiles alone.
fn check_tree_from_tiles(tiles: &HttpTiles, cp: &Checkpoint, older: &[Checkpoint]) {
    let size = cp.size();
    let reader = TileHashReader::new(size, *cp.hash(), tiles);
    assert_eq!(tree_hash(size, &reader).unwrap(), *cp.hash());

    // Every entry of every bundle, full and partial, hashes to its leaf in the tiles.
    let mut seq = 0u64;
    while seq < size {
        let n = seq / 256;
        let width = (size - n * 256).min(256);
        let bundle = Tile::new(8, 0, n, u32::try_from(width).unwrap(), true);
        let (status, body, _) = tiles.get(&HttpTiles::c2sp_path(&bundle));
        assert_eq!(status, StatusCode::OK);
        // The bundle's leaves, read in one call (the reader authenticates the tiles it uses).
        let indexes: Vec<u64> = (0..width)
            .map(|i| tlog_tiles::stored_hash_index(0, n * 256 + i))
            .collect();
        let leaves = reader.read_hashes(&indexes).unwrap();
        let mut rest = &body[..];
        for (i, leaf_hash) in (0..width).zip(leaves) {
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            let entry = &rest[2..2 + len];
            rest = &rest[2 + len..];
            let leaf = n * 256 + i;
            assert_eq!(leaf_hash, record_hash(entry), "entry {leaf}");
            // A proof of some of them from the tiles alone: the first and last of each bundle
            // and every 50th.
            if i == 0 || i == width - 1 || leaf.is_multiple_of(50) {
                let proof = prove_record(size, leaf, &reader).unwrap();
                check_record(&proof, size, *cp.hash(), leaf, leaf_hash).unwrap();
            }
        }
        assert!(
            rest.is_empty(),
            "bundle {n} holds more than {width} entries"
        );
        seq += width;
    }
    for old in older {
        let proof = prove_tree(size, old.size(), &reader).unwrap();
        check_tree(&proof, size, *cp.hash(), old.size(), *old.hash()).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tlog_tiles_client_authenticates_our_tiles_and_proves_from_them() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = Hub::start(tmp.path()).await;
    let url = hub.url.clone();
    let c = Client::new();
    let mut a = device("tiles_a", 41);
    let b = device("tiles_b", 42);
    register(&c, &url, &a, 2).await;
    register(&c, &url, &b, 2).await;
    let tiles = HttpTiles {
        url: url.clone(),
        client: c.clone(),
        fetched: Mutex::default(),
    };

    // Trees of 2 (one partial tile), 300 (a full tile and a partial one, and a level-1 tile
    // of width 1) and 1,000 entries (three full tiles and a level-1 tile of width 3).
    let mut seen = Vec::new();
    let mut notes = Vec::new();
    for grow_by in [0, 298, 700] {
        if grow_by > 0 {
            grow(&c, &url, &mut a, grow_by).await;
        }
        let (cp, note) = checkpoint(&c, &url).await;
        check_tree_from_tiles(&tiles, &cp, &seen);
        seen.push(cp);
        notes.push(note);
    }
    assert_eq!(seen.last().unwrap().size(), 1000);
    let fetched = tiles.fetched.lock().unwrap().clone();
    for want in [
        "tile/0/000",
        "tile/0/003.p/232",
        "tile/1/000.p/3",
        "tile/0/001.p/44",
    ] {
        assert!(
            fetched.contains_key(want),
            "{want} not fetched: {fetched:?}"
        );
    }

    // A tile the tree does not hold yet, and paths that are not tiles.
    let (status, body, _) = tiles.get("tile/0/004");
    assert_eq!(status, StatusCode::NOT_FOUND);
    let e: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(e["error"], "not_found");
    for bad in [
        "tile/0/4",
        "tile/00/000",
        "tile/0/000.p/256",
        "tile/0/x000/001",
        "tile/data/000",
    ] {
        let (status, body, _) = tiles.get(bad);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        let e: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(e["error"], "malformed", "{bad}");
    }
    // The partial tile of an older tree keeps its bytes in the newer one.
    let (_, old_partial, _) = tiles.get("tile/0/001.p/44");
    let (_, full, _) = tiles.get("tile/0/001");
    assert_eq!(old_partial[..], full[..44 * 32]);

    // Go's own sumdb/note and sumdb/tlog: the checkpoint's signature, the tree from the tiles,
    // every 7th entry's leaf and proofs (its own from the tiles, and ours), and consistency
    // with both older checkpoints.
    let work = tempfile::tempdir().unwrap();
    if let Some(go) = common::tool("go") {
        let checker = go_checker::build(&go, work.path());
        let (ok, out) = go_checker::check(&checker, work.path(), &url, &notes[..2]);
        assert!(ok, "{out}");
        assert!(
            out.starts_with(
                "ok origin=m2mhub/api-test size=1000 entries_checked=143 older_checkpoints=2"
            ),
            "{out}"
        );
        // An older checkpoint whose root was altered no longer opens under the hub's key.
        let forged = notes[1].replacen(
            &notes[1].lines().nth(2).unwrap().to_owned(),
            &format!("{}=", "A".repeat(43)),
            1,
        );
        let (ok, out) = go_checker::check(&checker, work.path(), &url, &[forged]);
        assert!(!ok && out.contains("note.Open"), "{out}");
    }
    hub.stop().await;
}
