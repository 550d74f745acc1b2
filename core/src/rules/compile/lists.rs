//! `[clients]` and `[lists]`: trusted proxies, client keys, allow and deny lists (inline and in
//! list files, whose errors point into the list file itself).

use std::path::PathBuf;

use toml::Spanned;

use super::Ctx;
use crate::request::cidr::{parse_net, CidrSet};
use crate::request::IpHeader;
use crate::rules::defaults;
use crate::rules::error::ConfigError;
use crate::rules::raw::{RawClients, RawLists};
use crate::rules::ClientSettings;

const CLIENTS: &str = "[clients]";

impl Ctx<'_, '_> {
    pub(super) fn clients(&mut self, raw: &RawClients) -> ClientSettings {
        let RawClients {
            trusted_proxies,
            client_ip_header,
            ipv4_prefix_len,
            ipv6_prefix_len,
            max_tracked_keys,
        } = raw;
        let nets = trusted_proxies
            .iter()
            .filter_map(|s| self.net(s, "[clients] trusted_proxies"));
        let trusted_proxies = CidrSet::new(nets.collect::<Vec<_>>());
        let v4 = self.int(
            CLIENTS,
            ipv4_prefix_len.as_ref(),
            &defaults::IPV4_PREFIX_LEN,
        );
        let v6 = self.int(
            CLIENTS,
            ipv6_prefix_len.as_ref(),
            &defaults::IPV6_PREFIX_LEN,
        );
        let keys = self.int(
            CLIENTS,
            max_tracked_keys.as_ref(),
            &defaults::MAX_TRACKED_KEYS,
        );
        let ip_header = self.ip_header(client_ip_header.as_ref());
        ClientSettings {
            trusted_proxies,
            ip_header_name: (ip_header != IpHeader::ForwardedFor).then(|| ip_header.name().into()),
            ip_header,
            ipv4_prefix_len: v4 as u8,
            ipv6_prefix_len: v6 as u8,
            max_tracked_keys: keys as usize,
        }
    }

    pub(super) fn net(&mut self, s: &Spanned<String>, what: &str) -> Option<ipnet::IpNet> {
        match parse_net(s.get_ref()) {
            Ok(n) => Some(n),
            Err(msg) => {
                self.errs.at(s.span(), Some(what), msg);
                None
            }
        }
    }

    pub(super) fn list(&mut self, raw: &RawLists, allow: bool) -> CidrSet {
        let RawLists {
            allow: allow_inline,
            deny: deny_inline,
            allow_files,
            deny_files,
        } = raw;
        let (inline, files, what) = if allow {
            (allow_inline, allow_files, "[lists] allow")
        } else {
            (deny_inline, deny_files, "[lists] deny")
        };
        let mut nets: Vec<ipnet::IpNet> = inline.iter().filter_map(|s| self.net(s, what)).collect();
        for f in files {
            self.list_file(f, &mut nets);
        }
        CidrSet::new(nets)
    }

    /// One network per line; `#` starts a comment.
    pub(super) fn list_file(&mut self, f: &Spanned<String>, nets: &mut Vec<ipnet::IpNet>) {
        let path = self.base_dir.join(f.get_ref());
        let text = match self.reader.read(&path) {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("cannot read list file {}: {e}", path.display());
                self.errs.at(f.span(), Some("[lists]"), msg);
                return;
            }
        };
        let name = path.display().to_string();
        for (i, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            match parse_net(entry) {
                Ok(n) => nets.push(n),
                Err(message) => self.list_errors.push(ConfigError {
                    file: name.clone(),
                    line: i + 1,
                    column: line
                        .find(entry)
                        .map_or(1, |c| line[..c].chars().count() + 1),
                    rule: None,
                    message,
                }),
            }
        }
    }

    pub(super) fn list_paths(&self, raw: &RawLists) -> Vec<PathBuf> {
        let files = raw.allow_files.iter().chain(&raw.deny_files);
        files.map(|f| self.base_dir.join(f.get_ref())).collect()
    }

    /// `client_ip_header`: a header name (RFC 9110 token characters).
    fn ip_header(&mut self, raw: Option<&Spanned<String>>) -> IpHeader {
        let Some(raw) = raw else {
            return IpHeader::ForwardedFor;
        };
        let name = raw.get_ref();
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            let msg = format!("client_ip_header {name:?} is not a header name (e.g. \"X-Forwarded-For\", \"X-Real-IP\", \"Forwarded\")");
            self.errs.at(raw.span(), Some(CLIENTS), msg);
        }
        IpHeader::from_name(name)
    }
}
