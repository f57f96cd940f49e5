"""C2SP signed notes with Ed25519 keys (https://c2sp.org/signed-note) and M2MHub checkpoints
in them (C2SP tlog-checkpoint, SPEC §4.3), read as strictly as the hub's own
``m2mhub-core`` reads them: canonical base64, lowercase key ids, canonical public keys that
are not of small order, and every signature line by our key must verify."""

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Optional

from . import keys
from .errors import VerificationError

ALG_ED25519 = 0x01
MAX_TEXT_LEN = 1 << 20
MAX_SIGNATURES = 100
SIG_PREFIX = "\u2014 "
P = 2**255 - 19
# The canonical encodings of the eight points of small order, and the two that differ from
# one of them only by a sign bit on x = 0 (RFC 8032 refuses those as non-canonical anyway).
SMALL_ORDER = {bytes.fromhex(h) for h in (
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "0100000000000000000000000000000000000000000000000000000000000080",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
)}


def bad(why):
    return VerificationError(why)


def b64decode_canonical(s):
    """Standard padded base64, canonical only (one text per byte string), or None."""
    try:
        raw = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode() == s else None


def is_valid_key_name(name):
    return bool(name) and not any(c.isspace() or c == "+" or ord(c) < 0x20 for c in name)


def key_id(name, public_key):
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


class NoteVerifier:
    """A verifier key ``<name>+<key id, 8 hex>+<base64(0x01 ‖ public key)>``, as
    ``GET /v1/key`` gives it. Pin the line you obtained out of band."""

    def __init__(self, vkey):
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise bad("verifier key: expected <name>+<key id>+<key>")
        name, id_hex, key_b64 = parts
        if not is_valid_key_name(name):
            raise bad(f"verifier key: invalid key name {name!r}")
        if not re.fullmatch(r"[0-9a-f]{8}", id_hex):
            raise bad("verifier key: key id is not 8 lowercase hex digits")
        raw = b64decode_canonical(key_b64)
        if raw is None or len(raw) != 33 or raw[0] != ALG_ED25519:
            raise bad("verifier key: not canonical base64 of 0x01 and a 32-byte key")
        public = raw[1:]
        y = int.from_bytes(public, "little") & ((1 << 255) - 1)
        if y >= P:
            raise bad("verifier key: Ed25519 key is not canonical")
        if public in SMALL_ORDER:
            raise bad("verifier key: Ed25519 key has small order")
        if key_id(name, public) != bytes.fromhex(id_hex):
            raise bad("verifier key: key id does not match its name and public key")
        self.name, self.key_id, self.public_key = name, bytes.fromhex(id_hex), public

    def open(self, note):
        """Checks `note` and returns its text (final newline included)."""
        if any(ord(c) < 0x20 and c != "\n" for c in note):
            raise bad("note: ASCII control character")
        split = note.rfind("\n\n")
        if split < 0:
            raise bad("note: no blank line before the signatures")
        text, sigs = note[:split + 1], note[split + 2:]
        if not sigs or not sigs.endswith("\n"):
            raise bad("note: no signature lines, or no final newline")
        if len(text.encode()) > MAX_TEXT_LEN:
            raise bad("note: text too long")
        if sigs.count("\n") > MAX_SIGNATURES:
            raise bad("note: too many signature lines")
        verified = False
        for line in sigs[:-1].split("\n"):
            if not line.startswith(SIG_PREFIX) or " " not in line[len(SIG_PREFIX):]:
                raise bad("note: malformed signature line")
            name, b64 = line[len(SIG_PREFIX):].split(" ", 1)
            if not is_valid_key_name(name):
                raise bad("note: invalid key name in a signature line")
            blob = b64decode_canonical(b64)
            if blob is None or len(blob) < 5:
                raise bad("note: signature is not canonical base64 of at least 5 bytes")
            if name != self.name or blob[:4] != self.key_id:
                continue  # C2SP: ignore other keys
            if not keys.verify(self.public_key, text.encode(), blob[4:]):
                raise bad(f"note: invalid signature by key {self.name}+{self.key_id.hex()}")
            verified = True
        if not verified:
            raise bad(f"note: not signed by {self.name}+{self.key_id.hex()}")
        return text


def _decimal(s, what):
    if not re.fullmatch(r"0|[1-9][0-9]*", s) or int(s) >= 2**64:
        raise bad(f"checkpoint: bad {what}")
    return int(s)


def _hash(s, what):
    raw = b64decode_canonical(s)
    if raw is None or len(raw) != 32:
        raise bad(f"checkpoint: bad {what}")
    return raw


@dataclass(frozen=True)
class Checkpoint:
    """An M2MHub checkpoint: the C2SP lines, the ``block N prev HASH`` extension line and, on
    blocks sealed since checkpoints carry a time, ``time <unix ms>``."""

    origin: str
    tree_size: int
    root: bytes
    block: int
    prev_block_hash: bytes
    time_ms: Optional[int] = None

    @classmethod
    def parse_body(cls, text):
        if not text.endswith("\n"):
            raise bad("checkpoint: no final newline")
        lines = text[:-1].split("\n")
        if any(not line for line in lines):
            raise bad("checkpoint: empty line")
        if not 4 <= len(lines) <= 5:
            raise bad("checkpoint: not four or five lines")
        origin = lines[0]
        m = re.fullmatch(r"block (\S+) prev (\S+)", lines[3])
        if not m:
            raise bad("checkpoint: extension line is not `block N prev HASH`")
        time_ms = None
        if len(lines) == 5:
            if not lines[4].startswith("time "):
                raise bad("checkpoint: second extension line is not `time N`")
            time_ms = _decimal(lines[4][5:], "time")
        return cls(origin, _decimal(lines[1], "tree size"), _hash(lines[2], "root hash"),
                   _decimal(m.group(1), "block height"), _hash(m.group(2), "previous block hash"),
                   time_ms)

    @classmethod
    def open(cls, note, verifier):
        """Verifies a signed checkpoint note and reads it; its origin must be the key name."""
        cp = cls.parse_body(verifier.open(note))
        if cp.origin != verifier.name:
            raise bad(f"checkpoint origin {cp.origin!r} is not the key name {verifier.name!r}")
        return cp

    def to_body(self):
        b64 = lambda h: base64.b64encode(h).decode()  # noqa: E731
        body = (f"{self.origin}\n{self.tree_size}\n{b64(self.root)}\n"
                f"block {self.block} prev {b64(self.prev_block_hash)}\n")
        return body + (f"time {self.time_ms}\n" if self.time_ms is not None else "")

    def block_hash(self):
        """SHA-256 of the note text: what the next block's ``prev`` names."""
        return hashlib.sha256(self.to_body().encode()).digest()
