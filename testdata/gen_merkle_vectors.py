#!/usr/bin/env python3
"""Writes merkle-vectors.json: known answers for M2MHub's RFC 9162 Merkle tree.

An independent implementation, written straight from the definitions of RFC 9162 §2.1
(which are RFC 6962 §2.1's): the recursive Merkle Tree Hash MTH (§2.1.1), the inclusion
path PATH (§2.1.3.1) and the consistency proof PROOF/SUBPROOF (§2.1.4.1). It shares no code
or structure with the Rust stored-hash prover it checks (crates/m2mhub-core/src/merkle), and
uses nothing but the standard library (hashlib).

As a self-check it also runs the RFC's verification algorithms (§2.1.3.2, §2.1.4.2) on every
proof before writing it.

Usage: python3 testdata/gen_merkle_vectors.py [DIR]   (writes merkle-vectors.json into DIR,
default: next to itself)
"""

import hashlib
import json
import os
import sys

NUM_LEAVES = 40


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def entry(i: int) -> bytes:
    """Entry bytes of leaf i: the empty entry first, then lengths up to 126 bytes, so that
    leaf hashing covers one- and multi-block SHA-256 inputs."""
    if i == 0:
        return b""
    return f"entry-{i:02d}:".encode() + bytes((i * 7 + j) % 256 for j in range(i * 3))


# --- RFC 9162 §2.1.1: MTH({}) = SHA-256(), MTH({d(0)}) = SHA-256(0x00 || d(0)),
# --- MTH(D_n) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k the largest power of 2 < n.


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list) -> bytes:
    n = len(d)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + d[0])
    k = largest_power_of_two_below(n)
    return sha256(b"\x01" + mth(d[:k]) + mth(d[k:]))


# --- RFC 9162 §2.1.3.1: PATH(m, {d(0)}) = {};
# --- PATH(m, D_n) = PATH(m, D[0:k]) : MTH(D[k:n]) for m < k,
# ---               PATH(m - k, D[k:n]) : MTH(D[0:k]) for m >= k.


def path(m: int, d: list) -> list:
    n = len(d)
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


# --- RFC 9162 §2.1.4.1: PROOF(m, D_n) = SUBPROOF(m, D_n, true);
# --- SUBPROOF(m, D[m], true) = {}, SUBPROOF(m, D[m], false) = {MTH(D[m])};
# --- for m < n: SUBPROOF(m, D_n, b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n]) for m <= k,
# ---                                = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]) for m > k.


def subproof(m: int, d: list, b: bool) -> list:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = largest_power_of_two_below(n)
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def proof(m: int, d: list) -> list:
    return subproof(m, d, True)


# --- Self-check: the RFC's verification algorithms, step by step.


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def verify_inclusion(leaf_hash: bytes, index: int, size: int, p: list, root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for h in p:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(h, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, h)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_hash: bytes, second_hash: bytes,
                       p: list) -> bool:
    """RFC 9162 §2.1.4.2, for 0 < first < second."""
    if not p:
        return False
    if first & (first - 1) == 0:
        p = [first_hash] + p
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = p[0]
    for c in p[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


def main() -> None:
    entries = [entry(i) for i in range(NUM_LEAVES)]
    roots = [mth(entries[:n]) for n in range(NUM_LEAVES + 1)]
    leaf_hashes = [mth([e]) for e in entries]

    sizes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 16, 17, 21, 31, 32, 33, 39, 40]

    inclusion = []
    for n in sizes:
        for i in sorted({0, 1, 2, 5, 13, n // 2, n - 2, n - 1}):
            if not 0 <= i < n:
                continue
            p = path(i, entries[:n])
            assert verify_inclusion(leaf_hashes[i], i, n, p, roots[n])
            inclusion.append({"index": i, "tree_size": n, "path": [h.hex() for h in p]})

    consistency = []
    for n in sizes:
        for m in sorted({1, 2, 3, 4, 5, 7, 8, 9, 16, n // 2, n - 1, n}):
            if not 1 <= m <= n:
                continue
            p = proof(m, entries[:n])
            if m < n:
                assert verify_consistency(m, n, roots[m], roots[n], p)
            else:
                assert p == []
            consistency.append({"old_size": m, "new_size": n, "path": [h.hex() for h in p]})

    vectors = {
        "description": (
            "RFC 9162 §2.1 Merkle tree known answers from testdata/gen_merkle_vectors.py: "
            "leaves[i] is the hex entry bytes of leaf i (leaf hash SHA-256(0x00 || bytes)); "
            "roots[n] is MTH of the first n leaves (roots[0] = SHA-256 of nothing); inclusion "
            "paths are PATH(index, D[tree_size]) and consistency paths PROOF(old_size, "
            "D[new_size]), leaf end first. old_size == new_size gives the empty proof "
            "SUBPROOF(m, D[m], true)."
        ),
        "leaves": [e.hex() for e in entries],
        "leaf_hashes": [h.hex() for h in leaf_hashes],
        "roots": [{"tree_size": n, "root": r.hex()} for n, r in enumerate(roots)],
        "inclusion": inclusion,
        "consistency": consistency,
    }
    where = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(where, "merkle-vectors.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(vectors, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {out}: {len(roots)} roots, {len(inclusion)} inclusion and "
          f"{len(consistency)} consistency proofs")


if __name__ == "__main__":
    main()
