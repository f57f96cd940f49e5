#!/usr/bin/env python3
"""Writes cosignature-vectors.json, and verifies cosigned checkpoints: an independent model of
C2SP tlog-cosignature/v1 (Ed25519), written from the C2SP text, not from the Rust code it
checks (crates/m2mhub-core/src/cosignature.rs).

* Key ID = SHA-256(<name> || "\\n" || 0x04 || 32-byte Ed25519 public key)[:4].
* Signature line = "— <name> base64(key ID || u64 big-endian timestamp || Ed25519 signature)".
* Signed message = "cosignature/v1\\n" + "time <timestamp, decimal>\\n" + the checkpoint's
  note text (its final newline included, its signature lines not).
* The timestamp must not exceed 2^63 - 1.
* SPEC §7: a hub cosigns with its own hub key under its own key name, so a member's verifier
  key "<name>+<id>+base64(0x01 || key)" (signed-note) also gives its cosigner key.

Uses only the standard library and the `cryptography` package (Ed25519 is deterministic, so
the Rust side must reproduce every line byte for byte).

Usage:
  python3 testdata/gen_cosignature_vectors.py [DIR]
      writes cosignature-vectors.json into DIR (by default next to itself)
  python3 testdata/gen_cosignature_vectors.py verify --log-key VKEY --cosigner VKEY...
          --cosignatures K < NOTE
      checks NOTE's signature by the log key (type 0x01) and that at least K of the given
      members cosigned it (type 0x04); prints "ok <n> cosignatures" or fails with the reason
"""

import base64
import hashlib
import json
import os
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

EM_DASH = "\u2014"
MAX_TIMESTAMP = 2**63 - 1


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(s: str) -> bytes:
    raw = base64.b64decode(s, validate=True)
    if b64(raw) != s:
        raise ValueError("not canonical base64")
    return raw


def raw_public(priv: Ed25519PrivateKey) -> bytes:
    return priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, alg: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public).digest()[:4]


def message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def cosign(name: str, priv: Ed25519PrivateKey, body: str, timestamp: int) -> str:
    assert 0 <= timestamp <= MAX_TIMESTAMP
    sig = priv.sign(message(body, timestamp))
    blob = key_id(name, 0x04, raw_public(priv)) + timestamp.to_bytes(8, "big") + sig
    return f"{EM_DASH} {name} {b64(blob)}\n"


def note_sign(name: str, priv: Ed25519PrivateKey, text: str) -> str:
    blob = key_id(name, 0x01, raw_public(priv)) + priv.sign(text.encode())
    return f"{EM_DASH} {name} {b64(blob)}\n"


def parse_vkey(vkey: str):
    """<name>+<8 hex>+base64(0x01 || key) -> (name, public key bytes)."""
    name, id_hex, key = vkey.split("+", 2)
    raw = unb64(key)
    if len(raw) != 33 or raw[0] != 0x01:
        raise ValueError(f"{vkey!r} is not an Ed25519 verifier key")
    if key_id(name, 0x01, raw[1:]).hex() != id_hex:
        raise ValueError(f"{vkey!r}: key id does not match")
    return name, raw[1:]


def split_note(note: str):
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise ValueError("control character")
    i = note.rfind("\n\n")
    if i < 0:
        raise ValueError("no blank line")
    text, sigs = note[: i + 1], note[i + 2 :]
    if not sigs or not sigs.endswith("\n"):
        raise ValueError("no signature lines")
    lines = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith(EM_DASH + " "):
            raise ValueError(f"not a signature line: {line!r}")
        name, _, blob = line[2:].partition(" ")
        raw = unb64(blob)
        if not name or len(raw) < 5:
            raise ValueError(f"malformed signature line: {line!r}")
        lines.append((name, raw[:4], raw[4:]))
    return text, lines


def verify_cosignature(name: str, public: bytes, text: str, lines) -> int:
    """The newest timestamp of the cosignatures by (name, public) in lines; every line with
    that name and key id must verify; raises if there is none or one is bad."""
    kid = key_id(name, 0x04, public)
    pk = Ed25519PublicKey.from_public_bytes(public)
    found = None
    for n, i, blob in lines:
        if n != name or i != kid:
            continue
        if len(blob) != 8 + 64:
            raise ValueError(f"cosignature by {name} is {len(blob)} bytes, not 72")
        t = int.from_bytes(blob[:8], "big")
        if t > MAX_TIMESTAMP:
            raise ValueError(f"cosignature by {name}: timestamp past 2^63 - 1")
        try:
            pk.verify(blob[8:], message(text, t))
        except InvalidSignature:
            raise ValueError(f"cosignature by {name} does not verify") from None
        found = t if found is None else max(found, t)
    if found is None:
        raise LookupError(f"no cosignature by {name}")
    return found


