#!/usr/bin/env python3
"""Known-answer vectors for SPEC §4.1 (what a device signs) and §4.3 (signed checkpoints),
written from the spec text with Python's hashlib/base64 and the `cryptography` package's
Ed25519 -- independently of the Rust code. Writes signing-vectors.json and note-vectors.json
next to this file (or into the directory given as the only argument)."""

import base64
import hashlib
import json
import os
import struct
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
ACTIONS = {"begin": 0, "continue": 1, "end": 2}


def signing_bytes(sender, receiver, action, tx, cause, counter, contents):
    s, r = sender.encode(), receiver.encode()
    return (b"m2mhub/message/v1\n"
            + struct.pack(">H", len(s)) + s
            + struct.pack(">H", len(r)) + r
            + struct.pack(">B", ACTIONS[action])
            + struct.pack(">Q", tx)
            + struct.pack(">Q", 0 if cause is None else cause + 1)
            + struct.pack(">Q", counter)
            + hashlib.sha256(contents.encode()).digest())


def public(sk):
    return sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def big_contents():
    # 16 KiB exactly, from a rule so the JSON stays small.
    return "".join(chr(ord("a") + i % 26) for i in range(16 * 1024))


CASES = [
    dict(sender="top_level", receiver="low_level", action="begin", tx=0, cause=None, counter=1, contents="unlock the door"),
    dict(sender="low_level", receiver="top_level", action="continue", tx=1, cause=None, counter=1, contents="door unlocked"),
    dict(sender="top_level", receiver="low_level", action="end", tx=1, cause=1, counter=2, contents="thanks"),
    dict(sender="a", receiver="b", action="begin", tx=0, cause=None, counter=0, contents=""),
    dict(sender="x" * 64, receiver="Y" * 64, action="continue", tx=2**64 - 1, cause=2**64 - 2, counter=2**64 - 1, contents="edges"),
    dict(sender="motion.sensor-1", receiver="hall_light", action="continue", tx=42, cause=0, counter=7, contents="motion: hallway"),
    dict(sender="oven", receiver="phone", action="end", tx=9000, cause=123456789, counter=1 << 40, contents="oven is ON \u00b0C \u2603"),
    dict(sender="gateway", receiver="cam_3", action="begin", tx=0, cause=None, counter=3, contents="BIG"),
    dict(sender="Thermostat_2", receiver="hvac", action="continue", tx=7, cause=6, counter=99, contents='{"target": 21.5}'),
    dict(sender="lock", receiver="lock", action="end", tx=1, cause=None, counter=5, contents="self"),
    dict(sender="n0", receiver="n1", action="begin", tx=0, cause=None, counter=2**32, contents="\n\t\r"),
    dict(sender="traffic-light.7", receiver="traffic-light.8", action="continue", tx=3, cause=2, counter=12, contents="green"),
]


def main():
    signing = []
    for i, c in enumerate(CASES):
        contents = big_contents() if c["contents"] == "BIG" else c["contents"]
        seed = hashlib.sha256(b"m2mhub test device %d" % i).digest()
        sk = Ed25519PrivateKey.from_private_bytes(seed)
        msg = signing_bytes(c["sender"], c["receiver"], c["action"], c["tx"], c["cause"], c["counter"], contents)
        case = dict(c)
        case["contents"] = "BIG" if c["contents"] == "BIG" else contents
        case.update(seed=seed.hex(), public_key=public(sk).hex(),
                    contents_sha256=hashlib.sha256(contents.encode()).hexdigest(),
                    signing_bytes=msg.hex(), signature=sk.sign(msg).hex())
        signing.append(case)
    with open(os.path.join(OUT, "signing-vectors.json"), "w") as f:
        json.dump({"big_contents_rule": "16384 chars: chr(ord('a') + i % 26)", "cases": signing}, f, indent=1)
        f.write("\n")

    notes = []
    for i, (origin, size, height) in enumerate([("m2mhub/hub.example", 0, 0), ("m2mhub/hub.example", 11, 3), ("m2mhub/edge-7", 2**40, 123456)]):
        seed = hashlib.sha256(b"m2mhub test hub %d" % i).digest()
        sk = Ed25519PrivateKey.from_private_bytes(seed)
        pk = public(sk)
        key_id = hashlib.sha256(origin.encode() + b"\n" + b"\x01" + pk).digest()[:4]
        vkey = "%s+%s+%s" % (origin, key_id.hex(), base64.b64encode(b"\x01" + pk).decode())
        root = hashlib.sha256(b"root %d" % i).digest() if size else hashlib.sha256(b"").digest()
        prev = hashlib.sha256(b"prev %d" % i).digest() if height else bytes(32)
        body = "%s\n%d\n%s\nblock %d prev %s\n" % (origin, size, base64.b64encode(root).decode(), height, base64.b64encode(prev).decode())
        sig = sk.sign(body.encode())
        note = body + "\n\u2014 %s %s\n" % (origin, base64.b64encode(key_id + sig).decode())
        notes.append(dict(seed=seed.hex(), origin=origin, tree_size=size, root=root.hex(), block=height,
                          prev_block_hash=prev.hex(), key_id=key_id.hex(), verifier_key=vkey,
                          block_hash=hashlib.sha256(body.encode()).hexdigest(), note=note))
    with open(os.path.join(OUT, "note-vectors.json"), "w") as f:
        json.dump({"checkpoints": notes}, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
