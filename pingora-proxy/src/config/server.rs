//! The `[server]` section: listeners, upstreams, the state directory and TLS. Certificate files
//! are read and checked to hold PEM at load time, so `tollgate check` catches a wrong path
//! before a restart.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tollgate_core::{line_col, ConfigError, SourceReader};
use toml::Spanned;

const SECTION: &str = "[server]";
const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(LOCALHOST), 8080);
const DEFAULT_ADMIN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(LOCALHOST), 9180);
const LOCALHOST: std::net::Ipv4Addr = std::net::Ipv4Addr::LOCALHOST;
const DEFAULT_STATE_DIR: &str = "tollgate-state";

/// Listener and upstream settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    /// Empty: serve the built-in demo backend.
    pub upstreams: Vec<SocketAddr>,
    pub state_dir: PathBuf,
    /// A TLS listener (ALPN h2 and http/1.1), if configured.
    pub tls: Option<TlsListener>,
    /// The forward-auth listener (`auth_listen`), if configured: answers nginx `auth_request`,
    /// Caddy `forward_auth` and Traefik `forwardAuth`, and the `/.tollgate/` paths they route.
    pub auth_listen: Option<SocketAddr>,
    /// Accept prior-knowledge HTTP/2 in clear text on `listen`.
    pub h2c: bool,
    /// Host names the admin listener answers besides `localhost` and IP literals.
    pub admin_hosts: Vec<String>,
    /// The admin bearer token's file; `None`: `state_dir/admin.token`, created on first run.
    pub admin_token_file: Option<PathBuf>,
    /// How long proxying may wait on an upstream.
    pub timeouts: UpstreamTimeouts,
}

/// Upstream deadlines. Defaults follow nginx's `proxy_*_timeout`, with a shorter connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpstreamTimeouts {
    /// TCP connect (`upstream_connect_timeout_secs`, 5).
    pub connect: Duration,
    /// Longest silence while reading the response (`upstream_read_timeout_secs`, 60).
    pub read: Duration,
    /// Longest stall while sending the request (`upstream_write_timeout_secs`, 60).
    pub write: Duration,
    /// The whole exchange, request sent to last response byte (`upstream_total_timeout_secs`,
    /// 300): a trickling upstream is cut off too.
    pub total: Duration,
    /// How long an upstream that refused a connection is passed over for its siblings
    /// (`upstream_down_secs`, 10).
    pub down: Duration,
}

impl Default for UpstreamTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            read: Duration::from_secs(60),
            write: Duration::from_secs(60),
            total: Duration::from_secs(300),
            down: Duration::from_secs(10),
        }
    }
}

/// Where TLS is served and with which certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsListener {
    pub listen: SocketAddr,
    pub cert: TlsCert,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsCert {
    /// PEM files: the certificate chain and its private key.
    Files { cert: PathBuf, key: PathBuf },
    /// Development only: a self-signed certificate generated at start.
    SelfSigned,
}

/// The file as this module sees it: only `[server]`; the other sections are the core's.
#[derive(Deserialize, Default)]
struct RawFile {
    #[serde(default)]
    server: RawServer,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Spanned<String>>,
    admin: Option<Spanned<String>>,
    #[serde(default)]
    upstreams: Vec<Spanned<String>>,
    state_dir: Option<String>,
    tls_listen: Option<Spanned<String>>,
    auth_listen: Option<Spanned<String>>,
    tls_cert: Option<Spanned<String>>,
    tls_key: Option<Spanned<String>>,
    tls_self_signed: Option<Spanned<bool>>,
    h2c: Option<bool>,
    #[serde(default)]
    admin_hosts: Vec<Spanned<String>>,
    admin_token_file: Option<String>,
    upstream_connect_timeout_secs: Option<Spanned<f64>>,
    upstream_read_timeout_secs: Option<Spanned<f64>>,
    upstream_write_timeout_secs: Option<Spanned<f64>>,
    upstream_total_timeout_secs: Option<Spanned<f64>>,
    upstream_down_secs: Option<Spanned<f64>>,
}

/// Parses `[server]` of rules `text` read from `file`; list every problem.
pub fn parse(
    text: &str,
    file: &Path,
    reader: &dyn SourceReader,
) -> Result<ServerSettings, Vec<ConfigError>> {
    let mut ctx = Ctx {
        file,
        text,
        reader,
        errors: Vec::new(),
    };
    let raw: RawFile = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            // The core reports syntax errors too; the caller keeps one of each.
            let msg = e.message().trim().lines().collect::<Vec<_>>().join("; ");
            ctx.error(e.span().unwrap_or(0..0), None, msg);
            return Err(ctx.errors);
        }
    };
    let settings = ctx.server(raw.server);
    if ctx.errors.is_empty() {
        Ok(settings)
    } else {
        Err(ctx.errors)
    }
}

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
    reader: &'a dyn SourceReader,
    errors: Vec<ConfigError>,
}

