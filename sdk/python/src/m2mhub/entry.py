"""Reading the ledger's canonical entry bytes (encoding v1 of ``m2mhub-core``'s entry.rs, the
Merkle leaves of SPEC §4.2), strictly: exactly one byte string decodes to a given entry.

Integers big-endian; ``name`` is ``u16 length ‖ ASCII bytes``::

    u8 version = 1, u8 kind
    kind 1/6 device registered: name, u32 clearance, [32] key, u16 n, n × name (sorted, unique)
    kind 2/3 exception granted/withdrawn: name device, name sender
    kind 4 device revoked: name device
    kind 5 message: name sender, name receiver, u8 action, u64 tx, u64 cause + 1, u64 counter,
                    [32] SHA-256(contents), [64] signature, u16 len ‖ provenance (0: unknown),
                    u16 notices (bit i = the i-th notice of SPEC §3.3)
    kind 7 device re-keyed: name device, [32] new key
    kind 8 federation membership (SPEC §7): name hub, u16 cosignatures, u16 n,
                    n × (name member, str origin, str verifier key): members sorted and
                    unique, the hub among them, cosignatures < n, each key a canonical
                    verifier key named by its origin (``str`` is ``u16 length ‖ UTF-8``)
    kind 9 import (SPEC §7): str origin, u64 seq, u32 len ‖ foreign registry entry (kinds
                    1–4, 6, 7), u8 n ‖ n × [32] proof (n ≤ 64), u32 len ‖ checkpoint note
                    (UTF-8, ≤ 64 KiB)
    kind 10 federated message (SPEC §7): as kind 5, but sender and receiver may be
                    ``name@hub`` (another member's devices; bare: this hub's own); the
                    provenance stays bare. Kind 5 names are bare only. The sender signed the v2
                    bytes with every bare name qualified as ``name@<hub>`` and ``tx_hub`` =
                    ``<hub>`` (empty for a begin), ``<hub>`` being the recording hub's member
                    name (:meth:`MessageEntry.signing_bytes`).
"""

import base64
import hashlib
import re
import struct
from dataclasses import dataclass
from typing import List, Optional

from .errors import InvalidInput, VerificationError
from .signing import (ACTIONS, is_valid_name, signing_bytes_hashed,
                      signing_bytes_v2_hashed)

NOTICES = ("sender_revoked", "unknown_receiver", "receiver_revoked", "unknown_transaction",
           "transaction_rejected", "transaction_closed", "not_a_participant",
           "insufficient_clearance", "bad_cause")


@dataclass(frozen=True)
class MessageEntry:
    sender: str
    receiver: str
    action: str
    tx: int
    cause: Optional[int]
    counter: int
    contents_hash: bytes
    signature: bytes
    provenance: Optional[str]
    notices: List[str]
    # True for kind 10: signed in the federation form (SPEC §7).
    federated: bool = False

    @property
    def valid(self):
        return not self.notices

    def signing_bytes(self, hub=None):
        """The exact bytes the sender signed. A federated entry needs `hub`, the member name
        of the hub whose ledger records it (its membership entry's ``hub``)."""
        tx = 0 if self.action == "begin" else self.tx
        if not self.federated:
            return signing_bytes_hashed(self.sender, self.receiver, self.action, tx,
                                        self.cause, self.counter, self.contents_hash)
        if not is_valid_name(hub):
            raise InvalidInput(f"a federated entry's signing bytes need the recording hub's "
                               f"name, not {hub!r}")

        def qualify(name):
            return name if "@" in name else f"{name}@{hub}"

        tx_hub = "" if self.action == "begin" else hub
        return signing_bytes_v2_hashed(qualify(self.sender), qualify(self.receiver),
                                       self.action, tx, tx_hub, self.cause, self.counter,
                                       self.contents_hash)


@dataclass(frozen=True)
class KeyEntry:
    """A registration (kinds 1 and 6) or a re-key (kind 7): the key it gives a device."""

    kind: int
    device: str
    public_key: bytes


