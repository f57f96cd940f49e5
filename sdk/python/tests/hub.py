"""A real hub for the integration tests: `m2mhub serve` on free ports with its embedded MQTT
broker requiring signed CONNECTs (`--mqtt-auth`), started and stopped (by PID) by the test.

The binary is $M2MHUB_BIN, by default the workspace's debug build
(`${CARGO_TARGET_DIR:-target}/debug/m2mhub`, which `make test` builds first). Without it the
tests are skipped, except under CI=true, where they fail.
"""

import os
import re
import secrets
import signal
import subprocess
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def binary():
    path = os.environ.get("M2MHUB_BIN") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "debug", "m2mhub")
    if not os.access(path, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail(f"no m2mhub binary at {path} (set M2MHUB_BIN)")
        pytest.skip(f"no m2mhub binary at {path} (set M2MHUB_BIN)")
    return os.path.abspath(path)


class Hub:
    def __init__(self, data_dir):
        self.bin = binary()
        self.token = secrets.token_hex(16)
        env = dict(os.environ, M2MHUB_OPERATOR_TOKEN=self.token)
        self.out_path = os.path.join(data_dir, "serve.out")
        self.err_path = os.path.join(data_dir, "serve.err")
        self._logs = [open(self.out_path, "w"), open(self.err_path, "w")]
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--data", os.path.join(data_dir, "hub"), "--listen",
             "127.0.0.1:0", "--mqtt", "--mqtt-listen", "127.0.0.1:0", "--mqtt-auth"],
            stdout=self._logs[0], stderr=self._logs[1], env=env)
        deadline = time.monotonic() + 60
        self.url = self.mqtt_port = None
        while time.monotonic() < deadline and self.url is None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"m2mhub serve exited: {open(self.err_path).read()[-2000:]}")
            with open(self.out_path) as f:
                text = f.read()
            m = re.search(r"mqtt broker on mqtt://127\.0\.0\.1:(\d+)", text)
            u = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text)
            if m and u:
                self.mqtt_port, self.url = int(m.group(1)), u.group(1)
            else:
                time.sleep(0.05)
        if self.url is None:
            self.stop()
            raise RuntimeError("m2mhub serve did not start in time")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in self._logs:
            f.close()
