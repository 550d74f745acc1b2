//! A real DNS server on loopback for the crawler tests: dnsmasq, answering only the PTR and
//! A records a test gives it (NXDOMAIN for everything else) and logging every query, so a test
//! can count what the proxy asked. Frozen with SIGSTOP, it stands for a resolver that stopped
//! answering.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{free_port, Guard};

/// One name's records: its address's PTR points at it, and its A record holds `forward`.
#[derive(Clone, Debug)]
pub struct Record {
    pub ip: Ipv4Addr,
    /// The PTR name of `ip`; `None`: no PTR (NXDOMAIN).
    pub ptr: Option<String>,
    /// The A record of `ptr`, when it has one.
    pub forward: Option<Ipv4Addr>,
}

pub struct Dns {
    pub addr: SocketAddr,
    log: PathBuf,
    proc: Guard,
}

impl Dns {
    /// Starts dnsmasq on a free loopback port with `records`; its log goes into `dir`.
    pub fn start(dir: &std::path::Path, records: &[Record]) -> std::io::Result<Self> {
        let port = free_port();
        let log = dir.join("dnsmasq.log");
        let mut cmd = Command::new("dnsmasq");
        cmd.args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
        ])
        .args([
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--pid-file=",
        ])
        .arg(format!("--port={port}"))
        .arg("--log-queries")
        .arg(format!("--log-facility={}", log.display()))
        // Everything not given below does not exist (instead of REFUSED for want of an
        // upstream).
        .arg("--address=/#/");
        // As root dnsmasq would drop to `nobody`, who cannot write the log here; as anyone else
        // it stays who it is.
        if as_root() {
            cmd.args(["--user=root", "--group=root"]);
        }
        for r in records {
            if let Some(name) = &r.ptr {
                let o = r.ip.octets();
                cmd.arg(format!(
                    "--ptr-record={}.{}.{}.{}.in-addr.arpa,{name}",
                    o[3], o[2], o[1], o[0]
                ));
                if let Some(f) = r.forward {
                    cmd.arg(format!("--host-record={name},{f}"));
                }
            }
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let dns = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
            proc: Guard::spawn(&mut cmd)?,
        };
        dns.wait_ready()?;
        Ok(dns)
    }

    fn wait_ready(&self) -> std::io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if fs::read_to_string(&self.log).is_ok_and(|l| l.contains("started")) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(std::io::Error::other("dnsmasq did not start within 10 s"))
    }

    /// Queries received so far of record type `kind` ("PTR", "A", "AAAA").
    pub fn queries(&self, kind: &str) -> usize {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let tag = format!("query[{kind}]");
        log.lines().filter(|l| l.contains(&tag)).count()
    }

    /// Stops answering (SIGSTOP) until [`Dns::thaw`].
    pub fn freeze(&self) -> bool {
        self.proc.signal("STOP")
    }

    pub fn thaw(&self) -> bool {
        self.proc.signal("CONT")
    }
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
