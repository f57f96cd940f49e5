//! The one place where errors become HTTP responses: `{"error": code, "message": text}`.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use m2mhub_core::{CoreError, auth::Refusal};
use m2mhub_ledger::LedgerError;
use serde::Serialize;

/// An API error: status, stable code, human message.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (SPEC §3.2, §5).
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

/// The JSON body of an error.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// Stable code.
    pub error: &'static str,
    /// Explanation.
    pub message: String,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `malformed`.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 429 `too_many_failures`: the source failed authentication too often.
    pub fn too_many_failures(wait: std::time::Duration) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_failures",
            format!(
                "too many refused submissions from this address; retry in {} s",
                wait.as_secs() + 1
            ),
        )
    }

    /// The body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code,
            message: self.message.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        let status = match r {
            Refusal::Malformed(_) => StatusCode::BAD_REQUEST,
            Refusal::UnknownSender(_) | Refusal::BadSignature(_) => StatusCode::UNAUTHORIZED,
            Refusal::StaleCounter { .. } => StatusCode::CONFLICT,
        };
        ApiError::new(status, r.code(), r.to_string())
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        use StatusCode as S;
        let (status, code) = match &e {
            CoreError::BadName(_) | CoreError::Malformed(_) | CoreError::BadEntry(_) => {
                (S::BAD_REQUEST, "malformed")
            }
            CoreError::NameTaken(_) => (S::CONFLICT, "name_taken"),
            CoreError::KeyTaken => (S::CONFLICT, "key_taken"),
            CoreError::UnknownDevice(_) => (S::NOT_FOUND, "unknown_device"),
            CoreError::DeviceRevoked(_) => (S::CONFLICT, "device_revoked"),
            CoreError::ExceptionExists(..) => (S::CONFLICT, "exception_exists"),
            CoreError::NoSuchException(..) => (S::NOT_FOUND, "no_such_exception"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Refused(r) => r.into(),
            LedgerError::Registry(c) => c.into(),
            LedgerError::NotFound(m) => ApiError::not_found(m),
            LedgerError::BadQuery(m) => ApiError::malformed(m),
            LedgerError::Unavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            ),
            other => {
                tracing::error!("internal error: {other}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    other.to_string(),
                )
            }
        }
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;
