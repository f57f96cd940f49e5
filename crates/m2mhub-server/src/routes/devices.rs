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
use m2mhub_ledger::{Appended, Page, Submission};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    extract::{JsonBody, Operator, Params, PathParams},
    state::AppState,
};

/// A device as the API shows it.
#[derive(Debug, Serialize)]
pub struct DeviceJson {
    /// Unique name.
    pub name: String,
    /// Clearance.
    pub clearance: u32,
    /// Ed25519 public key, hex.
    pub public_key: String,
    /// Senders it accepts despite lower clearance, sorted.
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
    pub key_fingerprint: String,
    /// Every key it has had, oldest first, with the seq from which each is in force (SPEC
    /// §3.2.2): an outside verifier checks a message at seq s with the last key whose
    /// `from_seq` ≤ s. The last one is `public_key`.
    pub keys: Vec<KeyJson>,
}

/// A device's key and the seq from which it is in force.
#[derive(Debug, Serialize)]
pub struct KeyJson {
    /// Ed25519 public key, hex.
    pub public_key: String,
    /// The seq of the registration or re-key entry that gave it.
    pub from_seq: u64,
}

impl DeviceJson {
    fn new(d: &Device) -> Self {
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
        }
    }
}

/// `POST /v1/devices` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    name: String,
    clearance: u32,
    /// The device's own key, hex; or none with `simulated: true`.
    #[serde(default)]
    public_key: Option<String>,
    /// True: the hub makes and holds the key (a simulated device).
    #[serde(default)]
    simulated: bool,
    #[serde(default)]
    exceptions: Vec<String>,
}

/// `POST /v1/devices/{name}/exceptions` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewException {
    sender: String,
}

/// `POST /v1/devices/{name}/rekey` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
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
    view.registry
        .registry
        .get(name)
        .map(DeviceJson::new)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_device",
                format!("no device named {name}"),
            )
        })
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
pub async fn register(
    _: Operator,
    State(s): State<AppState>,
    JsonBody(b): JsonBody<NewDevice>,
) -> ApiResult<(StatusCode, Json<DeviceJson>)> {
    let device_name = name(&b.name)?;
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

/// `GET /v1/devices?after=&limit=`: devices in registration order, `{items, next}`; the
/// cursor is the last device's `registered_seq`.
pub async fn list(
    State(s): State<AppState>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Page<DeviceJson>>> {
    let page = s.ledger.devices(q.after, q.limit)?;
    Ok(Json(Page {
        items: page.items.iter().map(DeviceJson::new).collect(),
        next: page.next,
        rows_read: page.rows_read,
    }))
}

/// `GET /v1/devices/{name}`.
pub async fn show(
    State(s): State<AppState>,
    PathParams(n): PathParams<String>,
) -> ApiResult<Json<DeviceJson>> {
    device(&s, &n).await.map(Json)
}

/// `POST /v1/devices/{name}/exceptions`.
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
