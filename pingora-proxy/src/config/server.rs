//! The `[server]` section: listeners, upstreams, the state directory and TLS. Certificate files
//! are read and checked to hold PEM at load time, so `tollgate check` catches a wrong path
//! before a restart.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

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
    /// Accept prior-knowledge HTTP/2 in clear text on `listen`.
    pub h2c: bool,
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
    tls_cert: Option<Spanned<String>>,
    tls_key: Option<Spanned<String>>,
    tls_self_signed: Option<Spanned<bool>>,
    h2c: Option<bool>,
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
            tls_cert: _,
            tls_key: _,
            tls_self_signed: _,
            h2c,
        } = raw;
        ServerSettings {
            listen: self.addr(listen.as_ref(), DEFAULT_LISTEN, "[server] listen"),
            admin: self.addr(admin.as_ref(), DEFAULT_ADMIN, "[server] admin"),
            upstreams: upstreams
                .iter()
                .filter_map(|u| self.socket_addr(u, "[server] upstreams"))
                .collect(),
            state_dir: PathBuf::from(state_dir.as_deref().unwrap_or(DEFAULT_STATE_DIR)),
            tls,
            h2c: h2c.unwrap_or(false),
        }
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
        let base = self.file.parent().unwrap_or(Path::new(""));
        let full = base.join(path.get_ref());
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