impl Ctx<'_> {
    fn server(&mut self, raw: RawServer) -> ServerSettings {
        let tls = self.tls(&raw);
        let RawServer {
            listen,
            admin,
            upstreams,
            state_dir,
            tls_listen: _, // read by `tls`
            auth_listen,
            tls_cert: _,
            tls_key: _,
            tls_self_signed: _,
            h2c,
            admin_hosts,
            admin_token_file,
            upstream_connect_timeout_secs: connect,
            upstream_read_timeout_secs: read,
            upstream_write_timeout_secs: write,
            upstream_total_timeout_secs: total,
            upstream_down_secs: down,
        } = raw;
        let d = UpstreamTimeouts::default();
        let timeouts = UpstreamTimeouts {
            connect: self.secs(connect, d.connect, "upstream_connect_timeout_secs"),
            read: self.secs(read, d.read, "upstream_read_timeout_secs"),
            write: self.secs(write, d.write, "upstream_write_timeout_secs"),
            total: self.secs(total, d.total, "upstream_total_timeout_secs"),
            down: self.secs(down, d.down, "upstream_down_secs"),
        };
        ServerSettings {
            listen: self.addr(listen.as_ref(), DEFAULT_LISTEN, "[server] listen"),
            admin: self.addr(admin.as_ref(), DEFAULT_ADMIN, "[server] admin"),
            upstreams: upstreams
                .iter()
                .filter_map(|u| self.socket_addr(u, "[server] upstreams"))
                .collect(),
            state_dir: PathBuf::from(state_dir.as_deref().unwrap_or(DEFAULT_STATE_DIR)),
            tls,
            auth_listen: auth_listen
                .as_ref()
                .and_then(|a| self.socket_addr(a, "[server] auth_listen")),
            h2c: h2c.unwrap_or(false),
            admin_hosts: admin_hosts
                .iter()
                .filter_map(|h| self.host_name(h))
                .collect(),
            admin_token_file: admin_token_file.map(|f| self.relative(&f)),
            timeouts,
        }
    }

    /// A duration in seconds (fractions allowed), above 0 and at most a day.
    fn secs(&mut self, raw: Option<Spanned<f64>>, default: Duration, key: &str) -> Duration {
        let Some(raw) = raw else { return default };
        let v = *raw.get_ref();
        if v > 0.0 && v <= 86_400.0 {
            return Duration::from_secs_f64(v);
        }
        let msg = format!("{key} = {v}: expected seconds above 0 and at most 86400");
        self.error(raw.span(), Some(SECTION), msg);
        default
    }

    fn host_name(&mut self, raw: &Spanned<String>) -> Option<String> {
        let name = raw.get_ref();
        let ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !ok {
            let msg =
                format!("invalid host name {name:?}: letters, digits, '-' and '.' only, no port");
            self.error(raw.span(), Some("[server] admin_hosts"), msg);
        }
        ok.then(|| name.to_ascii_lowercase())
    }

    /// A path named in the rules file, relative to the file's directory.
    fn relative(&self, path: &str) -> PathBuf {
        self.file.parent().unwrap_or(Path::new("")).join(path)
    }

    fn error(&mut self, span: Range<usize>, rule: Option<&str>, message: impl Into<String>) {
        let (line, column) = line_col(self.text, span.start);
        self.errors.push(ConfigError {
            file: self.file.display().to_string(),
            line,
            column,
            rule: rule.map(str::to_string),
            message: message.into(),
        });
    }

    fn addr(
        &mut self,
        raw: Option<&Spanned<String>>,
        default: SocketAddr,
        what: &str,
    ) -> SocketAddr {
        match raw {
            Some(s) => self.socket_addr(s, what).unwrap_or(default),
            None => default,
        }
    }

    fn socket_addr(&mut self, s: &Spanned<String>, what: &str) -> Option<SocketAddr> {
        let parsed = s.get_ref().parse::<SocketAddr>();
        if parsed.is_err() {
            let msg = format!("invalid address {:?}: expected IP:PORT", s.get_ref());
            self.error(s.span(), Some(what), msg);
        }
        parsed.ok()
    }

    fn tls(&mut self, raw: &RawServer) -> Option<TlsListener> {
        let what = Some(SECTION);
        let self_signed = raw.tls_self_signed.as_ref();
        let Some(listen_raw) = &raw.tls_listen else {
            if let Some(s) = [&raw.tls_cert, &raw.tls_key].into_iter().flatten().next() {
                self.error(s.span(), what, "tls_cert and tls_key need tls_listen");
            }
            return None;
        };
        let listen = self.socket_addr(listen_raw, "[server] tls_listen")?;
        let cert = match (&raw.tls_cert, &raw.tls_key) {
            (Some(c), Some(k)) => {
                if let Some(s) = self_signed.filter(|s| *s.get_ref()) {
                    let msg = "tls_self_signed = true conflicts with tls_cert/tls_key";
                    self.error(s.span(), what, msg);
                }
                let cert = self.pem(c, "CERTIFICATE");
                let key = self.pem(k, "PRIVATE KEY");
                TlsCert::Files { cert, key }
            }
            (None, None) if self_signed.is_some_and(|s| *s.get_ref()) => TlsCert::SelfSigned,
            (Some(one), None) | (None, Some(one)) => {
                self.error(one.span(), what, "set both tls_cert and tls_key");
                TlsCert::SelfSigned
            }
            (None, None) => {
                let msg = "tls_listen needs tls_cert and tls_key, or tls_self_signed = true (development only)";
                self.error(listen_raw.span(), what, msg);
                TlsCert::SelfSigned
            }
        };
        Some(TlsListener { listen, cert })
    }

    /// The path of a PEM file, relative to the rules file, checked to contain a `label` block.
    fn pem(&mut self, path: &Spanned<String>, label: &str) -> PathBuf {
        let full = self.relative(path.get_ref());
        let problem = match self.reader.read(&full) {
            Err(e) => Some(format!("cannot read {}: {e}", full.display())),
            Ok(text) if !text.contains("-----BEGIN") || !text.contains(label) => {
                Some(format!("{} holds no PEM {label} block", full.display()))
            }
            Ok(_) => None,
        };
        if let Some(msg) = problem {
            self.error(path.span(), Some(SECTION), msg);
        }
        full
    }
}
