#!/usr/bin/env python3
"""Writes sig-vectors.json: Ed25519 edge cases and their verdict under ZIP 215 (SPEC §3.2.1).

An independent implementation: plain Python integers for the field and the curve (the
extended-coordinates formulas of RFC 8032 §5.1.4), hashlib for SHA-512. It shares no code with
the Rust side (crates/m2mhub-core/src/sig.rs, which uses ed25519-zebra on curve25519-dalek).

The ZIP 215 rule (https://zips.z.cash/zip-0215), as implemented by `zip215_valid` below:
  * A and R are decoded from any encoding of a curve point, canonical or not: y is taken
    mod p (y >= p is accepted) and a sign bit of 1 with x = 0 is accepted;
  * S must be an integer below L (the prime order of the base point);
  * k = SHA-512(R bytes as given || A bytes as given || M) mod L;
  * valid exactly when [8]([S]B - R - [k]A) is the identity (the cofactored equation).
Batch verification with random coefficients agrees with this rule for every input, which is
the point of ZIP 215. `cofactorless` records, for reference, whether [S]B = R + [k]A holds
with the same permissive decoding and S taken as the integer it encodes (the equation that
ed25519-dalek's batch and `verify_strict` use, and whose disagreement with the cofactored one
made a verdict depend on the batch).

Three groups of cases:
  * taming-0 … taming-11: one case per row of the condition table of "Taming the many EdDSAs"
    (Chalkias, Garillot, Nikolaenko, SSR 2020; vectors published in
    github.com/novifinancial/ed25519-speccheck, cases.json), built here afresh by the
    construction each row describes (S range, order of A and R, which equations hold,
    non-canonical R or A hashed as given or re-encoded). The generator asserts each row's
    properties and that ZIP 215's verdicts are those the paper reports for Zebra, the ZIP 215
    implementation: valid for rows 0-5 and 9-11, invalid for 6-8.
  * zip215-A-R: ZIP 215's small-order test set (ed25519-zebra tests/small_order.rs): message
    "Zcash", S = 0, A and R each one of the 8 canonical encodings of the 8-torsion points or
    of the 6 non-canonical encodings of small-order points; all 196 are valid under ZIP 215.
  * m2mhub-*: an honest RFC 8032 signature, the same for a wrong message, the signature whose
    R carries an order-2 (and an order-8) component signed by a full-order key (the attack
    of issue 11: R' = rB + T, S = r + kA with k over R'), an honest S plus L, and a mixed-order
    key's honest-looking signature.

Keys are derived from fixed labels, messages found by counting, so the file is reproducible.

Usage: python3 testdata/gen_sig_vectors.py [DIR]
(writes sig-vectors.json into DIR, by default next to itself)
"""

import hashlib
import json
import os
import sys

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1, 1, 0)


def inv(x):
    return pow(x, P - 2, P)


