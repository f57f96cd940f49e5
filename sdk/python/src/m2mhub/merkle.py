"""RFC 6962 / RFC 9162 §2.1 Merkle hashing and proof checks (SPEC §4.2): leaf hash
``SHA-256(0x00 ‖ entry bytes)``, node hash ``SHA-256(0x01 ‖ left ‖ right)``, and the
verification algorithms of RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency)."""

import hashlib

from .errors import VerificationError

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry_bytes):
    return hashlib.sha256(b"\x00" + entry_bytes).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_of(leaf_hashes):
    """MTH over a list of leaf hashes (for tests and small trees)."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


def _check_path(path):
    for p in path:
        if not isinstance(p, bytes) or len(p) != 32:
            raise VerificationError("a proof hash is not 32 bytes")


def verify_inclusion(leaf, index, tree_size, path, root):
    """Checks that `leaf` is leaf `index` of the tree of `tree_size` with `root`."""
    _check_path(path)
    if index >= tree_size:
        raise VerificationError(f"leaf {index} is not in a tree of size {tree_size}")
    fn, sn, r = index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            raise VerificationError("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0 or r != root:
        raise VerificationError(f"inclusion proof of leaf {index} does not give the root")


def verify_consistency(old_size, new_size, old_root, new_root, path):
    """Checks that the tree (`new_size`, `new_root`) extends (`old_size`, `old_root`)."""
    _check_path(path)
    if old_size > new_size:
        raise VerificationError("the old tree is larger than the new one")
    if old_size == new_size:
        if path or old_root != new_root:
            raise VerificationError("equal sizes need equal roots and an empty proof")
        return
    if old_size == 0:
        if path:
            raise VerificationError("a proof from the empty tree is empty")
        return
    if not path:
        raise VerificationError("empty consistency proof")
    if old_size & (old_size - 1) == 0:
        path = [old_root] + list(path)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise VerificationError(f"consistency proof {old_size} -> {new_size} does not verify")
