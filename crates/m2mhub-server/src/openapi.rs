//! The OpenAPI 3.1 description of SPEC §5, served at `/v1/openapi.json`. Built from the route
//! table below, which a test checks against the router, so the document cannot drift.

use axum::{Json, response::IntoResponse};
use serde_json::{Value, json};

/// (method, path, operator only, summary, request schema, response schema).
type Route = (
    &'static str,
    &'static str,
    bool,
    &'static str,
    Option<&'static str>,
    &'static str,
);

/// Every route of the API.
pub const ROUTES: &[Route] = &[
    (
        "post",
        "/v1/devices",
        true,
        "Register a device",
        Some("NewDevice"),
        "Device",
    ),
    (
        "get",
        "/v1/devices",
        false,
        "Devices in registration order, paged: {items, next}",
        None,
        "Devices",
    ),
    (
        "get",
        "/v1/devices/{name}",
        false,
        "Show a device",
        None,
        "Device",
    ),
    (
        "post",
        "/v1/devices/{name}/exceptions",
        true,
        "Grant an exception: the device accepts `sender` despite lower clearance",
        Some("NewException"),
        "Device",
    ),
    (
        "delete",
        "/v1/devices/{name}/exceptions/{sender}",
        true,
        "Withdraw an exception",
        None,
        "Device",
    ),
    (
        "post",
        "/v1/devices/{name}/revoke",
        true,
        "Revoke a device for good",
        None,
        "Device",
    ),
    (
        "post",
        "/v1/devices/{name}/rekey",
        true,
        "Re-key a device (SPEC 3.2.2): from the re-key entry's seq on its messages are checked with public_key; earlier ones keep the key in force at their seq (the device's keys list)",
        Some("NewKey"),
        "Device",
    ),
    (
        "post",
        "/v1/messages",
        false,
        "Submit a signed message; the record is durable when this returns",
        Some("Message"),
        "Record",
    ),
    (
        "post",
        "/v1/messages/batch",
        false,
        "Submit many signed messages in one block; one answer per message, in order",
        Some("Messages"),
        "BatchAnswers",
    ),
    (
        "get",
        "/v1/messages",
        false,
        "Records filtered by tx, device, validity: {items, next}, paged forward with after or backward with before; a page may hold fewer items than limit, even none, while next is set",
        None,
        "Records",
    ),
    (
        "get",
        "/v1/messages/{seq}",
        false,
        "One record",
        None,
        "Record",
    ),
    (
        "get",
        "/v1/transactions/{tx}",
        false,
        "A transaction: provenance, state, participants, message_count and one page of its messages",
        None,
        "Transaction",
    ),
    (
        "get",
        "/v1/transactions/{tx}/graph",
        false,
        "The causal tree of the first limit messages as json, dot or prov (W3C PROV-JSON); truncated when the transaction has more",
        None,
        "Graph",
    ),
    (
        "get",
        "/v1/entries",
        false,
        "Raw entries by seq, for outside verifiers (extension): {items, next}",
        None,
        "RawEntries",
    ),
    (
        "get",
        "/v1/entries/{seq}",
        false,
        "An entry: canonical bytes, leaf hash and decoded fields",
        None,
        "Entry",
    ),
    (
        "get",
        "/v1/checkpoint",
        false,
        "The latest signed checkpoint (C2SP signed note, text/plain)",
        None,
        "Text",
    ),
    (
        "get",
        "/v1/key",
        false,
        "The hub's verifier key line (text/plain)",
        None,
        "Text",
    ),
    (
        "get",
        "/v1/proof/inclusion",
        false,
        "RFC 9162 inclusion proof of seq in the tree of tree_size",
        None,
        "InclusionProof",
    ),
    (
        "get",
        "/v1/proof/consistency",
        false,
        "RFC 9162 consistency proof between tree sizes from and to",
        None,
        "ConsistencyProof",
    ),
    (
        "get",
        "/v1/blocks",
        false,
        "Blocks by height: {items, next}",
        None,
        "Blocks",
    ),
    (
        "get",
        "/v1/blocks/{height}",
        false,
        "One block",
        None,
        "Block",
    ),
    (
        "get",
        "/v1/events",
        false,
        "Server-Sent Events: `entry` per new entry, `block` per block",
        None,
        "Text",
    ),
    (
        "get",
        "/v1/security-events",
        true,
        "Refused submissions kept as security events (SPEC 3.2), oldest first, paged with after and limit",
        None,
        "SecurityEvents",
    ),
    (
        "get",
        "/v1/security-events/stream",
        true,
        "Server-Sent Events: `security` per refused submission, as it is refused",
        None,
        "Text",
    ),
    (
        "get",
        "/v1/backup",
        true,
        "A consistent snapshot of the ledger as a backup (application/octet-stream, format m2mhub-backup v1, README \"Backup and restore\"), streamed while ingest runs",
        None,
        "Text",
    ),
    (
        "get",
        "/v1/openapi.json",
        false,
        "This document",
        None,
        "Object",
    ),
    (
        "get",
        "/metrics",
        false,
        "Prometheus metrics (text)",
        None,
        "Text",
    ),
    ("get", "/", false, "The web console (HTML)", None, "Text"),
    (
        "get",
        "/healthz",
        false,
        "Liveness: 200 while the process serves HTTP",
        None,
        "Health",
    ),
    (
        "get",
        "/readyz",
        false,
        "Readiness: 200 when the hub accepts writes; 503 storage_failed after a storage failure (until restarted) or shutting_down",
        None,
        "Health",
    ),
    (
        "get",
        "/v1/devices/{name}/transactions",
        false,
        "Transactions whose messages reached the device, newest first, with their provenance: {items, next}; counts cover the messages the page looked at",
        None,
        "DeviceTransactions",
    ),
    (
        "get",
        "/v1/provenance/ranking",
        false,
        "Provenance devices by the invalid messages their transactions hold, kept up to date on append: {items, next}",
        None,
        "Ranking",
    ),
];

