//! A real `tollgate run` process on loopback ports, with its own rules file, state directory and
//! log file, killed when dropped.

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::http::{self, Response};
use crate::process::{free_port, wait_listening, Guard};

/// A temporary directory removed on drop (kept when `TOLLGATE_TEST_KEEP` is set, to read a
/// failed test's logs and files).
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
        if std::env::var_os("TOLLGATE_TEST_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

pub struct Tollgate {
    pub proc: Guard,
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    /// The TLS listener, when the launch asked for one.
    pub tls: Option<SocketAddr>,
    /// The forward-auth listener, when the launch asked for one.
    pub auth: Option<SocketAddr>,
    pub rules_path: PathBuf,
    pub dir: PathBuf,
}

/// How a test starts `tollgate run`. [`Launch::new`] is what most tests want: one upstream, the
/// test key in `TOLLGATE_SECRET`, two threads, a one-second grace, every refusal logged.
#[derive(Clone, Debug)]
pub struct Launch {
    /// `--upstream` values; empty lets the process serve its demo backend (on a free port).
    pub upstreams: Vec<SocketAddr>,
    /// Pass `--tls-listen` on a free port (the rules must configure TLS).
    pub tls: bool,
    /// Pass `--auth-listen` on a free port.
    pub auth: bool,
    /// Appended to the command line (a repeated flag's last value wins).
    pub args: Vec<String>,
    /// Environment overrides: `None` removes the variable.
    pub env: Vec<(String, Option<String>)>,
}

impl Launch {
    pub fn new(upstream: SocketAddr) -> Self {
        Self {
            upstreams: vec![upstream],
            tls: false,
            auth: false,
            args: Vec::new(),
            env: vec![
                (
                    "TOLLGATE_SECRET".into(),
                    Some(crate::TEST_SECRET_HEX.into()),
                ),
                ("TOLLGATE_SECRET_FILE".into(), None),
            ],
        }
    }

    /// No `--upstream`: the rules file's upstreams, or the demo backend.
    pub fn without_upstream() -> Self {
        Self {
            upstreams: Vec::new(),
            ..Self::new(SocketAddr::from(([127, 0, 0, 1], 0)))
        }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn upstream(mut self, addr: SocketAddr) -> Self {
        self.upstreams.push(addr);
        self
    }

    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Also listens for forward-auth requests (`--auth-listen` on a free port).
    pub fn auth(mut self) -> Self {
        self.auth = true;
        self
    }

    /// Sets (`Some`) or removes (`None`) an environment variable of the child.
    pub fn env(mut self, key: &str, value: Option<&str>) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.map(Into::into)));
        self
    }
}

impl Tollgate {
    /// Writes `rules` to `dir/rules.toml` and starts `bin run` against `upstream`.
    pub fn start(bin: &Path, dir: &Path, rules: &str, upstream: SocketAddr) -> Self {
        Self::launch(bin, dir, &write_rules(dir, rules), &Launch::new(upstream))
    }

    /// Starts on an existing rules file (a restart keeps the state directory).
    pub fn start_with(bin: &Path, dir: &Path, rules_path: &Path, upstream: SocketAddr) -> Self {
        Self::launch(bin, dir, rules_path, &Launch::new(upstream))
    }

    /// Like [`Tollgate::start_with`], with extra `run` arguments (e.g. `--secret-file`).
    pub fn start_args(
        bin: &Path,
        dir: &Path,
        rules_path: &Path,
        upstream: SocketAddr,
        extra: &[&str],
    ) -> Self {
        let mut how = Launch::new(upstream);
        how.args = extra.iter().map(|a| a.to_string()).collect();
        Self::launch(bin, dir, rules_path, &how)
    }

