#!/usr/bin/env python3
"""A device on the hub's embedded broker through paho-mqtt (not M2MHub code), used by
tests/auth.rs. It computes its CONNECT password itself from SPEC §5.2 with the `cryptography`
package, then runs one scenario and prints what happened as one JSON line.

Usage: paho_device.py HOST PORT VERSION SCENARIO NAME SEED_HEX [ARG]
  VERSION   311 or 5
  SCENARIO  send      publish ARG (a signed message, JSON) on m2m/out/NAME; print the ack
            receive   subscribe to m2m/in/NAME; print "subscribed", then the first delivery
            connect   connect with the password's time shifted by ARG seconds (default 0) or,
                      with ARG "wrong", signed for another name; print the CONNACK reason
            subscribe subscribe to ARG; print the SUBACK reason
"""

import json
import os
import struct
import sys
import threading
import time

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DOMAIN = b"m2mhub/connect/v1\n"
TIMEOUT_S = 20


def password(seed_hex, name, unix_s):
    n = name.encode()
    msg = DOMAIN + struct.pack(">H", len(n)) + n + struct.pack(">Q", unix_s)
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex))
    return f"{unix_s}.{key.sign(msg).hex()}"


def main():
    host, port, version, scenario, name, seed = sys.argv[1:7]
    arg = sys.argv[7] if len(sys.argv) > 7 else None
    protocol = mqtt.MQTTv311 if version == "311" else mqtt.MQTTv5
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"{name}:paho-{scenario}-{os.getpid()}",
        protocol=protocol,
    )
    shift, signed_as = 0, name
    if scenario == "connect" and arg == "wrong":
        signed_as = name + "x"
    elif scenario == "connect" and arg:
        shift = int(arg)
    client.username_pw_set(name, password(seed, signed_as, int(time.time()) + shift))

    done = threading.Event()
    out = {}

    def finish(**kw):
        out.update(kw)
        done.set()

    def on_connect(c, userdata, flags, reason, props):
        if reason.is_failure:
            finish(connack=str(reason))
            return
        if scenario == "connect":
            finish(connack=str(reason))
        elif scenario == "send":
            c.subscribe(f"m2m/ack/{name}", qos=1)
        elif scenario == "receive":
            c.subscribe(f"m2m/in/{name}", qos=1)
        elif scenario == "subscribe":
            c.subscribe(arg, qos=1)

    def on_subscribe(c, userdata, mid, reasons, props):
        failed = [str(r) for r in reasons if r.is_failure]
        if scenario == "subscribe":
            finish(suback=failed[0] if failed else str(reasons[0]))
        elif failed:
            finish(suback=failed[0])
        elif scenario == "send":
            c.publish(f"m2m/out/{name}", arg, qos=1)
        elif scenario == "receive":
            print("subscribed", flush=True)

    def on_message(c, userdata, msg):
        finish(topic=msg.topic, payload=json.loads(msg.payload))

    def on_connect_fail(c, userdata):
        finish(connack="connection failed")

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_connect_fail = on_connect_fail
    client.connect(host, int(port), keepalive=30)
    client.loop_start()
    if not done.wait(TIMEOUT_S):
        out["timeout"] = True
    # Disconnecting first wakes the network thread, which loop_stop then joins at once.
    client.disconnect()
    client.loop_stop()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
