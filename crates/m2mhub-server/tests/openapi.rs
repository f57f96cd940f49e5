//! The OpenAPI document against the router it describes: every route the router serves (read
//! from `router()`'s route table in `src/lib.rs`) is in the document with exactly its
//! methods, every documented operation reaches its handler, and no documented path takes a
//! method the document does not name. `tests/api-contract/run.sh` (`make api-contract`) then
//! checks the answers themselves with schemathesis against the real binary.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use m2mhub_server::{AppState, Limits};
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `(path, methods)` of every `.route("path", …)` in `router()`: the methods are the
/// `get(…)`, `post(…)` and `delete(…)` calls inside that `.route(…)`.
fn router_routes() -> BTreeMap<String, BTreeSet<String>> {
    let src = include_str!("../src/lib.rs");
    let body = src
        .split("pub fn router(")
        .nth(1)
        .and_then(|s| s.split(".fallback(").next())
        .unwrap();
    let mut routes = BTreeMap::new();
    for call in body.split(".route(").skip(1) {
        // axum's catch-all `{*name}` is OpenAPI's `{name}`.
        let path = call.split('"').nth(1).unwrap().replace("{*", "{");
        // The call runs to the next `.route(`; strip nested `route_layer(`/`.layer` noise by
        // looking only for the method constructors.
        let methods = ["get", "post", "delete"]
            .into_iter()
            .filter(|m| {
                call.contains(&format!(" {m}("))
                    || call.contains(&format!("({m}("))
                    || call.contains(&format!(".{m}("))
                    || call.contains(&format!("routing::{m}("))
                    || call.contains(&format!("\n{m}("))
                    || call.contains(&format!(" {m}(\n"))
            })
            .map(str::to_owned)
            .collect::<BTreeSet<_>>();
        assert!(!methods.is_empty(), "no method found for {path}");
        routes.insert(path, methods);
    }
    routes
}

fn document_routes(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| METHODS.contains(&k.as_str()))
                .cloned()
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

#[test]
fn every_router_route_is_documented_with_its_methods() {
    let doc = m2mhub_server::openapi::document();
    let router = router_routes();
    assert!(
        router.len() >= 30,
        "the route table was not read: {router:?}"
    );
    assert_eq!(router, document_routes(&doc));
}

#[test]
fn every_operation_answers_errors_as_spec_5_says() {
    let doc = m2mhub_server::openapi::document();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            for (code, r) in responses {
                // C2SP tlog-witness fixes this one: the held size as text/x.tlog.size.
                if path == "/tlog-witness/add-checkpoint" && code == "409" {
                    assert!(r["content"]["text/x.tlog.size"].is_object(), "{r}");
                    continue;
                }
                if code.starts_with('4') || code.starts_with('5') {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Error",
                        "{method} {path} {code}"
                    );
                }
            }
            if op.get("security").is_some() {
                assert!(responses.contains_key("401"), "{method} {path}");
            }
            if op.get("requestBody").is_some() {
                assert!(responses.contains_key("413"), "{method} {path}");
            }
        }
    }
    // SPEC §3.4 and §5 in the schemas: names, limits, exact integer ranges.
    let name = &doc["components"]["schemas"]["DeviceName"];
    assert_eq!(
        (&name["minLength"], &name["maxLength"]),
        (&Value::from(1), &Value::from(64))
    );
    let counter = &doc["components"]["schemas"]["Message"]["properties"]["counter"];
    assert_eq!(counter["maximum"], Value::from(u64::MAX), "{counter}");
    let limit = doc["paths"]["/v1/messages"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(
        (&limit["schema"]["minimum"], &limit["schema"]["maximum"]),
        (&Value::from(1), &Value::from(1000))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_reaches_its_handler_and_no_other_method_does() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = common::ledger(tmp.path(), "m2mhub/openapi-test");
    let state = AppState::new(ledger, "openapi-test-token".into()).unwrap();
    let hub = common::Hub::serve(state, Limits::default()).await;
    let c = Client::new();
    let served: Value = c
        .get(format!("{}/v1/openapi.json", hub.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, m2mhub_server::openapi::document());
    assert_eq!(served["openapi"], "3.1.0");
    for (path, methods) in document_routes(&served) {
        if path.ends_with("/stream") || path == "/v1/events" {
            continue; // never-ending answers
        }
        let concrete = path
            .replace("{name}", "nobody")
            .replace("{sender}", "x")
            .replace("{seq}", "0")
            .replace("{tx}", "1")
            .replace("{height}", "0");
        for method in METHODS {
            let r = c
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    format!("{}{concrete}", hub.url),
                )
                .send()
                .await
                .unwrap();
            if methods.contains(method) {
                assert_ne!(
                    r.status(),
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path}"
                );
                if r.status() == StatusCode::NOT_FOUND {
                    let body: Value = r.json().await.unwrap();
                    assert_ne!(body["message"], "no such route", "{method} {path}");
                }
            } else {
                assert_eq!(
                    r.status(),
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path}"
                );
            }
        }
    }
    hub.stop().await;
}

/// What schemathesis found the hub refusing or taking against its own document, each fixed in
/// the handler: a whole number written `1.0` is an integer to JSON Schema, and a `device`
/// filter that no device name can match is malformed (SPEC §3.4), not an empty page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handlers_take_and_refuse_what_the_document_says() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = common::ledger(tmp.path(), "m2mhub/openapi-test");
    let state = AppState::new(ledger, "openapi-test-token".into()).unwrap();
    let hub = common::Hub::serve(state, Limits::default()).await;
    let c = Client::new();
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let r = c
        .post(format!("{}/v1/devices", hub.url))
        .bearer_auth("openapi-test-token")
        .json(&serde_json::json!({"name": "whole", "clearance": 2.0,
            "public_key": hex::encode(key.verifying_key().as_bytes())}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let device: Value = r.json().await.unwrap();
    assert_eq!(device["clearance"], 2);
    for (query, status) in [
        ("device=%C3%97", StatusCode::BAD_REQUEST),
        ("device=", StatusCode::BAD_REQUEST),
        ("device=nobody", StatusCode::OK),
        ("device=whole", StatusCode::OK),
    ] {
        let r = c
            .get(format!("{}/v1/messages?{query}", hub.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{query}");
    }
    hub.stop().await;
}
