//! Bans recorded here since the front end last looked, for it to publish to the fleet.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::limit::BanRecord;

/// Most bans queued between two drains; past it the oldest are dropped (and counted): a
/// front end drains many times a second, so only a flood of bans with the store gone fills it.
const MAX_QUEUED: usize = 4_096;

#[derive(Debug, Default)]
pub(crate) struct Outbox {
    enabled: AtomicBool,
    bans: Mutex<VecDeque<BanRecord>>,
    dropped: AtomicU64,
}

impl Outbox {
    pub fn enable(&self) {
        self.enabled.store(true, Ordering::Relaxed);
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Queues `ban` when a fleet is listening.
    pub fn ban(&self, ban: BanRecord) {
        if !self.enabled() {
            return;
        }
        let mut q = self.bans.lock().unwrap_or_else(PoisonError::into_inner);
        if q.len() == MAX_QUEUED {
            q.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        q.push_back(ban);
    }

    /// Everything queued, oldest first.
    pub fn take(&self) -> Vec<BanRecord> {
        let mut q = self.bans.lock().unwrap_or_else(PoisonError::into_inner);
        q.drain(..).collect()
    }

    /// Bans dropped from a full queue since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::ClientKey;
    use crate::verdict::Reason;

    fn ban(i: u32) -> BanRecord {
        BanRecord {
            key: ClientKey::new(std::net::Ipv4Addr::from(i).into(), 32, 64),
            until_ns: u64::from(i),
            offences: 1,
            last_offence_ns: 0,
            reason: Reason::ExtremeRate,
        }
    }

    #[test]
    fn nothing_is_queued_until_a_fleet_listens_and_the_queue_is_bounded() {
        let o = Outbox::default();
        o.ban(ban(1));
        assert!(o.take().is_empty());
        o.enable();
        for i in 0..(MAX_QUEUED as u32 + 10) {
            o.ban(ban(i));
        }
        let got = o.take();
        assert_eq!(got.len(), MAX_QUEUED);
        assert_eq!(got[0].until_ns, 10, "the oldest went first");
        assert_eq!(o.dropped(), 10);
        assert!(o.take().is_empty());
    }
}
