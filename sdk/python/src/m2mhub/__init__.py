"""M2MHub's Python device SDK: what a device or gateway links to talk to a hub.

- :mod:`keys`: an Ed25519 key pair in two files (``PREFIX.key``, mode 0600, and ``PREFIX.pub``).
- :mod:`counter`: the message counter, reserved ahead in a file so no value is ever reused.
- :mod:`signing`: the bytes a device signs (SPEC §4.1, §7) and the MQTT CONNECT password (§5.2).
- :mod:`device`: a device signs messages; :class:`TxHandle` carries transactions on.
- :mod:`http`, :mod:`mqtt`: the transports, with retries that are safe to repeat.
- :mod:`client`: a device bound to a transport (begin, continue with cause, end).
- :mod:`verifier`: an outside auditor's checks through the public API.

It holds no rule: verdicts come from the hub. Where it checks an Ed25519 signature itself it
uses OpenSSL (through ``cryptography``), which is stricter than the hub's ZIP 215 (SPEC §3.2.1
allows that): it may refuse a signature only a hostile signer makes.
"""

from .client import Client
from .counter import Counter
from .device import Device
from .errors import (InvalidInput, M2MHubError, Refused, Timeout, TransportError,
                     VerificationError)
from .http import HttpTransport
from .keys import DeviceKey
from .mqtt import MqttTransport
from .note import Checkpoint, NoteVerifier
from .signing import connect_password
from .verifier import Verifier
from .wire import Delivery, Message, Record, TxHandle

__all__ = [
    "Checkpoint", "Client", "Counter", "Delivery", "Device", "DeviceKey", "HttpTransport",
    "InvalidInput", "M2MHubError", "Message", "MqttTransport", "NoteVerifier", "Record",
    "Refused", "Timeout", "TransportError", "TxHandle", "VerificationError", "Verifier",
    "connect_password",
]
