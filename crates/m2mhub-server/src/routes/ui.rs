//! The web console at `/`: one self-contained page (no CDN), embedded in the binary.

use axum::{http::header, response::IntoResponse};

const INDEX: &str = include_str!("../../ui/index.html");

/// `GET /`.
pub async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX)
}