def verify_log(name: str, public: bytes, text: str, lines) -> None:
    kid = key_id(name, 0x01, public)
    pk = Ed25519PublicKey.from_public_bytes(public)
    ok = False
    for n, i, blob in lines:
        if n == name and i == kid:
            pk.verify(blob, text.encode())  # raises InvalidSignature
            ok = True
    if not ok:
        raise LookupError(f"no signature by the log key {name}")


def verify_main(args) -> int:
    log_key, cosigners, k = None, [], 0
    it = iter(args)
    for a in it:
        if a == "--log-key":
            log_key = next(it)
        elif a == "--cosigner":
            cosigners.append(next(it))
        elif a == "--cosignatures":
            k = int(next(it))
        else:
            raise SystemExit(f"unknown argument {a!r}")
    note = sys.stdin.read()
    text, lines = split_note(note)
    verify_log(*parse_vkey(log_key), text, lines)
    good = 0
    for c in cosigners:
        try:
            verify_cosignature(*parse_vkey(c), text, lines)
            good += 1
        except LookupError:
            pass
    if good < k:
        print(f"only {good} of the {k} cosignatures needed", file=sys.stderr)
        return 1
    print(f"ok {good} cosignatures")
    return 0


def seeded(byte: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([byte]) * 32)


def generate(out_dir: str) -> None:
    log_name, log_priv = "m2mhub/home", seeded(0x11)
    wit_name, wit_priv = "m2mhub/street", seeded(0x22)
    wit_pub = raw_public(wit_priv)
    root = b64(hashlib.sha256(b"root").digest())
    bodies = [
        f"{log_name}\n0\n{b64(hashlib.sha256(b'').digest())}\nblock 0 prev {b64(bytes(32))}\n",
        f"{log_name}\n42\n{root}\nblock 7 prev {b64(bytes(range(32)))}\ntime 1700000000123\n",
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    ]
    vectors = []
    for body, t in zip(bodies, [0, 1700000000, MAX_TIMESTAMP]):
        line = cosign(wit_name, wit_priv, body, t)
        note = body + "\n" + note_sign(body.split("\n")[0], log_priv, body) + line
        vectors.append(
            {
                "body": body,
                "timestamp": t,
                "message": message(body, t).decode(),
                "line": line,
                "note": note,
            }
        )
    # Each bad line names the witness key, so a verifier must check and refuse it.
    body, good = bodies[1], vectors[1]["line"]
    blob = unb64(good.rstrip("\n").split(" ")[2])
    kid = blob[:4]

    def line_of(raw: bytes) -> str:
        return f"{EM_DASH} {wit_name} {b64(raw)}\n"

    bad_ts = bytearray(blob)
    bad_ts[11] ^= 1
    too_big = kid + (2**63).to_bytes(8, "big") + wit_priv.sign(message(body, 2**63))
    other_body = cosign(wit_name, wit_priv, bodies[0], 1700000000)
    bad = [
        {"why": "timestamp changed after signing", "line": line_of(bytes(bad_ts))},
        {"why": "timestamp past 2^63 - 1", "line": line_of(too_big)},
        {"why": "blob shorter than 76 bytes", "line": line_of(blob[:-1])},
        {"why": "blob longer than 76 bytes", "line": line_of(blob + b"\0")},
        {"why": "signature over another checkpoint", "line": other_body},
    ]
    # Lines a verifier must ignore (another key): the witness's key under type 0x01 (a plain
    # note signature by the same key), and a good cosignature under another name.
    ignored = [
        {"why": "type 0x01 key id", "line": note_sign(wit_name, wit_priv, body)},
        {"why": "another name", "line": cosign("m2mhub/grid", wit_priv, body, 1700000000)},
    ]
    # Self-checks: the model accepts its vectors and refuses its bad lines.
    for v in vectors:
        text, lines = split_note(v["note"])
        assert text == v["body"]
        assert verify_cosignature(wit_name, wit_pub, text, lines) == v["timestamp"]
    for b in bad:
        _, lines = split_note(body + "\n" + b["line"])
        try:
            verify_cosignature(wit_name, wit_pub, body, lines)
        except ValueError:
            continue
        raise AssertionError(b["why"])
    for i in ignored:
        _, lines = split_note(body + "\n" + i["line"])
        try:
            verify_cosignature(wit_name, wit_pub, body, lines)
            raise AssertionError(i["why"])
        except LookupError:
            pass
    out = {
        "cosigner": {
            "name": wit_name,
            "seed": (bytes([0x22]) * 32).hex(),
            "public_key": wit_pub.hex(),
            "key_id": kid.hex(),
            "note_key_id": key_id(wit_name, 0x01, wit_pub).hex(),
        },
        "log": {"name": log_name, "seed": (bytes([0x11]) * 32).hex()},
        "vectors": vectors,
        "bad": bad,
        "ignored": ignored,
    }
    with open(os.path.join(out_dir, "cosignature-vectors.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "verify":
        try:
            sys.exit(verify_main(sys.argv[2:]))
        except (ValueError, LookupError, InvalidSignature) as e:
            print(f"refused: {e!r}", file=sys.stderr)
            sys.exit(1)
    generate(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
