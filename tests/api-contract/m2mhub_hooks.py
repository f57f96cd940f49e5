"""Schemathesis hooks for M2MHub's API contract test (tests/api-contract/run.sh).

A schema can say that a public key is 64 hex digits and a signature 128, but not that the key
is a point of the curve or that the signature verifies: random hex is rarely either. So, for
the requests schemathesis means to be valid (positive mode), these hooks put in what a real
device and a real operator would send:
- POST /v1/devices and POST /v1/devices/{name}/rekey get a fresh Ed25519 key, and the hooks
  keep the private key once the hub has taken it;
- POST /v1/messages and each item of POST /v1/messages/batch are signed over SPEC §4.1's
  signing bytes by the sender's key when the hooks hold it (otherwise a registered sender's
  name and key are put in), with a counter above any it used before.
- GET /v1/messages and GET /v1/stats/rates get query parameters that also keep the rules a
  schema cannot state across parameters or calendars: `from` and `to` are real dates (the
  pattern allows a 31st of February) with `from` ≤ `to`; `provenance` comes with
  `valid=false`; `leaf_hash` comes alone; `order=desc` not with `before`; and rates ask for
  at most 1,440 buckets.
Requests meant to be invalid (negative mode) are left as generated. The signing bytes are
written here from the SPEC, as in testdata/gen_signing_vectors.py (no code shared with Rust).
"""

import datetime
import hashlib
import random
import struct
import threading

import schemathesis
from hypothesis.internal import lambda_sources
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DOMAIN = b"m2mhub/message/v1\n"
ACTIONS = {"begin": 0, "continue": 1, "end": 2}
U64_MAX = 2**64 - 1

# CPython 3.11 before 3.11.8 can raise "SystemError: AST constructor recursion depth
# mismatch" from ast.parse deep in a stack (python/cpython#106905); hypothesis parses
# schemathesis's own source there only to name a filter lambda in a repr. A name is not worth
# a crashed run: fall back to the name hypothesis itself uses when it cannot tell.
_describe_lambda = lambda_sources._lambda_description


def _lambda_description(f, *args, **kwargs):
    try:
        return _describe_lambda(f, *args, **kwargs)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _lambda_description

_lock = threading.Lock()
# name -> private key of devices the hub registered with a key these hooks made.
_keys: dict[str, Ed25519PrivateKey] = {}
# name -> last counter these hooks signed with.
_counters: dict[str, int] = {}
# id(case) -> (name, key) waiting for the hub's answer.
_pending: dict[int, tuple[str, Ed25519PrivateKey]] = {}
_rng = random.Random(7)


def signing_bytes(sender, receiver, action, tx, cause, counter, contents):
    """SPEC §4.1: what a device signs (integers big-endian, strings UTF-8)."""
    s, r = sender.encode("utf-8"), receiver.encode("utf-8")
    out = DOMAIN
    out += struct.pack(">H", len(s)) + s
    out += struct.pack(">H", len(r)) + r
    out += struct.pack(">B", action)
    out += struct.pack(">Q", tx)
    out += struct.pack(">Q", 0 if cause is None else cause + 1)
    out += struct.pack(">Q", counter)
    out += hashlib.sha256(contents.encode("utf-8")).digest()
    return out


def _public_hex(sk):
    return sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def _positive(case):
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode.is_positive


def _sign(msg):
    """Signs `msg` (a dict shaped as the Message schema) in place, as a real device would."""
    if not isinstance(msg, dict):
        return
    # The contract's hub is in no federation, which refuses every message in the federation
    # form (SPEC §7: name@hub, tx_hub) as malformed: a positive case is sent in the one-hub
    # form. The federation form is tested against real federations in
    # crates/m2mhub/tests/federation_messages.rs.
    msg.pop("tx_hub", None)
    if isinstance(msg.get("receiver"), str):
        msg["receiver"] = msg["receiver"].split("@")[0] or msg["receiver"]
    with _lock:
        if msg.get("sender") not in _keys:
            if not _keys:
                return
            msg["sender"] = _rng.choice(sorted(_keys))
        sender = msg["sender"]
        counter = max(int(msg.get("counter", 0)), _counters.get(sender, 0) + 1)
        if counter > U64_MAX:
            return
        _counters[sender] = counter
        sk = _keys[sender]
    msg["counter"] = counter
    action = msg.get("action")
    code = ACTIONS.get(action, action) if isinstance(action, str) else action
    if code not in (0, 1, 2) or isinstance(code, bool):
        return
    # JSON Schema's integers include 2.0, which the hub reads as 2 (m2mhub_core::jsonint).
    tx = int(msg.get("tx") or 0)
    cause = None if msg.get("cause") is None else int(msg["cause"])
    if code != int(code) or tx > U64_MAX or (cause is not None and cause >= U64_MAX):
        return
    code = int(code)
    body = signing_bytes(sender, msg["receiver"], code, tx, cause, counter, msg["contents"])
    msg["signature"] = sk.sign(body).hex()


