//! Known-answer tests of the Merkle module: the vectors of `testdata/merkle-vectors.json`
//! (written by the independent Python model `testdata/gen_merkle_vectors.py`) and the
//! reference tree published with the certificate-transparency and Trillian test suites.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use m2mhub_core::hash::Hash;
use m2mhub_core::merkle::{
    Frontier, empty_root, leaf_hash, prove_consistency, prove_inclusion, stored_hash_count,
    tree_hash, verify_consistency, verify_inclusion,
};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/merkle-vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("read merkle-vectors.json");
    serde_json::from_str(&text).expect("parse merkle-vectors.json")
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

fn hex_hash(s: &str) -> Hash {
    hex::decode(s)
        .expect("hex")
        .try_into()
        .expect("32-byte hash")
}

fn hash(v: &Value) -> Hash {
    hex_hash(v.as_str().expect("hex string"))
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array()
        .expect("array of hashes")
        .iter()
        .map(hash)
        .collect()
}

fn num(v: &Value) -> u64 {
    v.as_u64().expect("number")
}

fn list<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    let items = v[key].as_array().expect(key);
    assert!(!items.is_empty(), "no {key} vectors");
    items
}

/// Appends all leaves with [`Frontier::push`]; returns the stored hashes and the root after
/// each append (`roots[n]` for the first `n` leaves).
fn build(entries: &[Vec<u8>]) -> (Vec<Hash>, Vec<Hash>) {
    let mut frontier = Frontier::new();
    let mut stored = Vec::new();
    let mut roots = vec![frontier.root()];
    for e in entries {
        frontier.push(leaf_hash(e), &mut stored);
        roots.push(frontier.root());
    }
    (stored, roots)
}

/// The hashes stored for a tree of `size` leaves, so nothing past that tree can be read.
fn prefix(stored: &[Hash], size: u64) -> &[Hash] {
    &stored[..stored_hash_count(size) as usize]
}

#[test]
fn generated_vectors() {
    let v = vectors();
    let entries: Vec<Vec<u8>> = list(&v, "leaves").iter().map(bytes).collect();
    let leaf_hashes = hashes(&v["leaf_hashes"]);
    assert_eq!(leaf_hashes.len(), entries.len());
    for (e, want) in entries.iter().zip(&leaf_hashes) {
        assert_eq!(leaf_hash(e), *want);
    }
    let (stored, frontier_roots) = build(&entries);

    let roots = list(&v, "roots");
    assert_eq!(roots.len(), entries.len() + 1);
    for r in roots {
        let (size, root) = (num(&r["tree_size"]), hash(&r["root"]));
        assert_eq!(
            frontier_roots[size as usize], root,
            "frontier root of {size}"
        );
        assert_eq!(
            tree_hash(size, prefix(&stored, size)),
            Ok(root),
            "tree hash of {size}"
        );
        assert_eq!(
            Frontier::load(size, prefix(&stored, size)).map(|f| f.root()),
            Ok(root)
        );
    }
    assert_eq!(frontier_roots[0], empty_root());

    for p in list(&v, "inclusion") {
        let (index, size, path) = (num(&p["index"]), num(&p["tree_size"]), hashes(&p["path"]));
        let root = frontier_roots[size as usize];
        let proof = prove_inclusion(index, size, prefix(&stored, size));
        assert_eq!(proof.as_ref(), Ok(&path), "inclusion {index}/{size}");
        let leaf = &leaf_hashes[index as usize];
        assert_eq!(verify_inclusion(leaf, index, size, &path, &root), Ok(()));
    }

    for p in list(&v, "consistency") {
        let (old, new, path) = (num(&p["old_size"]), num(&p["new_size"]), hashes(&p["path"]));
        let (old_root, new_root) = (frontier_roots[old as usize], frontier_roots[new as usize]);
        let proof = prove_consistency(old, new, prefix(&stored, new));
        assert_eq!(proof.as_ref(), Ok(&path), "consistency {old}->{new}");
        assert_eq!(
            verify_consistency(old, new, &old_root, &new_root, &path),
            Ok(())
        );
    }
}

/// The eight-leaf reference tree of the RFC 6962 test suites (certificate-transparency's
/// `merkle_tree_test.cc`, Trillian): published roots and proofs, not derived from any code here.
#[test]
fn certificate_transparency_reference_tree() {
    let entries: Vec<Vec<u8>> = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|h| hex::decode(h).expect("hex"))
    .collect();
    let roots = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let (stored, frontier_roots) = build(&entries);
    for (size, root) in roots.iter().enumerate() {
        assert_eq!(frontier_roots[size], hex_hash(root), "root of {size}");
    }

    // (leaf index, tree size, path); the suites number leaves from 1, these from 0.
    let inclusion: [(u64, u64, &[&str]); 4] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (index, size, path) in inclusion {
        let path: Vec<Hash> = path.iter().map(|s| hex_hash(s)).collect();
        let root = hex_hash(roots[size as usize]);
        assert_eq!(
            prove_inclusion(index, size, prefix(&stored, size)),
            Ok(path.clone())
        );
        let leaf = leaf_hash(&entries[index as usize]);
        assert_eq!(verify_inclusion(&leaf, index, size, &path, &root), Ok(()));
    }

    let consistency: [(u64, u64, &[&str]); 4] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (old, new, path) in consistency {
        let path: Vec<Hash> = path.iter().map(|s| hex_hash(s)).collect();
        let (old_root, new_root) = (hex_hash(roots[old as usize]), hex_hash(roots[new as usize]));
        assert_eq!(
            prove_consistency(old, new, prefix(&stored, new)),
            Ok(path.clone())
        );
        assert_eq!(
            verify_consistency(old, new, &old_root, &new_root, &path),
            Ok(())
        );
    }
}