def add(p, q):
    """RFC 8032 §5.1.4 addition in extended coordinates (complete: also doubles)."""
    a = (p[1] - p[0]) * (q[1] - q[0]) % P
    b = (p[1] + p[0]) * (q[1] + q[0]) % P
    c = 2 * p[3] * q[3] * D % P
    d = 2 * p[2] * q[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def neg(p):
    return (-p[0] % P, p[1], p[2], -p[3] % P)


def mul(s, p):
    q = IDENTITY
    while s > 0:
        if s & 1:
            q = add(q, p)
        p = add(p, p)
        s >>= 1
    return q


def equal(p, q):
    return (p[0] * q[2] - q[0] * p[2]) % P == 0 and (p[1] * q[2] - q[1] * p[2]) % P == 0


def is_identity(p):
    return equal(p, IDENTITY)


def encode(p):
    """The canonical encoding (RFC 8032 §5.1.2)."""
    zi = inv(p[2])
    x, y = p[0] * zi % P, p[1] * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def decode(b):
    """ZIP 215 decoding: any encoding of a point (y >= p and x = 0 with sign 1 accepted)."""
    n = int.from_bytes(b, "little")
    sign, y = n >> 255, (n & (2**255 - 1)) % P
    x2 = (y * y - 1) * inv(D * y * y + 1) % P
    if x2 == 0:
        x = 0  # RFC 8032 refuses sign 1 here; ZIP 215 accepts it
    else:
        x = pow(x2, (P + 3) // 8, P)
        if (x * x - x2) % P:
            x = x * SQRT_M1 % P
        if (x * x - x2) % P:
            return None
        if x & 1 != sign:
            x = P - x
    return (x, y, 1, x * y % P)


def order(p):
    """1, 2, 4 or 8 for a small-order point, 'L' for the prime-order subgroup, else 'mixed'."""
    for o in (1, 2, 4, 8):
        if is_identity(mul(o, p)):
            return o
    return "L" if is_identity(mul(L, p)) else "mixed"


B = decode((4 * inv(5) % P).to_bytes(32, "little"))


def h_int(*parts):
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little")


def zip215_valid(pub, sig, msg):
    a, r = decode(pub), decode(sig[:32])
    s = int.from_bytes(sig[32:], "little")
    if a is None or r is None or s >= L:
        return False
    k = h_int(sig[:32], pub, msg) % L
    return is_identity(mul(8, add(add(mul(s, B), neg(r)), neg(mul(k, a)))))


def cofactorless(pub, sig, msg):
    a, r = decode(pub), decode(sig[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    k = h_int(sig[:32], pub, msg) % L
    return equal(mul(s, B), add(r, mul(k, a)))


def cofactored_pre_reduced(pub, sig, msg):
    """[8]R + [8k mod L]A = [8S mod L]B: the variant that row 5 of the paper catches."""
    a, r = decode(pub), decode(sig[:32])
    s = int.from_bytes(sig[32:], "little")
    k = h_int(sig[:32], pub, msg) % L
    return equal(mul(8 * s % L, B), add(mul(8, r), mul(8 * k % L, a)))


def scalar(label):
    return h_int(b"m2mhub sig vector " + label.encode()) % L


def messages(label):
    """Candidate 32-byte messages, in a fixed order."""
    i = 0
    while True:
        yield hashlib.sha256(f"{label} {i}".encode()).digest()
        i += 1


def le(n):
    return n.to_bytes(32, "little")


def torsion():
    """The 8-torsion points [i]T for a point T of order 8, found from the curve alone."""
    y = 2
    while True:
        p = decode(le(y))
        if p is not None:
            t = mul(L, p)
            if order(t) == 8:
                return [mul(i, t) for i in range(8)]
        y += 1


T = torsion()
T2 = T[4]  # order 2
assert order(T2) == 2 and order(T[2]) == 4 and order(T[1]) == 8


def small_noncanonical():
    """The 6 non-canonical encodings of small-order points: (0, 1) and (0, -1) with sign 1,
    y = p and y = p + 1 with either sign."""
    out = [le(1 | 1 << 255), le((P - 1) | 1 << 255)]
    for y in (P, P + 1):
        out += [le(y), le(y | 1 << 255)]
    for e in out:
        p = decode(e)
        assert p is not None and order(p) in (1, 2, 4) and encode(p) != e
    return out


def sig_bytes(r, s):
    return (r if isinstance(r, bytes) else encode(r)) + le(s)


def taming_cases():
    """One case per row of the paper's table; returns (row, pub, sig, msg, note)."""
    cases = []
    a = scalar("taming key")
    t8 = T[1]
    mixed_a = add(mul(a, B), t8)
    pub_mixed = encode(mixed_a)
    assert order(mixed_a) == "mixed"

    def find(label, pub, r_bytes, want):
        for m in messages(label):
            k = h_int(r_bytes, pub, m) % L
            if want(k):
                return m, k
        raise AssertionError

    # 0: S = 0, small A, small R, both equations hold: A = T, R = -T, k = 1 mod 8.
    pub, r = encode(t8), encode(neg(t8))
    m, _ = find("taming 0", pub, r, lambda k: k % 8 == 1)
    cases.append((0, pub, sig_bytes(r, 0), m, "S = 0, small A and R"))
    # 1: small A, mixed R: R = sB - A, k = 1 mod 8, so R + kA = sB.
    s = scalar("taming 1")
    r = encode(add(mul(s, B), neg(t8)))
    m, _ = find("taming 1", encode(t8), r, lambda k: k % 8 == 1)
    cases.append((1, encode(t8), sig_bytes(r, s), m, "small A only"))
    # 2: mixed A, small R = -T, k = 1 mod 8, S = ka.
    r = encode(neg(t8))
    m, k = find("taming 2", pub_mixed, r, lambda k: k % 8 == 1)
    cases.append((2, pub_mixed, sig_bytes(r, k * a % L), m, "small R only"))
    # 3 and 4: mixed A and R = rB - T; k = 1 mod 8 makes the cofactorless equation hold too.
    rr = scalar("taming 3")
    r = encode(add(mul(rr, B), neg(t8)))
    m, k = find("taming 3", pub_mixed, r, lambda k: k % 8 == 1)
    cases.append((3, pub_mixed, sig_bytes(r, (rr + k * a) % L), m, "mixed A and R, both hold"))
    m, k = find("taming 4", pub_mixed, r, lambda k: k % 8 != 1)
    cases.append((4, pub_mixed, sig_bytes(r, (rr + k * a) % L), m, "mixed A and R, cofactored only"))
    # 5: mixed A, R of order L; fails a verifier that reduces 8k mod L before multiplying A.
    rr = scalar("taming 5")
    r = encode(mul(rr, B))

    def pre_reduction_shows(k):
        return k % 8 != 0 and (8 * k // L) % 8 != 0

    m, k = find("taming 5", pub_mixed, r, pre_reduction_shows)
    cases.append((5, pub_mixed, sig_bytes(r, (rr + k * a) % L), m, "fails if 8k is pre-reduced"))
    # 6 and 7: an honest signature (A and R of order L) with S + L (< 2^253) and with S + nL
    # so large that bit 255 is set.
    a6 = scalar("taming key 6")
    pub6 = encode(mul(a6, B))
    rr = scalar("taming 6")
    r = encode(mul(rr, B))
    m = next(messages("taming 6"))
    s = (rr + h_int(r, pub6, m) % L * a6) % L
    cases.append((6, pub6, sig_bytes(r, s + L), m, "S > L"))
    big = s + ((2**255 - s) // L + 1) * L
    assert 2**255 <= big < 2**256
    cases.append((7, pub6, sig_bytes(r, big), m, "S >> L, bit 255 set"))
    # 8 and 9: mixed A, R = the identity encoded as (-0, 1) (non-canonical), S = ka with
    # k = 0 mod 8: in 8 k is computed over R's canonical encoding, in 9 over the bytes sent.
    r_nc = le(1 | 1 << 255)
    r_c = encode(decode(r_nc))
    m, k = find("taming 8", pub_mixed, r_c, lambda k: k % 8 == 0)
    cases.append((8, pub_mixed, sig_bytes(r_nc, k * a % L), m, "non-canonical R, re-encoded for k"))
    m, k = find("taming 9", pub_mixed, r_nc, lambda k: k % 8 == 0)
    cases.append((9, pub_mixed, sig_bytes(r_nc, k * a % L), m, "non-canonical R, k over its bytes"))
    # 10 and 11: A = the order-2 point (0, -1) encoded with sign 1 (non-canonical), R = rB + A,
    # S = r, k odd (so R + kA = rB): in 10 k is over A's canonical encoding, in 11 over its bytes.
    pub_nc = le((P - 1) | 1 << 255)
    pub_c = encode(decode(pub_nc))
    rr = scalar("taming 10")
    r = encode(add(mul(rr, B), T2))
    m, _ = find("taming 10", pub_c, r, lambda k: k % 2 == 1)
    cases.append((10, pub_nc, sig_bytes(r, rr), m, "non-canonical A, re-encoded for k"))
    m, _ = find("taming 11", pub_nc, r, lambda k: k % 2 == 1)
    cases.append((11, pub_nc, sig_bytes(r, rr), m, "non-canonical A, k over its bytes"))
    return cases


# The paper's table, per row: (order of A, order of R, cofactored with the hash the row's
# construction used, cofactorless likewise) and Zebra's published result (ZIP 215).
TABLE = {
    0: ("small", "small", True, True),
    1: ("small", "mixed", True, True),
    2: ("mixed", "small", True, True),
    3: ("mixed", "mixed", True, True),
    4: ("mixed", "mixed", True, False),
    5: ("mixed", "L", True, False),
    6: ("L", "L", None, True),
    7: ("L", "L", None, True),
    8: ("mixed", "small", None, None),
    9: ("mixed", "small", True, True),
    10: ("small", "mixed", True, None),
    11: ("small", "mixed", True, True),
}
ZEBRA = [True] * 6 + [False] * 3 + [True] * 3


def kind(p):
    o = order(p)
    return "small" if o in (1, 2, 4, 8) else o


def check_row(row, pub, sig, msg):
    want_a, want_r, cof, cofless = TABLE[row]
    assert kind(decode(pub)) == want_a, row
    assert kind(decode(sig[:32])) == want_r, row
    if cofless is not None:
        assert cofactorless(pub, sig, msg) == cofless, row
    if cof is not None:
        assert zip215_valid(pub, sig, msg) == cof, row
    if row == 5:
        assert not cofactored_pre_reduced(pub, sig, msg)
    assert zip215_valid(pub, sig, msg) == ZEBRA[row], row


def m2mhub_cases():
    a = scalar("m2mhub key")
    pub = encode(mul(a, B))
    msg = b"m2mhub/message/v1\nan honest message"
    rr = scalar("m2mhub nonce")
    r = encode(mul(rr, B))
    s = (rr + h_int(r, pub, msg) % L * a) % L
    out = [
        ("m2mhub-honest", pub, sig_bytes(r, s), msg, "an honest signature"),
        ("m2mhub-wrong-message", pub, sig_bytes(r, s), msg + b"!", "another message"),
        ("m2mhub-s-plus-l", pub, sig_bytes(r, s + L), msg, "S + L: S must be below L"),
    ]
    for name, t in (("order-2", T2), ("order-8", T[3])):
        r_t = encode(add(mul(rr, B), t))
        s_t = (rr + h_int(r_t, pub, msg) % L * a) % L
        note = f"R = rB + T, T of {name}, S over R: the cofactored equation only"
        out.append((f"m2mhub-r-torsion-{name}", pub, sig_bytes(r_t, s_t), msg, note))
    pub_m = encode(add(mul(a, B), T[1]))
    r = encode(mul(rr, B))
    s = (rr + h_int(r, pub_m, msg) % L * a) % L
    out.append(("m2mhub-mixed-key", pub_m, sig_bytes(r, s), msg, "A = aB + T, T of order 8"))
    return out


def main() -> None:
    assert encode(B).hex() == "5866666666666666666666666666666666666666666666666666666666666666"
    assert order(B) == "L"
    cases = []

    def case(name, group, pub, sig, msg, note):
        cases.append(
            {
                "name": name,
                "group": group,
                "note": note,
                "public_key": pub.hex(),
                "message": msg.hex(),
                "signature": sig.hex(),
                "valid": zip215_valid(pub, sig, msg),
                "cofactorless": cofactorless(pub, sig, msg),
            }
        )

    for row, pub, sig, msg, note in taming_cases():
        check_row(row, pub, sig, msg)
        case(f"taming-{row}", "taming", pub, sig, msg, note)

    encodings = [encode(t) for t in T] + small_noncanonical()
    assert len(set(encodings)) == 14
    for i, pub in enumerate(encodings):
        for j, r in enumerate(encodings):
            sig = r + bytes(32)
            assert zip215_valid(pub, sig, b"Zcash")
            case(f"zip215-{i}-{j}", "zip215", pub, sig, b"Zcash", "small-order A and R, S = 0")

    for name, pub, sig, msg, note in m2mhub_cases():
        case(name, "m2mhub", pub, sig, msg, note)
    by = {c["name"]: c for c in cases}
    assert by["m2mhub-honest"]["valid"] and by["m2mhub-honest"]["cofactorless"]
    assert not by["m2mhub-wrong-message"]["valid"] and not by["m2mhub-s-plus-l"]["valid"]
    for t in ("order-2", "order-8"):
        c = by[f"m2mhub-r-torsion-{t}"]
        assert c["valid"] and not c["cofactorless"]

    vectors = {
        "description": (
            "Ed25519 signatures and their verdict under ZIP 215 (SPEC §3.2.1), from "
            "testdata/gen_sig_vectors.py (see its docstring for every construction). valid: "
            "the ZIP 215 verdict, which single and batch verification must both give; "
            "cofactorless: whether [S]B = R + [k]A holds, for reference. Groups: taming (one "
            "case per row of the table of 'Taming the many EdDSAs', Chalkias, Garillot and "
            "Nikolaenko 2020, built afresh), zip215 (ZIP 215's 196 small-order cases, message "
            "'Zcash'), m2mhub (honest, wrong message, S + L, R with a torsion component, a "
            "mixed-order key). Hex throughout."
        ),
        "cases": cases,
    }
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(out_dir, "sig-vectors.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(vectors, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {out}: {len(cases)} cases")


if __name__ == "__main__":
    main()
