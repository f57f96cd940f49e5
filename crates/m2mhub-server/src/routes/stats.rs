//! The rates route: message and invalid-message counts over time, from tables kept on append
//! (per minute and per hour), for the console's charts.

use axum::{Json, extract::State};
use m2mhub_core::names::DeviceName;
use m2mhub_ledger::Rates;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::Params,
    state::AppState,
};

/// `GET /v1/stats/rates` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RatesQuery {
    /// The range's start (`2026-01-31T09:30:00.000Z`, or without the fraction); default: `to`
    /// less one hour.
    #[param(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{3})?Z$")]
    from: Option<String>,
    /// The range's end (as `from`); default: now.
    #[param(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{3})?Z$")]
    to: Option<String>,
    /// Bucket length in seconds: 60, 300, 3600 or 86400 (default: the smallest that gives at
    /// most 120 buckets); at most 1,440 buckets.
    #[param(minimum = 60, maximum = 86400)]
    bucket: Option<u64>,
    /// Only this device: the messages it sent and the invalid messages it caused.
    #[param(value_type = Option<DeviceName>)]
    provenance: Option<String>,
}

/// `GET /v1/stats/rates?from=&to=&bucket=&provenance=`.
#[utoipa::path(get, path = "/v1/stats/rates", operation_id = "message_rates", tag = "investigation",
    summary = "Message and invalid-message counts per time bucket, from tables kept on append: {bucket, from, to, items}",
    description = "Every bucket of the range, zeros included, oldest first; buckets are aligned to multiples of their length since the Unix epoch (UTC). With provenance: messages is what that device sent (null below one-hour buckets) and invalid what it caused.",
    params(RatesQuery),
    responses((status = 200, description = "the buckets", body = Rates),
        (status = 404, description = "unknown_device", body = ErrorBody)))]
pub async fn rates(
    State(s): State<AppState>,
    Params(q): Params<RatesQuery>,
) -> ApiResult<Json<Rates>> {
    if let Some(p) = &q.provenance {
        DeviceName::new(p)?;
    }
    let time = |what: &str, t: &Option<String>| {
        t.as_deref()
            .map(|t| m2mhub_ledger::record::parse_time(what, t))
            .transpose()
    };
    let (from, to) = (time("from", &q.from)?, time("to", &q.to)?);
    let ledger = s.ledger.clone();
    super::read(move || ledger.rates(from, to, q.bucket, q.provenance.as_deref()))
        .await
        .map_err(ApiError::unknown_device)
        .map(Json)
}
