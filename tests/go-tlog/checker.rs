//! Building and running `tests/go-tlog` (Go's sumdb/note and sumdb/tlog, Debian's
//! golang-golang-x-mod-dev) from Rust tests of any crate: included with
//! `#[path = "../../../tests/go-tlog/checker.rs"] mod go_checker;`.

use std::path::{Path, PathBuf};

/// Builds the checker with `go` into `dir` (Go 1.19 from Debian, GO111MODULE=off).
pub fn build(go: &Path, dir: &Path) -> PathBuf {
    let out = dir.join("go-tlog-check");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/go-tlog/main.go");
    let built = std::process::Command::new(go)
        .args(["build", "-o"])
        .arg(&out)
        .arg(src)
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", dir.join("gocache"))
        .env("GOFLAGS", "")
        .output()
        .expect("run go build");
    assert!(
        built.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    out
}

/// Runs the checker against the hub at `url` with older checkpoint notes `olds` (written to
/// `dir`): (success, output).
pub fn check(checker: &Path, dir: &Path, url: &str, olds: &[String]) -> (bool, String) {
    let mut cmd = std::process::Command::new(checker);
    cmd.args(["-url", url, "-step", "7"]);
    for (i, note) in olds.iter().enumerate() {
        let f = dir.join(format!("old-{i}.note"));
        std::fs::write(&f, note).expect("write an old note");
        cmd.arg("-old").arg(f);
    }
    let out = cmd.output().expect("run the Go checker");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
