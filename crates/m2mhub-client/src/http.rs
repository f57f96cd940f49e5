//! The HTTP transport: `POST /v1/messages` (SPEC §5), plus the few public reads a device needs
//! and the operator's registration call (for tools and tests that set devices up).

use m2mhub_core::message::Message;
use serde::de::DeserializeOwned;

use crate::{
    ClientError, Result,
    wire::{Record, Refusal},
};

/// A hub reached over HTTP.
#[derive(Clone, Debug)]
pub struct HttpTransport {
    base: String,
    http: reqwest::Client,
}

impl HttpTransport {
    /// A transport to the hub at `url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(url: &str) -> HttpTransport {
        HttpTransport {
            base: url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// The hub's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Submits a signed message: its record, or the hub's refusal as [`ClientError::Refused`].
    pub async fn submit(&self, m: &Message) -> Result<Record> {
        let url = format!("{}/v1/messages", self.base);
        let r = self
            .http
            .post(&url)
            .json(&m.to_submission())
            .send()
            .await
            .map_err(|e| ClientError::Transport(format!("POST {url}: {e}")))?;
        answer(r, &url).await
    }

    /// GET a JSON document of the public API.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let url = format!("{}{path}", self.base);
        let r = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| ClientError::Transport(format!("GET {url}: {e}")))?;
        answer(r, &url).await
    }

    /// GET a text document of the public API.
    pub async fn get_text(&self, path: &str) -> Result<String> {
        let url = format!("{}{path}", self.base);
        let r = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| ClientError::Transport(format!("GET {url}: {e}")))?;
        if !r.status().is_success() {
            return Err(refusal(r, &url).await);
        }
        r.text()
            .await
            .map_err(|e| ClientError::Transport(format!("GET {url}: {e}")))
    }

    /// Registers a device (operator: needs the operator token).
    pub async fn register_device(
        &self,
        token: &str,
        name: &str,
        clearance: u32,
        public_key_hex: &str,
        exceptions: &[&str],
    ) -> Result<()> {
        let url = format!("{}/v1/devices", self.base);
        let body = serde_json::json!({
            "name": name,
            "clearance": clearance,
            "public_key": public_key_hex,
            "exceptions": exceptions,
        });
        let r = self
            .http
            .post(&url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|e| ClientError::Transport(format!("POST {url}: {e}")))?;
        if !r.status().is_success() {
            return Err(refusal(r, &url).await);
        }
        Ok(())
    }
}

async fn answer<T: DeserializeOwned>(r: reqwest::Response, url: &str) -> Result<T> {
    if !r.status().is_success() {
        return Err(refusal(r, url).await);
    }
    r.json()
        .await
        .map_err(|e| ClientError::Transport(format!("{url}: decoding the answer: {e}")))
}

/// The API's error body as a refusal; anything else as a transport error.
async fn refusal(r: reqwest::Response, url: &str) -> ClientError {
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    match serde_json::from_str::<Refusal>(&body) {
        Ok(refusal) => ClientError::Refused(refusal),
        Err(_) => ClientError::Transport(format!("{url}: {status}: {body}")),
    }
}
