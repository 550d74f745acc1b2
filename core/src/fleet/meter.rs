//! Exact limits across a fleet: with `limits = "exact"`, a route's limit is metered by the
//! store (GCRA in one atomic script) instead of this instance's bucket. The core stays
//! I/O-free: it asks with a [`Meter`] ([`Decision::Meter`](crate::Decision::Meter)) before it
//! counts the request anywhere, and the front end decides the request again with the
//! store's [`Metered`] reading ([`Engine::decide_metered`](crate::Engine::decide_metered)).

use std::sync::Arc;
use std::time::Duration;

use crate::clock::NS_PER_SEC;
use crate::limit::Quota;
use crate::request::ClientKey;

/// One request to meter: which limit, for which client, at which quota.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meter {
    counter: Arc<str>,
    key: ClientKey,
    quota: Quota,
}

impl Meter {
    pub(crate) fn new(counter: Arc<str>, key: ClientKey, quota: Quota) -> Self {
        Self {
            counter,
            key,
            quota,
        }
    }

    /// The limit's name ("default", "route:login"), as the fleet's counts know it.
    pub fn counter(&self) -> &str {
        &self.counter
    }

    /// The client key, in hex: with the counter, the store's key.
    pub fn key_hex(&self) -> String {
        hex::encode(self.key.to_bytes())
    }

    /// Time between two conforming requests, in microseconds (at least 1: a quota above a
    /// million requests a second is metered as a million).
    pub fn period_us(&self) -> u64 {
        let q = self.quota;
        let ns = u64::from(q.per_secs.get()) * NS_PER_SEC / u64::from(q.requests.get());
        (ns / 1_000).max(1)
    }

    /// Requests allowed at once.
    pub fn burst(&self) -> u32 {
        self.quota.burst.get()
    }
}

/// What the store said of a [`Meter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metered {
    /// Within the limit (and counted in the store).
    Within,
    /// Over it: the next request would conform after this wait.
    Over(Duration),
    /// The store could not be asked in time: this instance's own bucket decides.
    Unknown,
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    #[test]
    fn the_period_is_the_quota_s_spacing_in_microseconds() {
        let nz = |n| NonZeroU32::new(n).unwrap();
        let key = ClientKey::new("192.0.2.1".parse().unwrap(), 32, 64);
        let quota = |requests, per_secs| Quota {
            requests: nz(requests),
            per_secs: nz(per_secs),
            burst: nz(5),
        };
        let m = Meter::new("default".into(), key, quota(10, 1));
        assert_eq!((m.period_us(), m.burst()), (100_000, 5));
        assert_eq!(
            Meter::new("d".into(), key, quota(4_000_000, 1)).period_us(),
            1
        );
        assert_eq!(m.key_hex().len(), 32);
    }
}
