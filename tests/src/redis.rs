//! A real `redis-server` (Debian's) on loopback for the fleet tests: no persistence, a free
//! port, killed with the test. It can be stopped and started again on the same port, for
//! outages.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{free_port, wait_listening, Guard};

pub struct Redis {
    pub addr: SocketAddr,
    dir: PathBuf,
    proc: Option<Guard>,
}

impl Redis {
    /// Starts a server on a free port, its files in `dir`.
    pub fn start(dir: &Path) -> std::io::Result<Self> {
        let mut r = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
            dir: dir.to_path_buf(),
            proc: None,
        };
        r.up()?;
        Ok(r)
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://{}/0", self.addr)
    }

    /// Kills the server: the fleet's store is gone.
    pub fn down(&mut self) {
        self.proc = None;
    }

    /// Starts it again on the same port (empty: nothing was persisted).
    pub fn up(&mut self) -> std::io::Result<()> {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--port", &self.addr.port().to_string()])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.proc = Some(Guard::spawn(&mut cmd)?);
        if wait_listening(self.addr, Duration::from_secs(10)) {
            Ok(())
        } else {
            Err(std::io::Error::other(
                "redis-server did not listen within 10 s",
            ))
        }
    }

    /// Runs `redis-cli` against it; its trimmed output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.addr.port().to_string()])
            .args(args)
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    }
}
