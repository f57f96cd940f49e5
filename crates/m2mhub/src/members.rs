//! A federation of `m2mhub serve` processes on this machine (SPEC §7), for `demo
//! --federation` and `bench federation`: each member's data directory and key, the federation
//! file naming them, and the processes, killed when dropped; plus bounded waits for imports and
//! witnessed checkpoints.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

use crate::demo::device::Hub;

/// One member: its `serve` process (killed on drop) and an operator's client.
pub struct Member {
    /// Its member name.
    pub name: String,
    /// Its base URL.
    pub url: String,
    /// An operator's client of it.
    pub hub: Hub,
    child: Child,
}

impl Drop for Member {
    fn drop(&mut self) {
        // The data is throwaway unless the caller kept the directory, and every acknowledged
        // entry is durable anyway.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The running federation.
pub struct Members {
    /// The members, in the order named.
    pub members: Vec<Member>,
    /// The federation file.
    pub file: PathBuf,
}

impl Members {
    /// Member `name`.
    pub fn get(&self, name: &str) -> anyhow::Result<&Member> {
        self.members
            .iter()
            .find(|m| m.name == name)
            .with_context(|| format!("no member {name}"))
    }
}

/// Starts the members `names` under `root` (one data directory each), listening on `host` at
/// `port`, `port + 1`, … (port 0: free ports), with `[witness] cosignatures = k` and `extra`
/// arguments to every `serve`.
pub fn start(
    root: &Path,
    host: &str,
    port: u16,
    names: &[&str],
    k: usize,
    extra: &[&str],
) -> anyhow::Result<Members> {
    let mut token = [0u8; 16];
    m2mhub_ledger::datadir::random_bytes(&mut token)?;
    let token = hex::encode(token);
    let exe = std::env::current_exe().context("finding the m2mhub binary")?;
    let ports = ports(host, port, names.len())?;
    // Each member's data directory and key first: the federation file names their keys.
    let mut lines = format!("[witness]\ncosignatures = {k}\n");
    for (name, port) in names.iter().zip(&ports) {
        let (ledger, _) =
            crate::cmd::serve::open(&root.join(name), Some(format!("m2mhub/{name}")))?;
        lines.push_str(&format!(
            "\n[[member]]\nname = \"{name}\"\norigin = \"m2mhub/{name}\"\nkey = \"{}\"\nurl = \"http://{host}:{port}\"\n",
            ledger.verifier_key(),
        ));
    }
    let file = root.join("federation.toml");
    std::fs::write(&file, lines)?;
    let mut members = Vec::new();
    for (name, port) in names.iter().zip(&ports) {
        members.push(spawn(
            &exe,
            root,
            name,
            &file,
            &format!("{host}:{port}"),
            &token,
            extra,
        )?);
    }
    Ok(Members { members, file })
}

/// Starts member `name`'s `serve` process and waits for its `listening on` line.
fn spawn(
    exe: &Path,
    root: &Path,
    name: &str,
    file: &Path,
    listen: &str,
    token: &str,
    extra: &[&str],
) -> anyhow::Result<Member> {
    let data: PathBuf = root.join(name);
    let mut child = Command::new(exe)
        .args(["serve", "--data"])
        .arg(&data)
        .args(["--listen", listen, "--origin", &format!("m2mhub/{name}")])
        .arg("--federation")
        .arg(file)
        .args(["--hub-name", name])
        .args(extra)
        .env("M2MHUB_OPERATOR_TOKEN", token)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting hub {name}"))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut url = None;
    for line in lines.by_ref() {
        let line = line?;
        if let Some(u) = line.strip_prefix("listening on ") {
            url = Some(u.trim().to_owned());
            break;
        }
    }
    let Some(url) = url else {
        let _ = child.kill();
        bail!("hub {name} did not start (is {listen} free? try --listen with another port)");
    };
    // Keep reading its output, so a full pipe never stops it.
    std::thread::spawn(move || for _ in lines {});
    Ok(Member {
        name: name.to_owned(),
        hub: Hub::new(&url, token),
        url,
        child,
    })
}

/// `port` and the next `n - 1`, or for port 0 `n` ports free now (the federation file must
/// name them before the members start).
fn ports(host: &str, port: u16, n: usize) -> anyhow::Result<Vec<u16>> {
    if port != 0 {
        return Ok((0..n as u16).map(|i| port + i).collect());
    }
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind((host, 0)))
        .collect::<Result<_, _>>()
        .with_context(|| format!("finding free ports on {host}"))?;
    held.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// How many import entries the member at `url` holds: read from its registry index, whose
/// pages carry each entry's bytes (the kind is the second byte), so one request per page.
pub async fn imports(url: &str) -> anyhow::Result<usize> {
    let hub = crate::remote::Hub::new(url);
    let (mut n, mut after) = (0, None);
    loop {
        let page = hub.registry_page(after, 1000).await?;
        for e in &page.items {
            let kind = e.bytes()?.get(1).copied();
            n += usize::from(kind == Some(m2mhub_core::entry::EntryKind::Import as u8));
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(n),
        }
    }
}

/// Waits (at most a minute) until the member at `url` holds `n` import entries.
pub async fn wait_imports(url: &str, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = imports(url).await?;
        if got >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} imported {got} of {n} registry changes in a minute");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The size of the member's witnessed checkpoint (`/tlog/checkpoint`), 0 before the first.
pub async fn witnessed_size(url: &str) -> anyhow::Result<u64> {
    let r = reqwest::get(format!("{url}/tlog/checkpoint")).await?;
    if !r.status().is_success() {
        return Ok(0);
    }
    let note = r.text().await?;
    Ok(note
        .lines()
        .nth(1)
        .and_then(|l| l.parse::<u64>().ok())
        .unwrap_or(0))
}

/// Waits (at most a minute) until the member at `url` serves a witnessed checkpoint of at
/// least `size` entries.
pub async fn wait_witnessed(url: &str, size: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if witnessed_size(url).await? >= size {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} has no witnessed checkpoint of {size} entries after a minute");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
