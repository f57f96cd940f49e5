//! The one place where errors become HTTP responses: `{"error": code, "message": text}`.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header::RETRY_AFTER},
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
    /// Seconds after which a retry may succeed (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u64>,
}

/// The JSON body of an error (SPEC §5).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
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
            retry_after: None,
        }
    }

    /// The same error with a `Retry-After: secs` header.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// 503 `busy`: the commit queue is full; nothing was recorded.
    pub fn busy() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the hub is busy: its commit queue is full; nothing was recorded, retry shortly",
        )
        .with_retry_after(1)
    }

    /// 500 `internal`: details go to the hub's log, never to the client (they may name files).
    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!("internal error: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the hub's log has the details",
        )
    }

    /// 400 `malformed`.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A 404 about a device named in the request: `unknown_device` (others unchanged).
    pub fn unknown_device(self) -> Self {
        if self.code == "not_found" {
            Self::new(StatusCode::NOT_FOUND, "unknown_device", self.message)
        } else {
            self
        }
    }

    /// 429 `too_many_failures`: the source failed authentication too often.
    pub fn too_many_failures(wait: std::time::Duration) -> Self {
        let secs = wait.as_secs() + 1;
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_failures",
            format!("too many refused submissions from this address; retry in {secs} s"),
        )
        .with_retry_after(secs)
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not take this method (the Allow header lists those it takes)",
        )
    }

    /// 408 `timeout`: the request was not complete and answered within `limit`.
    pub fn timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "the request was not received and answered within {} s",
                limit.as_secs_f64()
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
        let mut r = (self.status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        r
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
            CoreError::SimulatedDevice(_) => (S::CONFLICT, "simulated_device"),
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
            LedgerError::Busy => ApiError::busy(),
            // Storage, corruption and file errors name files and internals: log them only.
            other => ApiError::internal(&other),
        }
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_name_no_file() {
        let errors = [
            LedgerError::Io {
                path: "/srv/hub/data/hub-key".into(),
                source: std::io::Error::other("disk on fire"),
            },
            LedgerError::Storage("/srv/hub/data/ledger.redb: I/O error".into()),
            LedgerError::Corrupt("/srv/hub/data/ledger.redb: bad page".into()),
        ];
        for e in errors {
            let a = ApiError::from(e);
            assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
            assert!(!a.message.contains("/srv"), "{}", a.message);
            assert!(!a.message.contains("disk on fire"), "{}", a.message);
        }
    }

    #[test]
    fn busy_and_throttled_answers_say_when_to_retry() {
        let r = ApiError::from(LedgerError::Busy).into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[RETRY_AFTER], "1");
        let r = ApiError::too_many_failures(std::time::Duration::from_millis(2500)).into_response();
        assert_eq!(r.headers()[RETRY_AFTER], "3");
    }
}
