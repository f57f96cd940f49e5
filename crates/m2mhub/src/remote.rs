//! A small client for a running hub's public API (verify --url, trace, export, status). Lists
//! come in bounded pages (`{items, next}`, SPEC §5): [`Hub::page`] asks for one.

use anyhow::{Context, bail};
use m2mhub_ledger::TransactionView;
use serde::de::DeserializeOwned;

/// A hub reached over HTTP.
#[derive(Clone, Debug)]
pub struct Hub {
    base: String,
    http: reqwest::Client,
}

/// One raw entry of `GET /v1/entries` (its seq and canonical bytes).
#[derive(Debug, serde::Deserialize)]
pub struct RawEntry {
    /// Its seq.
    pub seq: u64,
    /// Its bytes, standard base64.
    pub entry_bytes: String,
}

impl RawEntry {
    /// The entry's bytes.
    pub fn bytes(&self) -> anyhow::Result<Vec<u8>> {
        use base64::{Engine as _, engine::general_purpose::STANDARD};
        STANDARD
            .decode(&self.entry_bytes)
            .with_context(|| format!("entry {} is not base64", self.seq))
    }
}

#[derive(serde::Deserialize)]
struct Proof {
    path: Vec<String>,
}

impl Hub {
    /// A client for the hub at `url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(url: &str) -> Hub {
        Hub {
            base: url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// A client whose every request gives up after `timeout` (for background tasks and for
    /// checks over many hubs, where one hung member must not hang the rest).
    pub fn with_timeout(url: &str, timeout: std::time::Duration) -> anyhow::Result<Hub> {
        Ok(Hub {
            base: url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .context("building the HTTP client")?,
        })
    }

    /// One page of the hub's registry changes after seq `after` (SPEC §7, followers).
    pub async fn registry_page(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> anyhow::Result<m2mhub_ledger::Page<RawEntry>> {
        self.page(&format!("/v1/entries?registry=true&limit={limit}"), after)
            .await
    }

    /// The inclusion path of entry `seq` in the tree of `tree_size`.
    pub async fn inclusion_path(
        &self,
        seq: u64,
        tree_size: u64,
    ) -> anyhow::Result<Vec<m2mhub_core::hash::Hash>> {
        let p: Proof = self
            .json(&format!(
                "/v1/proof/inclusion?seq={seq}&tree_size={tree_size}"
            ))
            .await?;
        p.path
            .iter()
            .map(|h| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(h, &mut out)
                    .map(|()| out)
                    .with_context(|| format!("a proof hash of entry {seq} is not hex"))
            })
            .collect()
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

    /// One page of the list at `path` (which may carry filters) after the cursor `after`.
    pub async fn page<T: DeserializeOwned>(
        &self,
        path: &str,
        after: Option<u64>,
    ) -> anyhow::Result<m2mhub_ledger::Page<T>> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let q = match after {
            Some(a) => format!("{path}{sep}after={a}"),
            None => path.to_owned(),
        };
        self.json(&q).await
    }

    /// A transaction with all its messages, paged in: `None` when the hub has no such tx.
    pub async fn transaction(&self, tx: u64) -> anyhow::Result<Option<TransactionView>> {
        let path = format!("/v1/transactions/{tx}?limit=1000");
        let Some(mut t): Option<TransactionView> = self.json_opt(&path).await? else {
            return Ok(None);
        };
        while let Some(after) = t.next {
            let more: TransactionView = self.json(&format!("{path}&after={after}")).await?;
            t.messages.extend(more.messages);
            t.next = more.next;
        }
        Ok(Some(t))
    }

    /// GET a JSON document whatever the status: the status and the body (`null` when the
    /// body is not JSON).
    pub async fn json_status(&self, path: &str) -> anyhow::Result<(u16, serde_json::Value)> {
        let url = format!("{}{path}", self.base);
        let r = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or_default()))
    }

    /// GET a text document.
    pub async fn text(&self, path: &str) -> anyhow::Result<String> {
        Ok(self.get(path).await?.text().await?)
    }

    /// GET a text document that may be 404: `None` then.
    pub async fn text_opt(&self, path: &str) -> anyhow::Result<Option<String>> {
        match self.get_opt(path).await? {
            Some(r) => Ok(Some(r.text().await?)),
            None => Ok(None),
        }
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
