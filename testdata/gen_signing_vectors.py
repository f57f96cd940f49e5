#!/usr/bin/env python3
"""Writes signing-vectors.json: known answers for the bytes an M2MHub device signs.

An independent implementation, written from the product spec's layout (SPEC §4.1, "What a
device signs"; integers big-endian, strings UTF-8):

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

Contents are message text, hashed as UTF-8. To keep the file small, the contents "BIG"
stand for the 16 KiB text of BIG_RULE below. Each case's key seed is
SHA-256("m2mhub signing vector key " || case name).

Usage: python3 testdata/gen_signing_vectors.py [DIR]
(writes signing-vectors.json into DIR, by default next to itself)
"""

import hashlib
import json
import os
import struct
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DOMAIN = b"m2mhub/message/v1\n"
U64_MAX = 2**64 - 1
ACTIONS = {"begin": 0, "continue": 1, "end": 2}
BIG_RULE = "16384 chars: chr(ord('a') + i % 26)"


def signing_bytes(sender, receiver, action, tx, cause, counter, contents):
    """The layout above, field by field; action is its code, contents are bytes."""
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


def contents_bytes(contents: str) -> bytes:
    if contents == "BIG":
        return "".join(chr(ord("a") + i % 26) for i in range(16384)).encode("utf-8")
    return contents.encode("utf-8")


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


# (name, sender, receiver, action, tx, cause, counter, contents)
CASES = [
    ("begin", "sensor-1", "hub.gateway", "begin", 0, None, 1, "hello"),
    ("continue-without-cause", "sensor-1", "hub.gateway", "continue", 7, None, 2, "world"),
    ("continue-cause-zero", "valve_A", "controller.B", "continue", 7, 0, 3, "0"),
    ("end-with-cause", "controller.B", "valve_A", "end", 7, 41, 4, "done"),
    ("names-of-length-1-and-64", "a", "R" * 32 + "r" * 31 + "9", "begin", 0, None, 0, "x"),
    ("names-of-length-64-and-1", "S." + "x" * 61 + "_", "b", "continue", 1, 0, 1, "y"),
    ("empty-contents", "meter-07", "billing", "begin", 0, None, 5, ""),
    ("utf8-contents", "meter-07", "billing", "continue", 5, 5, 6, "temp: 21.5 \u00b0C \u2603 \u2014 ok"),
    ("control-characters", "meter-07", "billing", "end", 5, 6, 7, "line 1\nline 2\t\r\u0000"),
    ("contents-16-kib", "camera.front", "storage-2", "continue", 123456, 99, 7, "BIG"),
    ("counter-max", "clock", "hub", "begin", 0, None, U64_MAX, "tick"),
    ("large-tx-and-cause", "relay-9", "relay-10", "end", 2**63 + 5, 2**40 + 3, 2**32, "*"),
    ("u64-extremes", "edge", "core", "continue", U64_MAX, U64_MAX - 1, U64_MAX - 1, "max"),
]


def main() -> None:
    self_check()
    assert {len(c[1]) for c in CASES} | {len(c[2]) for c in CASES} >= {1, 64}
    assert len(contents_bytes("BIG")) == 16 * 1024
    cases = []
    for name, sender, receiver, action, tx, cause, counter, contents in CASES:
        data = contents_bytes(contents)
        msg = signing_bytes(sender, receiver, ACTIONS[action], tx, cause, counter, data)
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
            "contents": contents,
            "contents_sha256": hashlib.sha256(data).hexdigest(),
            "signing_bytes": msg.hex(),
            "seed": seed.hex(),
            "public_key": public_key(sk).hex(),
            "signature": sig.hex(),
        }
        cases.append(case)

    vectors = {
        "description": (
            "M2MHub message signing bytes (SPEC §4.1) and Ed25519 signatures (RFC 8032) from "
            "testdata/gen_signing_vectors.py. action begin, continue, end is encoded 0, 1, 2; "
            "cause null when absent (encoded 0), else encoded as cause + 1; contents are hashed "
            "as UTF-8, and the contents BIG stand for the text of big_contents_rule. seed is the "
            "32-byte Ed25519 private key, public_key its RFC 8032 encoding, signature the "
            "signature over the hex signing_bytes."
        ),
        "domain": DOMAIN.decode(),
        "big_contents_rule": BIG_RULE,
        "cases": cases,
    }
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(out_dir, "signing-vectors.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(vectors, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {out}: {len(cases)} cases")


if __name__ == "__main__":
    main()
