//! A small client for a running hub's public API (verify --url, trace, export).

use anyhow::{Context, bail};
use serde::de::DeserializeOwned;

/// A hub reached over HTTP.
#[derive(Clone, Debug)]
pub struct Hub {
    base: String,
    http: reqwest::Client,
}

impl Hub {
    /// A client for the hub at `url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(url: &str) -> Hub {
        Hub {
            base: url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// GET `path`: `None` on 404, an error on any other failure.
    async fn get_opt(&self, path: &str) -> anyhow::Result<Option<reqwest::Response>> {
        let url = format!("{}{path}", self.base);
        let r = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !r.status().is_success() {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            bail!("GET {url}: {status}: {body}");
        }
        Ok(Some(r))
    }

    async fn get(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        self.get_opt(path)
            .await?
            .with_context(|| format!("GET {}{path}: 404 not found", self.base))
    }

    /// GET a JSON document.
    pub async fn json<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        self.get(path)
            .await?
            .json()
            .await
            .with_context(|| format!("decoding {url}"))
    }

    /// GET a text document.
    pub async fn text(&self, path: &str) -> anyhow::Result<String> {
        Ok(self.get(path).await?.text().await?)
    }

    /// GET that may be 404: `None` then.
    pub async fn json_opt<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<Option<T>> {
        match self.get_opt(path).await? {
            Some(r) => {
                Ok(Some(r.json().await.with_context(|| {
                    format!("decoding {}{path}", self.base)
                })?))
            }
            None => Ok(None),
        }
    }
}
