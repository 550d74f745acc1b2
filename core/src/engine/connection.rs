//! Whether a new connection is let in, before it sends a byte.
//!
//! Rate limits and bans see complete requests only. A client that opens connections and never
//! finishes a header is invisible to them, so the core also counts what each client key holds
//! open: past `[connections] max_per_client` a new one is refused, and a banned direct peer is
//! turned away at accept when `close_connection` is on. Trusted proxies and allow-listed
//! addresses are never capped: they carry many clients. The table holds one entry per key with
//! a connection open, so its size is bounded by the open connections themselves.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use super::Engine;
use crate::request::ClientKey;
use crate::rules::{ConnectionRules, Rules};
use crate::verdict::Reason;

/// Open connections per client key.
#[derive(Debug, Default)]
pub(crate) struct OpenConnections {
    by_key: Mutex<HashMap<ClientKey, u32>>,
}

/// One admitted connection; dropping it gives its place back.
#[derive(Debug)]
pub struct ConnectionSlot {
    table: Option<(Arc<OpenConnections>, ClientKey)>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let Some((table, key)) = self.table.take() else {
            return;
        };
        let mut map = table.by_key.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&key);
            }
        }
    }
}

impl OpenConnections {
    fn acquire(self: &Arc<Self>, key: ClientKey, cap: u32) -> Option<ConnectionSlot> {
        let mut map = self.by_key.lock().unwrap_or_else(PoisonError::into_inner);
        let n = map.entry(key).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            table: Some((self.clone(), key)),
        })
    }

    pub(crate) fn clients(&self) -> usize {
        self.by_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Engine {
    /// Admits a connection from direct peer `peer`, or says why not (`active_ban`,
    /// `too_many_connections`). Keep the slot for the connection's life.
    pub fn open_connection(&self, peer: IpAddr) -> Result<ConnectionSlot, Reason> {
        let (exempt, key, close_banned, cap) = self.with_rules(|r| {
            let exempt = r.allow.contains(peer) || r.clients.trusted_proxies.contains(peer);
            let key = ClientKey::new(peer, r.clients.ipv4_prefix_len, r.clients.ipv6_prefix_len);
            (
                exempt,
                key,
                r.bans.close_connection,
                r.connections.max_per_client,
            )
        });
        if exempt {
            return Ok(ConnectionSlot { table: None });
        }
        if close_banned && self.banned_peer(&key, peer) {
            return Err(Reason::ActiveBan);
        }
        if cap == 0 {
            return Ok(ConnectionSlot { table: None });
        }
        self.state
            .connections
            .acquire(key, cap)
            .ok_or(Reason::TooManyConnections)
    }

    /// Whether `peer` (client key `key`) or its network serves a ban now.
    fn banned_peer(&self, key: &ClientKey, peer: IpAddr) -> bool {
        let now = self.clock.now_ns();
        let bans = &self.state.bans;
        bans.active(key, now).is_some()
            || self
                .network_key(peer)
                .is_some_and(|n| bans.active(&n, now).is_some())
    }

    /// What front ends enforce while a connection's headers arrive.
    pub fn connection_rules(&self) -> ConnectionRules {
        self.with_rules(|r: &Rules| r.connections)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::net::IpAddr;
    use std::path::Path;

    use crate::clock::CoreClock;
    use crate::rules::{parse_rules, FsReader};
    use crate::toll::Keyring;
    use crate::verdict::Reason;
    use crate::Engine;

    fn engine(rules: &str) -> Engine {
        let rules = parse_rules(rules, Path::new("t.toml"), &FsReader).unwrap();
        let keys = Keyring::from_hex(&"ab".repeat(32)).unwrap();
        Engine::new(rules, keys, CoreClock::manual(1_000_000_000_000))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_key_holds_at_most_its_cap_and_a_closed_connection_frees_a_place() {
        let e = engine("[connections]\nmax_per_client = 2\n[clients]\ntrusted_proxies = [\"10.0.0.0/8\"]\n[lists]\nallow = [\"192.0.2.1\"]\n");
        let a = e.open_connection(ip("203.0.113.1")).unwrap();
        let _b = e.open_connection(ip("203.0.113.1")).unwrap();
        let third = e.open_connection(ip("203.0.113.1")).unwrap_err();
        assert_eq!(third, Reason::TooManyConnections);
        // Another address of the same /64 is the same key; another key is not.
        let v6 = [ip("2001:db8::1"), ip("2001:db8::2")];
        let _c = e.open_connection(v6[0]).unwrap();
        let _d = e.open_connection(v6[1]).unwrap();
        assert!(e.open_connection(ip("2001:db8::3")).is_err());
        assert!(e.open_connection(ip("203.0.113.2")).is_ok());
        drop(a);
        assert!(e.open_connection(ip("203.0.113.1")).is_ok());
        let held: Vec<_> = (0..10)
            .map(|_| e.open_connection(ip("10.1.2.3")).unwrap())
            .chain((0..10).map(|_| e.open_connection(ip("192.0.2.1")).unwrap()))
            .collect();
        assert_eq!(
            held.len(),
            20,
            "trusted proxies and the allow list are not capped"
        );
        assert_eq!(
            e.state.connections.clients(),
            2,
            "{:?}",
            e.state.connections
        );
    }

    #[test]
    fn the_table_forgets_a_key_when_its_last_connection_closes() {
        let e = engine("[connections]\nmax_per_client = 1\n");
        let slots: Vec<_> = (1..=200)
            .map(|n| {
                e.open_connection(IpAddr::from([198, 51, 100, n as u8]))
                    .unwrap()
            })
            .collect();
        assert_eq!(e.state.connections.clients(), 200);
        drop(slots);
        assert_eq!(e.state.connections.clients(), 0);
    }

    #[test]
    fn zero_means_no_cap() {
        let e = engine("[connections]\nmax_per_client = 0\n");
        let held: Vec<_> = (0..1000)
            .map(|_| e.open_connection(ip("203.0.113.9")).unwrap())
            .collect();
        assert_eq!(held.len(), 1000);
        assert_eq!(e.state.connections.clients(), 0);
    }
}

#[cfg(test)]
mod network_tests {
    #![allow(clippy::unwrap_used)]
    use std::net::IpAddr;
    use std::path::Path;

    use crate::clock::CoreClock;
    use crate::rules::{parse_rules, FsReader};
    use crate::toll::Keyring;
    use crate::verdict::Reason;
    use crate::{Engine, RequestView};

    #[test]
    fn a_banned_network_is_refused_at_accept_too() {
        let rules = "[networks]\nrequests = 1\nper_secs = 600\nburst = 1\nviolations = 1\n";
        let rules = parse_rules(rules, Path::new("t.toml"), &FsReader).unwrap();
        let keys = Keyring::from_hex(&"ab".repeat(32)).unwrap();
        let e = Engine::new(rules, keys, CoreClock::manual(1_000_000_000_000));
        let peer = |n: u8| IpAddr::from([203, 0, 113, n]);
        for n in 1..=3 {
            e.decide(&RequestView::get(peer(n), "/"));
        }
        assert_eq!(e.open_connection(peer(200)).unwrap_err(), Reason::ActiveBan);
        assert!(e.open_connection(IpAddr::from([203, 0, 114, 1])).is_ok());
    }
}