class _Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise VerificationError("entry: truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def uint(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def name(self, optional=False):
        n = self.uint(">H")
        if n == 0 and optional:
            return None
        raw = self.take(n)
        try:
            s = raw.decode("ascii")
        except UnicodeDecodeError:
            s = None
        if s is None or not is_valid_name(s):
            raise VerificationError("entry: invalid device name")
        return s

    def party(self):
        """A device name, or ``name@hub`` (SPEC §7) with both parts names."""
        n = self.uint(">H")
        try:
            s = self.take(n).decode("ascii")
        except UnicodeDecodeError:
            s = ""
        parts = s.split("@")
        if len(parts) > 2 or not all(is_valid_name(p) for p in parts):
            raise VerificationError("entry: invalid device name or name@hub")
        return s


def _canonical_key(key, origin):
    m = re.fullmatch(r"([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)", key)
    if not m or m.group(1) != origin:
        return False
    try:
        raw = base64.b64decode(m.group(3), validate=True)
    except ValueError:
        return False
    if len(raw) != 33 or raw[0] != 1 or base64.b64encode(raw).decode() != m.group(3):
        return False
    return hashlib.sha256(origin.encode() + b"\n\x01" + raw[1:]).digest()[:4].hex() == m.group(2)


def _membership(r):
    """Reads and checks a kind-8 body (nothing in it concerns a device's records)."""
    hub = r.name()
    cosignatures, n = r.uint(">H"), r.uint(">H")
    members = []
    for _ in range(n):
        name = r.name()
        fields = []
        for _ in range(2):
            try:
                fields.append(r.take(r.uint(">H")).decode("utf-8"))
            except UnicodeDecodeError:
                raise VerificationError("entry: a membership string is not UTF-8") from None
        members.append((name, *fields))
    names = [m[0].encode() for m in members]
    if any(a >= b for a, b in zip(names, names[1:])):
        raise VerificationError("entry: members are not sorted and unique")
    if hub not in [m[0] for m in members] or cosignatures >= n:
        raise VerificationError("entry: the hub is not a member, or the policy cannot be met")
    for _, origin, key in members:
        if not _canonical_key(key, origin):
            raise VerificationError("entry: a member key is not canonical or not its origin's")


def _import(r):
    """Reads and checks a kind-9 body's form (its proof is the importing hub's to check)."""
    try:
        origin = r.take(r.uint(">H")).decode("utf-8")
    except UnicodeDecodeError:
        raise VerificationError("entry: an import origin is not UTF-8") from None
    if not origin or re.search(r"[\s+]|[\x00-\x1f]", origin):
        raise VerificationError("entry: an import origin is not a key name")
    r.uint(">Q")
    inner = r.take(r.uint(">I"))
    if len(inner) < 2 or inner[1] not in (1, 2, 3, 4, 6, 7):
        raise VerificationError("entry: an import holds no registry change")
    decode(inner)
    n = r.uint(">B")
    if n > 64:
        raise VerificationError("entry: an import proof is too long")
    r.take(32 * n)
    note = r.take(r.uint(">I"))
    if len(note) > 64 * 1024:
        raise VerificationError("entry: an import checkpoint is too long")
    try:
        note.decode("utf-8")
    except UnicodeDecodeError:
        raise VerificationError("entry: an import checkpoint is not UTF-8") from None


def decode(data):
    """A MessageEntry or KeyEntry for kinds 5, 10, 1, 6 and 7; None for other valid kinds."""
    r = _Reader(bytes(data))
    if r.uint(">B") != 1:
        raise VerificationError("entry: unknown version")
    kind = r.uint(">B")
    out = None
    if kind in (1, 6):
        device = r.name()
        r.uint(">I")
        key = r.take(32)
        last = None
        for _ in range(r.uint(">H")):
            e = r.name()
            if last is not None and e <= last:
                raise VerificationError("entry: exceptions are not sorted and unique")
            last = e
        out = KeyEntry(kind, device, key)
    elif kind in (2, 3):
        r.name()
        r.name()
    elif kind == 4:
        r.name()
    elif kind == 7:
        out = KeyEntry(kind, r.name(), r.take(32))
    elif kind == 8:
        _membership(r)
    elif kind == 9:
        _import(r)
    elif kind in (5, 10):
        # Only a federated message names another member's devices; a provenance is always
        # this hub's device (its begin was recorded here).
        read = r.party if kind == 10 else r.name
        sender, receiver = read(), read()
        code = r.uint(">B")
        if code > 2:
            raise VerificationError("entry: bad action")
        tx, cause1, counter = r.uint(">Q"), r.uint(">Q"), r.uint(">Q")
        contents_hash, signature = r.take(32), r.take(64)
        provenance = r.name(optional=True)
        bits = r.uint(">H")
        if bits >> len(NOTICES):
            raise VerificationError("entry: unknown notice bit")
        notices = [n for i, n in enumerate(NOTICES) if bits >> i & 1]
        out = MessageEntry(sender, receiver, ACTIONS[code], tx,
                           None if cause1 == 0 else cause1 - 1, counter, contents_hash,
                           signature, provenance, notices, kind == 10)
    else:
        raise VerificationError(f"entry: unknown kind {kind}")
    if r.pos != len(r.data):
        raise VerificationError("entry: trailing bytes")
    return out
