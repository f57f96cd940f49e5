//! The C2SP tlog-witness routes of a federation member (SPEC §7): `add-checkpoint` for the
//! other members' checkpoints, and the monitoring read of what it cosigned per origin. Only a
//! hub started with `--federation` serves them (404 otherwise).

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use m2mhub_core::{
    hash::sha256,
    witness::{AddCheckpoint, WitnessError},
};

use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::PathParams,
    federation::Federated,
    state::AppState,
    witness_store::AddError,
};

fn federated(s: &AppState) -> ApiResult<std::sync::Arc<Federated>> {
    s.federation.clone().ok_or_else(|| {
        ApiError::not_found("this hub is not a witness: it was started without --federation")
    })
}

fn refused(e: &WitnessError) -> Response {
    match e {
        // C2SP: the body is the held size and a newline, as text/x.tlog.size.
        WitnessError::Conflict { held, .. } => (
            StatusCode::CONFLICT,
            [(header::CONTENT_TYPE, "text/x.tlog.size")],
            format!("{held}\n"),
        )
            .into_response(),
        _ => {
            let (status, code) = match e.status() {
                403 => (StatusCode::FORBIDDEN, "forbidden"),
                404 => (StatusCode::NOT_FOUND, "not_found"),
                422 => (StatusCode::UNPROCESSABLE_ENTITY, "inconsistent"),
                _ => (StatusCode::BAD_REQUEST, "malformed"),
            };
            ApiError::new(status, code, e.to_string()).into_response()
        }
    }
}

/// `POST /tlog-witness/add-checkpoint` (C2SP tlog-witness).
#[utoipa::path(post, path = "/tlog-witness/add-checkpoint", operation_id = "witness_add_checkpoint", tag = "tiles",
    summary = "Cosign another member's checkpoint (C2SP tlog-witness)",
    description = "Body: `old <size>`, up to 63 base64 consistency proof lines, an empty line, then the signed checkpoint. The witness checks the checkpoint's signature by its origin's member key and its consistency with the checkpoint it last cosigned for that origin, stores the new one durably, then answers with its cosignature line (C2SP tlog-cosignature/v1, under this hub's key).",
    request_body(content = String, content_type = "text/plain"),
    responses((status = 200, description = "the cosignature line(s)", body = String, content_type = "text/plain"),
        (status = 400, description = "malformed: the body, or an old size past the checkpoint's", body = ErrorBody),
        (status = 403, description = "forbidden: no valid signature by the origin's key", body = ErrorBody),
        (status = 404, description = "not_found: an origin this hub does not witness, or no --federation", body = ErrorBody),
        (status = 409, description = "the old size is not the one held: the body is the held size", body = String, content_type = "text/x.tlog.size"),
        (status = 422, description = "inconsistent: the proof does not verify, or a root differs", body = ErrorBody)))]
pub async fn add_checkpoint(State(s): State<AppState>, body: String) -> ApiResult<Response> {
    let fed = federated(&s)?;
    // Reading, the signature check, the state check and the durable write all run off the
    // async threads; the write transaction makes the last two atomic (witness_store.rs).
    let answer = tokio::task::spawn_blocking(move || {
        let me = fed.me.origin.as_str();
        let req = AddCheckpoint::parse(&body)
            .and_then(|r| {
                r.open(|origin| {
                    // A member witnesses only the others' origins.
                    (origin != me)
                        .then(|| fed.federation.by_origin(origin).map(|m| &m.key))
                        .flatten()
                })
            })
            .map_err(AddError::Refused)?;
        fed.store.add_checkpoint(&req, |t| fed.cosign(t))
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    match answer {
        Ok(line) => {
            Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], line).into_response())
        }
        Err(AddError::Refused(e)) => Ok(refused(&e)),
        Err(AddError::Storage(e)) => Err(ApiError::internal(&e)),
    }
}

/// `GET /tlog-witness/{origin_hash}/checkpoint` (C2SP tlog-witness, monitoring): the checkpoint
/// this witness last cosigned for the origin whose SHA-256 is `origin_hash`, with the log's
/// signature and this witness's cosignature.
#[utoipa::path(get, path = "/tlog-witness/{origin_hash}/checkpoint", operation_id = "witness_checkpoint", tag = "tiles",
    summary = "The checkpoint this witness last cosigned for a log (C2SP tlog-witness)",
    params(("origin_hash" = String, Path, description = "SHA-256 of the log's origin, lowercase hex", pattern = "^[0-9a-f]{64}$")),
    responses((status = 200, description = "the cosigned checkpoint", body = String, content_type = "text/plain"),
        (status = 400, description = "malformed: not 64 lowercase hex digits", body = ErrorBody),
        (status = 404, description = "not_found: never cosigned a checkpoint of that log", body = ErrorBody)))]
pub async fn witnessed(
    State(s): State<AppState>,
    PathParams(origin_hash): PathParams<String>,
) -> ApiResult<Response> {
    let fed = federated(&s)?;
    if origin_hash.len() != 64
        || !origin_hash
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(ApiError::malformed(
            "the origin hash is not 64 lowercase hex digits",
        ));
    }
    let origin = fed
        .others()
        .find(|m| hex::encode(sha256(m.origin.as_bytes())) == origin_hash)
        .map(|m| m.origin.clone())
        .ok_or_else(|| ApiError::not_found("this hub witnesses no origin with that hash"))?;
    let f = fed.clone();
    let held = super::read(move || f.store.witnessed(&origin)).await?;
    let held = held
        .ok_or_else(|| ApiError::not_found("this hub has not cosigned a checkpoint of that log"))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        held.note,
    )
        .into_response())
}
