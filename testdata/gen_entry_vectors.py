#!/usr/bin/env python3
"""Writes entry-federation-vectors.json: known answers for the entry bytes of federation
entries (SPEC §7), kind 8 federation_membership, kind 9 import and kind 10
federated_message.

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

Kind 9 (import): str origin, u64 seq, u32 len || foreign entry bytes (a registry entry of
kind 1-4, 6 or 7), u8 count || count x [32] inclusion proof, u32 len || checkpoint note (the
source's signed note: C2SP signed-note over M2MHub's checkpoint text "<origin>\n<size>\n<root
b64>\nblock <h> prev <b64>\ntime <ms>\n"), at most 64 proof hashes and 64 KiB of note. The
import cases come from a five-entry source ledger of "street" (origin m2mhub/street), whose key
is the membership key above; the tree is RFC 6962 (leaf SHA-256(0x00 || bytes), node
SHA-256(0x01 || l || r)), written here from the RFC. "imports" checks each good import against
the membership "three hubs, one cosignature" (hub home): the proof must lead to the signed root,
the origin must be another member's and the checkpoint must carry a C2SP tlog-cosignature/v1 of
another member (here grid's); "imports_refused_by_check" decode but fail that.

"good" cases give the fields and the bytes; "bad" cases give bytes that a strict decoder must
refuse, and the rule each breaks. As a self-check the generator decodes every good membership back
with its own strict decoder and makes sure that decoder refuses every bad one, and checks each
import's proof with the RFC 9162 §2.1.3.2 verifier (written separately from the prover).

Kind 10 (federated_message, in "federated_messages"): as kind 5 (message) -- name sender, name
receiver, u8 action, u64 tx, u64 cause + 1 (0: none), u64 counter, [32] SHA-256(contents), [64]
Ed25519 signature, u16 len || provenance (len 0: unknown), u16 notices -- except that sender and
receiver may be `name@hub` (both parts names as above) for another member's devices; the
provenance is always a bare name (this hub's device), and kind 5 takes bare names only. The
sender signed the v2 bytes of SPEC §7, written here from the SPEC text: "m2mhub/message/v2"
0x0A, u16 len || sender, u16 len || receiver, u8 action, u64 tx (0 for a begin), u16 len ||
tx_hub, u64 cause + 1, u64 counter, [32] SHA-256(contents), with every bare name qualified as
`name@<hub>` and tx_hub = <hub> (empty for a begin), <hub> being the recording hub's member name.
Each good case names that hub, the entry bytes and fields, the leaf hash, those signing bytes
and a signature over them by the sender's key, whose seed is SHA-256("m2mhub entry vector key
" || the sender's name@hub); the generator checks each signature with the public key it gives,
and that a signature over the same fields qualified with another hub does not verify.

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

from cryptography.exceptions import InvalidSignature
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


def signing_key(origin: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(b"m2mhub membership vector key " + origin.encode()).digest())


def leaf(e: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + e).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(leaves):
    """RFC 6962 §2.1 Merkle tree hash of leaf hashes."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


def audit_path(m, leaves):
    """RFC 6962 §2.1.1 audit path of leaf m."""
    if len(leaves) <= 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return audit_path(m, leaves[:k]) + [mth(leaves[k:])]
    return audit_path(m - k, leaves[k:]) + [mth(leaves[:k])]


def root_from_path(index: int, size: int, leaf_hash: bytes, proof) -> bytes:
    """RFC 9162 §2.1.3.2: the root an inclusion proof leads to."""
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof too short")
    return r


def cosign(note_text: str, origin: str, timestamp: int) -> str:
    """A C2SP tlog-cosignature/v1 line by `origin`'s key (type 0x04): Ed25519 over
    "cosignature/v1\ntime <T>\n" + the note text; key ID = SHA-256(name || 0x0A || 0x04 ||
    public key)[:4]; the line carries key ID || u64 BE timestamp || signature."""
    sk = signing_key(origin)
    pk = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = hashlib.sha256(origin.encode() + b"\n\x04" + pk).digest()[:4]
    msg = f"cosignature/v1\ntime {timestamp}\n".encode() + note_text.encode()
    blob = kid + struct.pack(">Q", timestamp) + sk.sign(msg)
    return "\u2014 " + origin + " " + base64.b64encode(blob).decode() + "\n"


def note(origin: str, size: int, root: bytes, key_origin: str = None, cosigners=()) -> str:
    key_origin = key_origin or origin
    text = (f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
            f"block 4 prev {base64.b64encode(bytes(32)).decode()}\ntime 1764460800000\n")
    sk = signing_key(key_origin)
    pk = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = hashlib.sha256(key_origin.encode() + b"\n\x01" + pk).digest()[:4]
    sig = base64.b64encode(kid + sk.sign(text.encode())).decode()
    lines = "\u2014 " + key_origin + " " + sig + "\n"
    for c in cosigners:
        lines += cosign(text, c, 1764460801)
    return text + "\n" + lines


