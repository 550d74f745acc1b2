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
    /// Serving TLS only, with a certificate for 127.0.0.1 from the test CA `dir/ca.crt`.
    tls: bool,
}

impl Redis {
    /// Starts a server on a free port, its files in `dir`.
    pub fn start(dir: &Path) -> std::io::Result<Self> {
        let mut r = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
            dir: dir.to_path_buf(),
            proc: None,
            tls: false,
        };
        r.up()?;
        Ok(r)
    }

    /// A server speaking TLS only, its certificate (for 127.0.0.1) signed by a CA made here
    /// with openssl: [`Redis::ca`] is that CA's certificate.
    pub fn start_tls(dir: &Path) -> std::io::Result<Self> {
        let sh = |script: &str| {
            let ok = Command::new("sh")
                .arg("-c")
                .arg(script)
                .current_dir(dir)
                .stderr(Stdio::null())
                .status()?;
            ok.success()
                .then_some(())
                .ok_or_else(|| std::io::Error::other(format!("failed: {script}")))
        };
        sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=tollgate-test-ca")?;
        sh("openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1")?;
        sh("printf 'subjectAltName=IP:127.0.0.1\n' > ext && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile ext")?;
        let mut r = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
            dir: dir.to_path_buf(),
            proc: None,
            tls: true,
        };
        r.up()?;
        Ok(r)
    }

    /// The test CA's certificate, for a TLS server.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://{}/0", self.addr)
    }

    /// Kills the server: the fleet's store is gone.
    pub fn down(&mut self) {
        self.proc = None;
    }

    /// Starts it again on the same port (empty: nothing was persisted).
    pub fn up(&mut self) -> std::io::Result<()> {
        let mut cmd = Command::new("redis-server");
        let port = self.addr.port().to_string();
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        if self.tls {
            cmd.args([
                "--port",
                "0",
                "--tls-port",
                &port,
                "--tls-auth-clients",
                "no",
            ])
            .args([
                "--tls-cert-file",
                "server.crt",
                "--tls-key-file",
                "server.key",
            ])
            .args(["--tls-ca-cert-file", "ca.crt"]);
        } else {
            cmd.args(["--port", &port]);
        }
        cmd.current_dir(&self.dir)
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

    /// Runs `redis-cli` against it, which must succeed (an empty answer must mean an empty
    /// store, never a missing tool); its trimmed output.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-h", "127.0.0.1", "-p", &self.addr.port().to_string()]);
        if self.tls {
            cmd.arg("--tls").arg("--cacert").arg(self.ca());
        }
        crate::process::stdout_of(cmd.args(args))
    }
}
