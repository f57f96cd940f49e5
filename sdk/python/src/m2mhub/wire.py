"""What travels between devices and the hub: signed messages (the body of
``POST /v1/messages`` and the MQTT payload), records (SPEC §5), refusals, acknowledgements and
deliveries, and the MQTT topics of ``docs/MQTT.md``."""

import json
from dataclasses import dataclass, field
from typing import List, Optional

from . import keys, signing
from .errors import InvalidInput, Refused, TransportError, VerificationError

TOPIC_ROOT = "m2m"


def _prefix(hub):
    # In a federation (SPEC §7) the topics carry the device's hub: m2m/{hub}/out/{name}.
    return TOPIC_ROOT if hub is None else f"{TOPIC_ROOT}/{hub}"


def out_topic(sender, hub=None):
    """Where `sender` (a device of `hub`, in a federation) publishes its signed messages."""
    return f"{_prefix(hub)}/out/{sender}"


def ack_topic(sender, hub=None):
    """Where the hub acknowledges `sender`'s messages."""
    return f"{_prefix(hub)}/ack/{sender}"


def in_topic(receiver, hub=None):
    """Where messages addressed to `receiver` (a device of `hub`) are delivered."""
    return f"{_prefix(hub)}/in/{receiver}"


@dataclass(frozen=True)
class Message:
    """A signed message. `tx_hub` is None for the one-hub form (v1, SPEC §4.1); a string (""
    for a begin) makes it the federation form (v2, SPEC §7), with qualified names."""

    sender: str
    receiver: str
    action: str
    tx: int
    cause: Optional[int]
    counter: int
    contents: str
    signature: bytes
    tx_hub: Optional[str] = None

    def signing_bytes(self):
        if self.tx_hub is None:
            return signing.signing_bytes(self.sender, self.receiver, self.action, self.tx,
                                         self.cause, self.counter, self.contents)
        return signing.signing_bytes_v2(self.sender, self.receiver, self.action, self.tx,
                                        self.tx_hub, self.cause, self.counter, self.contents)

    def to_json(self):
        """The JSON object of ``POST /v1/messages`` (tx and cause left out when absent)."""
        body = {"sender": self.sender, "receiver": self.receiver, "action": self.action}
        if self.tx:
            body["tx"] = self.tx
        if self.tx_hub:
            body["tx_hub"] = self.tx_hub
        if self.cause is not None:
            body["cause"] = self.cause
        body.update(counter=self.counter, contents=self.contents,
                    signature=self.signature.hex())
        return body

    def to_payload(self):
        """The UTF-8 JSON bytes sent; a retry sends these same bytes again."""
        return json.dumps(self.to_json(), ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")


def _want(obj, key, types, nullable=False):
    if key not in obj:
        raise TransportError(f"the hub's answer has no {key!r}")
    v = obj[key]
    if v is None and nullable:
        return None
    if not isinstance(v, types) or (isinstance(v, bool) and bool not in _tuple(types)):
        raise TransportError(f"the hub's answer has a bad {key!r}: {v!r}")
    return v


def _optional(obj, key, types):
    """A field that may be absent or null (contents, time, duplicate)."""
    return _want(obj, key, types, nullable=True) if key in obj else None


def _tuple(t):
    return t if isinstance(t, tuple) else (t,)


@dataclass(frozen=True)
class Record:
    """A recorded message (SPEC §5 "record")."""

    seq: int
    tx: int
    provenance: Optional[str]
    sender: str
    receiver: str
    action: str
    cause: Optional[int]
    counter: int
    contents: Optional[str]
    valid: bool
    notices: List[str]
    block: int
    leaf_hash: str
    time: Optional[str] = None
    duplicate: bool = False

    @classmethod
    def from_json(cls, obj):
        if not isinstance(obj, dict):
            raise TransportError("a record is a JSON object")
        notices = _want(obj, "notices", list)
        if not all(isinstance(n, str) for n in notices):
            raise TransportError("notices are strings")
        action = _want(obj, "action", str)
        if action not in signing.ACTIONS:
            raise TransportError(f"unknown action {action!r}")
        return cls(
            seq=_want(obj, "seq", int), tx=_want(obj, "tx", int),
            provenance=_want(obj, "provenance", str, nullable=True),
            sender=_want(obj, "sender", str), receiver=_want(obj, "receiver", str),
            action=action, cause=_want(obj, "cause", int, nullable=True),
            counter=_want(obj, "counter", int),
            contents=_optional(obj, "contents", str),
            valid=_want(obj, "valid", bool), notices=list(notices),
            block=_want(obj, "block", int), leaf_hash=_want(obj, "leaf_hash", str),
            time=_optional(obj, "time", str),
            duplicate=bool(_optional(obj, "duplicate", bool)),
        )


@dataclass(frozen=True)
class KeyInForce:
    """One of a device's keys, as ``GET /v1/devices/{name}`` lists them in ``keys``."""

    public_key: bytes
    from_seq: int


def key_at(history, seq):
    """The key in force at `seq` from a key history (oldest first), or None."""
    found = None
    for k in history:
        if k.from_seq <= seq:
            found = k
    return found


def parse_key_history(device_json):
    """The ``keys`` of a ``GET /v1/devices/{name}`` answer."""
    out = []
    for k in device_json.get("keys") or []:
        out.append(KeyInForce(keys.parse_public_hex(str(k.get("public_key", ""))),
                              int(k.get("from_seq", -1))))
    if not out and "public_key" in device_json:
        out.append(KeyInForce(keys.parse_public_hex(device_json["public_key"]), 0))
    return out


@dataclass(frozen=True)
class Delivery:
    """The payload of ``m2m/in/{receiver}``: the record with its contents, plus the sender's
    signature, so the receiver can check the message end to end."""

    record: Record
    signature: bytes

    @classmethod
    def from_json(cls, obj):
        record = Record.from_json(obj)
        sig = _want(obj, "signature", str)
        try:
            raw = bytes.fromhex(sig)
        except ValueError:
            raise TransportError("the delivery's signature is not hex") from None
        if len(raw) != 64:
            raise TransportError("the delivery's signature is not 64 bytes")
        return cls(record, raw)

    def message(self):
        """The message as its sender signed it (a begin signed tx 0: the hub assigned
        ``record.tx`` afterwards)."""
        r = self.record
        if r.contents is None:
            raise InvalidInput("delivery without contents")
        return Message(r.sender, r.receiver, r.action, 0 if r.action == "begin" else r.tx,
                       r.cause, r.counter, r.contents, self.signature)

    def verify_signature(self, sender_key):
        """Checks the sender's signature with its 32-byte public key (e.g. from
        ``GET /v1/devices/{name}``); raises VerificationError. A re-keyed sender signed with
        the key in force at the delivery's seq: see :meth:`verify_signature_in_history`."""
        m = self.message()
        if not keys.verify(sender_key, m.signing_bytes(), m.signature):
            raise VerificationError("the sender's signature does not verify")

    def verify_signature_in_history(self, history):
        """Checks the signature with the key the sender had at the delivery's seq."""
        k = key_at(history, self.record.seq)
        if k is None:
            raise VerificationError(f"the sender had no key at seq {self.record.seq}")
        self.verify_signature(k.public_key)


def parse_ack(payload):
    """An ``m2m/ack/{sender}`` payload: a Record, or a Refused exception object (not raised)
    naming the counter it answers."""
    try:
        obj = json.loads(payload)
    except ValueError as e:
        raise TransportError(f"an acknowledgement is not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise TransportError("an acknowledgement is a JSON object")
    if "error" in obj:
        counter = obj.get("counter")
        return Refused(str(obj["error"]), str(obj.get("message", "")),
                       counter if isinstance(counter, int) else None)
    return Record.from_json(obj)


@dataclass
class TxHandle:
    """A transaction as a device carries it on: its id, and the seq of the message the next
    continue/end answers (its cause)."""

    tx: int
    cause: Optional[int] = field(default=None)

    @classmethod
    def after(cls, record):
        """The handle a recorded message gives: its tx, and itself as the next cause."""
        return cls(record.tx, record.seq)

    @classmethod
    def answering(cls, delivery):
        """The handle for answering a delivered message."""
        return cls.after(delivery.record)
