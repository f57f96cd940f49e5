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

It also writes signing-v2-vectors.json, the federation form of SPEC §7 ("What a device signs
in a federation"): the domain "m2mhub/message/v2" 0x0A, sender and receiver fully qualified
(name@hub), and the transaction's home hub as u16 len(tx_hub) tx_hub right after u64 tx (empty
for a begin). The hub accepts them (POST /v1/messages with tx_hub); these vectors pin the form.
Each v2 case's key seed is SHA-256("m2mhub signing v2 vector key " || case name).

Usage: python3 testdata/gen_signing_vectors.py [DIR]
(writes signing-vectors.json and signing-v2-vectors.json into DIR, by default next to itself)
"""

import hashlib
import json
import os
import struct
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DOMAIN = b"m2mhub/message/v1\n"
DOMAIN_V2 = b"m2mhub/message/v2\n"
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


def signing_bytes_v2(sender, receiver, action, tx, tx_hub, cause, counter, contents):
    """The v2 layout: v1's fields under DOMAIN_V2, tx_hub after tx; names are name@hub."""
    s, r, h = sender.encode("utf-8"), receiver.encode("utf-8"), tx_hub.encode("utf-8")
    assert s.count(b"@") == 1 and r.count(b"@") == 1 and action in (0, 1, 2)
    assert (action == 0) == (h == b""), "a begin names no tx_hub; others name one"
    assert cause is None or 0 <= cause < U64_MAX, "cause + 1 must fit in a u64"
    out = DOMAIN_V2
    out += struct.pack(">H", len(s)) + s
    out += struct.pack(">H", len(r)) + r
    out += struct.pack(">B", action)
    out += struct.pack(">Q", tx)
    out += struct.pack(">H", len(h)) + h
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


# (name, sender, receiver, action, tx, tx_hub, cause, counter, contents)
V2_CASES = [
    ("begin", "sensor-1@home", "hub.gateway@home", "begin", 0, "", None, 1, "hello"),
    ("begin-across-hubs", "phone@home", "oven@campus", "begin", 0, "", None, 2, "preheat"),
    ("continue-at-another-home", "oven@campus", "phone@home", "continue", 7, "home", 3, 9, "ok"),
    ("end-without-cause", "valve_A@district-3", "controller.B@district-3", "end", 41,
     "district-3", None, 4, "done"),
    ("names-of-length-64", "S." + "x" * 61 + "_@" + "H" * 64, "a@" + "h" * 64, "continue",
     2**40 + 1, "T" * 64, 0, 5, "x"),
    ("shortest-names", "a@b", "c@d", "continue", 1, "e", None, 0, ""),
    ("utf8-contents", "meter-07@home", "billing@city", "continue", 5, "city", 5, 6,
     "temp: 21.5 \u00b0C \u2603 \u2014 ok"),
    ("contents-16-kib", "camera.front@home", "storage-2@city", "continue", 123456, "home", 99,
     7, "BIG"),
    ("u64-extremes", "edge@a", "core@b", "end", U64_MAX, "b", U64_MAX - 1, U64_MAX, "max"),
]


def v2_vectors():
    cases = []
    for name, sender, receiver, action, tx, tx_hub, cause, counter, contents in V2_CASES:
        data = contents_bytes(contents)
        msg = signing_bytes_v2(sender, receiver, ACTIONS[action], tx, tx_hub, cause, counter,
                               data)
        seed = hashlib.sha256(b"m2mhub signing v2 vector key " + name.encode()).digest()
        sk = Ed25519PrivateKey.from_private_bytes(seed)
        sig = sk.sign(msg)
        sk.public_key().verify(sig, msg)  # raises if the signature is bad
        cases.append({
            "name": name,
            "sender": sender,
            "receiver": receiver,
            "action": action,
            "tx": tx,
            "tx_hub": tx_hub,
            "cause": cause,
            "counter": counter,
            "contents": contents,
            "contents_sha256": hashlib.sha256(data).hexdigest(),
            "signing_bytes": msg.hex(),
            "seed": seed.hex(),
            "public_key": public_key(sk).hex(),
            "signature": sig.hex(),
        })
    return {
        "description": (
            "M2MHub federation message signing bytes (SPEC §7, v2) and Ed25519 signatures "
            "(RFC 8032) from testdata/gen_signing_vectors.py: as signing-vectors.json, with the "
            "domain m2mhub/message/v2, names qualified as name@hub and u16 len(tx_hub) tx_hub "
            "after u64 tx (tx_hub empty for a begin)."
        ),
        "domain": DOMAIN_V2.decode(),
        "big_contents_rule": BIG_RULE,
        "cases": cases,
    }


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
    out = os.path.join(out_dir, "signing-v2-vectors.json")
    v2 = v2_vectors()
    with open(out, "w", encoding="utf-8") as f:
        json.dump(v2, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {out}: {len(v2['cases'])} cases")


if __name__ == "__main__":
    main()
