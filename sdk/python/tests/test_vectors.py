"""The contract every SDK shares: the known answers in testdata/ (signing bytes v1 and v2, the
CONNECT password, signed notes and checkpoints, Merkle proofs, federation entries), from
independent generators."""

import pytest

from vectors import contents_of, load
from m2mhub import entry, merkle, signing
from m2mhub.device import Device
from m2mhub.counter import Counter
from m2mhub.errors import InvalidInput, VerificationError
from m2mhub.keys import DeviceKey, verify
from m2mhub.note import Checkpoint, NoteVerifier
from m2mhub.verifier import check_entry_signature

V1 = load("signing-vectors.json")["cases"]
V2 = load("signing-v2-vectors.json")["cases"]
CONNECT = load("connect-vectors.json")["cases"]
NOTES = load("note-vectors.json")
MERKLE = load("merkle-vectors.json")
ENTRIES = load("entry-federation-vectors.json")
FEDERATED = ENTRIES["federated_messages"]


@pytest.mark.parametrize("case", V1, ids=[c["name"] for c in V1])
def test_v1_signing_bytes_and_signatures(case):
    got = signing.signing_bytes(case["sender"], case["receiver"], case["action"], case["tx"],
                                case["cause"], case["counter"], contents_of(case))
    assert got.hex() == case["signing_bytes"]
    key = DeviceKey(bytes.fromhex(case["seed"]))
    assert key.public_hex == case["public_key"]
    assert key.sign(got).hex() == case["signature"]  # RFC 8032 is deterministic


@pytest.mark.parametrize("case", V1, ids=[c["name"] for c in V1])
def test_v1_device_signs_as_the_vectors_say(case):
    d = Device(case["sender"], DeviceKey(bytes.fromhex(case["seed"])),
               Counter.in_memory(case["counter"] - 1)) if case["counter"] else None
    if d is None:
        return  # counter 0 is never handed out by a counter (they start at 1)
    m = d.sign(case["receiver"], case["action"], case["tx"], case["cause"], contents_of(case))
    assert m.counter == case["counter"]
    assert m.signature.hex() == case["signature"]


@pytest.mark.parametrize("case", V2, ids=[c["name"] for c in V2])
def test_v2_signing_bytes_and_signatures(case):
    got = signing.signing_bytes_v2(case["sender"], case["receiver"], case["action"],
                                   case["tx"], case["tx_hub"], case["cause"], case["counter"],
                                   contents_of(case))
    assert got.hex() == case["signing_bytes"]
    assert DeviceKey(bytes.fromhex(case["seed"])).sign(got).hex() == case["signature"]


def test_v2_device_form():
    case = next(c for c in V2 if c["name"] == "continue-at-another-home")
    name, hub = case["sender"].split("@")
    d = Device(name, DeviceKey(bytes.fromhex(case["seed"])), Counter.in_memory(8))
    m = d.sign_v2(hub, case["receiver"], "continue", case["tx"], case["tx_hub"], case["cause"],
                  case["contents"])
    assert m.signature.hex() == case["signature"]
    assert m.to_json()["tx_hub"] == "home"


@pytest.mark.parametrize("case", CONNECT, ids=[c["name"] for c in CONNECT])
def test_connect_passwords(case):
    assert signing.connect_signing_bytes(case["device"], case["unix_s"]).hex() \
        == case["signing_bytes"]
    key = DeviceKey(bytes.fromhex(case["seed"]))
    assert signing.connect_password(key, case["device"], case["unix_s"]) == case["password"]


def test_bad_fields_are_refused_before_signing():
    for args in [("bad name", "b", "begin", 0, None, 1, ""), ("a", "b", "jump", 0, None, 1, ""),
                 ("a", "b", "end", 2**64, None, 1, ""), ("a", "b", "end", 1, 2**64 - 1, 1, ""),
                 ("a", "b" * 65, "begin", 0, None, 1, ""), ("a", "b", "end", True, None, 1, "")]:
        with pytest.raises(InvalidInput):
            signing.signing_bytes(*args)
    with pytest.raises(InvalidInput):
        signing.signing_bytes_v2("a", "b@c", "begin", 0, "", None, 1, "")
    with pytest.raises(InvalidInput):
        signing.signing_bytes_v2("a@h", "b@c", "begin", 0, "h", None, 1, "")
    with pytest.raises(InvalidInput):
        signing.signing_bytes_v2("a@h", "b@c", "continue", 3, "", None, 1, "")


