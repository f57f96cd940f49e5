#!/usr/bin/env python3
"""Regenerates every known-answer vector file from its independent generator into a
temporary directory and fails if any differs from the committed copy."""

import filecmp
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
GENERATORS = {
    "gen_signing_vectors.py": ["signing-vectors.json", "signing-v2-vectors.json"],
    "gen_note_vectors.py": ["note-vectors.json"],
    "gen_merkle_vectors.py": ["merkle-vectors.json"],
    "gen_sig_vectors.py": ["sig-vectors.json"],
    "gen_connect_vectors.py": ["connect-vectors.json"],
    "gen_entry_vectors.py": ["entry-federation-vectors.json"],
    "gen_cosignature_vectors.py": ["cosignature-vectors.json"],
}

failed = False
with tempfile.TemporaryDirectory() as out:
    for script, outputs in GENERATORS.items():
        subprocess.run([sys.executable, os.path.join(HERE, script), out], check=True)
        for name in outputs:
            if not filecmp.cmp(os.path.join(out, name), os.path.join(HERE, name), shallow=False):
                print(f"testdata/{name} differs from what {script} generates", file=sys.stderr)
                failed = True
if failed:
    sys.exit(1)
print("testdata: every vector file matches its generator")
