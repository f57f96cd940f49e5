#!/usr/bin/env python3
"""A hub's C2SP tlog-tiles log and its cosigned checkpoint, read by PyPI's tlog-scales
(https://github.com/florolf/tlog-scales, pinned in the Makefile), code we did not write:

- the hub's signature on `/tlog/checkpoint` with tlog-scales' `PlainEd25519Verifier` (key type
  0x01, the hub's verifier key line parsed by its `Vkey`);
- each named member's tlog-cosignature/v1 line with its `Ed25519CosignatureVerifier` (key
  type 0x04; the key id computed by `Vkey` from the member's origin and public key);
- the tree: tlog-scales' `TilesReader` reads the tiles and rebuilds the root at the
  checkpoint's size, reads entries from the entry bundles, and builds inclusion and
  consistency proofs, each compared with the hub's own answers (`/v1/entries`, `/v1/proof/…`).

tlog-scales 0.0.3 parses checkpoints without extension lines only, so the signed body (with
the hub's `block` and `time` lines) is handed to its verifiers as is.

Usage: check.py URL MIN HUB_KEY [MEMBER_KEY...]  (verifier key lines, `name+id+base64`): every
member's cosignature line present must verify, and at least MIN must be present.
Exit 0 when everything verifies; 1 with the first difference otherwise."""

import base64
import json
import sys
import urllib.request

from tlog_scales.backend import HttpBackend
from tlog_scales.reader import TilesReader
from tlog_scales.signing import (Ed25519CosignatureVerifier, NoteSignature,
                                 PlainEd25519Verifier, Vkey)


class Body:
    """The signed text of a checkpoint, extension lines included (what verifiers sign)."""

    def __init__(self, text):
        self.text = text

    def serialize_body(self):
        return self.text


def get(url):
    with urllib.request.urlopen(url) as r:
        return r.read()


def fail(msg):
    print(f"FAILED: {msg}")
    sys.exit(1)


def main():
    url, least, hub_key, members = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    note = get(f"{url}/tlog/checkpoint").decode()
    body, _, sigs = note.partition("\n\n")
    body += "\n"
    lines = body.splitlines()
    size, root = int(lines[1]), base64.b64decode(lines[2])
    signatures = [NoteSignature.from_line(l) for l in sigs.splitlines() if l]

    def verify(vkey, verifier):
        """True when a line of `vkey` is present and verifies; raises when it does not."""
        for s in signatures:
            if vkey.match(s):
                verifier.verify(s.payload, Body(body))
                return True
        return False

    hub = Vkey.from_string(hub_key)
    if not verify(hub, PlainEd25519Verifier(hub)):
        fail(f"no signature line of {hub.name} ({hub.key_id:08x})")
    cosigned = []
    for line in members:
        k = Vkey.from_string(line)
        # The same name and public key, as a tlog-cosignature/v1 key (type 0x04): its key id
        # is tlog-scales' own computation.
        cosigner = Vkey(k.name, None, 4, k.pubkey)
        if verify(cosigner, Ed25519CosignatureVerifier(cosigner)):
            cosigned.append(k.name)
    if len(cosigned) < least:
        fail(f"{len(cosigned)} member cosignature(s), {least} needed")

    reader = TilesReader(HttpBackend(f"{url}/tlog"))
    reader.set_size(size)
    if reader.calculate_root_hash() != root:
        fail(f"the tiles' root at size {size} is not the checkpoint's")
    step = max(1, size // 16)
    for i in list(range(0, size, step)) + [size - 1]:
        entry = reader.get_entry(i)
        ours = json.loads(get(f"{url}/v1/entries/{i}"))
        if base64.b64decode(ours["entry_bytes"]) != entry:
            fail(f"entry {i} differs between the entry bundle and /v1/entries")
        proof = reader.get_inclusion_proof(i, size)
        hub_path = json.loads(get(f"{url}/v1/proof/inclusion?seq={i}&tree_size={size}"))["path"]
        if [h.hex() for h in proof.node_hashes] != hub_path:
            fail(f"the inclusion proof of {i} in {size} differs")
    for old in sorted({1, size // 2, size - 1} - {0}):
        proof = reader.get_consistency_proof(old, size)
        hub_path = json.loads(get(f"{url}/v1/proof/consistency?from={old}&to={size}"))["path"]
        if [h.hex() for h in proof.node_hashes] != hub_path:
            fail(f"the consistency proof {old} → {size} differs")
    print(f"ok: tlog-scales verified the checkpoint of {size} entries, the cosignatures of "
          f"{', '.join(cosigned)}, its tiles, entries and proofs")


if __name__ == "__main__":
    main()
