//! The web console at `/`: one self-contained page (no CDN), embedded in the binary.

use axum::{http::header, response::IntoResponse};

const INDEX: &str = include_str!("../../ui/index.html");

/// `GET /`.
#[utoipa::path(get, path = "/", operation_id = "console", tag = "operations",
    summary = "The web console",
    responses((status = 200, description = "one self-contained HTML page", body = String, content_type = "text/html")))]
pub async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX)
}
