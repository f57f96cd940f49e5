//! Device routes: register, list, show, grant and withdraw exceptions, revoke, re-key.

use std::collections::BTreeSet;

use axum::{Json, extract::State, http::StatusCode};
use m2mhub_core::{
    CoreError,
    entry::{Entry, Registration},
    message::parse_hex_array,
    names::DeviceName,
    registry::Device,
};
use m2mhub_ledger::{Appended, DeviceActivity, LastSeen, Page, Submission};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{JsonBody, Operator, Params, PathParams},
    state::AppState,
};

/// A device as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Device)]
pub struct DeviceJson {
    /// Unique name.
    #[schema(value_type = DeviceName)]
    pub name: String,
    /// Clearance.
    pub clearance: u32,
    /// Ed25519 public key, hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub public_key: String,
    /// Senders it accepts despite lower clearance, sorted.
    #[schema(value_type = Vec<DeviceName>)]
    pub exceptions: Vec<String>,
    /// active or revoked.
    pub status: m2mhub_core::registry::DeviceStatus,
    /// Seq of its registration entry.
    pub registered_seq: u64,
    /// The counter of its last recorded message.
    pub last_counter: Option<u64>,
    /// True when the hub holds its key (a simulated device): as its registration entry says.
    pub simulated: bool,
    /// First 8 bytes of SHA-256(public key), hex: short enough to compare by eye.
    #[schema(pattern = "^[0-9a-f]{16}$")]
    pub key_fingerprint: String,
    /// Every key it has had, oldest first, with the seq from which each is in force (SPEC
    /// §3.2.2): an outside verifier checks a message at seq s with the last key whose
    /// `from_seq` ≤ s. The last one is `public_key`.
    pub keys: Vec<KeyJson>,
    /// Messages it sent.
    pub sent: u64,
    /// Messages it received (a message to itself counts as sent and received).
    pub received: u64,
    /// Invalid messages it caused: those of the transactions it began, and its own messages
    /// naming tx ids not issued yet.
    pub invalid_caused: u64,
    /// Transactions it began (its `begin` messages, valid or not).
    pub transactions_begun: u64,
    /// Its latest message sent; null when it never sent one.
    pub last_seen: Option<LastSeen>,
}

/// A device's key and the seq from which it is in force.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeviceKey)]
pub struct KeyJson {
    /// Ed25519 public key, hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub public_key: String,
    /// The seq of the registration or re-key entry that gave it.
    pub from_seq: u64,
}

impl DeviceJson {
    fn new(d: &Device, a: DeviceActivity) -> Self {
        DeviceJson {
            name: d.name.to_string(),
            clearance: d.clearance,
            public_key: hex::encode(d.key.as_bytes()),
            exceptions: d.exceptions.iter().map(|e| e.to_string()).collect(),
            status: d.status,
            registered_seq: d.registered_seq.0,
            last_counter: d.last_counter,
            simulated: d.simulated,
            key_fingerprint: hex::encode(&m2mhub_core::hash::sha256(d.key.as_bytes())[..8]),
            keys: d
                .keys
                .iter()
                .map(|k| KeyJson {
                    public_key: hex::encode(k.key.as_bytes()),
                    from_seq: k.from_seq.0,
                })
                .collect(),
            sent: a.sent,
            received: a.received,
            invalid_caused: a.invalid_caused,
            transactions_begun: a.transactions_begun,
            last_seen: a.last_seen,
        }
    }
}

/// Most exceptions a registration may list (the schema's `maxItems`).
pub const MAX_EXCEPTIONS: usize = 4096;

/// `POST /v1/devices` body: `public_key`, or `simulated: true` without one.
// The OpenAPI document states that choice as two alternatives (`openapi::refine_requests`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    /// Its name, unique for good.
    #[schema(value_type = DeviceName)]
    name: String,
    /// Its clearance; higher is more privileged.
    #[serde(deserialize_with = "m2mhub_core::jsonint::u32")]
    clearance: u32,
    /// The device's own Ed25519 key, hex: a canonical encoding of a point of large order
    /// (SPEC §3.2.1); or none with `simulated: true`.
    #[serde(default)]
    #[schema(pattern = "^[0-9a-fA-F]{64}$", min_length = 64, max_length = 64)]
    public_key: Option<String>,
    /// True: the hub makes and holds the key (a simulated device; `serve --simulated`).
    #[serde(default)]
    simulated: bool,
    /// Senders it accepts despite their lower clearance.
    #[serde(default)]
    #[schema(value_type = Vec<DeviceName>, max_items = 4096)] // MAX_EXCEPTIONS
    exceptions: Vec<String>,
}

