"""The device's message counter (SPEC §3.2: each message's counter is greater than the last one
the hub recorded), persisted so that a restart or a power cut never reuses a value.

Writing the file for every message would cost an fsync per message, so the counter *reserves*
a block of values, as the Rust SDK does: the file holds the highest value that may have been
used, written durably (temp file, fsync, rename, fsync of the directory) *before* any value of
the block is handed out. After a crash the device skips the rest of the block, which is fine:
counters must grow, not be contiguous. The file format is the Rust SDK's (``N\\n``), so a
device may switch SDKs and keep its counter.
"""

import os
import threading

from .errors import InvalidInput

DEFAULT_RESERVE = 1024
U64_MAX = 2**64 - 1


class Counter:
    """A counter that only grows, kept in a file (or only in memory with `path=None`)."""

    def __init__(self, path=None, reserve=DEFAULT_RESERVE, last=0):
        self.path = path
        self.reserve = max(1, int(reserve))
        self._lock = threading.Lock()
        if path is None:
            self.last = last
            self.reserved = U64_MAX
            return
        try:
            with open(path) as f:
                text = f.read().strip()
        except FileNotFoundError:
            text = "0"
        if not text.isascii() or not text.isdigit() or int(text) > U64_MAX:
            raise InvalidInput(f"{path}: not a counter")
        self.last = int(text)
        self.reserved = self.last

    @classmethod
    def in_memory(cls, last=0):
        """A counter kept only in memory, starting after `last` (tests, simulations)."""
        return cls(None, last=last)

    def next_value(self):
        """The next value; persists a new reservation first when the current one is used up."""
        with self._lock:
            if self.last >= U64_MAX:
                raise InvalidInput("the counter is exhausted")
            nxt = self.last + 1
            if nxt > self.reserved:
                reserved = min(U64_MAX, nxt + self.reserve - 1)
                write_durably(self.path, reserved)
                self.reserved = reserved
            self.last = nxt
            return nxt


def write_durably(path, value):
    """Replaces `path` with `value` so that a crash leaves the old or the new value."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{value}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    directory = os.path.dirname(os.path.abspath(path))
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)  # make the rename itself durable
    finally:
        os.close(fd)
