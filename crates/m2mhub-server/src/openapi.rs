//! The OpenAPI 3.1 document of SPEC §5, served at `/v1/openapi.json`: the one place it is
//! assembled. utoipa generates it from the handlers' own `#[utoipa::path]` attributes and the
//! request and response types they use (`ToSchema`, `IntoParams`); [`refine`] then states
//! what those cannot: exact integer ranges, the answers every route shares (the front door's,
//! the error mapping's), and the two request rules that tie fields together. A test checks the
//! document against the router, so a route cannot go undocumented.

use axum::{Json, response::IntoResponse};
use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use crate::routes::{
    backup, devices, federation, health, incidents, investigate, ledger, messages, security, stats,
    tlog, transactions, ui, witness,
};

/// The document as utoipa derives it from the handlers, before [`refine`].
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "M2MHub API",
        description = "Tamper-evident provenance for machine-to-machine messages (SPEC §5). Errors are {\"error\": code, \"message\": text}."
    ),
    paths(
        devices::register,
        devices::list,
        devices::show,
        devices::grant,
        devices::withdraw,
        devices::revoke,
        devices::rekey,
        investigate::send,
        investigate::device_transactions,
        investigate::device_history,
        federation::device_transactions,
        incidents::list,
        stats::rates,
        investigate::ranking,
        messages::post,
        messages::batch,
        messages::list,
        messages::show,
        transactions::show,
        transactions::graph,
        ledger::entries,
        ledger::entry,
        ledger::checkpoint,
        ledger::key,
        ledger::inclusion,
        ledger::consistency,
        ledger::blocks,
        ledger::block,
        crate::events::stream,
        security::list,
        security::stream,
        backup::backup,
        tlog::checkpoint,
        tlog::tile,
        witness::add_checkpoint,
        witness::witnessed,
        serve,
        crate::metrics::metrics,
        health::healthz,
        health::readyz,
        ui::index,
    ),
    components(schemas(crate::error::ErrorBody, transactions::GraphFormat, messages::Order))
)]
pub struct ApiDoc;

/// Each unsigned integer format as utoipa 6 spells it, the usual spelling, and the largest
/// value the hub parses (`u64`, `u32`).
const UNSIGNED: [(&str, &str, u64); 2] = [
    ("u-int64", "uint64", u64::MAX),
    ("u-int32", "uint32", u32::MAX as u64),
];

/// Routes that never touch the store or the committer: no 503 from them.
const STORELESS: [&str; 9] = [
    "/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/v1/key",
    "/v1/checkpoint",
    "/tlog/checkpoint",
    "/v1/openapi.json",
    "/v1/security-events/stream",
];

fn error_response(description: &str, retry_after: bool) -> Value {
    let mut r = json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    });
    if retry_after {
        r["headers"] = json!({"Retry-After": {
            "description": "seconds after which a retry may succeed",
            "schema": {"type": "integer", "minimum": 1}}});
    }
    r
}

/// Gives every unsigned integer its exact range: utoipa writes `u64` as `format: uint64,
/// minimum: 0`, and a client that generates or checks values needs the top as well (a
/// number past it is 400 `malformed`). Explicit maxima (`limit`'s 1000) stay.
fn bound_integers(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let format = m.get("format").and_then(Value::as_str).map(str::to_owned);
            let known = UNSIGNED.iter().find(|(utoipa, usual, _)| {
                [Some(*utoipa), Some(*usual)].contains(&format.as_deref())
            });
            if let Some((_, usual, max)) = known {
                m.insert("format".into(), json!(usual));
                m.entry("maximum").or_insert(json!(max));
                m.insert(
                    "minimum".into(),
                    json!(m.get("minimum").and_then(Value::as_u64).unwrap_or(0)),
                );
            }
            m.values_mut().for_each(bound_integers);
        }
        Value::Array(a) => a.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

/// Adds the answers that come from outside the handler to one operation: 400 from the
/// extractors (any parameter or body), 401 from the operator check, 413 from the body cap,
/// 408 and 500 from the front door, 503 from the store and the committer.
fn shared_responses(path: &str, op: &mut Map<String, Value>) {
    let has_params = op
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    let has_body = op.contains_key("requestBody");
    let operator = op.contains_key("security");
    let Some(Value::Object(responses)) = op.get_mut("responses") else {
        return;
    };
    let mut add = |code: &str, r: Value| {
        responses.entry(code).or_insert(r);
    };
    if has_params || has_body {
        add(
            "400",
            error_response(
                "malformed: a parameter or the body breaks the schema or SPEC §3.4",
                false,
            ),
        );
    }
    if operator {
        add(
            "401",
            error_response("unauthorized: no operator token, or a wrong one", false),
        );
    }
    if has_body {
        add(
            "413",
            error_response("too_large: the body is past the route's cap", false),
        );
    }
    add(
        "408",
        error_response(
            "timeout: the request was not received and answered in time",
            false,
        ),
    );
    add(
        "500",
        error_response("internal: the hub's log has the details", false),
    );
    if !STORELESS.contains(&path) {
        add(
            "503",
            error_response(
                "busy (the commit queue is full) or unavailable (the hub is stopping): nothing was recorded",
                true,
            ),
        );
    }
    if let Some(r) = responses.get_mut("429") {
        *r = error_response("too_many_failures: this address failed too often", true);
    }
}