/// `POST /v1/devices/{name}/exceptions` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewException {
    /// The sender the device accepts despite its lower clearance.
    #[schema(value_type = DeviceName)]
    sender: String,
}

/// `POST /v1/devices/{name}/rekey` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// The device's new Ed25519 key, hex: canonical, of large order, never registered before.
    #[schema(pattern = "^[0-9a-fA-F]{64}$", min_length = 64, max_length = 64)]
    public_key: String,
}

/// An entry's decoded fields for the API and events.
pub fn entry_json(seq: u64, e: &Entry) -> Value {
    let kind = e.kind().as_str();
    match e {
        Entry::DeviceRegistered(r) => json!({
            "seq": seq, "kind": kind, "name": r.name, "clearance": r.clearance,
            "public_key": hex::encode(r.public_key), "exceptions": r.exceptions,
        }),
        Entry::ExceptionGranted { device, sender }
        | Entry::ExceptionWithdrawn { device, sender } => {
            json!({"seq": seq, "kind": kind, "device": device, "sender": sender})
        }
        Entry::DeviceRevoked { device } => json!({"seq": seq, "kind": kind, "device": device}),
        Entry::DeviceRekeyed { device, public_key } => json!({
            "seq": seq, "kind": kind, "device": device, "public_key": hex::encode(public_key),
        }),
        Entry::FederationMembership(f) => json!({
            "seq": seq, "kind": kind, "hub": f.hub, "cosignatures": f.cosignatures,
            "members": f.members.iter().map(|m| json!({
                "name": m.name, "origin": m.origin, "key": m.key,
            })).collect::<Vec<_>>(),
        }),
        Entry::Import(i) => json!({
            "seq": seq, "kind": kind, "origin": i.origin, "source_seq": i.seq,
            "entry": i.inner().ok().map(|e| entry_json(i.seq, &e)),
            "proof": i.proof.iter().map(hex::encode).collect::<Vec<_>>(),
            "checkpoint": i.checkpoint,
        }),
        Entry::Message(m) => json!({
            "seq": seq, "kind": kind, "sender": m.sender, "receiver": m.receiver,
            "action": m.action, "tx": m.tx.0, "cause": m.cause.map(|c| c.0), "counter": m.counter,
            "contents_hash": hex::encode(m.contents_hash), "signature": hex::encode(m.signature),
            "provenance": m.provenance, "valid": m.valid(), "notices": m.notices,
        }),
    }
}

async fn device(s: &AppState, name: &str) -> ApiResult<DeviceJson> {
    let view = s.ledger.view();
    let d = view.registry.registry.get(name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_device",
            format!("no device named {name}"),
        )
    })?;
    let ledger = s.ledger.clone();
    let n = name.to_owned();
    let activity = super::read(move || ledger.devices_activity(&[n.as_str()])).await?;
    Ok(DeviceJson::new(
        d,
        activity.into_iter().next().unwrap_or_default(),
    ))
}

async fn change(s: &AppState, entry: Entry) -> ApiResult<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    s.committer
        .try_submit(vec![Submission::Registry(entry)], move |r| {
            let _ = tx.send(r);
        })
        .map_err(ApiError::from)?;
    let mut results = rx
        .await
        .map_err(|_| ApiError::from(m2mhub_ledger::LedgerError::Unavailable))?;
    match results.pop() {
        Some(Ok(Appended::Registry { .. })) => Ok(()),
        Some(Err(e)) => Err(e.into()),
        _ => Err(m2mhub_ledger::LedgerError::Unavailable.into()),
    }
}

fn name(s: &str) -> ApiResult<DeviceName> {
    DeviceName::new(s).map_err(ApiError::from)
}

