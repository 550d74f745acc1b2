//! A real nginx, built from the vendored source, with the tollgate module loaded: 2 worker
//! processes on one `reuseport` listener (so connections from different source addresses land
//! on different workers), a real upstream behind `proxy_pass`, stopped when dropped.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::process::{alive, children, eventually, free_port, wait_listening, Guard};

/// Where the nginx binary and the module are, and what that nginx's configuration accepts.
#[derive(Clone, Debug)]
pub struct NginxBuild {
    pub nginx: PathBuf,
    pub module: PathBuf,
    /// `nginx -v`'s version as a number (1.22.1 is 1_022_001).
    pub version: u32,
}

/// The environment variable naming another nginx binary to test the module in (Debian's
/// `/usr/sbin/nginx`, with the module built against its `nginx-dev` source): see
/// `scripts/test-ngx-distro.sh`.
pub const NGINX_ENV: &str = "TOLLGATE_NGINX";

impl NginxBuild {
    /// The build whose objects are in `build_dir`, with the module and proxy built beside the
    /// running test binary (in its cargo profile directory, e.g. `target/debug`). The nginx is
    /// the one built there, or the binary [`NGINX_ENV`] names.
    pub fn beside_this_test(build_dir: &Path) -> Self {
        Self::new(build_dir, &profile_dir())
    }

    /// `build_dir` is nginx's objs parent (the ngx-module build script's `DEP_NGINX_BUILD_DIR`),
    /// `target_dir` the cargo profile directory holding `libtollgate_ngx.so`.
    pub fn new(build_dir: &Path, target_dir: &Path) -> Self {
        let nginx = std::env::var_os(NGINX_ENV).map_or_else(|| build_dir.join("nginx"), Into::into);
        let version = nginx_version(&nginx);
        let b = Self {
            nginx,
            module: target_dir.join("libtollgate_ngx.so"),
            version,
        };
        for p in [&b.nginx, &b.module] {
            assert!(
                p.exists(),
                "{} missing: build it first (cargo build -p tollgate-ngx)",
                p.display()
            );
        }
        assert_fresh(&b.module, "tollgate-ngx");
        // A module is built against one nginx build; an nginx rebuilt after it may not load it.
        let (module, nginx) = (mtime(&b.module), mtime(&b.nginx));
        assert!(
            module >= nginx,
            "{} is older than {}: rebuild it (cargo build -p tollgate-ngx)",
            b.module.display(),
            b.nginx.display()
        );
        b
    }
}

/// `nginx -v` as a number: "nginx version: nginx/1.22.1" is 1_022_001.
fn nginx_version(nginx: &Path) -> u32 {
    let out = Command::new(nginx)
        .arg("-v")
        .output()
        .unwrap_or_else(|e| panic!("{} -v: {e}", nginx.display()));
    let text = String::from_utf8_lossy(&out.stderr);
    let parts: Vec<u32> = text
        .rsplit_once('/')
        .map(|(_, v)| v.trim())
        .unwrap_or_default()
        .split('.')
        .filter_map(|p| p.parse().ok())
        .collect();
    match parts[..] {
        [a, b, c] => a * 1_000_000 + b * 1_000 + c,
        _ => panic!("{} -v printed {text:?}", nginx.display()),
    }
}

/// Panics when `artifact` is older than a source it is built from: a stale build would test
/// yesterday's code and pass. Cargo lists those sources (and only those: not test-only files)
/// in the dep-info file beside it.
pub fn assert_fresh(artifact: &Path, package: &str) {
    let deps = fs::read_to_string(artifact.with_extension("d")).unwrap_or_default();
    let sources = deps
        .split_once(": ")
        .and_then(|(_, list)| newest_mtime(list));
    if let Some(src) = sources {
        assert!(
            mtime(artifact) >= src,
            "{} is older than its sources: rebuild it (cargo build -p {package})",
            artifact.display()
        );
    }
}

