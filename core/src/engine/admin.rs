//! What operators see and do: counts, bans, keys. Read by the admin API and persistence.

use std::net::IpAddr;
use std::sync::{Arc, PoisonError};

use super::{Engine, Memory};
use crate::clock::CoreClock;
use crate::limit::BanRecord;
use crate::request::ClientKey;
use crate::score::AttackStatus;
use crate::shared::RegionStats;
use crate::toll::Keyring;

/// Counts for metrics and the admin API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub tracked_keys: usize,
    pub evicted_keys: usize,
    pub active_bans: usize,
    pub ban_records: usize,
    /// Solved challenges remembered against replay.
    pub solved_challenges: usize,
    /// Client keys holding at least one connection open.
    pub connection_clients: usize,
}

impl Engine {
    /// The shared region's fill, when state lives in one.
    pub fn region_stats(&self) -> Option<RegionStats> {
        match &self.memory {
            Memory::Local => None,
            Memory::Shared(r) => Some(r.stats()),
        }
    }

    pub fn stats(&self) -> EngineStats {
        let stores = self.stores.lock().unwrap_or_else(PoisonError::into_inner);
        let lanes = &self.state.lanes;
        EngineStats {
            tracked_keys: stores.values().chain(lanes).map(|s| s.len()).sum(),
            evicted_keys: stores.values().chain(lanes).map(|s| s.evicted()).sum(),
            active_bans: self.state.bans.active_list(self.clock.now_ns()).len(),
            ban_records: self.state.bans.len(),
            solved_challenges: self.state.tolls.replay.len(),
            connection_clients: self.state.connections.clients(),
        }
    }

    /// Whether under-attack mode is engaged, and the last second's rates.
    pub fn attack_status(&self) -> AttackStatus {
        self.state.attack.status()
    }

    /// Bans in force, longest first.
    pub fn active_bans(&self) -> Vec<BanRecord> {
        self.state.bans.active_list(self.clock.now_ns())
    }

    /// Every ban record, for persistence.
    pub fn ban_snapshot(&self) -> Vec<BanRecord> {
        self.state.bans.snapshot()
    }

    pub fn restore_bans(&self, records: impl IntoIterator<Item = BanRecord>) {
        self.state.bans.restore(records);
    }

    /// Lifts the ban on the client key of `ip` under the current prefix lengths, and on its
    /// network's (which refuses `ip` just the same). Returns whether either was in force.
    pub fn unban(&self, ip: IpAddr) -> bool {
        let now = self.clock.now_ns();
        let client = self.state.bans.unban(&self.client_key(ip), now);
        let network = self
            .network_key(ip)
            .is_some_and(|k| self.state.bans.unban(&k, now));
        client || network
    }

    /// The keys a ban of `ip` can be recorded under: its client key, and its network's.
    pub fn ban_keys(&self, ip: IpAddr) -> Vec<ClientKey> {
        std::iter::once(self.client_key(ip))
            .chain(self.network_key(ip))
            .collect()
    }

    /// Lifts the ban on `key` (another instance of the fleet lifted it). Whether one was in
    /// force.
    pub fn lift_ban(&self, key: &ClientKey) -> bool {
        self.state.bans.unban(key, self.clock.now_ns())
    }

    /// The key of `ip`'s network under `[networks]`, when that is on.
    pub fn network_key(&self, ip: IpAddr) -> Option<ClientKey> {
        self.with_rules(|r| {
            let n = r.networks.as_ref()?;
            Some(ClientKey::network_of(
                ip,
                n.ipv4_prefix_len,
                n.ipv6_prefix_len,
            ))
        })
    }

    pub fn client_key(&self, ip: IpAddr) -> ClientKey {
        self.with_rules(|r| {
            ClientKey::new(ip, r.clients.ipv4_prefix_len, r.clients.ipv6_prefix_len)
        })
    }

    /// The network a key stands for under the current prefix lengths.
    pub fn network(&self, key: &ClientKey) -> String {
        self.with_rules(|r| match (&r.networks, key.is_network()) {
            (Some(n), true) => key.network(n.ipv4_prefix_len, n.ipv6_prefix_len),
            _ => key.network(r.clients.ipv4_prefix_len, r.clients.ipv6_prefix_len),
        })
    }

    /// Replaces the signing keys (e.g. after a rotation). Tokens signed with a key the new
    /// keyring does not know stop working.
    pub fn set_keys(&self, keys: Keyring) {
        self.state.tolls.keys.store(Arc::new(keys));
    }

    /// The current signing keys, for tools that mint tokens.
    pub fn keys(&self) -> Arc<Keyring> {
        self.state.tolls.keys.load_full()
    }

    pub fn clock(&self) -> &CoreClock {
        &self.clock
    }
}
