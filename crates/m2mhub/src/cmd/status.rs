//! `m2mhub status`: a running hub at a glance, from its public routes only: readiness
//! (`/readyz`), size and last block (the signed `/v1/checkpoint`, opened with `/v1/key`, and
//! `/v1/blocks/{height}`), anchor lag and disk (`/metrics`), and with `--data DIR` the bytes
//! its data directory takes. `--json` for scripts.

use std::{path::PathBuf, process::ExitCode};

use crate::remote::Hub;
use anyhow::Context;
use m2mhub_core::{checkpoint::Checkpoint, note::NoteVerifier};
use m2mhub_ledger::{BlockRow, now_ms, record::format_time};

/// `m2mhub status` options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The hub.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The hub's data directory, when on this machine: adds the bytes it takes on disk.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What `status` found, as `--json` prints it.
#[derive(Debug, serde::Serialize)]
struct Status {
    url: String,
    origin: String,
    /// `/readyz`'s answer: true, or the error code it gave.
    ready: bool,
    not_ready: Option<String>,
    tree_size: u64,
    last_block: LastBlock,
    /// `None` when the hub does not anchor.
    anchor_lag_entries: Option<u64>,
    disk: Disk,
}

#[derive(Debug, serde::Serialize)]
struct LastBlock {
    height: u64,
    time_ms: u64,
    time: String,
    age_ms: u64,
}

#[derive(Debug, serde::Serialize)]
struct Disk {
    /// From the hub's metrics.
    store_bytes: Option<u64>,
    free_bytes: Option<u64>,
    size_bytes: Option<u64>,
    /// From `--data DIR`, walked here.
    data_dir: Option<PathBuf>,
    data_dir_bytes: Option<u64>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    // Read the directory first: a wrong path is an error before any request.
    let data_dir_bytes = match &a.data {
        Some(d) => Some(disk_use(d).with_context(|| format!("reading {}", d.display()))?),
        None => None,
    };
    let rt = tokio::runtime::Runtime::new()?;
    let hub = Hub::new(&a.url);
    let s = rt.block_on(async {
        let (ready, not_ready) = readiness(&hub).await?;
        let key = hub.text("/v1/key").await?;
        let verifier = NoteVerifier::parse(key.trim()).context("parsing the hub's key")?;
        let note = hub.text("/v1/checkpoint").await?;
        let cp = Checkpoint::open(&note, &verifier).context("opening the hub's checkpoint")?;
        let block: BlockRow = hub.json(&format!("/v1/blocks/{}", cp.block)).await?;
        let metrics = hub.text("/metrics").await?;
        anyhow::Ok(Status {
            url: a.url.clone(),
            origin: cp.origin,
            ready,
            not_ready,
            tree_size: cp.tree_size,
            last_block: LastBlock {
                height: cp.block,
                time_ms: block.time_ms,
                time: format_time(block.time_ms),
                age_ms: now_ms().saturating_sub(block.time_ms),
            },
            anchor_lag_entries: sample(&metrics, "m2mhub_anchor_lag_entries"),
            disk: Disk {
                store_bytes: sample(&metrics, "m2mhub_store_bytes"),
                free_bytes: sample(&metrics, "m2mhub_data_free_bytes"),
                size_bytes: sample(&metrics, "m2mhub_data_size_bytes"),
                data_dir: a.data.clone(),
                data_dir_bytes,
            },
        })
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", text(&s));
    }
    Ok(if s.ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The value of the unlabelled sample `name` in Prometheus text, if the hub exports it.
fn sample(metrics: &str, name: &str) -> Option<u64> {
    metrics.lines().find_map(|l| {
        let v = l.strip_prefix(name)?.strip_prefix(' ')?;
        // Gauges print as integers; anything else is not ours to guess at.
        v.trim().parse().ok()
    })
}

/// Bytes the files under `dir` take on disk (allocated blocks, as `du` counts them).
fn disk_use(dir: &std::path::Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0u64;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let m = e.metadata()?;
            total = total.saturating_add(m.blocks().saturating_mul(512));
            if m.is_dir() {
                todo.push(e.path());
            }
        }
    }
    Ok(total)
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn text(s: &Status) -> String {
    let ready = match &s.not_ready {
        None => "yes".to_owned(),
        Some(code) => format!("NO ({code})"),
    };
    let anchor = match s.anchor_lag_entries {
        Some(n) => format!("{n} entries not yet anchored"),
        None => "anchoring off".to_owned(),
    };
    let mut disk = Vec::new();
    if let (Some(d), Some(n)) = (&s.disk.data_dir, s.disk.data_dir_bytes) {
        disk.push(format!("{} in {}", bytes(n), d.display()));
    }
    if let Some(n) = s.disk.store_bytes {
        disk.push(format!("store {}", bytes(n)));
    }
    if let (Some(free), Some(size)) = (s.disk.free_bytes, s.disk.size_bytes) {
        disk.push(format!("{} free of {}", bytes(free), bytes(size)));
    }
    if disk.is_empty() {
        disk.push("not reported".to_owned());
    }
    format!(
        "hub        {} ({})\nready      {ready}\nsize       {} entries\nlast block {} at {} ({} s ago)\nanchor lag {anchor}\ndisk       {}\n",
        s.url,
        s.origin,
        s.tree_size,
        s.last_block.height,
        s.last_block.time,
        s.last_block.age_ms / 1000,
        disk.join(", ")
    )
}

/// `GET /readyz`: `(true, None)` when ready, `(false, Some(code))` on its 503.
async fn readiness(hub: &Hub) -> anyhow::Result<(bool, Option<String>)> {
    match hub.json_status("/readyz").await? {
        (200, _) => Ok((true, None)),
        (503, body) => Ok((
            false,
            Some(body["error"].as_str().unwrap_or("unavailable").to_owned()),
        )),
        (status, body) => anyhow::bail!("GET /readyz: {status}: {body}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn samples_are_read_by_exact_name() {
        let m =
            "# TYPE m2mhub_store_bytes gauge\nm2mhub_store_bytes 4096\nm2mhub_store_bytes_x 1\n";
        assert_eq!(sample(m, "m2mhub_store_bytes"), Some(4096));
        assert_eq!(sample(m, "m2mhub_anchor_lag_entries"), None);
        assert_eq!(sample("m2mhub_x 1.5\n", "m2mhub_x"), None);
    }

    #[test]
    fn bytes_read_as_people_do() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn status_json_names_every_field() {
        let s = Status {
            url: "u".into(),
            origin: "o".into(),
            ready: true,
            not_ready: None,
            tree_size: 3,
            last_block: LastBlock {
                height: 2,
                time_ms: 0,
                time: format_time(0),
                age_ms: 0,
            },
            anchor_lag_entries: None,
            disk: Disk {
                store_bytes: None,
                free_bytes: None,
                size_bytes: None,
                data_dir: None,
                data_dir_bytes: None,
            },
        };
        let v: Value = serde_json::to_value(&s).unwrap_or_default();
        assert_eq!(v["last_block"]["time"], json!("1970-01-01T00:00:00.000Z"));
        assert_eq!(v["anchor_lag_entries"], Value::Null);
    }
}
