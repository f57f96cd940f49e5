"""A device bound to a transport: signs in order, sends, and carries transactions on."""

import threading

from .errors import Refused
from .wire import TxHandle

# How many times a message refused as stale_counter is signed again with a fresh counter.
# Over MQTT, a publish lost in a broker restart can be overtaken by later messages of the same
# device; when it is published again the hub finds its counter stale, which proves it was never
# recorded (an exact resubmission would have returned the original record), so signing it
# again with the next counter records it exactly once. The Rust SDK does the same.
RESIGN_ATTEMPTS = 3


class Client:
    """`device` (:class:`m2mhub.device.Device`) talking over `transport` (an HttpTransport
    or an MqttTransport). Calls are serialised, so counters reach the hub in order."""

    def __init__(self, device, transport):
        self.device = device
        self.transport = transport
        self._lock = threading.Lock()

    def send(self, to, action, tx=0, cause=None, contents=""):
        """Signs, sends and returns the hub's record (raises Refused, Timeout, ...)."""
        with self._lock:
            m = self.device.sign(to, action, tx, cause, contents)
            for attempt in range(RESIGN_ATTEMPTS + 1):
                try:
                    return self.transport.submit(m)
                except Refused as e:
                    if e.code != "stale_counter" or attempt == RESIGN_ATTEMPTS:
                        raise
                    m = self.device.resign(m)

    def begin(self, to, contents=""):
        """Opens a transaction with `to`: (handle, record)."""
        r = self.send(to, "begin", 0, None, contents)
        return TxHandle.after(r), r

    def continue_tx(self, handle, to, contents=""):
        """Continues `handle`'s transaction towards `to`, caused by ``handle.cause``; returns
        the handle moved on to this message, and the record."""
        r = self.send(to, "continue", handle.tx, handle.cause, contents)
        return TxHandle.after(r), r

    def end(self, handle, to, contents=""):
        """Ends `handle`'s transaction with a message to `to`, caused by ``handle.cause``."""
        return self.send(to, "end", handle.tx, handle.cause, contents)