fn mtime(p: &Path) -> std::time::SystemTime {
    fs::metadata(p)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The latest modification time of the files in a cargo dep-info list (space-separated, spaces
/// in names escaped with a backslash).
fn newest_mtime(list: &str) -> Option<std::time::SystemTime> {
    let joined = list.replace("\\ ", "\u{0}");
    let files = joined.split_whitespace().map(|f| f.replace('\u{0}', " "));
    let times = files.filter_map(|f| fs::metadata(f).and_then(|m| m.modified()).ok());
    times.max()
}

/// Knobs of the generated `nginx.conf`.
#[derive(Clone, Debug, Default)]
pub struct NginxConf {
    /// Extra directives inside the `server` block (locations, say).
    pub server_extra: String,
    /// Extra directives inside the `http` block (a `log_format`, say).
    pub http_extra: String,
    /// Networks whose `real_ip_header` the realip module believes.
    pub real_ip_from: Vec<String>,
    /// The rules' `client_ip_header` (`X-Forwarded-For` when empty).
    pub real_ip_header: String,
    /// `tollgate_zone`'s size (default `4m`).
    pub zone_size: Option<String>,
    /// No `tollgate_secret_file`: the master gets the test key in `$TOLLGATE_SECRET` instead.
    pub secret_from_env: bool,
    /// A second server on this port over TLS and HTTP/2 (a generated localhost certificate),
    /// with tollgate on and the same upstream.
    pub tls_port: Option<u16>,
}

pub struct Nginx {
    pub proc: Guard,
    pub listen: SocketAddr,
    pub dir: PathBuf,
    pub rules_path: PathBuf,
    build: NginxBuild,
    upstream: SocketAddr,
}

impl Nginx {
    /// Writes `rules` to `dir/rules.toml` and starts nginx in front of `upstream`.
    pub fn start(build: &NginxBuild, dir: &Path, rules: &str, upstream: SocketAddr) -> Self {
        let (real_ip_from, real_ip_header) = trusted_proxies(rules);
        let conf = NginxConf {
            real_ip_from,
            real_ip_header,
            ..NginxConf::default()
        };
        Self::start_conf(build, dir, rules, upstream, &conf)
    }

    pub fn start_conf(
        build: &NginxBuild,
        dir: &Path,
        rules: &str,
        upstream: SocketAddr,
        conf: &NginxConf,
    ) -> Self {
        let rules_path = dir.join("rules.toml");
        fs::write(&rules_path, rules).unwrap_or_else(|e| panic!("writing rules: {e}"));
        let key = format!("current = \"{}\"\n", crate::TEST_SECRET_HEX);
        fs::write(dir.join("secret.key"), key).unwrap_or_else(|e| panic!("writing key: {e}"));
        fs::create_dir_all(dir.join("logs")).unwrap_or_else(|e| panic!("logs dir: {e}"));
        let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let text = conf_text(build, dir, listen, upstream, conf);
        fs::write(dir.join("nginx.conf"), text).unwrap_or_else(|e| panic!("writing conf: {e}"));
        let mut cmd = Command::new(&build.nginx);
        cmd.arg("-p").arg(dir).arg("-c").arg(dir.join("nginx.conf"));
        match conf.secret_from_env {
            true => cmd.env("TOLLGATE_SECRET", crate::TEST_SECRET_HEX),
            false => cmd.env_remove("TOLLGATE_SECRET"),
        };
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let proc = Guard::spawn(&mut cmd).unwrap_or_else(|e| panic!("spawning nginx: {e}"));
        let n = Self {
            proc,
            listen,
            dir: dir.to_path_buf(),
            rules_path,
            build: build.clone(),
            upstream,
        };
        let up = wait_listening(listen, Duration::from_secs(20));
        assert!(up, "nginx did not start; error log:\n{}", n.log());
        n
    }

    /// nginx's error log (tollgate's notices and refusals are in it).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("logs/error.log")).unwrap_or_default()
    }

    fn control(&self, args: &[&str]) -> Output {
        Command::new(&self.build.nginx)
            .arg("-p")
            .arg(&self.dir)
            .arg("-c")
            .arg(self.dir.join("nginx.conf"))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running nginx {args:?}: {e}"))
    }

    /// Rewrites `nginx.conf` from `conf` (same listener and upstream), for a reload to read.
    pub fn rewrite_conf(&self, conf: &NginxConf) {
        let text = conf_text(&self.build, &self.dir, self.listen, self.upstream, conf);
        fs::write(self.dir.join("nginx.conf"), text).unwrap_or_else(|e| panic!("conf: {e}"));
    }

    /// `nginx -t` on the current files.
    pub fn test_config(&self) -> Output {
        self.control(&["-t"])
    }

    /// Signals the master to reload (what `nginx -s reload` sends, without that command's own
    /// pre-check, so the master's handling of a bad file is what is tested), then waits until
    /// it has logged the outcome: `true` when the new configuration took, `false` when refused.
    pub fn reload(&self) -> bool {
        let before = self.log().len();
        let old_workers = children(self.proc.child.id());
        assert!(self.proc.signal("HUP"), "signalling the nginx master");
        let mut took = None;
        let logged = eventually(Duration::from_secs(10), || {
            let log = self.log();
            let new = &log[before.min(log.len())..];
            if new.contains("[emerg]") {
                took = Some(false);
            } else if new.contains("start worker process") {
                took = Some(true);
            }
            took.is_some()
        });
        assert!(logged, "reload logged nothing:\n{}", self.log());
        if took == Some(true) {
            // Old workers finish their requests and exit. Until one has, a connection the
            // kernel queued on its listener may be reset (CI saw it): wait them out.
            let gone = eventually(Duration::from_secs(10), || {
                !old_workers.iter().any(|&p| alive(p))
            });
            assert!(
                gone,
                "old workers {old_workers:?} still running:\n{}",
                self.log()
            );
        }
        // Give the new workers their listeners.
        std::thread::sleep(Duration::from_millis(300));
        took.unwrap_or(false)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The master stops its workers on TERM; a kill would orphan them on the port.
        self.proc.signal("TERM");
        self.proc.wait_exit(Duration::from_secs(5));
    }
}

/// The rules' `[clients] trusted_proxies`: the test configuration trusts them via realip too,
/// and realip reads the rules' `client_ip_header` (default `X-Forwarded-For`), as an operator
/// would configure nginx in front of the module.
pub fn trusted_proxies(rules: &str) -> (Vec<String>, String) {
    let doc = rules.parse::<toml::Table>().unwrap_or_default();
    let clients = doc.get("clients");
    let nets = clients
        .and_then(|c| c.get("trusted_proxies"))
        .and_then(|t| t.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let header = clients
        .and_then(|c| c.get("client_ip_header"))
        .and_then(|h| h.as_str())
        .unwrap_or("X-Forwarded-For");
    (nets, header.to_string())
}

fn conf_text(
    build: &NginxBuild,
    dir: &Path,
    listen: SocketAddr,
    upstream: SocketAddr,
    conf: &NginxConf,
) -> String {
    let d = dir.display();
    let realip: String = conf
        .real_ip_from
        .iter()
        .map(|n| format!("  set_real_ip_from {n};\n"))
        .chain(
            (!conf.real_ip_from.is_empty())
                .then(|| format!("  real_ip_header {};\n", conf.real_ip_header)),
        )
        .collect();
    format!(
        "load_module {module};
daemon off;
worker_processes 2;
error_log {d}/logs/error.log info;
pid {d}/logs/nginx.pid;
worker_shutdown_timeout 2s;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}/logs/body; proxy_temp_path {d}/logs/proxy;
  fastcgi_temp_path {d}/logs/fastcgi; uwsgi_temp_path {d}/logs/uwsgi; scgi_temp_path {d}/logs/scgi;
  tollgate_rules {d}/rules.toml;
{secret}  tollgate_zone tollgate {zone};
{realip}{http_extra}
  upstream backend {{ server {upstream}; keepalive 16; }}
{tls}
  server {{
    listen {listen} reuseport;
    tollgate on;
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }}
{extra}
  }}
}}
",
        module = build.module.display(),
        extra = conf.server_extra,
        http_extra = conf.http_extra,
        zone = conf.zone_size.as_deref().unwrap_or("4m"),
        tls = conf
            .tls_port
            .map_or(String::new(), |port| tls_server(build, dir, port)),
        secret = match conf.secret_from_env {
            true => String::new(),
            false => format!("  tollgate_secret_file {d}/secret.key;\n"),
        },
    )
}

