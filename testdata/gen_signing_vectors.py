#!/usr/bin/env python3
"""Writes signing-vectors.json: known answers for the bytes an M2MHub device signs.

An independent implementation, written from the product spec's layout (SPEC §4, "signing
bytes"; integers big-endian, strings UTF-8):

    "m2mhub/message/v1" 0x0A
    u16 len(sender)   sender
    u16 len(receiver) receiver
    u8  action            (0 begin, 1 continue, 2 end)
    u64 tx                (0 for begin)
    u64 cause + 1         (0 when absent)
    u64 counter
    32 bytes SHA-256(contents)

It shares no code with the Rust module it checks (crates/m2mhub-core/src/signing.rs) and uses
only the standard library (struct, hashlib) and the `cryptography` package for RFC 8032
Ed25519. Ed25519 is deterministic, so the Rust side must reproduce every signature byte for
byte. As a self-check the generator signs RFC 8032 §7.1 TEST 1 and verifies each signature it
writes.

Contents are given either as hex ("contents_hex") or, to keep the file small, by a rule
("contents_rule": {"len": n, "mul": m, "add": a} meaning byte i = (m * i + a) mod 256).
Each case's key seed is SHA-256("m2mhub signing vector key " || case name).

Usage: python3 testdata/gen_signing_vectors.py   (writes signing-vectors.json next to itself)
"""

import hashlib
import json
import os
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DOMAIN = b"m2mhub/message/v1\n"
U64_MAX = 2**64 - 1
BEGIN, CONTINUE, END = 0, 1, 2


def signing_bytes(sender, receiver, action, tx, cause, counter, contents):
    """The layout above, field by field."""
    s, r = sender.encode("utf-8"), receiver.encode("utf-8")
    assert len(s) <= 0xFFFF and len(r) <= 0xFFFF and action in (0, 1, 2)
    assert cause is None or 0 <= cause < U64_MAX, "cause + 1 must fit in a u64"
    out = DOMAIN
    out += struct.pack(">H", len(s)) + s
    out += struct.pack(">H", len(r)) + r
    out += struct.pack(">B", action)
    out += struct.pack(">Q", tx)
    out += struct.pack(">Q", 0 if cause is None else cause + 1)
    out += struct.pack(">Q", counter)
    out += hashlib.sha256(contents).digest()
    return out


def rule_bytes(rule):
    return bytes((rule["mul"] * i + rule["add"]) % 256 for i in range(rule["len"]))


def public_key(sk):
    return sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def self_check():
    """RFC 8032 §7.1 TEST 1: the empty message under the first published key."""
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    assert public_key(sk).hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    assert sk.sign(b"").hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")


# (name, sender, receiver, action, tx, cause, counter, contents as hex or rule)
CASES = [
    ("begin", "sensor-1", "hub.gateway", BEGIN, 0, None, 1, "68656c6c6f"),
    ("continue-without-cause", "sensor-1", "hub.gateway", CONTINUE, 7, None, 2, "776f726c64"),
    ("continue-cause-zero", "valve_A", "controller.B", CONTINUE, 7, 0, 3, "00"),
    ("end-with-cause", "controller.B", "valve_A", END, 7, 41, 4, "646f6e65"),
    ("names-of-length-1-and-64", "a", "R" * 32 + "r" * 31 + "9", BEGIN, 0, None, 0, "01"),
    ("names-of-length-64-and-1", "S." + "x" * 61 + "_", "b", CONTINUE, 1, 0, 1, "02"),
    ("empty-contents", "meter-07", "billing", BEGIN, 0, None, 5, ""),
    ("all-byte-values", "meter-07", "billing", CONTINUE, 5, 5, 6, bytes(range(256)).hex()),
    ("contents-16-kib", "camera.front", "storage-2", CONTINUE, 123456, 99,
     7, {"len": 16384, "mul": 31, "add": 7}),
    ("counter-max", "clock", "hub", BEGIN, 0, None, U64_MAX, "ff"),
    ("large-tx-and-cause", "relay-9", "relay-10", END, 2**63 + 5, 2**40 + 3, 2**32, "2a"),
    ("u64-extremes", "edge", "core", CONTINUE, U64_MAX, U64_MAX - 1, U64_MAX - 1, "abcdef"),
    ("single-byte-contents-begin", "A", "B", BEGIN, 0, None, 0, "00"),
]


def main() -> None:
    self_check()
    assert {len(c[1]) for c in CASES} | {len(c[2]) for c in CASES} >= {1, 64}
    cases = []
    for name, sender, receiver, action, tx, cause, counter, contents in CASES:
        if isinstance(contents, dict):
            data, given = rule_bytes(contents), {"contents_rule": contents}
        else:
            data, given = bytes.fromhex(contents), {"contents_hex": contents}
        msg = signing_bytes(sender, receiver, action, tx, cause, counter, data)
        seed = hashlib.sha256(b"m2mhub signing vector key " + name.encode()).digest()
        sk = Ed25519PrivateKey.from_private_bytes(seed)
        sig = sk.sign(msg)
        sk.public_key().verify(sig, msg)  # raises if the signature is bad
        case = {
            "name": name,
            "sender": sender,
            "receiver": receiver,
            "action": action,
            "tx": tx,
            "cause": cause,
            "counter": counter,
        }
        case.update(given)
        case.update({
            "contents_sha256": hashlib.sha256(data).hexdigest(),
            "signing_bytes": msg.hex(),
            "seed": seed.hex(),
            "public_key": public_key(sk).hex(),
            "signature": sig.hex(),
        })
        cases.append(case)

    vectors = {
        "description": (
            "M2MHub message signing bytes (SPEC §4) and Ed25519 signatures (RFC 8032) from "
            "testdata/gen_signing_vectors.py. action: 0 begin, 1 continue, 2 end; cause null "
            "when absent (encoded 0), else encoded as cause + 1. Contents are contents_hex, or "
            "contents_rule {len, mul, add}: byte i = (mul * i + add) mod 256. seed is the "
            "32-byte Ed25519 private key, public_key its RFC 8032 encoding, signature the "
            "signature over the hex signing_bytes."
        ),
        "domain": DOMAIN.decode(),
        "cases": cases,
    }
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "signing-vectors.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(vectors, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {out}: {len(cases)} cases")


if __name__ == "__main__":
    main()
