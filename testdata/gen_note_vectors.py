#!/usr/bin/env python3
"""Writes note-vectors.json: known answers for M2MHub's signed notes and checkpoints.

An independent implementation, written from the C2SP specifications, not from the Rust code
it checks (crates/m2mhub-core/src/{note,checkpoint}.rs):

* c2sp.org/signed-note: key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public
  key)[:4]; verifier key = <name>+<key ID as 8 hex digits>+<base64(0x01 || public key)>; a
  note is its text (ending in a newline), a blank line, then signature lines
  "— <name> <base64(key ID || Ed25519 signature of the text)>" (U+2014, then a space).
* c2sp.org/tlog-checkpoint: the text is the origin, the tree size in decimal, the base64 root
  hash, then extension lines. M2MHub uses exactly one: "block <height> prev <base64 of the
  previous block hash>", where a block hash is SHA-256 of the previous checkpoint's text.

Uses only the standard library and the `cryptography` package (RFC 8032 Ed25519, which is
deterministic: the Rust side must reproduce every note byte for byte). As self-checks it
reproduces the published example of golang.org/x/mod/sumdb/note (key "PeterNeumann"), opens
every note it writes with its own strict verifier, and makes sure that verifier refuses every
entry of "bad_checkpoints".

Usage: python3 testdata/gen_note_vectors.py [DIR]
(writes note-vectors.json into DIR, by default next to itself)
"""

import base64
import hashlib
import json
import os
import re
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

EM_DASH = "\u2014"
U64_MAX = 2**64 - 1


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(s: str) -> bytes:
    """Strict standard base64: refuses anything that does not re-encode to itself."""
    raw = base64.b64decode(s, validate=True)
    if b64(raw) != s:
        raise ValueError("non-canonical base64")
    return raw


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class Key:
    def __init__(self, name: str, seed: bytes):
        self.name = name
        self.seed = seed
        self.sk = Ed25519PrivateKey.from_private_bytes(seed)
        self.pub = self.sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = sha256(name.encode() + b"\n" + b"\x01" + self.pub)[:4]
        self.vkey = f"{name}+{self.key_id.hex()}+{b64(bytes([1]) + self.pub)}"

    def sig_line(self, text: str) -> str:
        sig = self.sk.sign(text.encode("utf-8"))
        return f"{EM_DASH} {self.name} {b64(self.key_id + sig)}\n"

    def as_json(self) -> dict:
        return {"name": self.name, "seed": self.seed.hex(), "public_key": self.pub.hex(),
                "key_id": self.key_id.hex(), "verifier_key": self.vkey}


def sign(text: str, *keys: Key) -> str:
    assert text and text.endswith("\n")
    return text + "\n" + "".join(k.sig_line(text) for k in keys)


