//! Request extractors whose rejections speak the API's error format: JSON bodies, query
//! strings, path parameters and the operator token.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, Query, Request, rejection::JsonRejection},
    http::{
        StatusCode,
        header::{AUTHORIZATION, CONTENT_TYPE},
        request::Parts,
    },
};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::{error::ApiError, state::AppState};

/// A JSON body; any problem is 400 `malformed` (413 `too_large` past the body cap).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(e) => Err(json_rejection(e)),
        }
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        "request body is too large",
    )
}

fn not_json() -> ApiError {
    ApiError::malformed("send the body as JSON with Content-Type: application/json")
}

/// The bytes of a JSON body, unparsed (the handler parses them its own way), read up to the
/// route's body cap (`DefaultBodyLimit`, enforced while reading: a longer body is refused
/// once the cap is passed, 413 `too_large`).
#[derive(Debug)]
pub struct JsonBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::trim)
            .is_some_and(|m| {
                m.eq_ignore_ascii_case("application/json")
                    || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !json {
            return Err(not_json());
        }
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(JsonBytes(b)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(too_large()),
            Err(e) => Err(ApiError::malformed(e.body_text())),
        }
    }
}

fn json_rejection(e: JsonRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large();
    }
    match e {
        JsonRejection::MissingJsonContentType(_) => not_json(),
        other => ApiError::malformed(other.body_text()),
    }
}

/// A query string; a bad one is 400 `malformed`.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|e| ApiError::malformed(e.body_text()))
    }
}

/// Path parameters; a bad one is 400 `malformed`.
#[derive(Debug)]
pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| PathParams(v))
            .map_err(|e| ApiError::malformed(e.body_text()))
    }
}

/// Proof that the request carries the operator token (`Authorization: Bearer …`).
#[derive(Debug)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let given = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let ok = given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(state.token.as_bytes())));
        if ok {
            return Ok(Operator);
        }
        let e = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this route needs Authorization: Bearer <operator token>",
        );
        if given.is_some() {
            // A wrong token is someone trying the operator's door: kept as a security event
            // and charged to the source like a forgery. (No token at all is a visitor.)
            let source = parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip());
            crate::gate::refused(state, source, &e);
        } else {
            state.metrics.refusal("unauthorized");
        }
        Err(e)
    }
}

/// The peer address of the connection, when the server knows it (it always does when served
/// by [`crate::run`]).
#[derive(Clone, Copy, Debug)]
pub struct Source(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Source(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}
