"""The bytes a device signs: a message (SPEC §4.1), its federation form (SPEC §7) and the MQTT
CONNECT password (SPEC §5.2). Integers are big-endian, strings UTF-8.

v1 (one hub)::

    "m2mhub/message/v1" 0x0A
    u16 len(sender) sender      u16 len(receiver) receiver
    u8 action (0 begin, 1 continue, 2 end)
    u64 tx (0 for begin)        u64 cause + 1 (0 when absent)
    u64 counter                 32 bytes SHA-256(contents)

v2 (a federation; sender and receiver are ``name@hub``): the same fields under the domain
``"m2mhub/message/v2" 0x0A``, with ``u16 len(tx_hub) tx_hub`` (empty for a begin) right after
``u64 tx``. A hub of a federation takes them at ``POST /v1/messages`` with ``tx_hub``; a
message of another hub's transaction goes to the sender's own hub, which forwards it to the
transaction's home. ``testdata/signing-v2-vectors.json`` pins the form. The ``*_hashed``
variants take SHA-256(contents) instead of the contents, as an entry records them.

CONNECT: ``"m2mhub/connect/v1" 0x0A ‖ u16 len(name) ‖ name ‖ u64 unix seconds``; the password
is ``<unix seconds>.<hex signature>``.
"""

import hashlib
import re
import struct
import time

from .errors import InvalidInput

MESSAGE_DOMAIN = b"m2mhub/message/v1\n"
MESSAGE_DOMAIN_V2 = b"m2mhub/message/v2\n"
CONNECT_DOMAIN = b"m2mhub/connect/v1\n"
ACTIONS = ("begin", "continue", "end")
U64_MAX = 2**64 - 1
# SPEC §3.4: device names (and, in a federation, hub names) are 1-64 of A-Z a-z 0-9 _ . -
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}\Z")


def is_valid_name(name):
    """True when `name` is a device (or hub) name of SPEC §3.4."""
    return isinstance(name, str) and _NAME.match(name) is not None


def check_name(name, what="device name"):
    if not is_valid_name(name):
        raise InvalidInput(f"{what} {name!r} is not 1-64 characters of A-Z a-z 0-9 _ . -")
    return name


def check_qualified(name, what="device"):
    """A federation name ``name@hub`` (SPEC §7)."""
    if not isinstance(name, str) or name.count("@") != 1:
        raise InvalidInput(f"{what} {name!r} is not name@hub")
    device, hub = name.split("@")
    check_name(device, f"{what} name")
    check_name(hub, f"{what} hub")
    return name


def action_code(action):
    """0, 1 or 2 for `begin`, `continue`, `end` (names or codes)."""
    if action in (0, 1, 2):
        return action
    try:
        return ACTIONS.index(action)
    except ValueError:
        raise InvalidInput(f"action {action!r} is not begin, continue or end") from None


def _u64(value, what):
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= U64_MAX:
        raise InvalidInput(f"{what} {value!r} is not a u64")
    return value


def _cause_plus_one(cause):
    if cause is None:
        return 0
    # 0 stands for "no cause", so cause + 1 must fit in a u64.
    if _u64(cause, "cause") == U64_MAX:
        raise InvalidInput("cause 2^64-1 cannot be encoded as cause + 1")
    return cause + 1


def _str(s):
    b = s.encode("utf-8")
    return struct.pack(">H", len(b)) + b


def contents_hash(contents):
    """SHA-256 of the contents (text as UTF-8, or bytes as given)."""
    if isinstance(contents, str):
        contents = contents.encode("utf-8")
    return hashlib.sha256(contents).digest()


def signing_bytes(sender, receiver, action, tx, cause, counter, contents):
    """The SPEC §4.1 bytes. `tx` is what the device signs: 0 for a begin."""
    return signing_bytes_hashed(sender, receiver, action, tx, cause, counter,
                                contents_hash(contents))


def _digest(h):
    if not isinstance(h, bytes) or len(h) != 32:
        raise InvalidInput("a contents hash is 32 bytes")
    return h


def signing_bytes_hashed(sender, receiver, action, tx, cause, counter, contents_sha256):
    """:func:`signing_bytes` from SHA-256(contents)."""
    check_name(sender, "sender")
    check_name(receiver, "receiver")
    return (MESSAGE_DOMAIN + _str(sender) + _str(receiver)
            + struct.pack(">BQQQ", action_code(action), _u64(tx, "tx"),
                          _cause_plus_one(cause), _u64(counter, "counter"))
            + _digest(contents_sha256))


def signing_bytes_v2(sender, receiver, action, tx, tx_hub, cause, counter, contents):
    """The SPEC §7 bytes: names are ``name@hub``; `tx_hub` is the transaction's home hub
    ("" for a begin)."""
    return signing_bytes_v2_hashed(sender, receiver, action, tx, tx_hub, cause, counter,
                                   contents_hash(contents))


def signing_bytes_v2_hashed(sender, receiver, action, tx, tx_hub, cause, counter,
                            contents_sha256):
    """:func:`signing_bytes_v2` from SHA-256(contents)."""
    check_qualified(sender, "sender")
    check_qualified(receiver, "receiver")
    code = action_code(action)
    if code == 0 and tx_hub:
        raise InvalidInput("a begin names no tx_hub")
    if code != 0:
        check_name(tx_hub, "tx_hub")
    return (MESSAGE_DOMAIN_V2 + _str(sender) + _str(receiver)
            + struct.pack(">BQ", code, _u64(tx, "tx")) + _str(tx_hub)
            + struct.pack(">QQ", _cause_plus_one(cause), _u64(counter, "counter"))
            + _digest(contents_sha256))


def connect_signing_bytes(name, unix_s):
    """The SPEC §5.2 bytes a device signs to connect at `unix_s`."""
    check_name(name)
    return CONNECT_DOMAIN + _str(name) + struct.pack(">Q", _u64(unix_s, "unix seconds"))


def connect_password(key, name, unix_s=None):
    """The MQTT CONNECT password of device `name` (username = `name`), signed by `key` (a
    :class:`m2mhub.keys.DeviceKey`) at `unix_s` (default: now). The hub accepts it within
    ±300 s of its clock: sign afresh for every connection."""
    if unix_s is None:
        unix_s = int(time.time())
    return f"{unix_s}.{key.sign(connect_signing_bytes(name, unix_s)).hex()}"
