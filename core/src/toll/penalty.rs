//! Adaptive difficulty: clients that fail, replay or burn through clearances pay more.
//!
//! Each offence adds one step of debt per client key; debt drains at one step per `decay`. The
//! number of steps owed is how many times harder (doubling each) the client's next puzzle is.
//! State is one absolute time per key (when the debt is paid off) in a bounded [`KeyStore`], so it
//! sweeps and evicts like the rate counters.

use std::sync::Arc;

use crate::fleet::Tally;
use crate::limit::store::KeyStore;
use crate::request::key::ClientKey;

#[derive(Debug)]
pub struct Penalties {
    store: Arc<KeyStore>,
    /// Where offences are counted for the fleet, under [`PENALTIES`].
    tally: Arc<Tally>,
    name: Arc<str>,
}

/// The fleet's name for offences.
pub const PENALTIES: &str = "penalties";

impl Penalties {
    pub fn new(store: Arc<KeyStore>, tally: Arc<Tally>) -> Self {
        let name = Arc::from(PENALTIES);
        Self { store, tally, name }
    }

    /// Records one offence; debt never exceeds `max_steps`.
    pub fn record(&self, key: &ClientKey, now_ns: u64, decay_ns: u64, max_steps: u32) {
        self.absorb(key, 1, now_ns, decay_ns, max_steps);
        self.tally.add(&self.name, key, 0);
    }

    /// Records `n` offences another instance saw (not counted for the fleet again).
    pub fn absorb(&self, key: &ClientKey, n: u32, now_ns: u64, decay_ns: u64, max_steps: u32) {
        let cap = now_ns.saturating_add(decay_ns.saturating_mul(u64::from(max_steps)));
        let _ = self.store.update::<(), ()>(
            key,
            || now_ns,
            |prev| {
                let paid_off = prev.unwrap_or(0).max(now_ns);
                let debt = decay_ns.saturating_mul(u64::from(n));
                Ok(((), paid_off.saturating_add(debt).min(cap)))
            },
        );
    }

    /// Steps owed now (0 for a client with no recent offences).
    pub fn steps(&self, key: &ClientKey, now_ns: u64, decay_ns: u64) -> u32 {
        let owed = self.store.get(key).unwrap_or(0).saturating_sub(now_ns);
        u32::try_from(owed.div_ceil(decay_ns.max(1))).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offences_add_steps_that_drain_and_are_capped() {
        let p = Penalties::new(Arc::new(KeyStore::new(1_000)), Arc::default());
        let k = ClientKey::new("192.0.2.1".parse().unwrap(), 32, 64);
        assert_eq!(p.steps(&k, 0, 10), 0);
        for _ in 0..5 {
            p.record(&k, 0, 10, 3);
        }
        assert_eq!(p.steps(&k, 0, 10), 3);
        assert_eq!(p.steps(&k, 15, 10), 2);
        assert_eq!(p.steps(&k, 30, 10), 0);
    }
}
