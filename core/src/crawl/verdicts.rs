//! What lookups found, remembered per address and crawler: a confirmed crawler for about an
//! hour, a failed claim for minutes, a lookup that could not finish for a minute.
//!
//! The cache is a [`KeyStore`] (the ledger of a shared region, or in-process shards), so it has
//! the same hard bound and eviction as every other per-client table: an attacker claiming to be
//! Googlebot from a million addresses evicts old verdicts, it does not grow memory. A verdict
//! is one word: its expiry, with the outcome, the crawler's index and the generation of the
//! crawler definitions in the low bits. A reload that changes the definitions starts a new
//! generation, so an index that now names another crawler finds nothing.

use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::limit::store::KeyStore;
use crate::request::ClientKey;

/// What is known about one address's claim to be one crawler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cached {
    Verified,
    Failed,
    /// The lookup timed out or the resolver failed: the claimant is an ordinary visitor.
    Unknown,
}

/// Outcome (2 bits), crawler index (8), generation (10); the expiry keeps the rest (about a
/// millisecond's resolution).
const LOW_BITS: u64 = (1 << 20) - 1;
const GENERATIONS: u64 = 1 << 10;

#[derive(Debug)]
pub(crate) struct Verdicts {
    store: Arc<KeyStore>,
    generation: AtomicU64,
    /// A hash of the crawler definitions' names in order, as last installed.
    defined: AtomicU64,
}

impl Verdicts {
    pub fn new(store: Arc<KeyStore>) -> Self {
        Self {
            store,
            generation: AtomicU64::new(0),
            defined: AtomicU64::new(0),
        }
    }

    /// The crawler definitions are now `names`, in order: a new generation if they changed.
    pub fn defined<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        names.into_iter().for_each(|n| n.hash(&mut h));
        let now = h.finish();
        if self.defined.swap(now, Ordering::Relaxed) != now {
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed) % GENERATIONS
    }

    /// The live verdict on `ip` claiming crawler `crawler`, if any.
    pub fn get(&self, ip: IpAddr, crawler: usize, now_ns: u64) -> Option<Cached> {
        let word = self.store.get(&key(ip))?;
        let live = word & !LOW_BITS > now_ns;
        let same =
            (word >> 2) & 0xff == crawler as u64 && (word >> 10) % GENERATIONS == self.generation();
        (live && same).then_some(match word & 3 {
            1 => Cached::Verified,
            2 => Cached::Failed,
            _ => Cached::Unknown,
        })
    }

    /// Remembers `cached` for `ip` and `crawler` until `until_ns`.
    pub fn put(&self, ip: IpAddr, crawler: usize, cached: Cached, until_ns: u64, now_ns: u64) {
        let outcome = match cached {
            Cached::Verified => 1,
            Cached::Failed => 2,
            Cached::Unknown => 3,
        };
        // Rounded up past the low bits, so a verdict never reads as expired early.
        let word = ((until_ns | LOW_BITS) + 1)
            | (self.generation() << 10)
            | ((crawler as u64 & 0xff) << 2)
            | outcome;
        let _ = self
            .store
            .update(&key(ip), || now_ns, |_| Ok::<_, Infallible>(((), word)));
    }
}

/// Verdicts are per address: a crawler's neighbours in its /64 prove nothing.
fn key(ip: IpAddr) -> ClientKey {
    ClientKey::new(ip, 32, 128)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn a_verdict_holds_for_its_crawler_until_it_expires() {
        let v = Verdicts::new(Arc::new(KeyStore::new(1_000)));
        let ip = "66.249.66.1".parse().unwrap();
        v.put(ip, 3, Cached::Verified, 100 * SEC, SEC);
        assert_eq!(v.get(ip, 3, 99 * SEC), Some(Cached::Verified));
        assert_eq!(v.get(ip, 4, 99 * SEC), None, "another crawler's claim");
        assert_eq!(v.get(ip, 3, 101 * SEC), None, "expired");
        v.put(ip, 3, Cached::Failed, 200 * SEC, SEC);
        assert_eq!(v.get(ip, 3, 150 * SEC), Some(Cached::Failed));
        v.put(ip, 0, Cached::Unknown, 200 * SEC, SEC);
        assert_eq!(v.get(ip, 0, 150 * SEC), Some(Cached::Unknown));
    }

    #[test]
    fn changed_definitions_forget_every_verdict() {
        let v = Verdicts::new(Arc::new(KeyStore::new(1_000)));
        let ip = "66.249.66.1".parse().unwrap();
        v.defined(["googlebot", "bingbot"]);
        v.put(ip, 0, Cached::Verified, 100 * SEC, SEC);
        v.defined(["googlebot", "bingbot"]);
        assert_eq!(
            v.get(ip, 0, 2 * SEC),
            Some(Cached::Verified),
            "same definitions"
        );
        v.defined(["bingbot", "googlebot"]);
        assert_eq!(v.get(ip, 0, 2 * SEC), None, "index 0 is bingbot now");
    }

    #[test]
    fn a_spray_of_claimants_stays_within_the_bound() {
        let v = Verdicts::new(Arc::new(KeyStore::new(1_000)));
        for i in 0..20_000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            v.put(ip, 0, Cached::Failed, 300 * SEC, SEC);
        }
        assert!(v.store.len() <= 2_000, "{} verdicts kept", v.store.len());
    }
}