/// A clearance for `ip` and `ua` minted by `tollgate token` (the proxy built beside the test)
/// with the test key: what a browser that paid would hold, for the module to check.
pub fn minted(rules: &Path, ip: &str, ua: &str) -> String {
    let bin = profile_dir().join("tollgate");
    assert_fresh(&bin, "tollgate-proxy");
    crate::process::stdout_of(
        Command::new(&bin)
            .args(["token", "--ip", ip, "--user-agent", ua, "--rules"])
            .arg(rules)
            .env("TOLLGATE_SECRET", crate::TEST_SECRET_HEX)
            .env_remove("TOLLGATE_SECRET_FILE"),
    )
}

/// The cargo profile directory the running test binary was built in (`target/debug`), where the
/// module and the proxy binary are.
pub fn profile_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current exe: {e}"));
    let profile = exe.parent().and_then(Path::parent);
    let profile = profile.unwrap_or_else(|| panic!("{} has no profile dir", exe.display()));
    profile.to_path_buf()
}

/// A TLS + HTTP/2 server block on `port`, with a self-signed localhost certificate in `dir`.
/// (nginx before 1.25.1 turns HTTP/2 on as a `listen` parameter.)
fn tls_server(build: &NginxBuild, dir: &Path, port: u16) -> String {
    // The openssl command (not a crate: a new dependency here would rebuild nginx-sys for the
    // tests apart from the module under test).
    let (crt, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .unwrap_or_else(|e| panic!("running openssl: {e}"));
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let http2 = match build.version >= 1_025_001 {
        true => "ssl;\n    http2 on;",
        false => "ssl http2;",
    };
    format!(
        "  server {{
    listen 127.0.0.1:{port} {http2}
    ssl_certificate {};
    ssl_certificate_key {};
    tollgate on;
    location / {{ proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}
  }}
",
        crt.display(),
        key.display()
    )
}