fn query_params(path: &str) -> Vec<Value> {
    let q = |name: &str, ty: &str, required: bool, description: &str| json!({"name": name, "in": "query", "required": required, "description": description, "schema": {"type": ty}});
    let limit = || {
        json!({"name": "limit", "in": "query", "required": false,
        "description": "at most this many items, 1–1000 (default 100); outside that range 400 malformed",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000}})
    };
    match path {
        "/v1/messages" => vec![
            q("tx", "integer", false, "only messages naming this tx"),
            q(
                "device",
                "string",
                false,
                "only messages this device sent or received",
            ),
            q(
                "valid",
                "boolean",
                false,
                "only valid or only invalid messages",
            ),
            q(
                "after",
                "integer",
                false,
                "only seqs greater than this (the previous page's next)",
            ),
            q(
                "before",
                "integer",
                false,
                "only seqs smaller than this, newest first; next is then the next page's before",
            ),
            limit(),
        ],
        "/v1/security-events"
        | "/v1/entries"
        | "/v1/blocks"
        | "/v1/devices"
        | "/v1/transactions/{tx}"
        | "/v1/devices/{name}/transactions"
        | "/v1/provenance/ranking" => vec![
            q(
                "after",
                "integer",
                false,
                "the previous page's next (start after this)",
            ),
            limit(),
        ],
        "/v1/proof/inclusion" => vec![
            q("seq", "integer", true, "the entry"),
            q("tree_size", "integer", false, "default: latest"),
        ],
        "/v1/proof/consistency" => vec![
            q("from", "integer", true, "older tree size, > 0"),
            q("to", "integer", false, "default: latest"),
        ],
        "/v1/transactions/{tx}/graph" => vec![
            q("format", "string", false, "json (default), dot or prov"),
            q(
                "limit",
                "integer",
                false,
                "messages drawn, 1–1000 (default 1000)",
            ),
        ],
        _ => Vec::new(),
    }
}

