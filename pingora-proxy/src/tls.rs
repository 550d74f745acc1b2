//! The TLS listener: the operator's certificate, or a self-signed one for development.
//!
//! ALPN offers h2 and http/1.1, so the HTTP version a client picks is observable (browsers pick
//! h2; most scripts and copied header sets stay on HTTP/1.1). The development certificate is
//! generated once into the state directory (key file mode 0600) and reused, so a browser
//! exception survives restarts.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::config::{TlsCert, TlsListener};
use anyhow::Context;
use pingora::listeners::tls::TlsSettings;

/// Names the development certificate is valid for.
const DEV_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Listener settings for `listener`; a generated certificate lives in `state_dir`.
pub fn settings(listener: &TlsListener, state_dir: &Path) -> anyhow::Result<TlsSettings> {
    let (cert, key) = match &listener.cert {
        TlsCert::Files { cert, key } => (cert.clone(), key.clone()),
        TlsCert::SelfSigned => self_signed(state_dir)?,
    };
    let text = |p: &Path| {
        p.to_str()
            .map(str::to_owned)
            .context("non-UTF-8 certificate path")
    };
    let mut s = TlsSettings::intermediate(&text(&cert)?, &text(&key)?)
        .map_err(|e| anyhow::anyhow!("loading TLS certificate {}: {e}", cert.display()))?;
    s.enable_h2();
    Ok(s)
}

/// The development certificate and key in `state_dir`, generated if absent.
pub fn self_signed(state_dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let cert = state_dir.join("dev-cert.pem");
    let key = state_dir.join("dev-key.pem");
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let names = DEV_NAMES.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let generated = rcgen::generate_simple_self_signed(names)
        .context("generating a self-signed certificate")?;
    write_private(&key, generated.key_pair.serialize_pem().as_bytes())?;
    fs::write(&cert, generated.cert.pem())
        .with_context(|| format!("writing {}", cert.display()))?;
    tracing::warn!(cert = %cert.display(), "serving TLS with a generated self-signed certificate: development only");
    Ok((cert, key))
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}
