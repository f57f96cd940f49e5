"""The SDK against a real hub (`m2mhub serve`, embedded broker, signed CONNECTs): HTTP and
MQTT 3.1.1 and 5 transports, transactions carried on with causes, retries that record nothing
twice, and the outside verifier on what the hub recorded."""

import queue

import pytest

from m2mhub import (Client, Counter, Device, DeviceKey, HttpTransport, MqttTransport,
                    Refused, TransportError, TxHandle, VerificationError, Verifier)
from m2mhub.wire import Record

_names = iter(range(10**6))


def new_device(hub, clearance=1, exceptions=()):
    name = f"py-{next(_names)}"
    key = DeviceKey.generate()
    HttpTransport(hub.url).register_device(hub.token, name, clearance, key.public_hex,
                                           exceptions)
    return Device(name, key, Counter.in_memory(0))


def test_a_transaction_over_http_checked_against_signed_checkpoints(hub):
    http = HttpTransport(hub.url)
    verifier = Verifier.fetch_key(http)
    first = verifier.checkpoint()
    top, low = new_device(hub, 3), new_device(hub, 1)
    a, b = Client(top, http), Client(low, http)
    handle, r1 = a.begin(low.name, "open the door")
    assert r1.valid and r1.provenance == top.name and handle == TxHandle(r1.tx, r1.seq)
    handle, r2 = b.continue_tx(handle, top.name, "door open")
    assert r2.valid and r2.cause == r1.seq and r2.tx == r1.tx
    r3 = a.end(handle, low.name, "thanks")
    assert r3.valid and r3.cause == r2.seq
    cp = verifier.checkpoint()
    for r in (r1, r2, r3):
        verifier.verify_record(r, cp)
    assert verifier.sender_key_at(low.name, r2.seq, cp) == low.key.public
    verifier.verify_consistency(first, cp)
    # A record the hub did not commit is caught.
    forged = Record(**{**r2.__dict__, "contents": "door closed"})
    with pytest.raises(VerificationError, match="contents"):
        verifier.verify_record(forged, cp)
    # Continuing the closed transaction is recorded and flagged.
    r4 = b.send(top.name, "continue", r1.tx, r3.seq, "again?")
    assert not r4.valid and "transaction_closed" in r4.notices


def test_retries_are_exact_resubmissions_and_stale_counters_are_signed_again(hub):
    http = HttpTransport(hub.url)
    d, peer = new_device(hub), new_device(hub)
    m = d.sign(peer.name, "begin", contents="once")
    r = http.submit(m)
    again = http.submit(m)  # the answer was "lost": the same bytes again
    assert again.duplicate and again.seq == r.seq and not r.duplicate
    for _ in range(2):
        http.submit(d.sign(peer.name, "begin", contents="more"))  # counters 2 and 3
    # A device whose counter went back (restored from an old backup, say): the hub refuses
    # the stale counter; the client signs again with the next value until one is fresh.
    behind = Device(d.name, d.key, Counter.in_memory(0))
    with pytest.raises(Refused) as e:
        http.submit(behind.sign(peer.name, "begin", contents="stale"))
    assert e.value.code == "stale_counter"
    rec = Client(behind, http).send(peer.name, "begin", contents="fresh")
    assert rec.counter == 4 and rec.valid  # 2 and 3 were stale
    # A forged signature is refused, and nothing is recorded.
    other = Device(d.name, DeviceKey.generate(), Counter.in_memory(100))
    with pytest.raises(Refused) as e:
        http.submit(other.sign(peer.name, "begin"))
    assert e.value.code == "bad_signature"


def test_an_unreachable_hub_is_a_transport_error():
    with pytest.raises(TransportError):
        HttpTransport("http://127.0.0.1:9", attempts=2, backoff_s=0.01).get_text("/v1/key")


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_mqtt_devices_sign_their_connect_and_verify_deliveries(hub, protocol):
    http = HttpTransport(hub.url)
    verifier = Verifier.fetch_key(http)
    a, b = new_device(hub, 2), new_device(hub, 2)
    ta = MqttTransport("127.0.0.1", hub.mqtt_port, a.name, a.key, protocol, listen=True)
    tb = MqttTransport("127.0.0.1", hub.mqtt_port, b.name, b.key, protocol, listen=True)
    try:
        ca, cb = Client(a, ta), Client(b, tb)
        handle, r1 = ca.begin(b.name, f"hello over {protocol}")
        d = tb.next_delivery()
        assert d.record.seq == r1.seq and d.record.contents == f"hello over {protocol}"
        d.verify_signature(a.key.public)
        verifier.verify_delivery(d, verifier.checkpoint())
        # Answer the delivery: its tx, caused by its seq.
        r2 = cb.end(TxHandle.answering(d), a.name, "bye")
        d2 = ta.next_delivery()
        assert (d2.record.seq, d2.record.cause, d2.record.action) == (r2.seq, r1.seq, "end")
        verifier.verify_delivery(d2, verifier.checkpoint())
        with pytest.raises(VerificationError):
            d2.verify_signature(b"\x01" + a.key.public[1:])
        # The same bytes published again: the original record, marked duplicate.
        m = a.sign(b.name, "begin", contents="twice")
        first, second = ta.submit(m), ta.submit(m)
        assert second.duplicate and second.seq == first.seq
    finally:
        ta.close()
        tb.close()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_a_connect_with_the_wrong_key_or_no_signature_is_refused(hub, protocol):
    d = new_device(hub)
    with pytest.raises(TransportError, match="refused"):
        MqttTransport("127.0.0.1", hub.mqtt_port, d.name, DeviceKey.generate(), protocol,
                      connect_timeout_s=5)
    with pytest.raises(TransportError, match="refused"):
        MqttTransport("127.0.0.1", hub.mqtt_port, d.name, None, protocol, connect_timeout_s=5)


def test_inbox_is_empty_until_something_is_sent(hub):
    d = new_device(hub)
    t = MqttTransport("127.0.0.1", hub.mqtt_port, d.name, d.key, "5", listen=True)
    try:
        with pytest.raises(queue.Empty):
            t.next_delivery(timeout_s=0.2)
    finally:
        t.close()


class LosingProxy:
    """An HTTP front that forwards every request to the hub but, for the first `lose` POSTs,
    drops the connection instead of passing the answer back: the message is recorded and the
    device never hears of it (a lost answer)."""

    def __init__(self, target, lose):
        import http.server
        import threading
        import urllib.request

        proxy = self
        self.lost = 0
        self.posts = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                proxy.posts.append(body)
                req = urllib.request.Request(target + self.path, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(req) as r:
                        status, answer = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, answer = e.code, e.read()
                if proxy.lost < lose:
                    proxy.lost += 1
                    self.close_connection = True
                    self.connection.shutdown(2)  # recorded, but the answer is lost
                    return
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_lost_answer_is_retried_with_the_same_bytes_and_recorded_once(hub):
    d, peer = new_device(hub), new_device(hub)
    proxy = LosingProxy(hub.url, lose=2)
    try:
        client = Client(d, HttpTransport(proxy.url, backoff_s=0.01))
        r = client.send(peer.name, "begin", contents="exactly once")
    finally:
        proxy.close()
    assert proxy.lost == 2 and len(proxy.posts) == 3
    assert proxy.posts[0] == proxy.posts[1] == proxy.posts[2], "retries are byte for byte"
    assert r.duplicate and r.counter == 1
    # The hub holds it once: the device's messages are this one record.
    page = HttpTransport(hub.url).get_json(f"/v1/messages?device={d.name}")
    assert [m["seq"] for m in page["items"] if m["sender"] == d.name] == [r.seq]
