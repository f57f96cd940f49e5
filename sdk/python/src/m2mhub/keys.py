"""Device key pairs on disk, in the Rust SDK's layout: ``PREFIX.key`` holds the 32-byte
Ed25519 seed as hex (mode 0600, never overwritten), ``PREFIX.pub`` the public key as hex, the
form ``POST /v1/devices`` takes. `m2mhub device keygen --out PREFIX` writes the same files."""

import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import InvalidInput


def _hex32(text, what):
    text = text.strip()
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise InvalidInput(f"{what} is not hex") from None
    if len(raw) != 32 or len(text) != 64:
        raise InvalidInput(f"{what} is not 32 bytes as 64 hex digits")
    return raw


class DeviceKey:
    """A device's Ed25519 key pair (RFC 8032 signing: every signature is ZIP 215-valid)."""

    def __init__(self, seed):
        if not isinstance(seed, (bytes, bytearray)) or len(seed) != 32:
            raise InvalidInput("an Ed25519 seed is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(bytes(seed))
        self.public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def __repr__(self):
        return f"DeviceKey({self.public_hex})"

    @classmethod
    def generate(cls):
        """A fresh key from the OS's random source."""
        return cls(os.urandom(32))

    @property
    def public_hex(self):
        """The public key as hex, as ``POST /v1/devices`` takes it."""
        return self.public.hex()

    def sign(self, message):
        """The 64-byte Ed25519 signature of `message`."""
        return self._key.sign(message)

    def save(self, prefix):
        """Writes ``PREFIX.key`` (mode 0600; refuses to overwrite one) and ``PREFIX.pub``."""
        secret = f"{prefix}.key"
        seed = self._key.private_bytes_raw()
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(seed.hex() + "\n")
            f.flush()
            os.fsync(f.fileno())
        with open(f"{prefix}.pub", "w") as f:
            f.write(self.public_hex + "\n")

    @classmethod
    def load(cls, prefix):
        """Reads ``PREFIX.key``."""
        path = f"{prefix}.key"
        with open(path) as f:
            return cls(_hex32(f.read(), path))


def verify(public_key, message, signature):
    """True when `signature` is a valid Ed25519 signature of `message` under the 32-byte
    `public_key`, by OpenSSL's rule (through `cryptography`). That rule is stricter than the
    hub's ZIP 215 (SPEC §3.2.1 allows it): it refuses some signatures only a hostile signer
    makes, never one an RFC 8032 signer makes."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(bytes(public_key)).verify(bytes(signature), message)
        return True
    except (InvalidSignature, ValueError):
        return False


def parse_public_hex(text, what="public key"):
    """A 32-byte public key from its 64 hex digits."""
    return _hex32(text, what)