def open_note(note: str, key: Key) -> str:
    """signed-note verification for one known key; raises ValueError on any failure."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise ValueError("control character")
    split = note.rfind("\n\n")
    if split < 0:
        raise ValueError("no blank line")
    text, sigs = note[:split + 1], note[split + 2:]
    if not sigs or not sigs.endswith("\n"):
        raise ValueError("bad signature block")
    ok = False
    for line in sigs[:-1].split("\n"):
        m = re.fullmatch(f"{EM_DASH} ([^ +]+) (\\S+)", line)
        if not m or any(c.isspace() for c in m.group(1)):
            raise ValueError("bad signature line")
        blob = unb64(m.group(2))
        if len(blob) < 5:
            raise ValueError("short signature")
        if m.group(1) != key.name or blob[:4] != key.key_id:
            continue  # an unknown key: ignored
        Ed25519PublicKey.from_public_bytes(key.pub).verify(blob[4:], text.encode("utf-8"))
        ok = True
    if not ok:
        raise ValueError("not signed by the key")
    return text


def body(origin: str, size: int, root: bytes, block: int, prev: bytes, time=None) -> str:
    text = f"{origin}\n{size}\n{b64(root)}\nblock {block} prev {b64(prev)}\n"
    # SPEC §5: blocks sealed since blocks carry a signed time add "time <unix ms>".
    return text if time is None else text + f"time {time}\n"


DECIMAL = r"(0|[1-9][0-9]*)"


def parse_body(text: str) -> dict:
    """The M2MHub checkpoint text, strictly; raises ValueError."""
    m = re.fullmatch(f"([^\\n]+)\\n{DECIMAL}\\n([A-Za-z0-9+/=]+)\\n"
                     f"block {DECIMAL} prev ([A-Za-z0-9+/=]+)\\n(?:time {DECIMAL}\\n)?", text)
    if not m or any(ord(c) < 0x20 for c in m.group(1)):
        raise ValueError("not a checkpoint")
    size, block = int(m.group(2)), int(m.group(4))
    root, prev = unb64(m.group(3)), unb64(m.group(5))
    time = None if m.group(6) is None else int(m.group(6))
    if size > U64_MAX or block > U64_MAX or len(root) != 32 or len(prev) != 32:
        raise ValueError("out of range")
    if time is not None and time > U64_MAX:
        raise ValueError("out of range")
    return {"origin": m.group(1), "tree_size": size, "root": root.hex(), "block": block,
            "prev_block_hash": prev.hex(), "time_ms": time}


def open_checkpoint(note: str, key: Key) -> dict:
    cp = parse_body(open_note(note, key))
    if cp["origin"] != key.name:
        raise ValueError("origin is not the key name")
    return cp


def mth(leaves):
    """RFC 6962 §2.1 Merkle Tree Hash, for realistic roots."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return sha256(b"\x00" + leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def self_check():
    """The example of golang.org/x/mod/sumdb/note's note_test.go, byte for byte. Its signer
    key PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz holds
    0x01 || the 32-byte seed."""
    seed = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
    peter = Key("PeterNeumann", seed)
    text = ("If you think cryptography is the answer to your problem,\n"
            "then you don't know what your problem is.\n")
    want = (text + "\n" + EM_DASH + " PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZ"
            "InNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
    assert peter.vkey == "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    assert sign(text, peter) == want
    assert open_note(want, peter) == text
    return {"key": peter.as_json(), "text": text, "note": want}


def signed_by(k: Key, text: str, note: str) -> dict:
    """A checkpoint's body, block hash and note, with its signer's key repeated so that each
    checkpoint entry stands alone."""
    return {"body": text, "block_hash": sha256(text.encode()).hex(), "note": note,
            "seed": k.seed.hex(), "key_id": k.key_id.hex(), "verifier_key": k.vkey}


def key(name: str) -> Key:
    return Key(name, sha256(b"m2mhub note vector key " + name.encode()))


def main() -> None:
    reference = self_check()
    log = key("m2mhub.example/ledger")
    witness = key("witness.example/w1")
    extra = [key("a"), key("ledger.例え/ü"), key("m2mhub.example/ledger-2")]

    notes = []
    for text in ["hello\n", "\n", "line one\n\nline three after a blank line\n",
                 "ends in a blank line\n\n", f"{EM_DASH} not a signature\n", "π ≈ 3.14159\n"]:
        n = sign(text, log)
        assert open_note(n, log) == text
        notes.append({"text": text, "note": n})

    leaves = [f"entry {i}".encode() for i in range(5)]
    chain = [(0, mth([])), (1, mth(leaves[:1])), (3, mth(leaves[:3])), (5, mth(leaves))]
    # Blocks 0 and 1 as sealed before block times were signed, 2 and 3 with a time.
    times = [None, None, 1764450000000, 1764450001234]
    checkpoints, prev = [], bytes(32)
    for height, (size, root) in enumerate(chain):
        text = body(log.name, size, root, height, prev, times[height])
        n = sign(text, log)
        cp = open_checkpoint(n, log)
        assert cp["prev_block_hash"] == prev.hex() and cp["root"] == root.hex()
        cp.update(signed_by(log, text, n))
        checkpoints.append(cp)
        prev = sha256(text.encode())
    # Numbers at the top of the u64 range, and a root and link of all-ones bytes.
    text = body(log.name, U64_MAX, b"\xff" * 32, U64_MAX, b"\xfe" * 32, U64_MAX)
    n = sign(text, log)
    cp = open_checkpoint(n, log)
    cp.update(signed_by(log, text, n))
    checkpoints.append(cp)

    # A checkpoint cosigned by a witness: opens with either key's note verifier, but only the
    # log key's name is the origin.
    cosigned_text = checkpoints[2]["body"]
    cosigned = sign(cosigned_text, witness, log)
    assert open_checkpoint(cosigned, log)["origin"] == log.name
    assert open_note(cosigned, witness) == cosigned_text

    good_prev = b64(bytes.fromhex(checkpoints[2]["block_hash"]))
    good = checkpoints[3]["body"]
    bad_bodies = [
        ("tree size with a leading zero", good.replace("\n5\n", "\n05\n")),
        ("tree size past u64", good.replace("\n5\n", f"\n{U64_MAX + 1}\n")),
        ("root hash of 31 bytes", good.replace(b64(chain[3][1]), b64(chain[3][1][:31]))),
        ("root hash without padding", good.replace(b64(chain[3][1]), b64(chain[3][1])[:-1])),
        ("no extension line", good[:good.index("block")]),
        ("two extension lines", good + good.splitlines()[3] + "\n"),
        ("capitalised extension", good.replace("block", "Block")),
        ("block height with a leading zero", good.replace("block 3", "block 03")),
        ("double space in the extension", good.replace(" prev ", " prev  ")),
        ("previous hash in hex", good.replace(good_prev, checkpoints[2]["block_hash"])),
        ("empty extension line", good[:good.index("block")] + "\n"),
        ("time with a leading zero", good.replace("time 1", "time 01")),
        ("time past u64", good.replace("time 1764450001234", f"time {U64_MAX + 1}")),
        ("time in seconds with a fraction", good.replace("time 1764450001234", "time 1764450001.234")),
        ("time line before the block line", good.replace(good.splitlines()[3] + "\n" + good.splitlines()[4],
                                                          good.splitlines()[4] + "\n" + good.splitlines()[3])),
        ("three extension lines", good + good.splitlines()[4] + "\n"),
    ]
    bad_checkpoints = []
    for why, text in bad_bodies:
        assert text != good
        bad_checkpoints.append({"why": why, "refused_by": "body", "note": sign(text, log)})
    signed = checkpoints[3]["note"]
    bad_notes = [
        ("signed by the witness only", sign(good, witness)),
        ("signed by another key with the log's name", sign(good, Key(log.name, sha256(b"x")))),
        ("tree size changed after signing", signed.replace("\n5\n", "\n6\n", 1)),
        ("no blank line before the signature", signed.replace("\n\n", "\n")),
        ("no final newline", signed[:-1]),
    ]
    for why, n in bad_notes:
        bad_checkpoints.append({"why": why, "refused_by": "note", "note": n})
    for bad in bad_checkpoints:
        try:
            open_checkpoint(bad["note"], log)
        except (ValueError, InvalidSignature):
            continue
        raise AssertionError(f"accepted bad checkpoint: {bad['why']}")

    vectors = {
        "description": (
            "C2SP signed-note (Ed25519, signature type 0x01) and tlog-checkpoint known answers "
            "from testdata/gen_note_vectors.py. Keys: seed is the 32-byte Ed25519 private key, "
            "key_id = SHA-256(name || 0x0A || 0x01 || public_key)[:4], verifier_key = "
            "name+hex(key_id)+base64(0x01 || public_key). notes are texts signed by log_key. "
            "checkpoints: body = origin, tree size, base64 root, 'block <height> prev <base64 "
            "previous block hash>', each line newline-terminated; block_hash = SHA-256(body); "
            "note = body signed by log_key (whose seed, key_id and verifier_key each checkpoint "
            "repeats); the first four form a chain from block 0 (prev all "
            "zeros). cosigned is checkpoints[2] signed by witness_key then log_key. "
            "bad_checkpoints must all be refused when opened with log_key: refused_by 'note' when "
            "the signed note does not verify, 'body' when it does but its text is no valid "
            "checkpoint. reference is the "
            "example of golang.org/x/mod/sumdb/note."
        ),
        "log_key": log.as_json(),
        "witness_key": witness.as_json(),
        "keys": [k.as_json() for k in [log, witness, *extra]],
        "reference": reference,
        "notes": notes,
        "checkpoints": checkpoints,
        "cosigned": {"body": cosigned_text, "note": cosigned},
        "bad_checkpoints": bad_checkpoints,
    }
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(out_dir, "note-vectors.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(vectors, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {out}: {len(vectors['keys'])} keys, {len(notes)} notes, "
          f"{len(checkpoints)} checkpoints, {len(bad_checkpoints)} bad checkpoints")


if __name__ == "__main__":
    main()
