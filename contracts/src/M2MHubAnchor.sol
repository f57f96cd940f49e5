// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title M2MHubAnchor: a hub's checkpoints anchored on chain, append-only by proof.
/// @notice The hub (the owner) anchors `(treeSize, root)` of its ledger's Merkle tree (RFC 9162
/// §2.1, SHA-256). Every anchor after the first carries an RFC 9162 §2.1.4 consistency proof
/// from the last anchored tree, verified here with the SHA-256 precompile: a tree that does not
/// extend the anchored one is rejected, so once anchored the hub cannot rewrite its past.
/// Storage work is constant per anchor (two slots); every anchor emits `Anchored`.
contract M2MHubAnchor {
    /// The hub's address, the only one that may anchor; packed with the latest tree size and
    /// the number of anchors in one slot.
    address public owner;
    uint64 private latestSize;
    uint32 private anchors;
    /// The latest anchored root.
    bytes32 private latestRoot;

    /// Anchor number `index` (0, 1, 2, …) covers the first `treeSize` entries, whose Merkle
    /// root is `root`.
    event Anchored(uint256 indexed index, uint64 treeSize, bytes32 root);
    /// The hub handed anchoring to a new address (key rotation).
    event OwnerChanged(address indexed previousOwner, address indexed newOwner);

    /// The caller is not the owner.
    error NotOwner();
    /// `fromSize` is not the latest anchored tree size (a replayed or raced anchor).
    error StaleAnchor(uint64 latestSize, uint64 fromSize);
    /// The new tree is not larger than the anchored one, or is empty.
    error TreeNotLarger(uint64 latestSize, uint64 newSize);
    /// The consistency proof has the wrong number of hashes for the two sizes.
    error ProofLength();
    /// The consistency proof does not lead to both roots: the history is inconsistent.
    error InconsistentHistory();
    /// The zero address cannot own the contract.
    error ZeroOwner();

    constructor(address hub) {
        if (hub == address(0)) revert ZeroOwner();
        owner = hub;
        emit OwnerChanged(address(0), hub);
    }

    /// @notice The latest anchor: tree size, root and how many anchors there have been
    /// (`count == 0`: nothing anchored yet; then size and root are zero).
    function latest() external view returns (uint64 treeSize, bytes32 root, uint32 count) {
        return (latestSize, latestRoot, anchors);
    }

    /// @notice Anchors the tree of `newSize` entries with root `newRoot`. `fromSize` must be
    /// the latest anchored size (0 for the first anchor, which takes an empty proof); `proof`
    /// is the RFC 9162 consistency proof from that tree to the new one.
    function anchor(uint64 fromSize, uint64 newSize, bytes32 newRoot, bytes32[] calldata proof)
        external
    {
        if (msg.sender != owner) revert NotOwner();
        uint64 oldSize = latestSize;
        if (fromSize != oldSize) revert StaleAnchor(oldSize, fromSize);
        if (newSize <= oldSize) revert TreeNotLarger(oldSize, newSize);
        if (oldSize == 0) {
            if (proof.length != 0) revert ProofLength();
        } else {
            verifyConsistency(oldSize, newSize, latestRoot, newRoot, proof);
        }
        uint32 index = anchors;
        latestSize = newSize;
        anchors = index + 1;
        latestRoot = newRoot;
        emit Anchored(index, newSize, newRoot);
    }

    /// @notice Hands anchoring to `newOwner` (the hub's key rotation).
    function transferOwnership(address newOwner) external {
        if (msg.sender != owner) revert NotOwner();
        if (newOwner == address(0)) revert ZeroOwner();
        emit OwnerChanged(owner, newOwner);
        owner = newOwner;
    }

    /// @notice RFC 9162 §2.1.4.2: reverts unless `proof` shows the tree of `oldSize` leaves
    /// with root `oldRoot` is a prefix of the tree of `newSize` leaves with root `newRoot`.
    /// Requires `0 < oldSize < newSize`.
    function verifyConsistency(
        uint64 oldSize,
        uint64 newSize,
        bytes32 oldRoot,
        bytes32 newRoot,
        bytes32[] calldata proof
    ) public view {
        if (oldSize == 0 || oldSize >= newSize) revert TreeNotLarger(oldSize, newSize);
        if (proof.length == 0) revert ProofLength();
        uint256 i = 0;
        bytes32 start;
        // Step 2: when the old tree is a complete subtree its root is the proof's implicit
        // first hash.
        if (oldSize & (oldSize - 1) == 0) {
            start = oldRoot;
        } else {
            start = proof[0];
            i = 1;
        }
        // Step 3.
        uint64 fn_ = oldSize - 1;
        uint64 sn = newSize - 1;
        // Step 4.
        while (fn_ & 1 == 1) {
            fn_ >>= 1;
            sn >>= 1;
        }
        // Step 5.
        bytes32 fr = start;
        bytes32 sr = start;
        // Step 6.
        for (; i < proof.length; ++i) {
            if (sn == 0) revert ProofLength();
            bytes32 c = proof[i];
            if (fn_ & 1 == 1 || fn_ == sn) {
                fr = nodeHash(c, fr);
                sr = nodeHash(c, sr);
                while (fn_ & 1 == 0 && fn_ != 0) {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            } else {
                sr = nodeHash(sr, c);
            }
            fn_ >>= 1;
            sn >>= 1;
        }
        // Step 7.
        if (sn != 0) revert ProofLength();
        if (fr != oldRoot || sr != newRoot) revert InconsistentHistory();
    }

    /// @notice RFC 6962 interior node hash: SHA-256(0x01 || left || right), through the
    /// SHA-256 precompile over the scratch space (no memory growth per call).
    function nodeHash(bytes32 left, bytes32 right) internal view returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, 0x01)
            mstore(add(p, 1), left)
            mstore(add(p, 33), right)
            if iszero(staticcall(gas(), 0x02, p, 65, 0x00, 0x20)) { revert(0, 0) }
            h := mload(0x00)
        }
    }
}
