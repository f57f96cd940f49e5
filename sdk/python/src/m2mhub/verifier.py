"""An outside auditor's checks through the public HTTP API only (SPEC §4.2, §4.3, §5), as the
Rust SDK's ``verifier.rs`` makes them: the checkpoint's signature, that a recorded entry is in
the tree the checkpoint commits to, that a record says what its entry bytes say, that a
delivery's signature verifies with the key its sender had at its seq, and that a later
checkpoint extends an earlier one. Nothing trusts the hub's answers: every hash is recomputed
here from the entry bytes and proofs.

Trusted: the hub's key line you pin (``Verifier(http, key_line)``; :meth:`Verifier.fetch_key`
is trust on first use), and, for a sender's key, that the hub's key history omits no re-key
between the entry that gave the key and the message (``m2mhub verify`` checks that too).

In a federation (SPEC §7) a federated message (entry kind 10) was signed over the v2 bytes,
which name the recording hub: give ``Verifier(..., hub=NAME)``, the hub's member name as the
federation file and its membership entry name it. The key of another member's device (a sender
``name@hub``) is not looked up here: its key history is at its home hub.
"""

import base64

from . import entry as entries
from . import merkle
from .errors import InvalidInput, VerificationError
from .keys import verify
from .note import Checkpoint, NoteVerifier
from .signing import contents_hash
from .wire import key_at, parse_key_history


def _hashes(path):
    out = []
    for h in path:
        try:
            raw = bytes.fromhex(h)
        except (ValueError, TypeError):
            raise VerificationError("a proof hash is not hex") from None
        out.append(raw)
    return out


def check_record_fields(record, entry_bytes):
    """Checks every field of `record` against the message entry `entry_bytes` encode."""
    m = entries.decode(entry_bytes)
    if not isinstance(m, entries.MessageEntry):
        raise VerificationError(f"entry {record.seq} is not a message")
    checks = [
        ("sender", record.sender == m.sender),
        ("receiver", record.receiver == m.receiver),
        ("action", record.action == m.action),
        ("tx", record.tx == m.tx),
        ("cause", record.cause == m.cause),
        ("counter", record.counter == m.counter),
        ("provenance", record.provenance == m.provenance),
        ("verdict", record.valid == m.valid and list(record.notices) == m.notices),
        # Pruned contents (null) are not a difference.
        ("contents", record.contents is None
         or contents_hash(record.contents) == m.contents_hash),
    ]
    for name, ok in checks:
        if not ok:
            raise VerificationError(f"record {record.seq}: its {name} is not the entry's")
    return m


def check_entry_signature(m, public_key, hub=None):
    """Checks the sender's signature recorded in message entry `m` (from
    :func:`m2mhub.entry.decode`) with its 32-byte `public_key`, over the bytes the sender
    signed, rebuilt from the entry: the v2 bytes of SPEC §7 for a federated entry, which need
    `hub`, the recording hub's member name."""
    try:
        signed = m.signing_bytes(hub)
    except InvalidInput as e:
        raise VerificationError(str(e)) from None
    if not verify(public_key, signed, m.signature):
        raise VerificationError("the sender's signature does not verify over the entry")


class Verifier:
    """Checks the hub at `http` (an :class:`m2mhub.http.HttpTransport`) whose key is
    `key_line` (``name+id+base64``, as ``GET /v1/key`` gives it); `hub`, in a federation, is
    its member name (needed to check a federated message's signature)."""

    def __init__(self, http, key_line, hub=None):
        self.http = http
        self.key = NoteVerifier(key_line)
        self.hub = hub

    @classmethod
    def fetch_key(cls, http, hub=None):
        """Trust on first use: the key the hub publishes now."""
        return cls(http, http.get_text("/v1/key"), hub)

    def checkpoint(self):
        """The hub's latest checkpoint, its signature checked."""
        return Checkpoint.open(self.http.get_text("/v1/checkpoint"), self.key)

    def included_entry(self, seq, cp):
        """(leaf hash, entry bytes) of entry `seq`, checked to be in the tree of `cp`."""
        e = self.http.get_json(f"/v1/entries/{seq}")
        try:
            data = base64.b64decode(e["entry_bytes"], validate=True)
        except (KeyError, TypeError, ValueError):
            raise VerificationError(f"entry {seq}: no entry bytes") from None
        leaf = merkle.leaf_hash(data)
        p = self.http.get_json(f"/v1/proof/inclusion?seq={seq}&tree_size={cp.tree_size}")
        merkle.verify_inclusion(leaf, seq, cp.tree_size, _hashes(p.get("path", [])), cp.root)
        return leaf, data

    def verify_inclusion(self, seq, cp):
        """Checks that entry `seq` is in the tree of `cp`; returns its leaf hash."""
        return self.included_entry(seq, cp)[0]

    def verify_record(self, record, cp):
        """Checks that a record the hub returned is the entry in the tree of `cp`: its entry
        bytes hash to a leaf the checkpoint includes, and every field of the record is what
        those bytes say. A hub that shows a record other than the one it committed is
        caught."""
        leaf, data = self.included_entry(record.seq, cp)
        if leaf.hex() != record.leaf_hash:
            raise VerificationError(f"record {record.seq}: its leaf hash is not the entry's")
        return check_record_fields(record, data)

    def sender_key_at(self, device, seq, cp):
        """The key `device` signed with at `seq` (SPEC §3.2.2), checked to be the key given
        by the registration or re-key entry at its ``from_seq``, in the tree of `cp`."""
        if "@" in device:
            raise VerificationError(
                f"{device} is another hub's device: its keys are checked at its home hub")
        history = parse_key_history(self.http.get_json(f"/v1/devices/{device}"))
        k = key_at(history, seq)
        if k is None:
            raise VerificationError(f"{device} had no key at seq {seq}")
        _, data = self.included_entry(k.from_seq, cp)
        given = entries.decode(data)
        if not isinstance(given, entries.KeyEntry) or given.device != device:
            raise VerificationError(f"entry {k.from_seq} gives {device} no key")
        if given.public_key != k.public_key:
            raise VerificationError(
                f"entry {k.from_seq} gives {device} another key than the hub lists")
        return k.public_key

    def verify_delivery(self, delivery, cp):
        """Checks a delivery end to end: its record is the entry in the tree of `cp`, its
        signature is the entry's, and it verifies, over the bytes rebuilt from the entry (v2
        for a federated one), with the key its sender had at its seq."""
        m = self.verify_record(delivery.record, cp)
        if delivery.signature != m.signature:
            raise VerificationError(
                f"record {delivery.record.seq}: its signature is not the entry's")
        key = self.sender_key_at(delivery.record.sender, delivery.record.seq, cp)
        check_entry_signature(m, key, self.hub)

    def verify_consistency(self, old, new):
        """Checks that checkpoint `new` extends `old` (nothing rewritten in between)."""
        path = []
        if 0 < old.tree_size < new.tree_size:
            p = self.http.get_json(
                f"/v1/proof/consistency?from={old.tree_size}&to={new.tree_size}")
            path = _hashes(p.get("path", []))
        merkle.verify_consistency(old.tree_size, new.tree_size, old.root, new.root, path)


__all__ = ["Verifier", "check_entry_signature", "check_record_fields"]
