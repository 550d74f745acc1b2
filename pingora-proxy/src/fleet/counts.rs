//! Limits and clearance budgets across the fleet, reconciled: every [`RECONCILE_EVERY`] each
//! instance publishes what it let through (per limiter and key) and adds what the others
//! published to its own buckets. The hot path only counts locally; the price is a slack: within
//! one interval (plus the store's round trip), each other instance may let through what its
//! own bucket still allows. Exact GCRA in the store would cost a round trip per request.

use std::time::Duration;

use tollgate_core::{ClientKey, Count};

use super::bans::Background;

/// How often counts are exchanged.
pub const RECONCILE_EVERY: Duration = Duration::from_millis(20);
/// Counts per message.
const PER_MESSAGE: usize = 2_000;

impl Background {
    pub fn counts_channel(&self) -> String {
        format!("{}:counts", self.prefix)
    }

    /// Publishes this instance's counts every [`RECONCILE_EVERY`]; while the store is away they
    /// are dropped (the others could not have used them in time anyway).
    pub async fn reconcile(&self) {
        loop {
            tokio::time::sleep(RECONCILE_EVERY).await;
            let counts = self.engine.take_counts();
            if counts.is_empty() || !self.link.is_up() {
                continue;
            }
            let mut pipe = redis::pipe();
            for chunk in counts.chunks(PER_MESSAGE) {
                pipe.cmd("PUBLISH")
                    .arg(self.counts_channel())
                    .arg(encode(&self.instance, chunk))
                    .ignore();
            }
            self.link.pipeline(&pipe, Duration::from_millis(500)).await;
        }
    }

    /// Adds another instance's published counts here (this instance's own are skipped).
    pub fn apply_counts(&self, message: &str) {
        if let Some((from, counts)) = decode(message) {
            if from != self.instance {
                self.engine.apply_counts(counts);
            }
        }
    }
}

/// `c1 <instance>` then one line per count: `<counter hex> <key hex> <n> <base>`.
fn encode(instance: &str, counts: &[Count]) -> String {
    let mut out = format!("c1 {instance}");
    for c in counts {
        let key = hex::encode(c.key.to_bytes());
        out.push_str(&format!(
            "\n{} {key} {} {}",
            hex::encode(c.counter.as_bytes()),
            c.n,
            c.base
        ));
    }
    out
}

/// The sender and its counts; `None` for a message that is not one (lines that do not parse
/// are skipped: a message is never trusted to be well-formed).
fn decode(m: &str) -> Option<(&str, Vec<Count>)> {
    let mut lines = m.lines();
    let from = lines.next()?.strip_prefix("c1 ")?;
    let counts = lines.filter_map(|l| {
        let mut f = l.split(' ');
        let counter = String::from_utf8(hex::decode(f.next()?).ok()?).ok()?;
        let key: [u8; 16] = hex::decode(f.next()?).ok()?.try_into().ok()?;
        let c = Count {
            counter: counter.into(),
            key: ClientKey::from_bytes(key),
            n: f.next()?.parse().ok()?,
            base: f.next()?.parse().ok()?,
        };
        f.next().is_none().then_some(c)
    });
    Some((from, counts.collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cross_the_wire_and_broken_lines_are_skipped() {
        let c = Count {
            counter: "route:log in".into(),
            key: ClientKey::new("198.51.100.4".parse().unwrap(), 32, 64),
            n: 7,
            base: 42,
        };
        let m = encode("a1b2", std::slice::from_ref(&c));
        assert_eq!(decode(&m), Some(("a1b2", vec![c.clone()])));
        let noisy = format!("{m}\nzz 00 1 1\n{} 00 x 0", hex::encode("default"));
        assert_eq!(decode(&noisy).map(|(_, v)| v), Some(vec![c]));
        assert_eq!(decode("v1 whatever"), None);
    }
}
