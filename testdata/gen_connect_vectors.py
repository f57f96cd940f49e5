#!/usr/bin/env python3
"""Writes connect-vectors.json: known answers for a device's MQTT CONNECT password.

An independent implementation, written from the product spec (SPEC §5.2, "Devices on MQTT",
with the integer encoding of SPEC §4.1: big-endian, strings UTF-8). A device connects with
username = its name and password = "<unix seconds>.<hex signature>", the Ed25519 signature
over

    "m2mhub/connect/v1" 0x0A
    u16 len(name)   name
    u64 unix seconds

It shares no code with the Rust it checks (crates/m2mhub-core/src/signing.rs and auth.rs)
and uses only the standard library and the `cryptography` package for RFC 8032 Ed25519,
which is deterministic, so the Rust side must reproduce every password byte for byte. Each
case's key seed is SHA-256("m2mhub connect vector key " || case name).

Usage: python3 testdata/gen_connect_vectors.py [DIR]
(writes connect-vectors.json into DIR, by default next to itself)
"""

import hashlib
import json
import os
import struct
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DOMAIN = b"m2mhub/connect/v1\n"
U64_MAX = 2**64 - 1


def signing_bytes(name, unix_s):
    n = name.encode("utf-8")
    assert 1 <= len(n) <= 64 and 0 <= unix_s <= U64_MAX
    return DOMAIN + struct.pack(">H", len(n)) + n + struct.pack(">Q", unix_s)


# (case name, device name, unix seconds)
CASES = [
    ("typical", "sensor-1", 1700000000),
    ("name-of-length-1", "a", 1700000300),
    ("name-of-length-64", "D." + "x" * 61 + "_", 1750000000),
    ("epoch", "clock", 0),
    ("past-2038", "valve_A", 2**31 + 7),
    ("past-u32", "meter-07", 2**32 + 1),
    ("u64-max", "edge", U64_MAX),
]


def main() -> None:
    cases = []
    for case, name, unix_s in CASES:
        msg = signing_bytes(name, unix_s)
        seed = hashlib.sha256(b"m2mhub connect vector key " + case.encode()).digest()
        sk = Ed25519PrivateKey.from_private_bytes(seed)
        sig = sk.sign(msg)
        sk.public_key().verify(sig, msg)  # raises if the signature is bad
        cases.append({
            "name": case,
            "device": name,
            "unix_s": unix_s,
            "signing_bytes": msg.hex(),
            "seed": seed.hex(),
            "public_key": sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex(),
            "username": name,
            "password": f"{unix_s}.{sig.hex()}",
        })
    vectors = {
        "description": (
            "M2MHub MQTT CONNECT passwords (SPEC §5.2) from testdata/gen_connect_vectors.py: "
            "username is the device name, password is <unix seconds in decimal>.<Ed25519 "
            "signature in lowercase hex> over signing_bytes; seed is the 32-byte Ed25519 "
            "private key, public_key its RFC 8032 encoding."
        ),
        "domain": DOMAIN.decode(),
        "window_s": 300,
        "cases": cases,
    }
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(out_dir, "connect-vectors.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(vectors, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {out}: {len(cases)} cases")


if __name__ == "__main__":
    main()
