"""One transaction, three SDKs, one real hub: a Python device (sdk/python), a C device (the
sdk/c examples on libmosquitto and libcurl) and a Rust device (`m2mhub device send|listen`)
carry one transaction on through `m2mhub serve` with its embedded broker and signed CONNECTs
(`--mqtt-auth`). Nothing is mocked.

Over MQTT each device checks the deliveries it receives: the C device with its core and
libsodium, the Python device with its SDK and the outside verifier, the Rust device with the
Rust SDK's verifier (`m2mhub device listen --hub-key`: the record in a signed checkpoint, the
signature by the sender's key at its seq; it prints only deliveries that pass). Over HTTP each
device checks its records against a signed checkpoint: Python with its Verifier, C with an
inclusion proof (`m2mhub-http --hub-key`), Rust with `m2mhub device send --hub-key`; then
`m2mhub verify --url --key` replays every entry through the public API.

The C examples come from $M2MHUB_C_BUILD (default sdk/c/build; `make sdk-test` builds them).
"""

import json
import os
import subprocess
import time

import pytest

from hub import binary
from m2mhub import (Client, Delivery, Device, DeviceKey, HttpTransport, MqttTransport,
                    TxHandle, Verifier)
from m2mhub.wire import parse_key_history

HERE = os.path.dirname(os.path.abspath(__file__))


