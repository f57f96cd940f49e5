// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title PaperBaseline: a reconstruction of the M2MHub paper's contract, for gas figures only.
/// @notice Used by `m2mhub bench gas` to reproduce the paper's Figure 7 in the same EVM as
/// M2MHubLedger. Not for production: it is slow on purpose, has no access control on
/// `addToLookup`, and its rules are the paper's, not SPEC §3.3.
///
/// Taken from the paper (Saguil, Xue, Mahmoud; section III-E, Tables I and II, Figure 4):
/// - the variables of Table I: owner, transactionCount, messageCount, deviceCount,
///   transactions (tx → last message), lookup (hash of name → address), numLookup (device
///   number → address), devices (address → device), endedTransactions (an array),
///   messages (an array of message structs with strings), deviceList (an array);
/// - the functions of Table II: register, record, deviceExists, ongoing, canSend,
///   compareStrings, addToLookup, lookupName, with the modifiers listed there;
/// - names as strings, hashed into bytes32 for the lookup mapping; one exception per device;
/// - record's signature from Figure 4: record(sender, transactionID, receiver, content, action)
///   with action 0 begin, 1 continue, 2 end; transaction ids from 0; a message's field 0 is
///   its transaction id and field 8 its validity;
/// - validation: a closed or unknown transaction is invalid, and the provenance (for begin,
///   the sender) needs clearance ≥ the receiver's unless the receiver's exception names it.
///
/// Inferred (the paper does not show the code):
/// - deviceExists scans deviceList comparing names with compareStrings (the paper: "the smart
///   contract handles string comparisons and searching arrays for values"); record calls it for
///   sender and receiver, register for the new name. This linear scan is what makes both
///   operations' gas grow with the number of devices, as Figure 7 shows.
/// - ongoing scans endedTransactions linearly (Table I calls it an array: "Stores all the
///   inactive transactionIDs").
/// - a device's address is derived from its name's hash (the paper's devices had addresses but
///   the hub registered them); the message's timestamp is the block timestamp;
/// - a record with an unknown sender or receiver reverts (the paper records only among
///   registered devices); register reverts on a taken name.
contract PaperBaseline {
    struct Device {
        uint256 deviceNumber;
        string name;
        uint256 clearance;
        string exception;
        address addr;
    }

    struct Message {
        uint256 transactionID; // [0]
        uint256 messageID; // [1]
        string provID; // [2]
        string senderID; // [3]
        string receiverID; // [4]
        uint256 action; // [5]
        string content; // [6]
        uint256 timestamp; // [7]
        bool valid; // [8]
    }

    address public Owner;
    uint256 public transactionCount;
    uint256 public messageCount;
    uint256 public deviceCount;
    mapping(uint256 => Message) public transactions;
    mapping(bytes32 => address) public lookup;
    mapping(uint256 => address) public numLookup;
    mapping(address => Device) public devices;
    uint256[] public endedTransactions;
    Message[] public messages;
    Device[] public deviceList;

    constructor() {
        Owner = msg.sender;
    }

    function register(string memory name, uint256 clearance, string memory exception) public {
        require(!deviceExists(name), "device exists");
        address addr = address(uint160(uint256(keccak256(abi.encodePacked(name)))));
        Device memory d = Device(deviceCount, name, clearance, exception, addr);
        devices[addr] = d;
        deviceList.push(d);
        numLookup[deviceCount] = addr;
        addToLookup(name, addr);
        deviceCount++;
    }

    function record(
        string memory senderID,
        uint256 transactionID,
        string memory receiverID,
        string memory content,
        uint256 action
    ) public {
        require(deviceExists(senderID) && deviceExists(receiverID), "unknown device");
        Message memory m;
        m.messageID = messageCount;
        m.senderID = senderID;
        m.receiverID = receiverID;
        m.action = action;
        m.content = content;
        m.timestamp = block.timestamp;
        if (action == 0) {
            m.transactionID = transactionCount;
            m.provID = senderID;
            m.valid = canSend(senderID, receiverID);
            transactionCount++;
        } else {
            m.transactionID = transactionID;
            if (ongoing(transactionID)) {
                m.provID = transactions[transactionID].provID;
                m.valid = canSend(m.provID, receiverID);
            } else {
                m.valid = false;
            }
            if (action == 2 && m.valid) endedTransactions.push(transactionID);
        }
        if (action == 0 || m.valid) transactions[m.transactionID] = m;
        messages.push(m);
        messageCount++;
    }

    function deviceExists(string memory name) public view returns (bool) {
        for (uint256 i = 0; i < deviceList.length; i++) {
            if (compareStrings(deviceList[i].name, name)) return true;
        }
        return false;
    }

    function ongoing(uint256 transactionID) public view returns (bool) {
        if (transactionID >= transactionCount) return false;
        if (!transactions[transactionID].valid) return false;
        for (uint256 i = 0; i < endedTransactions.length; i++) {
            if (endedTransactions[i] == transactionID) return false;
        }
        return true;
    }

    function canSend(string memory sender, string memory receiver) public view returns (bool) {
        Device storage s = devices[lookupName(sender)];
        Device storage r = devices[lookupName(receiver)];
        return s.clearance >= r.clearance || compareStrings(r.exception, sender);
    }

    function compareStrings(string memory a, string memory b) public pure returns (bool) {
        return keccak256(abi.encodePacked(a)) == keccak256(abi.encodePacked(b));
    }

    function addToLookup(string memory name, address addr) public {
        lookup[keccak256(abi.encodePacked(name))] = addr;
    }

    function lookupName(string memory name) public view returns (address) {
        return lookup[keccak256(abi.encodePacked(name))];
    }
}