/// `POST /v1/devices`.
#[utoipa::path(post, path = "/v1/devices", operation_id = "register_device", tag = "devices",
    summary = "Register a device", security(("operator" = [])), request_body = NewDevice,
    responses(
        (status = 201, description = "the device, registered", body = DeviceJson, links(
            ("show" = (operation_id = "show_device", parameters(("name" = "$response.body#/name")))),
            ("grant" = (operation_id = "grant_exception", parameters(("name" = "$response.body#/name")))),
            ("rekey" = (operation_id = "rekey_device", parameters(("name" = "$response.body#/name")))),
            ("send" = (operation_id = "send_as_simulated", parameters(("name" = "$response.body#/name")))),
            ("transactions" = (operation_id = "device_transactions", parameters(("name" = "$response.body#/name")))),
            ("revoke" = (operation_id = "revoke_device", parameters(("name" = "$response.body#/name")))),
        )),
        (status = 403, description = "simulated_disabled: the hub was not started with --simulated", body = ErrorBody),
        (status = 409, description = "name_taken or key_taken", body = ErrorBody),
    ))]
pub async fn register(
    _: Operator,
    State(s): State<AppState>,
    JsonBody(b): JsonBody<NewDevice>,
) -> ApiResult<(StatusCode, Json<DeviceJson>)> {
    let device_name = name(&b.name)?;
    if b.exceptions.len() > MAX_EXCEPTIONS {
        return Err(ApiError::malformed(format!(
            "a device is registered with at most {MAX_EXCEPTIONS} exceptions"
        )));
    }
    let exceptions = b
        .exceptions
        .iter()
        .map(|e| name(e))
        .collect::<ApiResult<BTreeSet<_>>>()?;
    let (public_key, held) = match (&b.public_key, b.simulated) {
        (Some(k), false) => (parse_hex_array::<32>(k, "public_key")?, None),
        (None, true) => {
            if !s.simulated.enabled() {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "simulated_disabled",
                    "this hub holds no device keys: simulated devices need `serve --simulated`",
                ));
            }
            if s.ledger.view().registry.registry.get(&b.name).is_some() {
                return Err(CoreError::NameTaken(device_name).into());
            }
            let key = s.simulated.create(&b.name).map_err(ApiError::malformed)?;
            (key.verifying_key().to_bytes(), Some(key))
        }
        _ => {
            return Err(ApiError::malformed(
                "give either public_key or \"simulated\": true",
            ));
        }
    };
    let entry = Entry::DeviceRegistered(Registration {
        name: device_name,
        clearance: b.clearance,
        public_key,
        exceptions,
        simulated: held.is_some(),
    });
    match (change(&s, entry).await, held) {
        (Ok(()), Some(key)) => s.simulated.keep(&b.name, key).await,
        (Ok(()), None) => {}
        (Err(e), held) => {
            if held.is_some() {
                s.simulated.discard(&b.name);
            }
            return Err(e);
        }
    }
    Ok((StatusCode::CREATED, Json(device(&s, &b.name).await?)))
}

/// `GET /v1/devices` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The previous page's `next`: the last device's `registered_seq`.
    after: Option<u64>,
    /// At most this many items (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// `GET /v1/devices?after=&limit=`: devices in registration order, `{items, next}`; the
/// cursor is the last device's `registered_seq`.
#[utoipa::path(get, path = "/v1/devices", operation_id = "list_devices", tag = "devices",
    summary = "Devices in registration order, paged: {items, next}", params(ListQuery),
    responses((status = 200, description = "one page", body = Page<DeviceJson>)))]
pub async fn list(
    State(s): State<AppState>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Page<DeviceJson>>> {
    let page = s.ledger.devices(q.after, q.limit)?;
    let ledger = s.ledger.clone();
    let names: Vec<String> = page.items.iter().map(|d| d.name.to_string()).collect();
    let activity = super::read(move || {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        ledger.devices_activity(&names)
    })
    .await?;
    Ok(Json(Page {
        items: page
            .items
            .iter()
            .zip(activity)
            .map(|(d, a)| DeviceJson::new(d, a))
            .collect(),
        next: page.next,
        rows_read: page.rows_read,
    }))
}

/// `GET /v1/devices/{name}`.
#[utoipa::path(get, path = "/v1/devices/{name}", operation_id = "show_device", tag = "devices",
    summary = "Show a device", params(("name" = DeviceName, Path, description = "the device")),
    responses((status = 200, description = "the device", body = DeviceJson),
        (status = 404, description = "unknown_device", body = ErrorBody)))]
pub async fn show(
    State(s): State<AppState>,
    PathParams(n): PathParams<String>,
) -> ApiResult<Json<DeviceJson>> {
    device(&s, &n).await.map(Json)
}

