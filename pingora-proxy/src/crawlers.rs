//! Forward-confirmed reverse DNS for the core's crawler lookups, on hickory-resolver: the PTR
//! names of the address, then the A/AAAA of those in the crawler's domains (the core says which,
//! and whether the answer proves the claim).
//!
//! A lookup never holds up anything but its own request: it runs on the request's task, under
//! the lookup's deadline; concurrent requests from one address share one lookup; and at most
//! [`MAX_IN_FLIGHT`] addresses are looked up at once (past it a claim is "unknown", so a
//! spray of fake crawlers costs the resolver a bounded rate, not a queue).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use hickory_resolver::config::{NameServerConfigGroup, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::{ResolveError, TokioResolver};
use tokio::sync::OnceCell;
use tollgate_core::CrawlerLookup;

/// Addresses looked up at once, at most.
pub const MAX_IN_FLIGHT: usize = 1024;
/// Answers hickory keeps itself (the core's verdict cache is the one that matters).
const RESOLVER_CACHE: usize = 1024;

type Flight = Arc<OnceCell<Option<bool>>>;

/// The resolver, rebuilt when the configured server changes.
pub struct CrawlerDns {
    /// `--resolver`, which wins over the rules' `[crawlers] resolver`.
    forced: Option<SocketAddr>,
    current: ArcSwap<(Option<SocketAddr>, TokioResolver)>,
    /// By address and claimed crawler: one address's claims to two crawlers are two lookups.
    in_flight: Mutex<HashMap<(IpAddr, String), Flight>>,
}

impl CrawlerDns {
    /// A resolver asking `forced` (the command line), else `configured` (the rules), else the
    /// system's (`/etc/resolv.conf`).
    pub fn new(forced: Option<SocketAddr>, configured: Option<SocketAddr>) -> anyhow::Result<Self> {
        let server = forced.or(configured);
        Ok(Self {
            forced,
            current: ArcSwap::from_pointee((server, resolver(server)?)),
            in_flight: Mutex::default(),
        })
    }

    /// Whether `lookup` proves its claim (`None`: it could not tell in time). `configured` is
    /// the rules' resolver now (it may have changed with a reload).
    pub async fn check(
        &self,
        lookup: &CrawlerLookup,
        configured: Option<SocketAddr>,
    ) -> Option<bool> {
        let resolver = self.resolver_for(self.forced.or(configured))?;
        let id = (lookup.ip(), lookup.crawler().to_string());
        let flight = {
            let mut map = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if map.len() >= MAX_IN_FLIGHT && !map.contains_key(&id) {
                // Lookups whose every request went away before the answer: nobody holds them.
                map.retain(|_, f| Arc::strong_count(f) > 1);
                if map.len() >= MAX_IN_FLIGHT {
                    return None;
                }
            }
            map.entry(id.clone()).or_default().clone()
        };
        let deadline = lookup.timeout();
        let outcome = *flight
            .get_or_init(|| async {
                tokio::time::timeout(deadline, fcrdns(&resolver, lookup))
                    .await
                    .unwrap_or(None)
            })
            .await;
        let mut map = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map.get(&id).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
            map.remove(&id);
        }
        outcome
    }

    fn resolver_for(&self, server: Option<SocketAddr>) -> Option<TokioResolver> {
        let now = self.current.load();
        if now.0 == server {
            return Some(now.1.clone());
        }
        match resolver(server) {
            Ok(r) => {
                tracing::info!(resolver = ?server, "crawler lookups use a new resolver");
                self.current.store(Arc::new((server, r.clone())));
                Some(r)
            }
            Err(e) => {
                tracing::warn!(error = %e, "crawler resolver not changed");
                Some(now.1.clone())
            }
        }
    }
}

impl std::fmt::Debug for CrawlerDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrawlerDns").finish_non_exhaustive()
    }
}

/// PTR, then forward: `Some(true)` proved, `Some(false)` disproved, `None` the DNS failed.
async fn fcrdns(resolver: &TokioResolver, lookup: &CrawlerLookup) -> Option<bool> {
    let names: Vec<String> = match resolver.reverse_lookup(lookup.ip()).await {
        Ok(ptr) => ptr.iter().map(|n| n.to_string()).collect(),
        Err(e) => return absent(&e),
    };
    for name in lookup.candidates(names.iter().map(String::as_str)) {
        match resolver.lookup_ip(format!("{name}.")).await {
            Ok(ips) if lookup.confirmed_by(&ips.iter().collect::<Vec<_>>()) => return Some(true),
            Ok(_) => {}
            Err(e) => {
                absent(&e)?;
            }
        }
    }
    Some(false)
}

/// A name with no such records disproves the claim; any other failure decides nothing.
fn absent(e: &ResolveError) -> Option<bool> {
    (e.is_nx_domain() || e.is_no_records_found()).then_some(false)
}

fn resolver(server: Option<SocketAddr>) -> anyhow::Result<TokioResolver> {
    let provider = TokioConnectionProvider::default();
    let mut builder = match server {
        Some(addr) => {
            let group = NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
            let config = ResolverConfig::from_parts(None, vec![], group);
            TokioResolver::builder_with_config(config, provider)
        }
        None => TokioResolver::builder(provider).map_err(|e| {
            anyhow::anyhow!("reading the system's resolver (/etc/resolv.conf): {e}")
        })?,
    };
    let opts: &mut ResolverOpts = builder.options_mut();
    opts.cache_size = RESOLVER_CACHE;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.attempts = 1;
    Ok(builder.build())
}