def _message(item):
    """A message between registered devices, with some of `item`'s fields when it has them."""
    with _lock:
        names = sorted(_keys)
    if not names:
        return item
    msg = {
        "sender": _rng.choice(names),
        "receiver": _rng.choice(names),
        "action": _rng.choice(["begin", "continue", "end", 0, 1, 2]),
        "counter": 0,
        "contents": "batch item",
    }
    if msg["action"] not in ("begin", 0):
        msg["tx"] = _rng.randrange(0, 5)
    if isinstance(item, dict) and isinstance(item.get("contents"), str):
        msg["contents"] = item["contents"][:1000]
    return msg


def _real_time(value):
    """`value` if it names a real instant in the shape the hub takes, else one that does."""
    try:
        t = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ" if "." in value else "%Y-%m-%dT%H:%M:%SZ")
        if t.year >= 1970:
            return value
    except (TypeError, ValueError):
        pass
    day = datetime.datetime(2026, 1, 1) + datetime.timedelta(seconds=_rng.randrange(0, 10**8))
    return day.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _times(query):
    """Real `from` and `to`, in order."""
    for k in ("from", "to"):
        if k in query:
            query[k] = _real_time(query[k])
    if "from" in query and "to" in query and query["from"][:19] > query["to"][:19]:
        query["from"], query["to"] = query["to"], query["from"]
    if "from" in query and "to" in query and query["from"][:19] == query["to"][:19]:
        query["from"] = query["to"]


def _instant(value):
    return datetime.datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")


def _message_query(query):
    if "leaf_hash" in query:
        for k in list(query):
            if k not in ("leaf_hash", "limit", "order"):
                del query[k]
        return
    _times(query)
    if "provenance" in query:
        query["valid"] = "false"
    if query.get("order") == "desc":
        query.pop("before", None)


def _rates_query(query):
    _times(query)
    bucket = query.get("bucket")
    if "from" in query and "to" in query and bucket is not None:
        try:
            span = (_instant(query["to"]) - _instant(query["from"])).total_seconds()
            if span / int(bucket) >= 1439:
                del query["bucket"]
        except (TypeError, ValueError, ZeroDivisionError):
            pass
    if ("from" in query) != ("to" in query):
        # One end only: the other defaults to now or to an hour before `to`, which a random
        # time may be past.
        query.pop("from", None)
        query.pop("to", None)
    if "from" in query and "to" in query:
        if (_instant(query["to"]) - _instant(query["from"])).days > 1400:
            query["from"] = query["to"]


@schemathesis.hook
def map_case(ctx, case):
    if not _positive(case):
        return case
    method, path = case.operation.method.upper(), case.operation.path
    body = case.body if isinstance(case.body, (dict, list)) else None
    if method == "POST" and path == "/v1/devices" and isinstance(body, dict):
        if isinstance(body.get("public_key"), str):
            sk = Ed25519PrivateKey.generate()
            body["public_key"] = _public_hex(sk)
            _pending[id(case)] = (body.get("name"), sk)
    elif method == "POST" and path == "/v1/devices/{name}/rekey" and isinstance(body, dict):
        sk = Ed25519PrivateKey.generate()
        body["public_key"] = _public_hex(sk)
        _pending[id(case)] = ((case.path_parameters or {}).get("name"), sk)
    elif method == "GET" and path in ("/v1/messages", "/v1/stats/rates"):
        query = case.query if isinstance(case.query, dict) else None
        if query is not None:
            (_message_query if path == "/v1/messages" else _rates_query)(query)
    elif method == "POST" and path == "/v1/messages":
        _sign(body)
    elif method == "POST" and path == "/v1/messages/batch" and isinstance(body, list):
        # The schema takes any items (a bad one is answered in its place); make most of
        # them real messages, so batches are recorded too.
        for i, item in enumerate(body):
            if i % 4 != 3:
                body[i] = _message(item)
                _sign(body[i])
    return case


@schemathesis.hook
def after_call(ctx, case, response):
    pending = _pending.pop(id(case), None)
    if pending is None or response.status_code not in (200, 201):
        return
    name, sk = pending
    with _lock:
        _keys[name] = sk
