//! Several instances as one: bans, offence history and one-time answers shared through Redis (or
//! Valkey), with redis-rs's tokio connection manager (it reconnects by itself and multiplexes
//! one connection for every request task).
//!
//! The hot path never waits on the store: bans are read from the engine's local table, which
//! the fleet keeps current (bans written through and pushed to every instance by pub/sub);
//! only `verify` claims its answer across the fleet, under a deadline. When the store is away
//! every instance goes on deciding alone ([`link`]) and catches up when it is back.
//!
//! Keys (a hash tag per client key or answer, so Redis Cluster spreads them, and every key
//! with a TTL): `{prefix}:{k<client key hex>}:ban` holds a ban record until its offence history
//! may be forgotten; `{prefix}:{a<serial hex>}:answer` a used answer until its challenge
//! expires; `{prefix}:{k<client key hex>}:rl:<limit name hex>` a limit's bucket, with exact limits
//! ([`meter`]). Channel `{prefix}:bans` carries each new ban.

mod bans;
mod counts;
mod link;
mod meter;

use std::sync::Arc;
use std::time::Duration;

use tollgate_core::{Claim, ClientKey, Decision, Engine};

use crate::config::FleetLimits;

pub use link::FleetMetrics;

use crate::config::FleetSettings;
use link::Link;

/// This instance's membership of a fleet.
pub struct Fleet {
    link: Arc<Link>,
    gcra: redis::Script,
    prefix: String,
    /// Bans an operator lifted here, for the background to lift fleet-wide.
    lifted: tokio::sync::mpsc::Sender<ClientKey>,
}

/// Lifted bans waiting for the background, at most.
const MAX_LIFTED: usize = 1_024;

impl Fleet {
    /// Joins the fleet `settings` names, with the store at `url`: from now on the engine's
    /// bans are published and other instances' applied, in the background, and answers are
    /// claimed. Connecting happens in the background too (and again after every outage).
    pub fn join(
        url: &str,
        settings: &FleetSettings,
        engine: Arc<Engine>,
        metrics: FleetMetrics,
    ) -> anyhow::Result<Self> {
        let client = match &settings.ca_pem {
            Some(ca) => {
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(ca.clone()),
                };
                redis::Client::build_with_tls(url, certs)?
            }
            None => redis::Client::open(url)?,
        };
        let link = Arc::new(Link::new(client.clone(), settings.deadline, metrics));
        engine.join_fleet();
        if settings.limits == FleetLimits::Exact {
            engine.meter_limits_in_fleet();
        }
        let prefix = settings.key_prefix.clone();
        let (lifted, lifts) = tokio::sync::mpsc::channel(MAX_LIFTED);
        let background = bans::Background {
            lifts: tokio::sync::Mutex::new(lifts),
            link: link.clone(),
            client,
            engine,
            prefix: prefix.clone(),
            instance: instance_name(),
        };
        std::thread::Builder::new()
            .name("tollgate-fleet".into())
            .spawn(move || background.run())?;
        Ok(Self {
            link,
            gcra: meter::gcra(),
            prefix,
            lifted,
        })
    }

    /// Lifts the bans on `keys` across the fleet (their keys deleted, every instance told), in
    /// the background; when the store is away, or the queue full, only here.
    pub fn unban(&self, keys: Vec<ClientKey>) {
        for k in keys {
            if self.lifted.try_send(k).is_err() {
                tracing::warn!("fleet: lifted ban not shared (queue full or fleet stopped)");
            }
        }
    }

    /// The decision for a first answer: claimed once across the fleet (an atomic SET NX that
    /// expires with the challenge). Within the deadline or not at all: then this instance's
    /// own replay memory decides.
    pub async fn settle(&self, engine: &Engine, claim: &Claim) -> Decision {
        let now = engine.clock().now_ns() / tollgate_core::NS_PER_SEC;
        let key = format!("{}:{{a{}}}:answer", self.prefix, claim.id_hex());
        let mut cmd = redis::cmd("SET");
        cmd.arg(&key)
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(claim.ttl_secs(now));
        let first = self
            .link
            .call::<Option<String>>(cmd)
            .await
            .map(|reply| reply.is_some());
        self.link.metrics.claim(first);
        engine.claimed(claim, first)
    }
}

/// A random name for this instance on the fleet's channels.
fn instance_name() -> String {
    let mut id = [0u8; 8];
    if getrandom::fill(&mut id).is_err() {
        // No random source: the process id and the clock still tell instances apart.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        let nanos = now.map_or(0, |d| d.as_nanos() as u64);
        id = (nanos ^ (u64::from(std::process::id()) << 40)).to_be_bytes();
    }
    hex::encode(id)
}

/// How often new bans are published, at most: well inside the 1 s a ban may take to reach
/// every instance.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