/// `POST /v1/devices/{name}/exceptions`.
#[utoipa::path(post, path = "/v1/devices/{name}/exceptions", operation_id = "grant_exception",
    tag = "devices", summary = "Grant an exception: the device accepts `sender` despite its lower clearance",
    security(("operator" = [])), request_body = NewException,
    params(("name" = DeviceName, Path, description = "the receiving device")),
    responses((status = 200, description = "the device", body = DeviceJson, links(
            ("withdraw" = (operation_id = "withdraw_exception", parameters(("name" = "$request.path.name"), ("sender" = "$request.body#/sender")))),
        )),
        (status = 404, description = "unknown_device", body = ErrorBody),
        (status = 409, description = "exception_exists or device_revoked", body = ErrorBody)))]
pub async fn grant(
    _: Operator,
    State(s): State<AppState>,
    PathParams(n): PathParams<String>,
    JsonBody(b): JsonBody<NewException>,
) -> ApiResult<Json<DeviceJson>> {
    change(
        &s,
        Entry::ExceptionGranted {
            device: name(&n)?,
            sender: name(&b.sender)?,
        },
    )
    .await?;
    device(&s, &n).await.map(Json)
}

/// `DELETE /v1/devices/{name}/exceptions/{sender}`.
#[utoipa::path(delete, path = "/v1/devices/{name}/exceptions/{sender}", operation_id = "withdraw_exception",
    tag = "devices", summary = "Withdraw an exception", security(("operator" = [])),
    params(("name" = DeviceName, Path, description = "the receiving device"),
        ("sender" = DeviceName, Path, description = "the sender it accepted")),
    responses((status = 200, description = "the device", body = DeviceJson),
        (status = 404, description = "unknown_device or no_such_exception", body = ErrorBody),
        (status = 409, description = "device_revoked", body = ErrorBody)))]
pub async fn withdraw(
    _: Operator,
    State(s): State<AppState>,
    PathParams((n, sender)): PathParams<(String, String)>,
) -> ApiResult<Json<DeviceJson>> {
    change(
        &s,
        Entry::ExceptionWithdrawn {
            device: name(&n)?,
            sender: name(&sender)?,
        },
    )
    .await?;
    device(&s, &n).await.map(Json)
}

/// `POST /v1/devices/{name}/revoke`.
#[utoipa::path(post, path = "/v1/devices/{name}/revoke", operation_id = "revoke_device", tag = "devices",
    summary = "Revoke a device for good", security(("operator" = [])),
    params(("name" = DeviceName, Path, description = "the device")),
    responses((status = 200, description = "the device, revoked", body = DeviceJson),
        (status = 404, description = "unknown_device", body = ErrorBody),
        (status = 409, description = "device_revoked: already revoked", body = ErrorBody)))]
pub async fn revoke(
    _: Operator,
    State(s): State<AppState>,
    PathParams(n): PathParams<String>,
) -> ApiResult<Json<DeviceJson>> {
    change(&s, Entry::DeviceRevoked { device: name(&n)? }).await?;
    device(&s, &n).await.map(Json)
}

/// `POST /v1/devices/{name}/rekey` (SPEC §3.2.2): records a re-key entry; from its seq on the
/// device's messages are checked with the new key. The registry decides every refusal (a key
/// ever registered, an unknown, revoked or simulated device, a weak or non-canonical key).
#[utoipa::path(post, path = "/v1/devices/{name}/rekey", operation_id = "rekey_device", tag = "devices",
    summary = "Re-key a device (SPEC §3.2.2)",
    description = "From the re-key entry's seq on, its messages are checked with public_key; earlier ones keep the key in force at their seq (the device's keys list).",
    security(("operator" = [])), request_body = NewKey,
    params(("name" = DeviceName, Path, description = "the device")),
    responses((status = 200, description = "the device with its new key", body = DeviceJson),
        (status = 404, description = "unknown_device", body = ErrorBody),
        (status = 409, description = "key_taken (any key ever registered, retired keys included), device_revoked, or simulated_device (the hub holds its key)", body = ErrorBody)))]
pub async fn rekey(
    _: Operator,
    State(s): State<AppState>,
    PathParams(n): PathParams<String>,
    JsonBody(b): JsonBody<NewKey>,
) -> ApiResult<Json<DeviceJson>> {
    let entry = Entry::DeviceRekeyed {
        device: name(&n)?,
        public_key: parse_hex_array::<32>(&b.public_key, "public_key")?,
    };
    change(&s, entry).await?;
    device(&s, &n).await.map(Json)
}
