"""The SDK's exceptions: one base class, one subclass per way things go wrong."""


class M2MHubError(Exception):
    """Anything the SDK raises on purpose."""


class InvalidInput(M2MHubError):
    """A local file or argument is not what it should be (a name, a key file, a counter)."""


class Refused(M2MHubError):
    """The hub refused the submission (SPEC §3.2): nothing was recorded.

    `code` is the stable error code (`malformed`, `unknown_sender`, `bad_signature`,
    `stale_counter`, ...), `message` the text for people, `counter` the refused message's
    counter when the hub named one (MQTT acknowledgements).
    """

    def __init__(self, code, message, counter=None, status=None):
        super().__init__(f"refused: {code}: {message}")
        self.code = code
        self.message = message
        self.counter = counter
        self.status = status

    @property
    def transient(self):
        """True for hub-side failures that say nothing about the message: send it again."""
        return self.code in ("unavailable", "internal", "too_many_failures")


class TransportError(M2MHubError):
    """The hub or broker could not be reached, or answered something unexpected."""


class Timeout(M2MHubError):
    """No acknowledgement arrived after every retry."""

    def __init__(self, counter, attempts):
        super().__init__(f"no acknowledgement for counter {counter} after {attempts} attempts")
        self.counter = counter
        self.attempts = attempts


class VerificationError(M2MHubError):
    """A proof, signature, checkpoint or record from the hub does not verify."""
