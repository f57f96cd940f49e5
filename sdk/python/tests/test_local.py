"""The SDK's parts without a hub: keys, the counter, messages, acknowledgements, deliveries
and a record checked against its entry bytes."""

import hashlib
import json
import os
import stat
import struct

import pytest

from m2mhub import entry as entries
from m2mhub.counter import Counter
from m2mhub.device import Device
from m2mhub.errors import InvalidInput, Refused, TransportError, VerificationError
from m2mhub.keys import DeviceKey
from m2mhub.verifier import check_record_fields
from m2mhub.wire import Delivery, KeyInForce, Record, TxHandle, parse_ack


def test_keys_save_load_and_refuse_to_overwrite(tmp_path):
    prefix = str(tmp_path / "door.lock")
    k = DeviceKey.generate()
    k.save(prefix)
    assert DeviceKey.load(prefix).public == k.public
    assert open(prefix + ".pub").read().strip() == k.public_hex
    assert stat.S_IMODE(os.stat(prefix + ".key").st_mode) == 0o600
    with pytest.raises(FileExistsError):
        DeviceKey.generate().save(prefix)
    (tmp_path / "bad.key").write_text("zz\n")
    with pytest.raises(InvalidInput):
        DeviceKey.load(str(tmp_path / "bad"))


def test_counter_reserves_ahead_and_never_repeats_across_a_power_cut(tmp_path):
    path = str(tmp_path / "d.counter")
    c = Counter(path, reserve=4)
    assert [c.next_value() for _ in range(6)] == [1, 2, 3, 4, 5, 6]
    # The file already holds the reservation (8) before 5 was handed out: a power cut now
    # (no further write) resumes above everything handed out.
    assert open(path).read() == "8\n"
    c2 = Counter(path, reserve=4)
    assert c2.next_value() == 9
    # A crash between writing the temporary file and renaming it leaves the old value.
    with open(path + ".tmp", "w") as f:
        f.write("2\n")
    assert Counter(path, reserve=4).next_value() > 9


def test_counter_refuses_a_corrupt_file_and_exhaustion(tmp_path):
    for text in ["seven", "-1", str(2**64), "+5", "1 2"]:
        (tmp_path / "c").write_text(text)
        with pytest.raises(InvalidInput):
            Counter(str(tmp_path / "c"))
    c = Counter.in_memory(2**64 - 1)
    with pytest.raises(InvalidInput):
        c.next_value()


def test_a_bad_message_spends_no_counter_value():
    d = Device("door", DeviceKey(bytes(32)), Counter.in_memory(0))
    for args in [("no such name", "begin"), ("hub", "jump"), ("hub", "continue", 2**64)]:
        with pytest.raises(InvalidInput):
            d.sign(*args)
    with pytest.raises(InvalidInput):
        Device("bad name", DeviceKey(bytes(32)), Counter.in_memory(0))
    with pytest.raises(UnicodeEncodeError):
        d.sign("hub", "begin", contents="\ud800")
    m = d.sign("hub", "begin", tx=99, contents="open")
    assert (m.counter, m.tx) == (1, 0), "a begin carries no tx"
    body = json.loads(m.to_payload())
    assert body == {"sender": "door", "receiver": "hub", "action": "begin", "counter": 1,
                    "contents": "open", "signature": m.signature.hex()}
    assert d.resign(m).counter == 2


def test_json_escapes_whatever_the_contents():
    d = Device("door", DeviceKey(bytes(32)), Counter.in_memory(0))
    tricky = 'q"uote \\ back\nnew\x00nul\x1f \u2603 \U0001f600 </script>'
    m = d.sign("hub", "continue", 4, 0, tricky)
    body = json.loads(m.to_payload().decode("utf-8"))
    assert body["contents"] == tricky and body["tx"] == 4 and body["cause"] == 0


RECORD = {"seq": 12, "tx": 7, "provenance": "phone", "sender": "tv", "receiver": "oven",
          "action": "continue", "cause": 3, "counter": 9, "contents": "heat", "valid": False,
          "notices": ["not_a_participant"], "block": 2, "leaf_hash": "00", "time": None}


