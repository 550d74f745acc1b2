//! Who may talk to the admin listener, so that a loopback port is not an open door.
//!
//! Two checks, both before any route runs:
//! - **Host.** A browser tricked by DNS rebinding sends the attacker's name in `Host`. Only
//!   `localhost`, IP literals (the admin listener's own address or any loopback one) and the
//!   configured `admin_hosts` are served; anything else gets 421.
//! - **Bearer token** on every mutating route (`DELETE /bans/…`, `POST /reload`). A cross-site
//!   form cannot set `Authorization`. The token lives in a 0600 file, `state_dir/admin.token`
//!   unless configured, created on first run; it is compared in constant time.

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use http::{Method, Response};
use pingora::http::RequestHeader;
use subtle::ConstantTimeEq;
use tollgate_core::host_without_port;

use super::text;

/// The admin listener's gatekeeper, built once at start.
pub struct Access {
    listen: SocketAddr,
    hosts: Vec<String>,
    token: String,
}

impl Access {
    /// Loads (or creates) the token file and remembers the accepted Host names.
    pub fn load(
        listen: SocketAddr,
        hosts: &[String],
        token_file: Option<&Path>,
        state_dir: &Path,
    ) -> anyhow::Result<(Self, PathBuf)> {
        let file = token_file.map_or_else(|| default_file(state_dir), Path::to_path_buf);
        let token = read_or_create(&file, token_file.is_none())?;
        let hosts = hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
        Ok((
            Self {
                listen,
                hosts,
                token,
            },
            file,
        ))
    }

    /// The refusal to send instead of running the route, if any.
    pub fn refusal(&self, req: &RequestHeader) -> Option<Response<Vec<u8>>> {
        if !self.host_allowed(host_of(req)) {
            return Some(text(
                421,
                "misdirected request: this Host is not the admin listener\n",
            ));
        }
        if mutating(&req.method) && !self.bearer_ok(req) {
            let mut refusal = text(
                401,
                "this endpoint needs Authorization: Bearer <admin token>\n",
            );
            refusal.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer realm=\"tollgate admin\""),
            );
            return Some(refusal);
        }
        None
    }

    fn host_allowed(&self, host: Option<&str>) -> bool {
        let Some(name) = host.map(host_without_port).map(str::to_ascii_lowercase) else {
            return false;
        };
        if name == "localhost" || self.hosts.contains(&name) {
            return true;
        }
        let literal = name.trim_start_matches('[').trim_end_matches(']');
        literal
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip == self.listen.ip())
    }

    fn bearer_ok(&self, req: &RequestHeader) -> bool {
        let given = req
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(self.token.as_bytes())))
    }
}

fn mutating(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD)
}

/// `Host` of HTTP/1.1, or the authority of an absolute target.
fn host_of(req: &RequestHeader) -> Option<&str> {
    req.headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri.authority().map(|a| a.as_str()))
}

/// Where the token is kept when none is configured.
pub fn default_file(state_dir: &Path) -> PathBuf {
    state_dir.join("admin.token")
}

fn read_or_create(file: &Path, create: bool) -> anyhow::Result<String> {
    if create && !file.exists() {
        let token = hex::encode(crate::secrets::random_key()?);
        crate::secrets::write_new(file, &format!("{token}\n"))?;
        tracing::info!(file = %file.display(), "generated the admin token");
    }
    let token = fs::read_to_string(file)
        .with_context(|| format!("reading admin token {}", file.display()))?;
    let token = token.trim().to_string();
    anyhow::ensure!(
        token.len() >= 16,
        "admin token {} is shorter than 16 characters",
        file.display()
    );
    Ok(token)
}