def registration(name: str, clearance: int, key_seed: bytes) -> bytes:
    pk = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(key_seed).digest()).public_key() \
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    return bytes([1, 1]) + field(name) + struct.pack(">I", clearance) + pk + struct.pack(">H", 0)


def encode_import(origin, seq, entry, proof, cp) -> bytes:
    return (bytes([1, 9]) + field(origin) + struct.pack(">QI", seq, len(entry)) + entry
            + bytes([len(proof)]) + b"".join(proof) + struct.pack(">I", len(cp.encode()))
            + cp.encode())


def member(name, origin=None):
    origin = origin or f"m2mhub/{name}"
    return (name, origin, verifier_key(origin))

# Kind 10 (federated_message): the layout of kind 5 with name@hub parties and the v2 signature.
NOTICES = ["sender_revoked", "unknown_receiver", "receiver_revoked", "unknown_transaction",
           "transaction_rejected", "transaction_closed", "not_a_participant",
           "insufficient_clearance", "bad_cause"]
ACTIONS = ["begin", "continue", "end"]


def is_party(s: str) -> bool:
    """A device name, or name@hub with both parts names."""
    parts = s.split("@")
    return len(parts) <= 2 and all(NAME.match(p) for p in parts)


def qualify(name: str, hub: str) -> str:
    return name if "@" in name else f"{name}@{hub}"


def encode_message(kind, sender, receiver, action, tx, cause, counter, chash, sig, provenance,
                   bits) -> bytes:
    """Kind 5 or 10, field by field, checking nothing (bad cases are built with it too)."""
    return (bytes([1, kind]) + field(sender) + field(receiver) + bytes([action])
            + struct.pack(">QQQ", tx, 0 if cause is None else cause + 1, counter)
            + chash + sig + field(provenance or "") + struct.pack(">H", bits))


def decode_message(data: bytes):
    """The fields of a kind 5 or 10 entry; ValueError naming the broken rule."""
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
            return take(n).decode("ascii")
        except UnicodeDecodeError as e:
            raise ValueError("not ASCII") from e

    if take(1) != b"\x01":
        raise ValueError("not version 1")
    kind = take(1)[0]
    if kind not in (5, 10):
        raise ValueError("not a message")
    party = is_party if kind == 10 else (lambda s: NAME.match(s) is not None)
    sender, receiver = text(), text()
    if not party(sender) or not party(receiver):
        raise ValueError("a name is not allowed in this kind")
    action = take(1)[0]
    if action > 2:
        raise ValueError("bad action")
    tx, cause1, counter = struct.unpack(">QQQ", take(24))
    chash, sig = take(32), take(64)
    provenance = text()
    if provenance and not NAME.match(provenance):
        raise ValueError("a provenance is a bare name")
    (bits,) = struct.unpack(">H", take(2))
    if bits >> len(NOTICES):
        raise ValueError("unknown notice bit")
    if pos != len(data):
        raise ValueError("trailing bytes")
    return {"kind": kind, "sender": sender, "receiver": receiver, "action": ACTIONS[action],
            "tx": tx, "cause": None if cause1 == 0 else cause1 - 1, "counter": counter,
            "contents_sha256": chash.hex(), "signature": sig.hex(),
            "provenance": provenance or None,
            "notices": [n for i, n in enumerate(NOTICES) if bits >> i & 1]}


def v2_bytes(sender, receiver, action, tx, tx_hub, cause, counter, chash) -> bytes:
    """SPEC §7's "What a device signs in a federation"."""
    return (b"m2mhub/message/v2\n" + field(sender) + field(receiver) + bytes([action])
            + struct.pack(">Q", tx) + field(tx_hub)
            + struct.pack(">QQ", 0 if cause is None else cause + 1, counter) + chash)


def signed_by_hub(c, hub):
    """The bytes the sender of case `c` signed, were the entry recorded by `hub`."""
    action = ACTIONS.index(c["action"])
    return v2_bytes(qualify(c["sender"], hub), qualify(c["receiver"], hub), action,
                    0 if action == 0 else c["tx"], "" if action == 0 else hub, c["cause"],
                    c["counter"], bytes.fromhex(c["contents_sha256"]))


