//! `serve`'s front door from outside the process: `--listen` takes a host name, the hub raises
//! its open-file limit at start, and the embedded broker stops spinning when it runs out of
//! file descriptors.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{BIN, TOKEN, listening_url, stop};

fn serve_cmd(dir: &std::path::Path, wrapper: &[&str], listen: &str, extra: &[&str]) -> Command {
    let mut c = if let Some((first, rest)) = wrapper.split_first() {
        let mut c = Command::new(first);
        c.args(rest).arg(BIN);
        c
    } else {
        Command::new(BIN)
    };
    c.args(["serve", "--data", dir.to_str().unwrap(), "--listen", listen])
        .args(["--origin", "m2mhub/door-test"])
        .args(extra)
        .env("M2MHUB_OPERATOR_TOKEN", TOKEN)
        .stdout(Stdio::piped());
    c
}

fn start(mut c: Command) -> (Child, String) {
    let mut child = c.spawn().unwrap();
    let url = listening_url(&mut child);
    (child, url)
}

/// `GET path` on the hub at `url` over a plain socket; the whole answer.
fn get(url: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn listen_takes_a_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let (child, url) = start(serve_cmd(dir.path(), &[], "localhost:0", &[]));
    let answer = get(&url, "/v1/key");
    stop(child);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("m2mhub/door-test+"), "{answer}");
}

/// The soft and hard open-file limits of process `pid`.
fn open_files(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (v[0], v[1])
}

#[test]
fn serve_raises_its_open_file_limit_to_the_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    // systemd gives a service a soft limit of 1,024; here 256, with room to raise it.
    let (child, _) = start(serve_cmd(
        dir.path(),
        &["prlimit", "--nofile=256:4096", "--"],
        "127.0.0.1:0",
        &[],
    ));
    let limits = open_files(child.id());
    stop(child);
    assert_eq!(limits, (4096, 4096));
}

/// CPU time (user + system) process `pid` has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the name.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn the_embedded_broker_backs_off_when_out_of_file_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let mqtt = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    // A hard limit the hub cannot raise: a few dozen connections exhaust it.
    let (child, _) = start(serve_cmd(
        dir.path(),
        &["prlimit", "--nofile=160:160", "--"],
        "127.0.0.1:0",
        &["--mqtt", "--mqtt-listen", &mqtt.to_string()],
    ));
    let held: Vec<TcpStream> = (0..400)
        .filter_map(|_| TcpStream::connect_timeout(&mqtt, Duration::from_secs(2)).ok())
        .collect();
    assert!(
        held.len() > 160,
        "could not queue connections past the limit"
    );
    // While connections wait that the broker cannot accept, a broker that retries accept at
    // once spins a core (~100 ticks a second); one that backs off sleeps.
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(child.id());
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_ticks(child.id()) - before;
    drop(held);
    stop(child);
    assert!(
        used < 100,
        "the hub used {used} ticks of CPU in 3 s while idle but out of file descriptors"
    );
}
