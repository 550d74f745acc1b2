//! `[crawlers]` and `[[crawler]]`: verified crawlers, defined in the rules file or in crawler
//! files it names (whose errors point into the crawler file itself).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use regex::{RegexBuilder, RegexSetBuilder};
use toml::Spanned;

use super::Ctx;
use crate::crawl::{Crawler, CrawlerRules, CrawlerSettings, MAX_CRAWLERS};
use crate::limit::Quota;
use crate::request::CidrSet;
use crate::rules::defaults;
use crate::rules::error::{one_line, Errors};
use crate::rules::raw::{RawCrawler, RawCrawlerFile, RawCrawlers, RawQuota};
use crate::rules::structure;

const SECTION: &str = "[crawlers]";
/// Largest compiled size of one user-agent pattern, and of all of them together.
const PATTERN_SIZE: usize = 1 << 20;

/// Definitions compiled so far, from every file.
#[derive(Default)]
struct Found {
    defs: Vec<Crawler>,
    agents: Vec<String>,
    /// A pattern failed to compile (and was reported): no set is built from the rest.
    broken: bool,
}

impl Ctx<'_, '_> {
    /// `None` when no crawler is defined or `enabled = false`. Files read are added to `read`.
    pub(super) fn crawlers(
        &mut self,
        raw: &RawCrawlers,
        inline: &[RawCrawler],
        read: &mut Vec<PathBuf>,
    ) -> Option<CrawlerRules> {
        let RawCrawlers {
            enabled,
            files,
            resolver,
            lookup_timeout_ms,
            verified_ttl_secs,
            unverified_ttl_secs,
            limit,
        } = raw;
        let fallback = RawQuota::default();
        let q = limit.as_ref().map_or(&fallback, |l| l.get_ref());
        let quota = self.quota(SECTION, q, defaults::CRAWLER_LIMIT);
        let mut found = Found::default();
        for c in inline {
            self.crawler(c, quota, &mut found, read);
        }
        for f in files {
            self.crawler_file(f, quota, &mut found, read);
        }
        let timeout = self.int(
            SECTION,
            lookup_timeout_ms.as_ref(),
            &defaults::LOOKUP_TIMEOUT_MS,
        );
        let settings = CrawlerSettings {
            lookup_timeout: Duration::from_millis(timeout as u64),
            verified_ttl_secs: self.int(
                SECTION,
                verified_ttl_secs.as_ref(),
                &defaults::VERIFIED_TTL_SECS,
            ) as u64,
            unverified_ttl_secs: self.int(
                SECTION,
                unverified_ttl_secs.as_ref(),
                &defaults::UNVERIFIED_TTL_SECS,
            ) as u64,
            resolver: resolver.as_ref().and_then(|r| self.resolver(r)),
        };
        if !enabled.unwrap_or(true) || found.defs.is_empty() || found.broken {
            return None;
        }
        let agents = RegexSetBuilder::new(&found.agents)
            .size_limit(PATTERN_SIZE * 4)
            .build();
        match agents {
            Ok(set) => Some(CrawlerRules::new(found.defs, set, settings)),
            Err(e) => {
                let msg = format!(
                    "the crawlers' user_agent patterns together: {}",
                    one_line(&e)
                );
                self.errs.at(0..0, Some(SECTION), msg);
                None
            }
        }
    }

    /// A crawler file: `[[crawler]]` tables only, relative paths from its own folder.
    fn crawler_file(
        &mut self,
        f: &Spanned<String>,
        quota: Quota,
        found: &mut Found,
        read: &mut Vec<PathBuf>,
    ) {
        let path = self.base_dir.join(f.get_ref());
        read.push(path.clone());
        let text = match self.reader.read(&path) {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("cannot read crawler file {}: {e}", path.display());
                self.errs.at(f.span(), Some(SECTION), msg);
                return;
            }
        };
        let name = path.display().to_string();
        let mut errs = Errors::new(&name, &text);
        if let Some(file) = structure::parse::<RawCrawlerFile>(&text, &mut errs) {
            let mut sub = Ctx {
                errs: &mut errs,
                reader: self.reader,
                base_dir: path.parent().map(PathBuf::from).unwrap_or_default(),
                list_errors: &mut *self.list_errors,
            };
            for c in &file.crawlers {
                sub.crawler(c, quota, found, read);
            }
        }
        self.list_errors.extend(errs.list);
    }

    fn crawler(
        &mut self,
        c: &RawCrawler,
        quota: Quota,
        found: &mut Found,
        read: &mut Vec<PathBuf>,
    ) {
        let RawCrawler {
            name,
            user_agent,
            rdns,
            networks,
            network_files,
            limit,
        } = c;
        let label = format!("crawler {:?}", name.get_ref());
        if name.get_ref().trim().is_empty() {
            self.errs.at(name.span(), None, "crawler name is empty");
        } else if found.defs.iter().any(|d| *d.name == **name.get_ref()) {
            self.errs
                .at(name.span(), Some(&label), "duplicate crawler name");
        }
        if found.defs.len() == MAX_CRAWLERS {
            let msg = format!("more than {MAX_CRAWLERS} crawlers");
            self.errs.at(name.span(), Some(&label), msg);
        }
        let built = RegexBuilder::new(user_agent.get_ref())
            .size_limit(PATTERN_SIZE)
            .build();
        if let Err(e) = built {
            found.broken = true;
            let msg = format!("invalid user_agent regex: {}", one_line(&e));
            self.errs.at(user_agent.span(), Some(&label), msg);
        }
        let suffixes: Vec<String> = rdns.iter().filter_map(|d| self.domain(d, &label)).collect();
        let mut nets: Vec<ipnet::IpNet> = networks
            .iter()
            .filter_map(|n| self.net(n, &label))
            .collect();
        for f in network_files {
            read.push(self.base_dir.join(f.get_ref()));
            self.list_file(f, &mut nets);
        }
        if rdns.is_empty() && networks.is_empty() && network_files.is_empty() {
            let msg = "a crawler needs rdns, networks or network_files to be verified by";
            self.errs.at(name.span(), Some(&label), msg);
        }
        let quota = match limit {
            Some(q) => self.quota(&label, q.get_ref(), defaults::CRAWLER_LIMIT),
            None => quota,
        };
        found.agents.push(user_agent.get_ref().clone());
        found.defs.push(Crawler {
            name: Arc::from(name.get_ref().as_str()),
            rdns: suffixes.into(),
            networks: CidrSet::new(nets),
            quota,
        });
    }

    /// A reverse-DNS domain: `googlebot.com` (a leading dot is allowed and dropped).
    fn domain(&mut self, d: &Spanned<String>, label: &str) -> Option<String> {
        let s = d.get_ref().trim_start_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if s.contains('.') && s.len() <= 253 && s.split('.').all(label_ok) {
            return Some(s);
        }
        let msg = format!(
            "rdns {:?} is not a domain name (e.g. \"googlebot.com\")",
            d.get_ref()
        );
        self.errs.at(d.span(), Some(label), msg);
        None
    }

    /// `resolver`: `IP:PORT`, or an IP (port 53).
    fn resolver(&mut self, r: &Spanned<String>) -> Option<SocketAddr> {
        let s = r.get_ref();
        let parsed = s
            .parse::<SocketAddr>()
            .ok()
            .or_else(|| Some(SocketAddr::new(s.parse::<IpAddr>().ok()?, 53)));
        if parsed.is_none() {
            let msg =
                format!("resolver {s:?} is not IP:PORT (e.g. \"127.0.0.1:53\", \"[::1]:53\")");
            self.errs.at(r.span(), Some(SECTION), msg);
        }
        parsed
    }
}
