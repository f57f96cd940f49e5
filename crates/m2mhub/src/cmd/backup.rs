//! `m2mhub backup`: asks a running hub for a consistent snapshot of its ledger (the operator
//! route `GET /v1/backup`) and writes it to `DIR/ledger.m2mbackup`, durably, once its framing,
//! counts and digest check out. The hub's key files are not in it: the operator copies them.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, bail};
use m2mhub_ledger::{
    backup::{self, BACKUP_FILE},
    datadir::create_private_dir,
    fs::{DirFs, RealFs, with_suffix},
};

/// `m2mhub backup` options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The running hub.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Directory to write the backup into (created owner-only if missing); it must not hold
    /// a backup already.
    #[arg(long)]
    pub to: PathBuf,
    /// File holding the operator token (e.g. DATA/operator-token); the environment variable
    /// M2MHUB_OPERATOR_TOKEN wins when set.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

/// The operator token: `M2MHUB_OPERATOR_TOKEN`, else the contents of `file`.
pub fn operator_token(file: Option<&Path>) -> anyhow::Result<String> {
    if let Ok(t) = std::env::var("M2MHUB_OPERATOR_TOKEN")
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_owned());
    }
    let file = file.context(
        "this route is the operator's: set M2MHUB_OPERATOR_TOKEN or pass --token-file FILE",
    )?;
    let t = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    Ok(t.trim().to_owned())
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let token = operator_token(a.token_file.as_deref())?;
    create_private_dir(&a.to)?;
    let path = a.to.join(BACKUP_FILE);
    if path.exists() {
        bail!(
            "{} exists already: back up into a new directory",
            path.display()
        );
    }
    let part = with_suffix(&path, ".part");
    let _ = std::fs::remove_file(&part);
    let fetched = tokio::runtime::Runtime::new()?.block_on(fetch(&a.url, &token, &part));
    let scanned = fetched.and_then(|()| {
        let f = std::fs::File::open(&part)?;
        backup::scan(std::io::BufReader::with_capacity(1 << 20, f))
            .context("the backup received is not whole")
    });
    let scanned = match scanned {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    let fs = RealFs;
    fs.rename(&part, &path)
        .and_then(|()| fs.sync_dir(&a.to))
        .with_context(|| format!("writing {}", path.display()))?;
    let h = &scanned.header;
    println!(
        "backup of {} entries in {} blocks of {} written to {} ({} bytes)",
        h.tree_size,
        h.height + 1,
        h.origin,
        path.display(),
        scanned.bytes
    );
    println!("last checkpoint:\n{}", scanned.trailer.checkpoint);
    println!(
        "the hub's key files are not in it: copy DATA/hub-key (needed to restore), and \
         DATA/operator-token and DATA/chain.json if used, into {}",
        a.to.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Streams the hub's backup into `part`, synced.
async fn fetch(url: &str, token: &str, part: &Path) -> anyhow::Result<()> {
    let url = format!("{}/v1/backup", url.trim_end_matches('/'));
    let mut r = reqwest::Client::new()
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    if !r.status().is_success() {
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        bail!("GET {url}: {status}: {body}");
    }
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(part)
        .with_context(|| format!("creating {}", part.display()))?;
    while let Some(chunk) = r
        .chunk()
        .await
        .with_context(|| format!("GET {url}: the stream broke off"))?
    {
        out.write_all(&chunk)
            .with_context(|| format!("writing {}", part.display()))?;
    }
    out.sync_all()
        .with_context(|| format!("syncing {}", part.display()))?;
    Ok(())
}