/// What no derive states: a `begin` carries no tx (SPEC §3.3: else `malformed`), a device is
/// registered with either its own key or `simulated: true`, and a batch holds at most
/// [`messages::MAX_BATCH`] items of any kind (each answered in its place, a bad one with its
/// error: so the request is valid whatever its items are).
fn refine_requests(doc: &mut Value) {
    for name in ["Message", "SimulatedMessage"] {
        if let Some(Value::Object(s)) = doc.pointer_mut(&format!("/components/schemas/{name}")) {
            s.insert(
                "if".into(),
                json!({"properties": {"action": {"enum": ["begin", 0]}}, "required": ["action"]}),
            );
            s.insert(
                "then".into(),
                json!({"properties": {"tx": {"enum": [0, null]}}}),
            );
            if name != "Message" {
                continue;
            }
            // The two forms (SPEC §4.1, §7): bare names and no tx_hub, or every name
            // qualified and tx_hub exactly when the message is not a begin.
            let name = m2mhub_core::schema::NAME_PATTERN;
            let qualified = "^[A-Za-z0-9_.-]{1,64}@[A-Za-z0-9_.-]{1,64}$";
            let no_tx_hub = json!({"not": {"required": ["tx_hub"]}});
            s.insert(
                "oneOf".into(),
                json!([
                    {"properties": {"sender": {"pattern": name}, "receiver": {"pattern": name}},
                     "allOf": [no_tx_hub]},
                    {"properties": {"sender": {"pattern": qualified},
                                    "receiver": {"pattern": qualified}},
                     "if": {"properties": {"action": {"enum": ["begin", 0]}}, "required": ["action"]},
                     "then": no_tx_hub,
                     "else": {"required": ["tx_hub"]}},
                ]),
            );
        }
    }
    // A forwarded answer (SPEC §7) is a record or an error as it came: the same two schemas,
    // which `oneOf` must not list twice.
    if let Some(Value::Array(one_of)) = doc.pointer_mut("/components/schemas/BatchAnswer/oneOf") {
        let mut seen = Vec::new();
        one_of.retain(|s| {
            let r = s.get("$ref").cloned();
            if seen.contains(&r) {
                return false;
            }
            seen.push(r);
            true
        });
    }
    if let Some(Value::Object(s)) = doc.pointer_mut("/components/schemas/NewDevice") {
        s.insert(
            "oneOf".into(),
            json!([
                {"required": ["public_key"], "properties": {
                    "public_key": {"type": "string"}, "simulated": {"const": false}}},
                {"required": ["simulated"], "properties": {
                    "public_key": {"type": "null"}, "simulated": {"const": true}}},
            ]),
        );
    }
    // The rates' bucket is one of four lengths, which `IntoParams` cannot enumerate.
    if let Some(Value::Array(params)) = doc.pointer_mut("/paths/~1v1~1stats~1rates/get/parameters")
    {
        for p in params.iter_mut().filter(|p| p["name"] == "bucket") {
            p["schema"] = json!({"type": "integer", "enum": m2mhub_ledger::RATE_BUCKETS});
        }
    }
    let batch = "/paths/~1v1~1messages~1batch/post/requestBody/content/application~1json/schema";
    if let Some(schema) = doc.pointer_mut(batch) {
        *schema = json!({
            "type": "array",
            "maxItems": messages::MAX_BATCH,
            "description": "each item a Message; an item that is not one is answered with its error in its place",
        });
    }
}

/// Turns utoipa's document into the served one (see the module doc).
pub fn refine(mut doc: Value) -> Value {
    bound_integers(&mut doc);
    refine_requests(&mut doc);
    if let Some(Value::Object(paths)) = doc.get_mut("paths") {
        for (path, item) in paths.iter_mut() {
            if let Value::Object(item) = item {
                for op in item.values_mut() {
                    if let Value::Object(op) = op {
                        shared_responses(path, op);
                    }
                }
            }
        }
    }
    doc["components"]["securitySchemes"] = json!({"operator": {
        "type": "http", "scheme": "bearer", "description": "the operator token (SPEC §5.1)"}});
    doc
}

/// The whole document.
pub fn document() -> Value {
    refine(serde_json::to_value(ApiDoc::openapi()).unwrap_or_default())
}

/// `GET /v1/openapi.json`.
#[utoipa::path(get, path = "/v1/openapi.json", operation_id = "openapi", tag = "operations",
    summary = "This document",
    responses((status = 200, description = "the OpenAPI 3.1 document", body = Object)))]
pub async fn serve() -> impl IntoResponse {
    Json(document())
}
