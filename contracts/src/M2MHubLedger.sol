// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title M2MHubLedger: the paper's design done right.
/// @notice Every registry change and every message of an M2MHub ledger, recorded on chain with
/// the validation of SPEC §3.3 executed here, in the same order and with the same notices as
/// the hub's Rust rules. The hub relays as the owner: it has already authenticated each message
/// (SPEC §3.2), whose Ed25519 signature and contents hash go into the `Recorded` event so anyone
/// can check the device's signature off chain.
///
/// Names are `bytes32` ids: `keccak256(name)` (SPEC names are up to 64 characters, so they do
/// not fit in 32 bytes); `Registered` carries the name itself for indexers. Every call does a
/// constant amount of storage work: no loop over devices, messages or transactions, so gas does
/// not grow with any of them. (Registration writes one slot per exception it lists.)
///
/// Entry numbers (`seq`) count registry changes and messages together, as the hub's ledger
/// does, so a mirror that starts from the hub's first entry keeps the same seqs.
contract M2MHubLedger {
    // Notice bits, in SPEC §3.3 order (bit i = the i-th notice).
    uint16 internal constant SENDER_REVOKED = 1 << 0;
    uint16 internal constant UNKNOWN_RECEIVER = 1 << 1;
    uint16 internal constant RECEIVER_REVOKED = 1 << 2;
    uint16 internal constant UNKNOWN_TRANSACTION = 1 << 3;
    uint16 internal constant TRANSACTION_REJECTED = 1 << 4;
    uint16 internal constant TRANSACTION_CLOSED = 1 << 5;
    uint16 internal constant NOT_A_PARTICIPANT = 1 << 6;
    uint16 internal constant INSUFFICIENT_CLEARANCE = 1 << 7;
    uint16 internal constant BAD_CAUSE = 1 << 8;

    uint8 internal constant BEGIN = 0;
    uint8 internal constant CONTINUE = 1;
    uint8 internal constant END = 2;

    // Transaction status; NONE: no such transaction.
    uint8 internal constant NONE = 0;
    uint8 internal constant OPEN = 1;
    uint8 internal constant CLOSED = 2;
    uint8 internal constant REJECTED = 3;

    /// A device, in one slot (plus its key in a second).
    struct Device {
        bool registered;
        bool revoked;
        uint32 clearance;
        /// True once it has a recorded message; then `lastCounter` is that message's counter.
        bool hasCounter;
        uint64 lastCounter;
        bytes32 publicKey;
    }

    /// A transaction, in two slots.
    struct Transaction {
        uint8 status;
        bytes32 provenance;
    }

    /// One message as the hub relays it (SPEC §4.1's signed fields, contents by hash).
    struct Message {
        bytes32 sender;
        bytes32 receiver;
        uint8 action;
        uint64 tx;
        /// The seq of its cause plus one; 0 when absent.
        uint64 causePlusOne;
        uint64 counter;
        bytes32 contentsHash;
        bytes32 signatureR;
        bytes32 signatureS;
    }

    address public owner;
    /// Entries so far (registry changes and messages): the next entry's seq.
    uint64 public entryCount;
    /// The id the next `begin` gets (valid or not).
    uint64 public nextTx = 1;

    mapping(bytes32 => Device) public devices;
    mapping(bytes32 => bool) public keyTaken;
    /// receiver → sender → accepted despite a lower clearance.
    mapping(bytes32 => mapping(bytes32 => bool)) public exceptions;
    mapping(uint64 => Transaction) public transactions;
    /// tx → device → participant.
    mapping(uint64 => mapping(bytes32 => bool)) public participants;
    /// seq → the tx of the valid message at that seq (0: not a valid message).
    mapping(uint64 => uint64) public validTxOf;

    event Registered(uint64 indexed seq, bytes32 indexed device, string name, uint32 clearance, bytes32 publicKey, bytes32[] exceptions);
    event ExceptionGranted(uint64 indexed seq, bytes32 indexed device, bytes32 indexed sender);
    event ExceptionWithdrawn(uint64 indexed seq, bytes32 indexed device, bytes32 indexed sender);
    event Revoked(uint64 indexed seq, bytes32 indexed device);
    /// SPEC §3.2.2: from `seq` on, `device`'s messages are signed with `publicKey`.
    event Rekeyed(uint64 indexed seq, bytes32 indexed device, bytes32 publicKey);
    /// One recorded message: its seq, its tx (0 when it named a tx id not issued yet: it belongs
    /// to no transaction, SPEC §3.1, so filtering logs by tx never finds it in the transaction
    /// that later takes that id), provenance (0 when the tx is unknown), the message as relayed
    /// (signature included, with the tx it named) and its notices (bit i = SPEC §3.3's i-th;
    /// 0 = valid).
    event Recorded(uint64 indexed seq, uint64 indexed tx, bytes32 indexed provenance, Message message, uint16 notices);

    error NotOwner();
    error BadName();
    error NameTaken(bytes32 device);
    error KeyTaken();
    error UnknownDevice(bytes32 device);
    error DeviceRevoked(bytes32 device);
    error ExceptionExists(bytes32 device, bytes32 sender);
    error NoSuchException(bytes32 device, bytes32 sender);
    /// SPEC §3.2: the sender is not registered (the hub refuses such a message).
    error UnknownSender(bytes32 sender);
    /// SPEC §3.2: the counter is not above the sender's last.
    error StaleCounter(uint64 counter);
    /// Bad action, or a `begin` naming a tx.
    error Malformed();

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    constructor(address hub) {
        owner = hub;
    }

    /// @notice Registers `name` (1–64 bytes) with `clearance`, an Ed25519 `publicKey` and the
    /// senders it accepts despite their lower clearance.
    function register(string calldata name, uint32 clearance, bytes32 publicKey, bytes32[] calldata accepts)
        external
        onlyOwner
    {
        uint256 len = bytes(name).length;
        if (len == 0 || len > 64) revert BadName();
        bytes32 id = keccak256(bytes(name));
        Device storage d = devices[id];
        if (d.registered) revert NameTaken(id);
        if (keyTaken[publicKey]) revert KeyTaken();
        keyTaken[publicKey] = true;
        d.registered = true;
        d.clearance = clearance;
        d.publicKey = publicKey;
        for (uint256 i = 0; i < accepts.length; ++i) {
            exceptions[id][accepts[i]] = true;
        }
        emit Registered(entryCount++, id, name, clearance, publicKey, accepts);
    }

    /// @notice `device` accepts `sender` despite its lower clearance.
    function grantException(bytes32 device, bytes32 sender) external onlyOwner {
        active(device);
        if (exceptions[device][sender]) revert ExceptionExists(device, sender);
        exceptions[device][sender] = true;
        emit ExceptionGranted(entryCount++, device, sender);
    }

    /// @notice `device` no longer accepts `sender` despite its lower clearance.
    function withdrawException(bytes32 device, bytes32 sender) external onlyOwner {
        active(device);
        if (!exceptions[device][sender]) revert NoSuchException(device, sender);
        exceptions[device][sender] = false;
        emit ExceptionWithdrawn(entryCount++, device, sender);
    }

    /// @notice Revokes `device` for good.
    function revoke(bytes32 device) external onlyOwner {
        active(device).revoked = true;
        emit Revoked(entryCount++, device);
    }

    /// @notice Re-keys `device` (SPEC §3.2.2): its messages from this entry on are signed with
    /// `publicKey`. A key once registered stays taken, retired or not. (The hub relays
    /// messages after checking their signatures; the `Rekeyed` events give an off-chain
    /// checker the key in force at each seq.)
    function rekey(bytes32 device, bytes32 publicKey) external onlyOwner {
        Device storage d = active(device);
        if (keyTaken[publicKey]) revert KeyTaken();
        keyTaken[publicKey] = true;
        d.publicKey = publicKey;
        emit Rekeyed(entryCount++, device, publicKey);
    }

    /// @notice Records `m` with its verdict (SPEC §3.1, §3.3) and returns its seq, its tx (new
    /// for a `begin`; 0 when `m` names a tx id not issued yet) and its notices (0 = valid).
    function record(Message calldata m) external onlyOwner returns (uint64 seq, uint64 txId, uint16 notices) {
        Device storage s = devices[m.sender];
        if (!s.registered) revert UnknownSender(m.sender);
        if (s.hasCounter && m.counter <= s.lastCounter) revert StaleCounter(m.counter);
        uint8 action = m.action;
        if (action > END || (action == BEGIN && m.tx != 0)) revert Malformed();
        Device storage r = devices[m.receiver];

        if (s.revoked) notices |= SENDER_REVOKED;
        if (!r.registered) notices |= UNKNOWN_RECEIVER;
        else if (r.revoked) notices |= RECEIVER_REVOKED;

        bytes32 provenance;
        uint32 provClearance;
        bool txKnown = true;
        Transaction storage t;
        if (action == BEGIN) {
            txId = nextTx++;
            t = transactions[txId];
            provenance = m.sender;
            provClearance = s.clearance;
        } else {
            txId = m.tx;
            t = transactions[txId];
            uint8 status = t.status;
            if (status == NONE) {
                notices |= UNKNOWN_TRANSACTION;
                txKnown = false;
            } else {
                if (status == REJECTED) notices |= TRANSACTION_REJECTED;
                else if (status == CLOSED) notices |= TRANSACTION_CLOSED;
                if (!participants[txId][m.sender]) notices |= NOT_A_PARTICIPANT;
                provenance = t.provenance;
                provClearance = devices[provenance].clearance;
            }
        }
        if (txKnown && r.registered && provClearance < r.clearance && !exceptions[m.receiver][provenance]) {
            notices |= INSUFFICIENT_CLEARANCE;
        }
        if (m.causePlusOne != 0 && txKnown) {
            // A begin opens a new transaction, so no earlier message can belong to it.
            if (action == BEGIN || validTxOf[m.causePlusOne - 1] != txId) notices |= BAD_CAUSE;
        }

        // Only valid messages change state; an invalid begin leaves a rejected transaction
        // whose only participant is its sender.
        bool valid = notices == 0;
        if (action == BEGIN) {
            t.status = valid ? OPEN : REJECTED;
            t.provenance = m.sender;
            participants[txId][m.sender] = true;
            if (valid) participants[txId][m.receiver] = true;
        } else if (valid) {
            if (!participants[txId][m.sender]) participants[txId][m.sender] = true;
            if (!participants[txId][m.receiver]) participants[txId][m.receiver] = true;
            if (action == END) t.status = CLOSED;
        }
        s.hasCounter = true;
        s.lastCounter = m.counter;
        seq = entryCount++;
        if (valid) validTxOf[seq] = txId;
        if (!txKnown) txId = 0;
        emit Recorded(seq, txId, provenance, m, notices);
    }

    function active(bytes32 device) internal view returns (Device storage d) {
        d = devices[device];
        if (!d.registered) revert UnknownDevice(device);
        if (d.revoked) revert DeviceRevoked(device);
    }
}
