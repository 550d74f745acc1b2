//! A real `tollgate run` process on loopback ports, with its own rules file, state directory and
//! log file, killed when dropped.

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::http::{self, Response};
use crate::process::{free_port, wait_listening, Guard};

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("tollgate-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("temp dir {}: {e}", dir.display()));
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub struct Tollgate {
    pub proc: Guard,
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    pub rules_path: PathBuf,
    pub dir: PathBuf,
}

impl Tollgate {
    /// Writes `rules` to `dir/rules.toml` and starts `bin run` against `upstream`.
    pub fn start(bin: &Path, dir: &Path, rules: &str, upstream: SocketAddr) -> Self {
        let rules_path = dir.join("rules.toml");
        fs::write(&rules_path, rules).unwrap_or_else(|e| panic!("writing rules: {e}"));
        Self::start_with(bin, dir, &rules_path, upstream)
    }

    /// Starts on an existing rules file (a restart keeps the state directory).
    pub fn start_with(bin: &Path, dir: &Path, rules_path: &Path, upstream: SocketAddr) -> Self {
        Self::start_args(bin, dir, rules_path, upstream, &[])
    }

    /// Like [`Tollgate::start_with`], with extra `run` arguments (e.g. `--secret-file`).
    pub fn start_args(
        bin: &Path,
        dir: &Path,
        rules_path: &Path,
        upstream: SocketAddr,
        extra: &[&str],
    ) -> Self {
        // Ports are picked free and bound by the child a moment later; another test can take
        // one in between. A child that lost the race exits: try again on fresh ports.
        for _ in 0..3 {
            let mut t = Self::spawn(bin, dir, rules_path, upstream, extra);
            if t.owns_its_listeners() {
                return t;
            }
            if t.proc.child.try_wait().ok().flatten().is_none() {
                panic!("tollgate did not start; log:\n{}", t.log());
            }
        }
        panic!(
            "tollgate lost its ports three times; log in {}",
            dir.display()
        )
    }

    /// Alive, listening on both ports, and `/healthz` answers: the ports are this child's.
    fn owns_its_listeners(&mut self) -> bool {
        let up = wait_listening(self.listen, Duration::from_secs(20))
            && wait_listening(self.admin, Duration::from_secs(5));
        let alive = matches!(self.proc.child.try_wait(), Ok(None));
        up && alive && self.admin("GET", "/healthz").body == "ok\n"
    }

    fn spawn(
        bin: &Path,
        dir: &Path,
        rules_path: &Path,
        upstream: SocketAddr,
        extra: &[&str],
    ) -> Self {
        let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("tollgate.log"))
            .unwrap_or_else(|e| panic!("log file: {e}"));
        let mut cmd = Command::new(bin);
        cmd.arg("run")
            .arg("--rules")
            .arg(rules_path)
            .arg("--listen")
            .arg(listen.to_string())
            .arg("--admin")
            .arg(admin.to_string())
            .arg("--upstream")
            .arg(upstream.to_string())
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--threads")
            .arg("2")
            .arg("--grace-secs")
            .arg("1")
            .arg("--log-refusals-per-sec")
            .arg("1000")
            .args(extra)
            .env("TOLLGATE_SECRET", crate::TEST_SECRET_HEX)
            .env_remove("TOLLGATE_SECRET_FILE")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        let proc =
            Guard::spawn(&mut cmd).unwrap_or_else(|e| panic!("spawning {}: {e}", bin.display()));
        Self {
            proc,
            listen,
            admin,
            rules_path: rules_path.to_path_buf(),
            dir: dir.to_path_buf(),
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("tollgate.log")).unwrap_or_default()
    }

    /// `GET path` from source address `from`.
    pub fn get(&self, from: &str, path: &str) -> Response {
        self.request(from, "GET", path, &[])
    }

    pub fn request(
        &self,
        from: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Response {
        let ip: IpAddr = from
            .parse()
            .unwrap_or_else(|e| panic!("source {from}: {e}"));
        http::request(ip, self.listen, method, path, headers)
            .unwrap_or_else(|e| panic!("request from {from} to {path}: {e}"))
    }

    /// An admin-API request from loopback.
    pub fn admin(&self, method: &str, path: &str) -> Response {
        let ip: IpAddr = [127, 0, 0, 1].into();
        http::request(ip, self.admin, method, path, &[])
            .unwrap_or_else(|e| panic!("admin {path}: {e}"))
    }

    /// One sample from `/metrics`, e.g. `tollgate_reloads_total{result="ok"}`; panics when absent.
    pub fn metric(&self, series: &str) -> f64 {
        let text = self.admin("GET", "/metrics").body;
        let found = text.lines().find_map(|l| {
            l.strip_prefix(series)
                .filter(|rest| rest.starts_with(' '))
                .and_then(|rest| rest.trim().parse().ok())
        });
        // An absent series is a renamed metric or a wrong label, never a zero.
        found.unwrap_or_else(|| panic!("no series {series:?} in /metrics:\n{text}"))
    }
}

/// A `key=value` field of a text log line, quotes removed.
pub fn log_field(line: &str, key: &str) -> String {
    let start = line
        .find(&format!(" {key}="))
        .unwrap_or_else(|| panic!("no {key} in {line}"));
    let rest = &line[start + key.len() + 2..];
    rest.split(' ')
        .next()
        .unwrap_or("")
        .trim_matches('"')
        .to_string()
}
