//! The native solver: what `tollgate solve` and the tests run, and the yardstick the browser's
//! hash rate is compared with.
//!
//! It pays exactly what a browser pays: the 64-byte prefix is hashed once per worker and every try
//! costs one SHA-256 compression. Workers split the nonce space without overlap: a hashcash
//! worker owns the high 32 bits of the nonce (its index) and counts the low ones; a range worker
//! tries every `workers`-th candidate.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::toll::pow::{hash, leading_zero_bits, Offer, Puzzle};

/// A puzzle in the form a solver needs.
#[derive(Clone, Debug)]
pub struct Work {
    pub puzzle: Puzzle,
    pub prefix: [u8; 64],
    pub target: Option<[u8; 32]>,
}

impl Work {
    pub fn from_offer(o: &Offer) -> Option<Self> {
        Self::new(o.puzzle, &o.prefix, o.target.as_deref())
    }

    /// From the fields a challenge page or JSON offer carries.
    pub fn new(puzzle: Puzzle, prefix: &str, target_hex: Option<&str>) -> Option<Self> {
        let prefix: [u8; 64] = prefix.as_bytes().try_into().ok()?;
        let target = match (puzzle, target_hex) {
            (Puzzle::Range { .. }, Some(t)) => {
                let mut out = [0u8; 32];
                hex::decode_to_slice(t, &mut out).ok()?;
                Some(out)
            }
            (Puzzle::Range { .. }, None) => return None,
            (Puzzle::Hashcash { .. }, _) => None,
        };
        Some(Self {
            puzzle,
            prefix,
            target,
        })
    }

    /// Whether `nonce` answers this puzzle (what `verify` will find).
    pub fn accepts(&self, nonce: u64) -> bool {
        let digest = hash(&self.prefix, nonce);
        match (self.puzzle, self.target) {
            (Puzzle::Hashcash { bits }, _) => leading_zero_bits(&digest) >= bits,
            (Puzzle::Range { size }, Some(target)) => nonce < size && digest == target,
            (Puzzle::Range { .. }, None) => false,
        }
    }
}

/// How often a worker publishes its progress and checks for a stop.
const BATCH: u64 = 4_096;

/// Searches worker `index`'s share of the nonces (of `workers`). Returns the nonce, or `None`
/// when the share is exhausted or `stop` was set. `hashes` counts tries, for progress and rates.
pub fn solve(
    work: &Work,
    index: u32,
    workers: u32,
    stop: &AtomicBool,
    hashes: &AtomicU64,
) -> Option<u64> {
    let base = Sha256::new().chain_update(work.prefix);
    let workers = u64::from(workers.max(1));
    let (mut nonce, step, end) = match work.puzzle {
        Puzzle::Hashcash { .. } => {
            let start = u64::from(index) << 32;
            (start, 1, start + (1 << 32))
        }
        Puzzle::Range { size } => (u64::from(index), workers, size),
    };
    let mut batch = 0;
    while nonce < end {
        let digest: [u8; 32] = base
            .clone()
            .chain_update(nonce.to_be_bytes())
            .finalize()
            .into();
        let found = match (work.puzzle, &work.target) {
            (Puzzle::Hashcash { bits }, _) => leading_zero_bits(&digest) >= bits,
            (Puzzle::Range { .. }, Some(t)) => digest == *t,
            (Puzzle::Range { .. }, None) => false,
        };
        if found {
            hashes.fetch_add(batch + 1, Ordering::Relaxed);
            stop.store(true, Ordering::Relaxed);
            return Some(nonce);
        }
        batch += 1;
        if batch == BATCH {
            hashes.fetch_add(batch, Ordering::Relaxed);
            batch = 0;
            if stop.load(Ordering::Relaxed) {
                return None;
            }
        }
        nonce += step;
    }
    hashes.fetch_add(batch, Ordering::Relaxed);
    None
}

/// Solves on `threads` threads; returns the nonce and the number of hashes tried.
pub fn solve_parallel(work: &Work, threads: u32) -> Option<(u64, u64)> {
    let stop = AtomicBool::new(false);
    let hashes = AtomicU64::new(0);
    let threads = threads.max(1);
    let found = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (stop, hashes) = (&stop, &hashes);
                s.spawn(move || solve(work, i, threads, stop, hashes))
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .next()
    });
    found.map(|n| (n, hashes.load(Ordering::Relaxed)))
}