def federated_messages():
    m64, h64 = "m" * 64, "h" * 64
    good = [
        # name, recording hub, sender, receiver, action, tx, cause, counter, contents,
        # provenance, notices
        ("a begin at home to the grid's meter", "home", "tv", "meter@grid", "begin", 1, None, 1,
         "on", "tv", []),
        ("a continue from another hub, recorded at the transaction's home", "grid", "tv@home",
         "meter", "continue", 4, 17, 2, "reading?", "meter", []),
        ("an end refused, two notices", "grid", "tv@home", "substation", "end", 4, 18, 3,
         "shutdown", "meter", ["not_a_participant", "insufficient_clearance"]),
        ("both devices of this hub, signed in the federation form", "home", "lamp", "tv",
         "continue", 1, 0, 7, "", "tv", []),
        ("an unknown transaction: no provenance", "street", "meter@grid", "pole", "continue",
         99, None, 5, "x", None, ["unknown_transaction"]),
        ("longest names, UTF-8 contents, extreme integers", "A.b-9", "Dev_1.x-Y",
         f"{m64}@{h64}", "begin", 2**63, None, 2**64 - 1, "caf\u00e9 \u2615", "Dev_1.x-Y", []),
    ]
    cases = []
    for (why, hub, sender, receiver, action, tx, cause, counter, contents, provenance,
         notices) in good:
        chash = hashlib.sha256(contents.encode()).digest()
        c = {"name": why, "hub": hub, "kind": "federated_message", "sender": sender,
             "receiver": receiver, "action": action, "tx": tx, "cause": cause,
             "counter": counter, "contents": contents, "contents_sha256": chash.hex(),
             "provenance": provenance, "notices": notices}
        signed = signed_by_hub(c, hub)
        sk = Ed25519PrivateKey.from_private_bytes(
            hashlib.sha256(b"m2mhub entry vector key " + qualify(sender, hub).encode()).digest())
        pk = sk.public_key()
        sig = sk.sign(signed)
        pk.verify(sig, signed)
        elsewhere = signed_by_hub(c, "elsewhere")
        assert elsewhere != signed, why
        try:
            pk.verify(sig, elsewhere)
            raise AssertionError(f"{why}: the signature passes for another hub")
        except InvalidSignature:
            pass
        bits = sum(1 << NOTICES.index(n) for n in notices)
        data = encode_message(10, sender, receiver, ACTIONS.index(action), tx, cause, counter,
                              chash, sig, provenance, bits)
        c["signature"] = sig.hex()
        got = decode_message(data)
        assert got == {**{k: c[k] for k in got if k != "kind"}, "kind": 10}, why
        c.update(public_key=pk.public_bytes(Encoding.Raw, PublicFormat.Raw).hex(),
                 signing_bytes=signed.hex(), bytes=data.hex(), leaf_hash=leaf(data).hex())
        cases.append(c)

    def message(kind=10, sender="tv@home", receiver="meter", action=1, provenance="meter",
                bits=0):
        return encode_message(kind, sender, receiver, action, 4, 17, 2, bytes(32), bytes(64),
                              provenance, bits)

    bad = [
        ("kind 5 naming a sender name@hub", message(kind=5)),
        ("kind 5 naming a receiver name@hub", message(kind=5, sender="tv", receiver="meter@grid")),
        ("kind 5 with an empty receiver", message(kind=5, sender="tv", receiver="")),
        ("kind 10 with a qualified provenance", message(provenance="meter@grid")),
        ("kind 10 sender a@", message(sender="tv@")),
        ("kind 10 sender @h", message(sender="@home")),
        ("kind 10 sender @", message(sender="@")),
        ("kind 10 receiver a@b@c", message(receiver="meter@grid@home")),
        ("kind 10 receiver with a 65-character name", message(receiver="m" * 65 + "@grid")),
        ("kind 10 receiver with a 65-character hub", message(receiver="meter@" + "g" * 65)),
        ("kind 10 hub with a space", message(sender="tv@the home")),
        ("kind 10 empty sender", message(sender="")),
        ("kind 10 action 3", message(action=3)),
        ("kind 10 unknown notice bit", message(bits=1 << len(NOTICES))),
        ("kind 10 trailing byte", message() + b"\x00"),
        ("kind 10 truncated", message()[:-1]),
    ]
    for why, data in bad:
        try:
            decode_message(data)
        except ValueError:
            continue
        raise AssertionError(f"the model accepts the bad case {why!r}")
    decode_message(message(kind=5, sender="tv"))  # the bad cases' base is otherwise good
    decode_message(message())
    return {
        "about": "Kind 10 federated_message entries (SPEC §7). good: fields, bytes and leaf "
                 "hash; hub, the recording hub's member name; signing_bytes, the v2 bytes the "
                 "sender signed (every bare name qualified with hub, tx_hub = hub, empty for a "
                 "begin); signature over them by public_key. bad: bytes a strict decoder "
                 "refuses (name@hub in kind 5, a qualified provenance, malformed name@hub).",
        "good": cases,
        "bad": [{"name": w, "bytes": d.hex()} for w, d in bad],
    }


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
    # The source ledger of "street": two registrations, an exception, a revocation, a re-key.
    source = [
        registration("meter", 2, b"meter key"),
        registration("lamp", 1, b"lamp key"),
        bytes([1, 2]) + field("meter") + field("lamp"),
        bytes([1, 4]) + field("lamp"),
        bytes([1, 7]) + field("meter")
        + Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"meter key 2").digest())
        .public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
    ]
    leaves = [leaf(e) for e in source]
    root = mth(leaves)
    cp = note("m2mhub/street", len(source), root, cosigners=["m2mhub/grid"])
    uncosigned = note("m2mhub/street", len(source), root)
    forged_cosig = note("m2mhub/street", len(source), root, cosigners=["m2mhub/other"])
    imports = []
    for seq in (0, 3, 4):
        assert root_from_path(seq, len(source), leaves[seq], audit_path(seq, leaves)) == root
        data = encode_import("m2mhub/street", seq, source[seq], audit_path(seq, leaves), cp)
        imports.append({"name": f"street seq {seq}", "origin": "m2mhub/street", "seq": seq,
                        "entry": source[seq].hex(),
                        "proof": [h.hex() for h in audit_path(seq, leaves)],
                        "checkpoint": cp, "bytes": data.hex()})
    message = (bytes([1, 5]) + field("meter") + field("lamp") + bytes([0])
               + struct.pack(">QQQ", 1, 0, 1) + bytes(32) + bytes(64) + struct.pack(">HH", 0, 0))
    good_membership = bytes.fromhex(cases[0]["bytes"])
    p1 = audit_path(1, leaves)
    bad_imports = [
        ("holds a message", encode_import("m2mhub/street", 1, message, p1, cp)),
        ("holds a membership", encode_import("m2mhub/street", 1, good_membership, p1, cp)),
        ("65 proof hashes", encode_import("m2mhub/street", 1, source[1], [bytes(32)] * 65, cp)),
        ("origin with a space", encode_import("m2mhub street", 1, source[1], p1, cp)),
        ("inner entry truncated", encode_import("m2mhub/street", 1, source[1][:-1], p1, cp)),
        ("note not UTF-8", encode_import("m2mhub/street", 1, source[1], p1, cp)[:-3] + b"\xff\n"),
        ("trailing byte", encode_import("m2mhub/street", 1, source[1], p1, cp) + b"\x00"),
    ]
    for why, data in bad_imports:
        bad_cases.append({"name": "import " + why, "bytes": data.hex()})
    wrong_key_cp = note("m2mhub/street", len(source), root, key_origin="m2mhub/grid",
                        cosigners=["m2mhub/grid"])
    tampered = bytearray(source[0])
    tampered[-3] ^= 1
    refused = [
        ("wrong seq for the proof", encode_import("m2mhub/street", 2, source[1], p1, cp)),
        ("entry altered", encode_import("m2mhub/street", 0, bytes(tampered),
                                        audit_path(0, leaves), cp)),
        ("checkpoint signed by another member", encode_import(
            "m2mhub/street", 1, source[1], p1, wrong_key_cp)),
        ("origin of no member", encode_import("m2mhub/elsewhere", 1, source[1], p1,
                                              note("m2mhub/elsewhere", len(source), root))),
        ("from the hub's own ledger", encode_import("m2mhub/home", 1, source[1], p1,
                                                    note("m2mhub/home", len(source), root,
                                                         cosigners=["m2mhub/grid"]))),
        ("checkpoint not cosigned", encode_import("m2mhub/street", 1, source[1], p1, uncosigned)),
        ("cosigned by no member", encode_import("m2mhub/street", 1, source[1], p1, forged_cosig)),
    ]
    doc = {
        "about": "Entry bytes of federation entries (SPEC §7; encoding v1 of "
                 "crates/m2mhub-core/src/entry.rs), written by testdata/gen_entry_vectors.py, "
                 "an independent model. good: memberships, fields and bytes; imports: fields "
                 "and bytes, each valid against the membership good[1] (hub home); bad: bytes "
                 "a strict decoder refuses; imports_refused_by_check: bytes that decode but "
                 "fail the check against good[1].",
        "good": cases,
        "imports": imports,
        "bad": bad_cases,
        "imports_refused_by_check": [{"name": w, "bytes": d.hex()} for w, d in refused],
    }
    doc["federated_messages"] = federated_messages()
    path = os.path.join(out_dir, "entry-federation-vectors.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    fm = doc["federated_messages"]
    print(f"wrote {path}: {len(cases)} good, {len(bad_cases)} bad; kind 10: "
          f"{len(fm['good'])} good, {len(fm['bad'])} bad")


if __name__ == "__main__":
    main()