fn schemas() -> Value {
    let int = json!({"type": "integer", "minimum": 0});
    let str_ = json!({"type": "string"});
    let hex = |n: usize| json!({"type": "string", "pattern": format!("^[0-9a-fA-F]{{{n}}}$")});
    let names = json!({"type": "array", "items": {"type": "string"}});
    let notices = json!({"type": "array", "items": {"type": "string", "enum": [
        "sender_revoked", "unknown_receiver", "receiver_revoked", "unknown_transaction",
        "transaction_rejected", "transaction_closed", "not_a_participant", "insufficient_clearance", "bad_cause"]}});
    let reff = |n: &str| json!({"$ref": format!("#/components/schemas/{n}")});
    // SPEC §5 "Bounded answers": every list is one page.
    let page = |items: Value| {
        json!({"type": "object", "required": ["items", "next"], "properties": {
        "items": {"type": "array", "items": items},
        "next": {"type": ["integer", "null"], "description": "pass as after for the next page; null at the end"}}})
    };
    let record = json!({"type": "object", "required": ["seq", "tx", "provenance", "sender", "receiver", "action", "cause", "counter", "contents", "valid", "notices", "block", "leaf_hash"],
        "properties": {"seq": int, "tx": int, "provenance": {"type": ["string", "null"]}, "sender": str_, "receiver": str_,
            "action": {"enum": ["begin", "continue", "end"]}, "cause": {"type": ["integer", "null"]}, "counter": int,
            "contents": {"type": ["string", "null"], "description": "null once pruned"}, "valid": {"type": "boolean"},
            "notices": notices, "block": int, "leaf_hash": hex(64), "duplicate": {"type": "boolean"}}});
    let block = json!({"type": "object", "properties": {"height": int, "first_seq": int, "size": int, "tree_size": int,
        "root": hex(64), "prev_hash": hex(64), "hash": hex(64), "time_ms": int, "checkpoint": str_}});
    json!({
        "Error": {"type": "object", "required": ["error", "message"], "properties": {"error": str_, "message": str_}},
        "NewDevice": {"type": "object", "required": ["name", "clearance"], "additionalProperties": false,
            "description": "give public_key, or simulated: true for a key the hub makes and holds",
            "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}, "clearance": {"type": "integer", "minimum": 0, "maximum": 4294967295u64},
                "public_key": hex(64), "simulated": {"type": "boolean"}, "exceptions": names}},
        "NewKey": {"type": "object", "required": ["public_key"], "additionalProperties": false,
            "properties": {"public_key": hex(64)}},
        "NewException": {"type": "object", "required": ["sender"], "additionalProperties": false, "properties": {"sender": str_}},
        "Device": {"type": "object", "properties": {"name": str_, "clearance": int, "public_key": hex(64), "exceptions": names,
            "status": {"enum": ["active", "revoked"]}, "registered_seq": int, "last_counter": {"type": ["integer", "null"]},
            "simulated": {"type": "boolean"}, "key_fingerprint": hex(16),
            "keys": {"type": "array", "description": "every key the device has had, oldest first: a message at seq s was checked with the last key whose from_seq <= s",
                "items": {"type": "object", "required": ["public_key", "from_seq"], "properties": {"public_key": hex(64), "from_seq": int}}}}},
        "Devices": page(reff("Device")),
        "Message": {"type": "object", "required": ["sender", "receiver", "action", "counter", "contents", "signature"], "additionalProperties": false,
            "properties": {"sender": str_, "receiver": str_, "action": {"enum": ["begin", "continue", "end", 0, 1, 2]}, "tx": int, "cause": int,
                "counter": int, "contents": {"type": "string", "maxLength": 16384}, "signature": hex(128)}},
        "Messages": {"type": "array", "items": reff("Message"), "maxItems": 10000},
        "Record": record,
        "Records": page(reff("Record")),
        "BatchAnswers": {"type": "array", "items": {"oneOf": [reff("Record"), reff("Error")]}},
        "Transaction": {"type": "object", "properties": {"tx": int, "provenance": str_, "state": {"enum": ["open", "closed", "rejected"]},
            "participants": names, "message_count": int, "messages": {"type": "array", "items": reff("Record")},
            "next": {"type": ["integer", "null"], "description": "after of the next page of messages"}}},
        "Graph": {"type": "object", "description": "json: {tx, provenance, state, participants, message_count, truncated, nodes, edges, roots}; prov: W3C PROV-JSON; dot: text"},
        "Entry": {"type": "object", "required": ["seq", "kind", "entry_bytes", "leaf_hash"], "properties": {"seq": int,
            "kind": {"enum": ["device_registered", "simulated_device_registered", "exception_granted", "exception_withdrawn", "device_revoked", "device_rekeyed", "message"]},
            "entry_bytes": {"type": "string", "contentEncoding": "base64"}, "leaf_hash": hex(64), "block": int}},
        "RawEntries": page(json!({"type": "object", "properties": {"seq": int, "entry_bytes": str_, "contents": {"type": ["string", "null"]}}})),
        "InclusionProof": {"type": "object", "properties": {"seq": int, "tree_size": int, "leaf_hash": hex(64), "path": {"type": "array", "items": hex(64)}}},
        "ConsistencyProof": {"type": "object", "properties": {"from": int, "to": int, "path": {"type": "array", "items": hex(64)}}},
        "Block": block,
        "Blocks": page(reff("Block")),
        "SimulatedMessage": {"type": "object", "required": ["receiver", "action", "contents"], "additionalProperties": false,
            "properties": {"receiver": str_, "action": {"enum": ["begin", "continue", "end", 0, 1, 2]}, "tx": int, "cause": int, "contents": str_}},
        "DeviceTransactions": page(json!({"type": "object", "properties": {"tx": {"type": ["integer", "null"], "minimum": 0}, "provenance": {"type": ["string", "null"]},
            "state": {"enum": ["open", "closed", "rejected", null]}, "messages_to_device": int, "invalid_to_device": int, "last_seq": int}})),
        "Ranking": page(json!({"type": "object", "properties": {"provenance": str_, "invalid_messages": int}})),
        "SecurityEvent": {"type": "object", "required": ["id", "time", "time_ms", "transport", "source", "sender", "code", "message"],
            "properties": {"id": int, "time": str_, "time_ms": int, "transport": {"enum": ["http", "mqtt"]},
                "source": {"type": ["string", "null"], "description": "http: the peer address; mqtt: the topic published on"},
                "sender": {"type": ["string", "null"], "description": "the sender the submission claimed"},
                "code": {"type": "string", "description": "the error answered: malformed, unknown_sender, bad_signature, stale_counter, too_many_failures, …"}, "message": str_,
                "repeated": {"type": "integer", "minimum": 1, "description": "present when this event stands for more refusals with the same transport, source and code, folded into it since the previous event kept for them (it shows the last)"}}},
        "SecurityEvents": {"type": "object", "required": ["items", "next"], "properties": {
            "items": {"type": "array", "items": reff("SecurityEvent")}, "next": {"type": ["integer", "null"]}}},
        "Health": {"type": "object", "required": ["status"], "properties": {"status": {"enum": ["ok", "ready"]},
            "tree_size": int, "height": int}},
        "Text": {"type": "string"},
        "Object": {"type": "object"},
    })
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, operator, summary, request, response) in ROUTES {
        let mut params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        params.extend(query_params(path));
        let mut op = json!({
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{response}")}}}},
                "4XX": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        });
        if *path == "/v1/devices/{name}/rekey" {
            let err = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
            let r = &mut op["responses"];
            r["400"] =
                err("malformed: not the canonical encoding of a point, or a small-order key");
            r["401"] = err("unauthorized: no operator token");
            r["404"] = err("unknown_device");
            r["409"] = err(
                "key_taken (any key ever registered, retired keys included), device_revoked, or simulated_device (the hub holds its key: not re-keyed)",
            );
        }
        if *path == "/v1/backup" {
            op["responses"]["200"] = json!({"description": "the backup file", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}});
        }
        if *path == "/readyz" {
            op["responses"]["503"] = json!({"description": "not ready: storage_failed or shutting_down", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
        }
        if let Some(req) = request {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{req}")}}}});
        }
        if *operator {
            op["security"] = json!([{"operator": []}]);
        }
        let entry = paths.entry((*path).to_owned()).or_insert_with(|| json!({}));
        entry[*method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "M2MHub API", "version": env!("CARGO_PKG_VERSION"),
            "description": "Tamper-evident provenance for machine-to-machine messages (SPEC §5)."},
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"operator": {"type": "http", "scheme": "bearer", "description": "the operator token"}},
        },
    })
}

/// `GET /v1/openapi.json`.
pub async fn serve() -> impl IntoResponse {
    Json(document())
}