def c_example(name):
    build = os.environ.get("M2MHUB_C_BUILD") or os.path.join(HERE, "..", "c", "build")
    path = os.path.join(build, name)
    if not os.access(path, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail(f"no {path}: run `make -C sdk/c examples`")
        pytest.skip(f"no {path}: run `make -C sdk/c examples`")
    return path


class Devices:
    """py (keys by the Python SDK), c and rs (keys by `m2mhub device keygen`), registered."""

    def __init__(self, hub, tmp, tag):
        self.hub, self.tmp = hub, tmp
        self.names = {k: f"{k}-{tag}" for k in ("py", "c", "rs")}
        self.prefix = {k: str(tmp / k) for k in self.names}
        DeviceKey.generate().save(self.prefix["py"])
        for k in ("c", "rs"):
            subprocess.run([binary(), "device", "keygen", "--out", self.prefix[k]], check=True,
                           capture_output=True)
        self.public = {k: open(self.prefix[k] + ".pub").read().strip() for k in self.names}
        http = HttpTransport(hub.url)
        for k, name in self.names.items():
            http.register_device(hub.token, name, 1, self.public[k])

    def run(self, args, timeout=60):
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        assert p.returncode == 0, f"{args[0]} exited {p.returncode}: {p.stderr}"
        return p.stdout

    def start(self, args, ready_text):
        """Starts a listener; returns once its stderr shows it has subscribed."""
        err = open(self.tmp / f"{os.path.basename(args[0])}-{time.monotonic_ns()}.err", "w+")
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            err.seek(0)
            if ready_text in err.read():
                return p
            if p.poll() is not None:
                break
            time.sleep(0.02)
        p.kill()
        err.seek(0)
        raise AssertionError(f"{args[0]} did not get ready: {err.read()}")


def finish(p, timeout=60):
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        raise
    assert p.returncode == 0, f"{p.args[0]} exited {p.returncode}"
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def key_of(http, name):
    return parse_key_history(http.get_json(f"/v1/devices/{name}"))


def test_one_transaction_over_mqtt_each_device_checks_the_others_deliveries(hub, tmp_path):
    d = Devices(hub, tmp_path, "mqtt")
    n, broker = d.names, f"mqtt://127.0.0.1:{hub.mqtt_port}"
    http = HttpTransport(hub.url)
    verifier = Verifier.fetch_key(http)
    mqtt_c = c_example("m2mhub-mqtt")
    c_base = [mqtt_c, "--host", "127.0.0.1", "--port", str(hub.mqtt_port), "--name", n["c"],
              "--key", d.prefix["c"], "--sender-key", f"{n['py']}={d.public['py']}"]
    py = Device.open(n["py"], d.prefix["py"])
    tp = MqttTransport("127.0.0.1", hub.mqtt_port, n["py"], py.key, "5", listen=True)
    procs = []
    try:
        # The C device (MQTT 3.1.1) waits for a delivery, checks it and answers towards rs.
        c1 = d.start(c_base + ["--protocol", "3.1.1", "--await-delivery", "--to", n["rs"],
                               "--action", "continue", "--contents", "C: heating"], "connected")
        procs.append(c1)
        key_line = http.get_text("/v1/key").strip()
        rs_check = ["--hub-key", key_line, "--verify-url", hub.url]
        rs_listen = d.start([binary(), "device", "listen", "--name", n["rs"], "--key",
                             d.prefix["rs"], "--mqtt", broker, "--count", "1"] + rs_check,
                            "listening")
        procs.append(rs_listen)
        # Python (MQTT 5) begins the transaction.
        handle, r1 = Client(py, tp).begin(n["c"], "Python: warm the oven")
        assert r1.valid and r1.provenance == n["py"]
        # C checked Python's delivery (exit 0, the delivery on stdout) and continued.
        c_out = finish(c1)
        assert c_out[0]["seq"] == r1.seq and c_out[0]["signature"]
        r2 = c_out[1]
        assert (r2["tx"], r2["cause"], r2["sender"], r2["valid"]) == (r1.tx, r1.seq, n["c"], True)
        # Rust received C's message and verified it (exit 0, printed only if it passed); the
        # signature checks here too, with C's key.
        (got,) = finish(rs_listen)
        delivered = Delivery.from_json(got)
        assert delivered.record.seq == r2["seq"]
        delivered.verify_signature_in_history(key_of(http, n["c"]))
        # Rust answers it towards Python, over MQTT with a signed CONNECT.
        r3 = json.loads(d.run([binary(), "device", "send", "--name", n["rs"], "--key",
                               d.prefix["rs"], "--to", n["py"], "--action", "continue",
                               "--tx", str(r1.tx), "--cause", str(r2["seq"]), "--contents",
                               "Rust: oven at 180", "--mqtt", broker] + rs_check))
        assert r3["valid"] and r3["cause"] == r2["seq"]
        # Python checks Rust's delivery: the signature with rs's key at its seq, and the
        # record against the signed checkpoint.
        d3 = tp.next_delivery(timeout_s=30)
        assert d3.record.seq == r3["seq"] and d3.record.sender == n["rs"]
        d3.verify_signature_in_history(key_of(http, n["rs"]))
        verifier.verify_delivery(d3, verifier.checkpoint())
        # Python ends the transaction towards C, which checks it (MQTT 5 this time).
        c2 = d.start(c_base + ["--protocol", "5", "--listen", "1"], "connected")
        procs.append(c2)
        r4 = Client(py, tp).end(TxHandle.answering(d3), n["c"], "Python: thanks")
        (seen,) = finish(c2)
        assert seen["seq"] == r4.seq and seen["action"] == "end"
    finally:
        tp.close()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    # One transaction, four valid messages, each caused by the one before, closed.
    t = http.get_json(f"/v1/transactions/{r1.tx}")
    msgs = t["messages"]
    assert t["state"] == "closed" and [m["sender"] for m in msgs] == [
        n["py"], n["c"], n["rs"], n["py"]]
    assert all(m["valid"] for m in msgs)
    assert [m["cause"] for m in msgs] == [None] + [m["seq"] for m in msgs[:-1]]


def test_one_transaction_over_http_each_device_checks_its_records(hub, tmp_path):
    d = Devices(hub, tmp_path, "http")
    n = d.names
    http = HttpTransport(hub.url)
    key_line = http.get_text("/v1/key").strip()
    verifier = Verifier(http, key_line)
    http_c = c_example("m2mhub-http")
    py = Client(Device.open(n["py"], d.prefix["py"]), http)
    handle, r1 = py.begin(n["c"], "Python: open the valve")
    verifier.verify_record(r1, verifier.checkpoint())
    # C continues towards rs and checks its record's inclusion proof against the signed
    # checkpoint (exit 0 only if it verifies).
    r2 = json.loads(d.run([http_c, "--url", hub.url, "--name", n["c"], "--key", d.prefix["c"],
                           "--to", n["rs"], "--action", "continue", "--tx", str(handle.tx),
                           "--cause", str(handle.cause), "--contents", "C: valve open",
                           "--hub-key", key_line]))
    assert r2["valid"] and r2["cause"] == r1.seq
    # The C device's counter file is in the shared format, reserved ahead.
    assert int(open(d.prefix["c"] + ".counter").read()) >= r2["counter"]
    # Rust continues towards Python and checks its record against the signed checkpoint
    # (exit 0 only if it verifies), then the hub is replayed from outside.
    r3 = json.loads(d.run([binary(), "device", "send", "--name", n["rs"], "--key",
                           d.prefix["rs"], "--to", n["py"], "--action", "continue", "--tx",
                           str(r1.tx), "--cause", str(r2["seq"]), "--contents",
                           "Rust: flow 3 l/min", "--url", hub.url, "--hub-key", key_line,
                           "--verify-url", hub.url]))
    assert r3["valid"] and r3["cause"] == r2["seq"]
    r4 = py.end(TxHandle(r1.tx, r3["seq"]), n["c"], "Python: close it")
    assert r4.valid
    d.run([binary(), "verify", "--url", hub.url, "--key", key_line], timeout=120)
    assert http.get_json(f"/v1/entries/{r3['seq']}")["leaf_hash"] == r3["leaf_hash"]
    cp = verifier.checkpoint()
    # Python checks every record of the transaction, whoever sent it, against the checkpoint.
    for r in (r1, r4):
        verifier.verify_record(r, cp)
    from m2mhub.wire import Record
    for raw in (r2, r3):
        verifier.verify_record(Record.from_json(raw), cp)
