"""The MQTT transport (``docs/MQTT.md``) on paho-mqtt 2.x, MQTT 3.1.1 or 5: a device publishes
its signed message on ``m2m/out/{name}`` at QoS 1 and waits for the hub's acknowledgement on
``m2m/ack/{name}``; messages for it arrive on ``m2m/in/{name}``.

At-least-once, end to end: a message not acknowledged in time is published again, byte for
byte, and the hub answers a resubmission with the original record (SPEC §3.2), so a lost
publish, a lost acknowledgement or a restarted broker or hub never records anything twice.

The CONNECT is signed (SPEC §5.2): username = the device's name, password =
:func:`m2mhub.signing.connect_password`, signed afresh before every (re)connection (paho's
``on_pre_connect``) since the hub accepts it only within ±300 s of its clock. The client id is
``{name}:{random hex}``, which the hub's broker binds to the device's name.
"""

import json
import os
import queue
import threading
import time

import paho.mqtt.client as paho

from . import signing
from .errors import Refused, Timeout, TransportError
from .wire import Delivery, ack_topic, in_topic, out_topic, parse_ack

PROTOCOLS = {"3.1.1": paho.MQTTv311, "5": paho.MQTTv5}


class MqttTransport:
    """Device `name`'s connection to the hub's broker at `host`:`port`.

    `key` signs the CONNECT (None: an unsigned CONNECT, for brokers that authenticate nobody);
    `protocol` is ``"5"`` or ``"3.1.1"``; with `listen` the inbox ``m2m/in/{name}`` is
    subscribed and deliveries queue in :attr:`inbox` (a ``queue.Queue`` of Delivery). In a
    federation (SPEC §7) `hub` is the device's own hub: its topics are then
    ``m2m/{hub}/out|ack|in/{name}`` and it sends messages signed in the federation form
    (``Device.sign_v2``), whose sender is ``name@hub``.
    Returns once the broker has accepted the connection and the subscriptions."""

    def __init__(self, host, port, name, key=None, protocol="5", listen=False,
                 ack_timeout_s=5.0, max_attempts=12, connect_timeout_s=10.0, hub=None):
        if protocol not in PROTOCOLS:
            raise ValueError("protocol is '5' or '3.1.1'")
        self.name = signing.check_name(name)
        self.ack_timeout_s = ack_timeout_s
        self.max_attempts = max_attempts
        self.inbox = queue.Queue()
        self.errors = []  # payloads that were neither acks nor deliveries, for diagnosis
        self._key = key
        self._waiters = {}  # counter -> queue of acknowledgements
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._refused = None
        self.hub = None if hub is None else signing.check_name(hub, "hub")
        self._topics = [ack_topic(name, self.hub)] + ([in_topic(name, self.hub)] if listen else [])
        self._pending_subs = set()
        kwargs = {"clean_session": True} if protocol == "3.1.1" else {}
        self._client = paho.Client(paho.CallbackAPIVersion.VERSION2,
                                   client_id=f"{name}:{os.urandom(4).hex()}",
                                   protocol=PROTOCOLS[protocol], **kwargs)
        self._client.max_inflight_messages_set(1000)
        self._client.on_pre_connect = self._on_pre_connect
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        # Not too eager: every refused CONNECT counts against the source in the hub's
        # authentication-failure throttle.
        self._client.reconnect_delay_set(0.5, 5)
        try:
            self._client.connect(host, port, keepalive=30)
        except OSError as e:
            raise TransportError(f"no connection to the broker at {host}:{port}: {e}") from None
        self._client.loop_start()
        if not self._ready.wait(connect_timeout_s) or self._refused:
            self._client.loop_stop()
            self._client.disconnect()
            why = self._refused or "no answer"
            raise TransportError(f"the broker at {host}:{port} refused {name}: {why}")

    # paho callbacks (run on paho's network thread).
    def _on_pre_connect(self, client, userdata):
        if self._key is not None:
            client.username_pw_set(self.name, signing.connect_password(self._key, self.name))

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self._refused = str(reason_code)
            self._ready.set()
            return
        with self._lock:
            self._pending_subs = set()
            for t in self._topics:
                _, mid = client.subscribe(t, qos=1)
                self._pending_subs.add(mid)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if any(rc.is_failure for rc in reason_codes):
            self._refused = f"subscription refused: {reason_codes}"
        with self._lock:
            self._pending_subs.discard(mid)
            done = not self._pending_subs
        if done:
            self._ready.set()

    def _on_message(self, client, userdata, msg):
        try:
            if msg.topic == self._topics[0]:
                ack = parse_ack(msg.payload)
                with self._lock:
                    w = self._waiters.get(ack.counter)
                if w is not None:
                    w.put(ack)
            else:
                self.inbox.put(Delivery.from_json(json.loads(msg.payload)))
        except Exception as e:  # a bad payload must not kill paho's thread
            self.errors.append((msg.topic, msg.payload, repr(e)))

    def publish_and_wait(self, message):
        """Publishes `message` and waits for its Record; publishes the same bytes again after
        each `ack_timeout_s` and on transient refusals. Raises Refused or Timeout."""
        own = self.name if self.hub is None else f"{self.name}@{self.hub}"
        if message.sender not in (self.name, own):
            raise ValueError(f"this transport is {self.name}'s, not {message.sender}'s")
        payload = message.to_payload()
        answers = queue.Queue()
        with self._lock:
            self._waiters[message.counter] = answers
        try:
            for attempt in range(1, self.max_attempts + 1):
                self._client.publish(out_topic(self.name, self.hub), payload, qos=1)
                deadline = time.monotonic() + self.ack_timeout_s
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        ack = answers.get(timeout=left)
                    except queue.Empty:
                        break
                    if isinstance(ack, Refused):
                        if ack.transient:
                            break
                        raise ack
                    return ack
            raise Timeout(message.counter, self.max_attempts)
        finally:
            with self._lock:
                self._waiters.pop(message.counter, None)

    def submit(self, message):
        return self.publish_and_wait(message)

    def next_delivery(self, timeout_s=10.0):
        """The next delivery of the inbox (needs `listen`); raises queue.Empty on timeout."""
        return self.inbox.get(timeout=timeout_s)

    def close(self):
        self._client.disconnect()
        self._client.loop_stop()
