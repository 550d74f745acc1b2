//! The `[server]` TLS listener: certificate files are read (through the front end's reader) and
//! checked to hold PEM at load time, so `tollgate check` catches a wrong path before a restart.

use super::compile::Ctx;
use super::raw::RawServer;
use super::{TlsCert, TlsListener};

impl Ctx<'_, '_> {
    pub(super) fn tls(&mut self, raw: &RawServer) -> Option<TlsListener> {
        let what = Some("[server]");
        let self_signed = raw.tls_self_signed.as_ref();
        let listen = match &raw.tls_listen {
            Some(l) => self.socket_addr(l, "[server] tls_listen")?,
            None => {
                let stray = [&raw.tls_cert, &raw.tls_key].into_iter().flatten().next();
                if let Some(s) = stray {
                    let msg = "tls_cert and tls_key need tls_listen";
                    self.errs.at(s.span(), what, msg);
                }
                return None;
            }
        };
        let cert = match (&raw.tls_cert, &raw.tls_key) {
            (Some(c), Some(k)) => {
                if let Some(s) = self_signed.filter(|s| *s.get_ref()) {
                    let msg = "tls_self_signed = true conflicts with tls_cert/tls_key";
                    self.errs.at(s.span(), what, msg);
                }
                let cert = self.pem(c, "CERTIFICATE");
                let key = self.pem(k, "PRIVATE KEY");
                TlsCert::Files { cert, key }
            }
            (None, None) if self_signed.is_some_and(|s| *s.get_ref()) => TlsCert::SelfSigned,
            (Some(one), None) | (None, Some(one)) => {
                self.errs
                    .at(one.span(), what, "set both tls_cert and tls_key");
                TlsCert::SelfSigned
            }
            (None, None) => {
                let msg = "tls_listen needs tls_cert and tls_key, or tls_self_signed = true (development only)";
                self.errs.at(raw.tls_listen.as_ref()?.span(), what, msg);
                TlsCert::SelfSigned
            }
        };
        Some(TlsListener { listen, cert })
    }

    /// The path of a PEM file, relative to the rules file, checked to contain a `label` block.
    fn pem(&mut self, path: &toml::Spanned<String>, label: &str) -> std::path::PathBuf {
        let full = self.base_dir.join(path.get_ref());
        let problem = match self.reader.read(&full) {
            Err(e) => Some(format!("cannot read {}: {e}", full.display())),
            Ok(text) if !text.contains("-----BEGIN") || !text.contains(label) => {
                Some(format!("{} holds no PEM {label} block", full.display()))
            }
            Ok(_) => None,
        };
        if let Some(msg) = problem {
            self.errs.at(path.span(), Some("[server]"), msg);
        }
        full
    }
}
