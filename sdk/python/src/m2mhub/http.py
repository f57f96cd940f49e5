"""The HTTP transport (SPEC §5 ``POST /v1/messages``), with retries that are safe to repeat,
plus the public reads a device and a verifier need and the operator's registration call.

Standard library only (urllib). A message whose answer was lost (connection reset, timeout,
a 5xx or a 429) is sent again **byte for byte**: the hub answers an exact resubmission (same
sender, counter and signature) with the original record and ``"duplicate": true`` (SPEC §3.2),
so a retry never records anything twice.
"""

import json
import time
import urllib.error
import urllib.request

from .errors import Refused, TransportError
from .wire import Record


class HttpTransport:
    """A hub reached over HTTP at `url` (e.g. ``http://127.0.0.1:8080``)."""

    def __init__(self, url, timeout_s=10.0, attempts=5, backoff_s=0.2):
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s

    def _request(self, method, path, body=None, headers=None):
        """One request: (status, body bytes). Raises TransportError when unreachable."""
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            raise TransportError(f"{method} {self.url}{path}: {e}") from None

    def _refusal(self, method, path, status, body):
        try:
            obj = json.loads(body)
            return Refused(str(obj["error"]), str(obj.get("message", "")), status=status)
        except (ValueError, KeyError, TypeError):
            return TransportError(f"{method} {self.url}{path}: {status}: {body[:200]!r}")

    def post_message(self, payload):
        """POSTs one message's JSON bytes; returns its Record. Retries the same bytes on
        transport failures and transient refusals; raises Refused for a final refusal."""
        last = None
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff_s * (2 ** (attempt - 1)))
            try:
                status, body = self._request("POST", "/v1/messages", payload,
                                             {"Content-Type": "application/json"})
            except TransportError as e:
                last = e
                continue
            if status == 200:
                return Record.from_json(_json(body))
            err = self._refusal("POST", "/v1/messages", status, body)
            if isinstance(err, Refused) and not err.transient and status < 500 and status != 429:
                raise err
            last = err
        raise last

    def submit(self, message):
        """Submits a signed :class:`m2mhub.wire.Message`."""
        return self.post_message(message.to_payload())

    def get_text(self, path):
        """GET a text document of the public API."""
        status, body = self._request("GET", path)
        if status != 200:
            raise self._refusal("GET", path, status, body)
        return body.decode("utf-8")

    def get_json(self, path):
        """GET a JSON document of the public API."""
        return _json(self.get_text(path).encode("utf-8"))

    def register_device(self, token, name, clearance, public_key_hex, exceptions=()):
        """Registers a device (operator: needs the operator token)."""
        body = json.dumps({"name": name, "clearance": clearance,
                           "public_key": public_key_hex,
                           "exceptions": list(exceptions)}).encode()
        status, answer = self._request("POST", "/v1/devices", body, {
            "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        if status not in (200, 201):
            raise self._refusal("POST", "/v1/devices", status, answer)
        return _json(answer)


def _json(body):
    try:
        return json.loads(body)
    except ValueError as e:
        raise TransportError(f"the hub's answer is not JSON: {e}") from None
