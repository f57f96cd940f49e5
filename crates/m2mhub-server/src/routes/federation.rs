//! Investigation across a federation (SPEC §7): `GET /v1/federation/devices/{name@hub}/
//! transactions` asks every member (this hub from its own ledger, the others over HTTP) for
//! the transactions that reached the device, and answers one page of them, each named
//! `hub:tx` with its provenance as `name@hub`. Each member's part is bounded like its own
//! route; the cursor holds one position per member that has more.

use std::{collections::BTreeMap, time::Duration};

use axum::{Json, extract::State, http::StatusCode};
use m2mhub_core::names::{DeviceName, qualify_str};
use m2mhub_ledger::{DeviceTransaction, LedgerError, Page};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{Params, PathParams},
    state::AppState,
};

/// How long one member may take to answer.
const MEMBER_TIMEOUT: Duration = Duration::from_secs(5);

/// `GET /v1/federation/devices/{name@hub}/transactions` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FederatedTxQuery {
    /// The previous page's `next`: `hub:after` per member that has more, comma-separated.
    after: Option<String>,
    /// At most this many items from each member (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// A transaction that reached the device, in one member's ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct FederatedTransaction {
    /// The member that records it (its home, SPEC §7).
    pub hub: String,
    /// `hub:tx`; `None` for messages that named a tx id not issued yet.
    pub id: Option<String>,
    /// The member's own answer for it, with its provenance as `name@hub`.
    #[serde(flatten)]
    pub transaction: DeviceTransaction,
}

/// One page across the federation.
#[derive(Debug, Serialize, ToSchema)]
pub struct FederatedPage {
    /// This page's items, member by member (members in name order), newest first in each.
    pub items: Vec<FederatedTransaction>,
    /// The next page's `after`; `None` once every member is exhausted.
    pub next: Option<String>,
    /// Members that did not answer: the page lacks their part.
    pub unreachable: Vec<String>,
}

/// `GET /v1/federation/devices/{name@hub}/transactions?after=&limit=`: the transactions that
/// reached the device at any member, `{items, next, unreachable}`.
#[utoipa::path(get, path = "/v1/federation/devices/{name}/transactions", operation_id = "federated_device_transactions", tag = "investigation",
    summary = "Transactions that reached a device anywhere in the federation (SPEC §7), each named hub:tx: {items, next, unreachable}",
    params(("name" = m2mhub_core::names::PartyName, Path, description = "the device, as name@hub"), FederatedTxQuery),
    responses((status = 200, description = "one page", body = FederatedPage),
        (status = 400, description = "malformed: not name@hub of a member, or a bad cursor", body = ErrorBody),
        (status = 404, description = "not_found: this hub is in no federation", body = ErrorBody)))]
pub async fn device_transactions(
    State(s): State<AppState>,
    PathParams(name): PathParams<String>,
    Params(q): Params<FederatedTxQuery>,
) -> ApiResult<Json<FederatedPage>> {
    let fed = s
        .federation
        .as_ref()
        .ok_or_else(|| ApiError::not_found("this hub is in no federation"))?;
    let party = DeviceName::party(&name).map_err(ApiError::from)?;
    let (bare, Some(home)) = party.split() else {
        return Err(ApiError::malformed("name the device as name@hub"));
    };
    if fed.federation.member(home).is_none() {
        return Err(ApiError::malformed(format!("no member hub named {home:?}")));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::malformed("limit must be 1 to 1000"));
    }
    let cursors = parse_cursor(q.after.as_deref())?;
    let http = reqwest::Client::builder()
        .timeout(MEMBER_TIMEOUT)
        .build()
        .map_err(|e| ApiError::internal(&e))?;
    let mut page = FederatedPage {
        items: Vec::new(),
        next: None,
        unreachable: Vec::new(),
    };
    let mut next = Vec::new();
    for member in &fed.federation.members {
        let after = match &cursors {
            None => None,
            Some(c) => match c.get(member.name.as_str()) {
                Some(a) => Some(*a),
                None => continue, // exhausted on an earlier page
            },
        };
        // As this member's ledger writes the device: bare at its home.
        let local = if member.name == home { bare } else { &name };
        let part = if member.name == fed.me.name {
            let ledger = s.ledger.clone();
            let local = local.to_owned();
            super::read(move || ledger.device_transactions(&local, after, Some(limit)))
                .await
                .map(Some)
                .or_else(none_if_unknown)
        } else {
            ask(&http, &member.url, local, after, limit)
                .await
                .map_err(ApiError::from)
        };
        match part {
            Ok(Some(p)) => {
                if let Some(n) = p.next {
                    next.push(format!("{}:{n}", member.name));
                }
                page.items.extend(p.items.into_iter().map(|mut t| {
                    t.provenance = t
                        .provenance
                        .as_deref()
                        .map(|p| qualify_str(p, &member.name));
                    FederatedTransaction {
                        hub: member.name.clone(),
                        id: t.tx.map(|tx| format!("{}:{tx}", member.name)),
                        transaction: t,
                    }
                }));
            }
            Ok(None) => {}
            Err(_) => page.unreachable.push(member.name.clone()),
        }
    }
    page.next = (!next.is_empty()).then(|| next.join(","));
    Ok(Json(page))
}

/// A member that never saw the device has nothing to list.
fn none_if_unknown(e: ApiError) -> ApiResult<Option<Page<DeviceTransaction>>> {
    if e.status == StatusCode::NOT_FOUND {
        Ok(None)
    } else {
        Err(e)
    }
}

/// One member's page over HTTP: `None` when it does not know the device.
async fn ask(
    http: &reqwest::Client,
    url: &str,
    name: &str,
    after: Option<u64>,
    limit: usize,
) -> Result<Option<Page<DeviceTransaction>>, LedgerError> {
    let mut u = format!(
        "{}/v1/devices/{name}/transactions?limit={limit}",
        url.trim_end_matches('/')
    );
    if let Some(a) = after {
        u.push_str(&format!("&after={a}"));
    }
    let r = http
        .get(&u)
        .send()
        .await
        .map_err(|_| LedgerError::Unavailable)?;
    if r.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !r.status().is_success() {
        return Err(LedgerError::Unavailable);
    }
    r.json()
        .await
        .map(Some)
        .map_err(|_| LedgerError::Unavailable)
}

/// `hub:after,hub:after` → member → after; `None` for the first page.
fn parse_cursor(after: Option<&str>) -> ApiResult<Option<BTreeMap<String, u64>>> {
    let Some(after) = after else {
        return Ok(None);
    };
    let mut out = BTreeMap::new();
    for part in after.split(',') {
        let (hub, n) = part
            .split_once(':')
            .and_then(|(h, n)| Some((h, n.parse::<u64>().ok()?)))
            .ok_or_else(|| ApiError::malformed(format!("{part:?} in after is not hub:seq")))?;
        out.insert(hub.to_owned(), n);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_name_a_position_per_member() {
        assert_eq!(parse_cursor(None).unwrap(), None);
        let c = parse_cursor(Some("grid:4,home:17")).unwrap().unwrap();
        assert_eq!(c.get("grid"), Some(&4));
        assert_eq!(c.get("home"), Some(&17));
        for bad in ["grid", "grid:x", "grid:1,", ":"] {
            assert!(parse_cursor(Some(bad)).is_err(), "{bad}");
        }
    }
}
