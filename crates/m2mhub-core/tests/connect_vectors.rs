//! Known-answer tests of the MQTT CONNECT password (SPEC §5.2): the vectors of
//! `testdata/connect-vectors.json`, written by the independent Python model
//! `testdata/gen_connect_vectors.py`.

use std::collections::BTreeSet;

use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::{
    auth::{CONNECT_WINDOW_S, ConnectPassword, check_connect},
    entry::{Entry, Registration},
    ids::Seq,
    names::DeviceName,
    registry::Registry,
    signing::{CONNECT_DOMAIN, connect_signing_bytes},
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    domain: String,
    window_s: u64,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    device: String,
    unix_s: u64,
    signing_bytes: String,
    seed: String,
    public_key: String,
    username: String,
    password: String,
}

fn vectors() -> Vectors {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/connect-vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("read connect-vectors.json");
    serde_json::from_str(&text).expect("parse connect-vectors.json")
}

fn array<const N: usize>(h: &str) -> [u8; N] {
    hex::decode(h).expect("hex").try_into().expect("length")
}

#[test]
fn the_rust_side_builds_and_accepts_every_password() {
    let v = vectors();
    assert_eq!(v.domain.as_bytes(), CONNECT_DOMAIN);
    assert_eq!(v.window_s, CONNECT_WINDOW_S);
    assert!(v.cases.len() >= 7);
    for case in &v.cases {
        let bytes = connect_signing_bytes(&case.device, case.unix_s);
        assert_eq!(hex::encode(&bytes), case.signing_bytes, "{}", case.name);
        let key = SigningKey::from_bytes(&array(&case.seed));
        assert_eq!(
            hex::encode(key.verifying_key().as_bytes()),
            case.public_key,
            "{}",
            case.name
        );
        let ours = ConnectPassword {
            unix_s: case.unix_s,
            signature: key.sign(&bytes).to_bytes(),
        };
        assert_eq!(ours.to_string(), case.password, "{}", case.name);
        assert_eq!(
            ConnectPassword::parse(&case.password),
            Ok(ours),
            "{}",
            case.name
        );

        let mut registry = Registry::new();
        let registration = Entry::DeviceRegistered(Registration {
            name: DeviceName::new(&case.device).expect("name"),
            clearance: 0,
            public_key: array(&case.public_key),
            exceptions: BTreeSet::new(),
            simulated: false,
        });
        registry.apply(Seq(0), &registration).expect("register");
        let now = case.unix_s;
        let device = check_connect(&registry, &case.username, &case.password, now);
        assert!(device.is_ok(), "{}: {device:?}", case.name);
        // One bit of the signature flipped: refused.
        let mut flipped = case.password.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).expect("ascii");
        let refused = check_connect(&registry, &case.username, &flipped, now);
        assert_eq!(
            refused.map(|_| ()).map_err(|e| e.code()),
            Err("bad_signature")
        );
    }
}