def test_signatures_verify_and_a_flipped_bit_does_not():
    case = V1[0]
    msg, sig = bytes.fromhex(case["signing_bytes"]), bytes.fromhex(case["signature"])
    pk = bytes.fromhex(case["public_key"])
    assert verify(pk, msg, sig)
    for i in range(0, len(sig) * 8, 7):
        flipped = bytearray(sig)
        flipped[i // 8] ^= 1 << (i % 8)
        assert not verify(pk, msg, bytes(flipped))


# Signed notes and checkpoints (SPEC §4.3).
def test_checkpoints_open_with_the_log_key():
    v = NoteVerifier(NOTES["log_key"]["verifier_key"])
    for c in NOTES["checkpoints"]:
        cp = Checkpoint.open(c["note"], v)
        assert (cp.tree_size, cp.root.hex(), cp.block, cp.time_ms) == (
            c["tree_size"], c["root"], c["block"], c["time_ms"])
        assert cp.prev_block_hash.hex() == c["prev_block_hash"]
        assert cp.to_body() == c["body"]
        assert cp.block_hash().hex() == c["block_hash"]
    # A cosigned note still opens with the log's key; the witness's own key opens it too.
    assert v.open(NOTES["cosigned"]["note"]) == NOTES["cosigned"]["body"]


def test_bad_checkpoints_are_refused():
    v = NoteVerifier(NOTES["log_key"]["verifier_key"])
    for bad in NOTES["bad_checkpoints"]:
        with pytest.raises(VerificationError):
            Checkpoint.open(bad["note"], v)


def test_reference_note_and_key_checks():
    ref = NOTES["reference"]
    assert NoteVerifier(ref["key"]["verifier_key"]).open(ref["note"]) == ref["text"]
    for n in NOTES["notes"]:
        assert NoteVerifier(NOTES["log_key"]["verifier_key"]).open(n["note"]) == n["text"]
    good = ref["key"]["verifier_key"]
    for bad in [good.replace("c74f20a3", "c74f20a4"), good.replace("c74f20a3", "C74F20A3"),
                good[:-1], "PeterNeumann+c74f20a3", good.replace("AR", "Ah", 1)]:
        with pytest.raises(VerificationError):
            NoteVerifier(bad)
    # A key of small order would "verify" forged signatures: refused.
    import base64
    from m2mhub.note import key_id
    for weak in ["01" + "00" * 31, "ec" + "ff" * 30 + "7f"]:
        raw = bytes.fromhex(weak)
        b64 = base64.b64encode(bytes([1]) + raw).decode()
        line = f"x+{key_id('x', raw).hex()}+{b64}"
        with pytest.raises(VerificationError):
            NoteVerifier(line)


# Merkle proofs (SPEC §4.2): every vector, then each with one bit flipped.
def _flips(path):
    for i in range(len(path)):
        for bit in (0, 255):
            p = [bytearray(h) for h in path]
            p[i][bit // 8] ^= 1 << (bit % 8)
            yield [bytes(h) for h in p]


def test_merkle_roots_and_inclusion_proofs():
    leaves = [merkle.leaf_hash(bytes.fromhex(x)) for x in MERKLE["leaves"]]
    assert [h.hex() for h in leaves] == MERKLE["leaf_hashes"]
    roots = {r["tree_size"]: bytes.fromhex(r["root"]) for r in MERKLE["roots"]}
    for n, root in roots.items():
        assert merkle.root_of(leaves[:n]) == root
    for p in MERKLE["inclusion"]:
        path = [bytes.fromhex(h) for h in p["path"]]
        i, n = p["index"], p["tree_size"]
        merkle.verify_inclusion(leaves[i], i, n, path, roots[n])
        for bad in _flips(path):
            with pytest.raises(VerificationError):
                merkle.verify_inclusion(leaves[i], i, n, bad, roots[n])
        with pytest.raises(VerificationError):
            merkle.verify_inclusion(leaves[i], i, n, path + [roots[n]], roots[n])
        if n > 1:
            with pytest.raises(VerificationError):
                merkle.verify_inclusion(leaves[(i + 1) % n], i, n, path, roots[n])


def test_merkle_consistency_proofs():
    roots = {r["tree_size"]: bytes.fromhex(r["root"]) for r in MERKLE["roots"]}
    for p in MERKLE["consistency"]:
        path = [bytes.fromhex(h) for h in p["path"]]
        a, b = p["old_size"], p["new_size"]
        merkle.verify_consistency(a, b, roots[a], roots[b], path)
        for bad in _flips(path):
            with pytest.raises(VerificationError):
                merkle.verify_consistency(a, b, roots[a], roots[b], bad)
        if a < b:
            with pytest.raises(VerificationError):
                merkle.verify_consistency(a, b, roots[a], roots[b - 1], path)


@pytest.mark.parametrize("case", ENTRIES["good"], ids=[c["name"] for c in ENTRIES["good"]])
def test_membership_entries_decode(case):
    # A membership concerns no device's records: it decodes, and gives nothing to check.
    assert entry.decode(bytes.fromhex(case["bytes"])) is None


@pytest.mark.parametrize("case", ENTRIES["imports"], ids=[c["name"] for c in ENTRIES["imports"]])
def test_import_entries_decode(case):
    assert entry.decode(bytes.fromhex(case["bytes"])) is None


@pytest.mark.parametrize("case", ENTRIES["bad"], ids=[c["name"] for c in ENTRIES["bad"]])
def test_membership_entries_breaking_a_rule_are_refused(case):
    with pytest.raises(VerificationError):
        entry.decode(bytes.fromhex(case["bytes"]))


@pytest.mark.parametrize("case", FEDERATED["good"], ids=[c["name"] for c in FEDERATED["good"]])
def test_federated_message_entries_decode_to_their_fields(case):
    data = bytes.fromhex(case["bytes"])
    m = entry.decode(data)
    assert isinstance(m, entry.MessageEntry) and m.federated
    assert (m.sender, m.receiver, m.action, m.tx, m.cause, m.counter, m.provenance,
            m.notices, m.valid) == (case["sender"], case["receiver"], case["action"],
                                    case["tx"], case["cause"], case["counter"],
                                    case["provenance"], case["notices"], not case["notices"])
    assert m.contents_hash == signing.contents_hash(case["contents"])
    assert m.contents_hash.hex() == case["contents_sha256"]
    assert m.signature.hex() == case["signature"]
    assert merkle.leaf_hash(data).hex() == case["leaf_hash"]


@pytest.mark.parametrize("case", FEDERATED["good"], ids=[c["name"] for c in FEDERATED["good"]])
def test_federated_message_signatures_are_checked_over_the_v2_bytes_of_their_hub(case):
    m = entry.decode(bytes.fromhex(case["bytes"]))
    pk = bytes.fromhex(case["public_key"])
    assert m.signing_bytes(case["hub"]).hex() == case["signing_bytes"]
    check_entry_signature(m, pk, case["hub"])
    # The signature names the recording hub: another hub, no hub, or the v1 bytes fail.
    for hub in ["elsewhere", None]:
        with pytest.raises(VerificationError):
            check_entry_signature(m, pk, hub)
    one_hub = entry.MessageEntry(**{**m.__dict__, "federated": False})
    if "@" not in m.sender + m.receiver:
        assert not verify(pk, one_hub.signing_bytes(), m.signature)
    other = bytes.fromhex(FEDERATED["good"][0]["public_key"])
    if other != pk:
        with pytest.raises(VerificationError):
            check_entry_signature(m, other, case["hub"])


@pytest.mark.parametrize("case", FEDERATED["bad"], ids=[c["name"] for c in FEDERATED["bad"]])
def test_message_entries_with_malformed_names_are_refused(case):
    with pytest.raises(VerificationError):
        entry.decode(bytes.fromhex(case["bytes"]))
