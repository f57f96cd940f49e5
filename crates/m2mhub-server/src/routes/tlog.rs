//! The ledger as a C2SP tlog-tiles log under `/tlog/` (SPEC §7): the checkpoint, Merkle tree
//! tiles and entry bundles, as static resources a mirror, an object store or a CDN can copy
//! and serve (`m2mhub_ledger::Tile` reads them).

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use m2mhub_ledger::Tile;

use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::PathParams,
    state::AppState,
};

/// Tiles and bundles never change once they exist (a partial tile of width W holds the same
/// bytes in every tree that contains it), so caches may keep them for ever.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `GET /tlog/checkpoint`: the newest checkpoint (C2SP tlog-checkpoint), or in a federation the
/// newest one with `[witness] cosignatures` member cosignatures; never cached.
#[utoipa::path(get, path = "/tlog/checkpoint", operation_id = "tlog_checkpoint", tag = "tiles",
    summary = "The log's newest checkpoint (C2SP tlog-tiles)",
    responses((status = 200, description = "the signed note (in a federation: the newest witnessed one, with its cosignatures)", body = String, content_type = "text/plain"),
        (status = 404, description = "not_found: in a federation, no checkpoint has met the witness policy yet", body = ErrorBody)))]
pub async fn checkpoint(State(s): State<AppState>) -> ApiResult<Response> {
    // In a federation, only a checkpoint the `[witness]` policy vouches for (SPEC §7).
    let note = match &s.federation {
        None => s.ledger.checkpoint(),
        // A policy of no cosignatures is met by every checkpoint.
        Some(f) if f.federation.cosignatures == 0 => f.with_cosignatures(&s.ledger.checkpoint()),
        Some(f) => f.witnessed().ok_or_else(|| {
            ApiError::not_found(
                "no checkpoint of this hub has the cosignatures the federation requires yet",
            )
        })?,
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        note,
    )
        .into_response())
}

/// `GET /tlog/tile/{path}`: `<L>/<N>[.p/<W>]` (hashes) or `entries/<N>[.p/<W>]` (an entry
/// bundle), exactly as C2SP tlog-tiles writes them.
#[utoipa::path(get, path = "/tlog/tile/{path}", operation_id = "tlog_tile", tag = "tiles",
    summary = "A Merkle tree tile or an entry bundle (C2SP tlog-tiles)",
    description = "`<L>/<N>[.p/<W>]`: 32-byte hashes of level L; `entries/<N>[.p/<W>]`: u16-length-prefixed entry bytes (SPEC §4.2). N is written in 3-digit elements, all but the last prefixed with x (1234067 is x001/x234/067).",
    params(("path" = String, Path, description = "the tile's path after tile/",
        pattern = r"^(entries|[0-9]|[1-5][0-9]|6[0-3])/(x(00[1-9]|0[1-9][0-9]|[1-9][0-9]{2})/(x[0-9]{3}/){0,5})?[0-9]{3}(\.p/([1-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5]))?$")),
    responses((status = 200, description = "the tile's bytes", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 400, description = "malformed: not a tile path", body = ErrorBody),
        (status = 404, description = "not_found: the tree does not hold this tile yet", body = ErrorBody)))]
pub async fn tile(
    State(s): State<AppState>,
    PathParams(path): PathParams<String>,
) -> ApiResult<Response> {
    let tile = Tile::parse(&path).ok_or_else(|| {
        ApiError::malformed(format!(
            "{path:?} is not a tile path: <L>/<N>[.p/<W>] or entries/<N>[.p/<W>], N in 3-digit \
             elements with all but the last prefixed by x (C2SP tlog-tiles)"
        ))
    })?;
    let ledger = s.ledger.clone();
    let bytes = super::read(move || ledger.tile(tile)).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, IMMUTABLE),
        ],
        bytes,
    )
        .into_response())
}
