//! A real Mosquitto for the binary's tests: on a free port, killed on drop; `None` outside CI
//! when it is not installed (in CI a missing Mosquitto fails the test: `make deps` installs it).

use std::{
    path::Path,
    process::{Child, Command, Stdio},
};

use super::federation::free_port;

/// A running `mosquitto`.
#[derive(Debug)]
pub struct Mosquitto {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Holds the configuration file until the broker stops.
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts one with anonymous access on a free port, plus the configuration lines `extra`
    /// (a bridge, say).
    pub fn start(extra: &str) -> Option<Mosquitto> {
        Self::start_on(free_port(), extra)
    }

    /// [`Mosquitto::start`] on `port`.
    pub fn start_on(port: u16, extra: &str) -> Option<Mosquitto> {
        let bin = Path::new("/usr/sbin/mosquitto");
        if !bin.exists() {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "mosquitto is not installed (make deps installs it)"
            );
            eprintln!("mosquitto is not installed: skipping (make deps installs it)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("m.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n{extra}"),
        )
        .unwrap();
        // Owned (and so killed and waited for on drop) before anything can fail.
        let m = Mosquitto {
            child: Command::new(bin)
                .arg("-c")
                .arg(&conf)
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
            port,
            _dir: dir,
        };
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        for _ in 0..500 {
            if std::net::TcpStream::connect(addr).is_ok() {
                return Some(m);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("mosquitto did not start on {addr}");
    }

    /// Its URL for `--mqtt-connect` and the device SDK.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
