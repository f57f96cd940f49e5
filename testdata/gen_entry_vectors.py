#!/usr/bin/env python3
"""Writes entry-federation-vectors.json: known answers for the entry bytes of federation
entries (SPEC §7), kind 8 federation_membership.

An independent model, written from the layout documented for M2MHub's entry encoding v1
(all integers big-endian; `name` and `str` are u16 length || bytes):

    u8 version = 1, u8 kind = 8
    name hub, u16 cosignatures, u16 count,
    count x (name member, str origin, str verifier key)

with the rules: member names sorted (bytewise) and unique; names of 1-64 characters of
A-Z a-z 0-9 _ . -; every key a canonical C2SP signed-note verifier key
(<name>+<8 hex key ID>+<base64(0x01 || 32-byte Ed25519 public key)>, key ID =
SHA-256(name || 0x0A || 0x01 || public key)[:4]) whose name is the member's origin; the hub
one of the members; cosignatures fewer than the members. It shares no code with
crates/m2mhub-core/src/{entry,federation}.rs and uses only the standard library and the
`cryptography` package (Ed25519 public keys from seeds). Each member key's seed is
SHA-256("m2mhub membership vector key " || origin).

"good" cases give the fields and the bytes; "bad" cases give bytes that a strict decoder must
refuse, and the rule each breaks. As a self-check the generator decodes every good case back
with its own strict decoder and makes sure that decoder refuses every bad one.

Usage: python3 testdata/gen_entry_vectors.py [DIR]
(writes entry-federation-vectors.json into DIR, by default next to itself)
"""

import base64
import hashlib
import json
import os
import re
import struct
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def verifier_key(origin: str) -> str:
    seed = hashlib.sha256(b"m2mhub membership vector key " + origin.encode()).digest()
    pk = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)
    kid = hashlib.sha256(origin.encode() + b"\n\x01" + pk).digest()[:4]
    return origin + "+" + kid.hex() + "+" + base64.b64encode(b"\x01" + pk).decode()


def field(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def encode(hub, cosignatures, members) -> bytes:
    out = bytes([1, 8]) + field(hub) + struct.pack(">HH", cosignatures, len(members))
    for name, origin, key in members:
        out += field(name) + field(origin) + field(key)
    return out


def canonical_key(key: str, origin: str) -> bool:
    m = re.fullmatch(r"([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+={0,2})", key)
    if not m or m.group(1) != origin:
        return False
    try:
        raw = base64.b64decode(m.group(3), validate=True)
    except ValueError:
        return False
    if len(raw) != 33 or raw[0] != 1 or base64.b64encode(raw).decode() != m.group(3):
        return False
    kid = hashlib.sha256(origin.encode() + b"\n\x01" + raw[1:]).digest()[:4]
    return kid.hex() == m.group(2)


def decode(data: bytes):
    """The (hub, cosignatures, members) of a kind-8 entry; ValueError naming the broken rule."""
    pos = 0

    def take(n):
        nonlocal pos
        if pos + n > len(data):
            raise ValueError("truncated")
        pos += n
        return data[pos - n:pos]

    def text():
        (n,) = struct.unpack(">H", take(2))
        try:
            return take(n).decode()
        except UnicodeDecodeError as e:
            raise ValueError("not UTF-8") from e

    def name():
        s = text()
        if not NAME.match(s):
            raise ValueError("bad name")
        return s

    if take(2) != bytes([1, 8]):
        raise ValueError("not a version 1 kind 8 entry")
    hub = name()
    cosignatures, count = struct.unpack(">HH", take(4))
    members = [(name(), text(), text()) for _ in range(count)]
    if pos != len(data):
        raise ValueError("trailing bytes")
    names = [m[0].encode() for m in members]
    if any(a >= b for a, b in zip(names, names[1:])):
        raise ValueError("members not sorted and unique")
    if hub not in [m[0] for m in members]:
        raise ValueError("hub not a member")
    if cosignatures >= len(members):
        raise ValueError("cosignatures not fewer than the members")
    for _, origin, key in members:
        if not canonical_key(key, origin):
            raise ValueError("key not canonical or not named by the origin")
    return hub, cosignatures, members


def wrong_id(key: str) -> str:
    origin, kid, pk = key.split("+")
    return f"{origin}+{kid[:7]}{'0' if kid[7] != '0' else '1'}+{pk}"


def member(name, origin=None):
    origin = origin or f"m2mhub/{name}"
    return (name, origin, verifier_key(origin))


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    three = [member("grid"), member("home"), member("street")]
    good = [
        ("a hub alone", "home", 0, [member("home")]),
        ("three hubs, one cosignature", "home", 1, three),
        ("three hubs, two cosignatures, seen from the grid", "grid", 2, three),
        ("origins unlike the names", "A.b-9", 1,
         [member("A.b-9", "example.org/log"), member("Z", "z.example/m2mhub/2026")]),
    ]
    cases = []
    for why, hub, k, members in good:
        data = encode(hub, k, members)
        assert decode(data) == (hub, k, members), why
        cases.append({
            "name": why, "hub": hub, "cosignatures": k,
            "members": [{"name": n, "origin": o, "key": key} for n, o, key in members],
            "bytes": data.hex(),
        })
    other_key = verifier_key("m2mhub/other")
    bad = [
        ("members not sorted", encode("home", 1, [three[1], three[0], three[2]])),
        ("member named twice", encode("home", 0, [three[1], three[1]])),
        ("hub not a member", encode("elsewhere", 1, three)),
        ("cosignatures not fewer than the members", encode("home", 3, three)),
        ("key named by another origin", encode("home", 0, [("home", "m2mhub/home", other_key)])),
        ("key id wrong", encode("home", 0, [("home", "m2mhub/home", wrong_id(three[1][2]))])),
        ("public key altered", encode("home", 0, [("home", "m2mhub/home",
                                                          three[1][2][:-1] + "B")])),
        ("bad member name", encode("home", 0, [member("home"), member("no space", "m2mhub/x")])),
        ("no members", encode("home", 0, [])),
        ("trailing byte", encode("home", 0, [member("home")]) + b"\x00"),
        ("truncated", encode("home", 0, [member("home")])[:-1]),
        ("origin not UTF-8", bytes([1, 8]) + field("home") + struct.pack(">HH", 0, 1)
         + field("home") + struct.pack(">H", 2) + b"\xff\xfe" + field(member("home")[2])),
    ]
    bad_cases = []
    for why, data in bad:
        try:
            decode(data)
        except ValueError:
            bad_cases.append({"name": why, "bytes": data.hex()})
            continue
        raise AssertionError(f"the model accepts the bad case {why!r}")
    doc = {
        "about": "Entry bytes of federation entries (SPEC §7; encoding v1 of "
                 "crates/m2mhub-core/src/entry.rs), written by testdata/gen_entry_vectors.py, "
                 "an independent model. good: fields and bytes; bad: bytes a strict decoder "
                 "refuses.",
        "good": cases,
        "bad": bad_cases,
    }
    path = os.path.join(out_dir, "entry-federation-vectors.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: {len(cases)} good, {len(bad_cases)} bad")


if __name__ == "__main__":
    main()