def message_entry_bytes(r, signature=bytes(64), notices_bits=1 << 6):
    """An independent encoder of a message entry (v1, kind 5), from the layout in entry.py."""
    name = lambda s: struct.pack(">H", len(s)) + s.encode()  # noqa: E731
    return (bytes([1, 5]) + name(r["sender"]) + name(r["receiver"])
            + bytes([("begin", "continue", "end").index(r["action"])])
            + struct.pack(">QQQ", r["tx"], 0 if r["cause"] is None else r["cause"] + 1,
                          r["counter"])
            + hashlib.sha256(r["contents"].encode()).digest() + signature
            + name(r["provenance"] or "") + struct.pack(">H", notices_bits))


def test_a_record_matching_its_entry_passes_and_any_changed_field_fails():
    data = message_entry_bytes(RECORD)
    check_record_fields(Record.from_json(RECORD), data)
    changes = [("sender", {"sender": "phone"}), ("receiver", {"receiver": "tv"}),
               ("action", {"action": "end"}), ("tx", {"tx": 8}), ("cause", {"cause": None}),
               ("counter", {"counter": 10}), ("provenance", {"provenance": "tv"}),
               ("provenance", {"provenance": None}), ("verdict", {"valid": True}),
               ("verdict", {"notices": []}), ("contents", {"contents": "freeze"})]
    for field, change in changes:
        with pytest.raises(VerificationError, match=field):
            check_record_fields(Record.from_json({**RECORD, **change}), data)
    # Pruned contents are not a difference.
    check_record_fields(Record.from_json({**RECORD, "contents": None}), data)


def test_entry_bytes_are_read_strictly():
    data = message_entry_bytes(RECORD)
    assert entries.decode(data).notices == ["not_a_participant"]
    for bad in [data + b"\x00", data[:-1], b"\x02" + data[1:], data[:1] + b"\x09" + data[2:],
                message_entry_bytes(RECORD, notices_bits=1 << 9),
                message_entry_bytes({**RECORD, "sender": "t v"})]:
        with pytest.raises(VerificationError):
            entries.decode(bad)


def test_acks_decode_as_records_or_refusals():
    refused = parse_ack(b'{"counter":4,"error":"bad_signature","message":"no"}')
    assert isinstance(refused, Refused) and refused.counter == 4 and not refused.transient
    assert parse_ack(b'{"error":"unavailable","message":"later"}').transient
    rec = parse_ack(json.dumps({**RECORD, "contents": None, "duplicate": True}).encode())
    assert isinstance(rec, Record) and rec.duplicate and rec.contents is None
    for bad in [b"[]", b"not json", b'{"seq":1}', json.dumps({**RECORD, "seq": "1"}).encode(),
                json.dumps({**RECORD, "valid": 1}).encode(),
                json.dumps({**RECORD, "tx": True}).encode(),
                json.dumps({**RECORD, "contents": 5}).encode(),
                json.dumps({**RECORD, "duplicate": "yes"}).encode()]:
        with pytest.raises(TransportError):
            parse_ack(bad)


def test_a_delivery_is_checked_with_the_key_in_force_at_its_seq():
    old, new = DeviceKey(bytes([1]) * 32), DeviceKey(bytes([2]) * 32)
    history = [KeyInForce(old.public, 3), KeyInForce(new.public, 10)]

    def delivery(seq, key):
        r = {**RECORD, "seq": seq, "action": "begin", "cause": None, "sender": "tv"}
        unsigned = Delivery(Record.from_json(r), bytes(64))
        sig = key.sign(unsigned.message().signing_bytes())
        return Delivery.from_json({**r, "signature": sig.hex()})

    for seq, key, ok in [(9, old, True), (9, new, False), (10, new, True), (10, old, False),
                         (2, old, False)]:
        d = delivery(seq, key)
        if ok:
            d.verify_signature_in_history(history)
        else:
            with pytest.raises(VerificationError):
                d.verify_signature_in_history(history)
    # A begin was signed with tx 0 although its record carries the assigned tx.
    assert delivery(9, old).message().tx == 0
    assert TxHandle.answering(delivery(9, old)) == TxHandle(7, 9)


def test_a_federation_member_s_topics_carry_its_hub():
    from m2mhub.wire import ack_topic, in_topic, out_topic
    assert out_topic("meter") == "m2m/out/meter"
    assert out_topic("meter", "home") == "m2m/home/out/meter"
    assert ack_topic("meter", "home") == "m2m/home/ack/meter"
    assert in_topic("controller", "grid") == "m2m/grid/in/controller"