    /// Starts `bin run` on `rules_path` as `how` says, and returns once the child owns its ports.
    pub fn launch(bin: &Path, dir: &Path, rules_path: &Path, how: &Launch) -> Self {
        // Ports are picked free and bound by the child a moment later; another test can take
        // one in between. A child that lost the race exits, or (Pingora) keeps retrying the
        // bind: either way it is stopped and started again on fresh ports.
        let mut log = String::new();
        for _ in 0..3 {
            let log_from = fs::metadata(dir.join("tollgate.log")).map_or(0, |m| m.len() as usize);
            let mut t = Self::spawn(bin, dir, rules_path, how);
            if t.owns_its_listeners(log_from) {
                return t;
            }
            log = t.log();
            drop(t);
        }
        panic!("tollgate did not start on fresh ports three times; log:\n{log}")
    }

    /// Alive, listening on every port, `/healthz` answers, and this child's own log says no
    /// bind failed (a port in use answers too, for its other owner): the ports are this child's.
    fn owns_its_listeners(&mut self, log_from: usize) -> bool {
        let (tls, auth) = (self.tls, self.auth);
        let up = wait_listening(self.listen, Duration::from_secs(20))
            && wait_listening(self.admin, Duration::from_secs(5))
            && tls.is_none_or(|a| wait_listening(a, Duration::from_secs(10)))
            && auth.is_none_or(|a| wait_listening(a, Duration::from_secs(10)));
        let alive = matches!(self.proc.child.try_wait(), Ok(None));
        let log = self.log();
        let lost = log
            .get(log_from..)
            .is_some_and(|mine| mine.contains(" is in use"));
        up && alive && !lost && self.admin("GET", "/healthz").body == "ok\n"
    }

    fn spawn(bin: &Path, dir: &Path, rules_path: &Path, how: &Launch) -> Self {
        let port = || SocketAddr::from(([127, 0, 0, 1], free_port()));
        let (listen, admin) = (port(), port());
        let tls = how.tls.then(port);
        let auth = how.auth.then(port);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("tollgate.log"))
            .unwrap_or_else(|e| panic!("log file: {e}"));
        let mut cmd = Command::new(bin);
        cmd.arg("run").arg("--rules").arg(rules_path);
        cmd.args([
            "--listen",
            &listen.to_string(),
            "--admin",
            &admin.to_string(),
        ]);
        for u in &how.upstreams {
            cmd.args(["--upstream", &u.to_string()]);
        }
        if how.upstreams.is_empty() {
            cmd.args(["--demo-backend", &port().to_string()]);
        }
        if let Some(tls) = tls {
            cmd.args(["--tls-listen", &tls.to_string()]);
        }
        if let Some(auth) = auth {
            cmd.args(["--auth-listen", &auth.to_string()]);
        }
        cmd.arg("--state-dir").arg(dir.join("state"));
        cmd.args([
            "--threads",
            "2",
            "--grace-secs",
            "1",
            "--log-refusals-per-sec",
            "1000",
        ]);
        cmd.args(&how.args);
        for (k, v) in &how.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::from(log));
        let proc =
            Guard::spawn(&mut cmd).unwrap_or_else(|e| panic!("spawning {}: {e}", bin.display()));
        Self {
            proc,
            listen,
            admin,
            tls,
            auth,
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
    /// An operator's admin request: mutating methods carry the bearer token.
    pub fn admin(&self, method: &str, path: &str) -> Response {
        if matches!(method, "GET" | "HEAD") {
            return self.admin_with(method, path, &[]);
        }
        let bearer = format!("Bearer {}", self.admin_token());
        self.admin_with(method, path, &[("Authorization", &bearer)])
    }

    /// An admin request with exactly these headers (a `Host` is added unless given).
    pub fn admin_with(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        let ip: IpAddr = [127, 0, 0, 1].into();
        http::request(ip, self.admin, method, path, headers)
            .unwrap_or_else(|e| panic!("admin {path}: {e}"))
    }

    /// The token the process created in its state directory.
    pub fn admin_token(&self) -> String {
        let file = self.dir.join("state/admin.token");
        let token = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        token.trim().to_string()
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

/// Writes `rules` to `dir/rules.toml` and returns its path.
pub fn write_rules(dir: &Path, rules: &str) -> PathBuf {
    let path = dir.join("rules.toml");
    fs::write(&path, rules).unwrap_or_else(|e| panic!("writing rules: {e}"));
    path
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
