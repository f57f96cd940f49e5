"""A device's identity and signing: its name, key and counter. It signs; a Client sends."""

import threading

from . import signing
from .counter import DEFAULT_RESERVE, Counter
from .errors import InvalidInput
from .keys import DeviceKey
from .wire import Message


class Device:
    """A device: `name`, `key` (:class:`DeviceKey`), `counter` (:class:`Counter`)."""

    def __init__(self, name, key, counter):
        self.name = signing.check_name(name)
        self.key = key
        self.counter = counter
        self._lock = threading.Lock()

    @classmethod
    def open(cls, name, prefix, reserve=DEFAULT_RESERVE):
        """The device whose key is ``PREFIX.key``, with its counter in ``PREFIX.counter`` (the
        Rust SDK's layout). `reserve`: counter values per durable write of the counter file:
        1 for a process that sends one message and exits, more for a long-running device."""
        return cls(name, DeviceKey.load(prefix), Counter(f"{prefix}.counter", reserve))

    def sign(self, to, action, tx=0, cause=None, contents=""):
        """Signs a message to `to` with the next counter value (SPEC §4.1)."""
        signing.action_code(action)
        signing.check_name(to, "receiver")
        if not isinstance(contents, str):
            raise InvalidInput("contents are text")
        contents.encode("utf-8")  # lone surrogates are not UTF-8: fail before a counter is used
        if action == "begin":
            tx = 0
        m = Message(self.name, to, action, tx, cause, 0, contents, b"")
        return self._stamp(m)

    def sign_v2(self, home_hub, to, action, tx=0, tx_hub="", cause=None, contents=""):
        """Signs the federation form (SPEC §7): sender ``name@home_hub``, `to` a qualified
        ``name@hub``, `tx_hub` the transaction's home hub ("" for a begin). Send it to the
        device's own hub (``POST /v1/messages`` carries `tx_hub`), which records it or, for
        another hub's transaction, forwards it to that hub."""
        signing.check_name(home_hub, "home hub")
        if action == "begin":
            tx, tx_hub = 0, ""
        m = Message(f"{self.name}@{home_hub}", to, action, tx, cause, 0, contents, b"", tx_hub)
        return self._stamp(m)

    def resign(self, m):
        """`m` (one of this device's messages) with the next counter value, signed again: how
        a message refused as ``stale_counter`` is sent anew."""
        return self._stamp(m)

    def _stamp(self, m):
        with self._lock:
            fields = dict(m.__dict__)
            fields["signature"] = b""
            fields["counter"] = 0
            # Check every field before a counter value is spent on it.
            Message(**fields).signing_bytes()
            fields["counter"] = self.counter.next_value()
            unsigned = Message(**fields)
            fields["signature"] = self.key.sign(unsigned.signing_bytes())
            return Message(**fields)
