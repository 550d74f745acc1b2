use super::*;

pub(crate) fn words(n: usize) -> &'static [AtomicU64] {
    Box::leak((0..n).map(|_| AtomicU64::new(0)).collect())
}

fn key(tag: u64, i: u64) -> SlotKey {
    SlotKey { tag, hi: 7, lo: i }
}

fn rank(v: &Values) -> u64 {
    v[0]
}
const NONE: Evict<fn(&Values) -> u64> = Evict { rank, live: false };

#[test]
fn tags_keep_maps_apart_and_values_round_trip() {
    let t = SlotTable::new(words(4 * SlotTable::bucket_words(1)), 1, [1, 2]).unwrap();
    assert_eq!(t.capacity(), 4 * WAYS);
    for tag in [1, 2] {
        t.with_bucket(&key(tag, 5), |b| {
            b.insert(&key(tag, 5), &[tag * 10, 0, 0], NONE)
        })
        .unwrap();
    }
    for tag in [1, 2] {
        let v = t.with_bucket(&key(tag, 5), |b| b.find(&key(tag, 5)).map(|i| b.values(i)));
        assert_eq!(v.flatten().map(|v| v[0]), Some(tag * 10));
    }
    assert_eq!(
        t.with_bucket(&key(3, 5), |b| b.find(&key(3, 5))),
        Some(None)
    );
}

#[test]
fn a_full_bucket_evicts_the_lowest_rank_or_refuses() {
    let t = SlotTable::new(words(SlotTable::bucket_words(1)), 1, [0, 0]).unwrap();
    for i in 0..WAYS as u64 {
        let placed = t.with_bucket(&key(1, i), |b| b.insert(&key(1, i), &[100 + i, 0, 0], NONE));
        assert_eq!(placed, Some(Some(Placed::Empty)));
    }
    let refused = t.with_bucket(&key(1, 99), |b| b.insert(&key(1, 99), &[1, 0, 0], NONE));
    assert_eq!(refused, Some(None));
    let any = Evict { rank, live: true };
    let placed = t.with_bucket(&key(1, 99), |b| b.insert(&key(1, 99), &[1, 0, 0], any));
    assert_eq!(placed, Some(Some(Placed::Evicted)));
    // The lowest value (100, key 0) went; the heaviest stayed.
    assert_eq!(
        t.with_bucket(&key(1, 0), |b| b.find(&key(1, 0))),
        Some(None)
    );
    assert!(t
        .with_bucket(&key(1, 7), |b| b.find(&key(1, 7)))
        .flatten()
        .is_some());
}

#[test]
fn concurrent_increments_are_exact() {
    let t = SlotTable::new(words(64 * SlotTable::bucket_words(1)), 1, [3, 4]).unwrap();
    let k = key(1, 42);
    let gave_up = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    let done = t.with_bucket(&k, |b| match b.find(&k) {
                        Some(i) => b.set(i, &[b.values(i)[0] + 1, 0, 0]),
                        None => {
                            b.insert(&k, &[1, 0, 0], NONE);
                        }
                    });
                    if done.is_none() {
                        gave_up.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    // Every increment lands, except one whose waiter gave up (a holder descheduled past
    // MAX_WAIT on a loaded machine); none is lost or doubled under the lock.
    let v = t.with_bucket(&k, |b| b.find(&k).map(|i| b.values(i)[0]));
    let gave_up = gave_up.load(Ordering::Relaxed);
    assert_eq!(v.flatten(), Some(40_000 - gave_up));
    assert!(gave_up < 100, "{gave_up} waits gave up");
}

#[test]
fn a_lock_left_held_by_a_dead_holder_is_taken_over() {
    let t = SlotTable::new(words(SlotTable::bucket_words(1)), 1, [0, 0]).unwrap();
    // A process id above any pid_max died holding the lock.
    t.words[0].store(0x3FFF_FFF0 | (1 << 32), Ordering::Relaxed);
    let placed = t.with_bucket(&key(1, 1), |b| b.insert(&key(1, 1), &[5, 0, 0], NONE));
    assert_eq!(placed, Some(Some(Placed::Empty)));
    assert_eq!(t.words[0].load(Ordering::Relaxed), 0);
}

#[test]
fn a_lock_a_live_holder_keeps_fails_closed_after_the_bound_and_is_counted() {
    let t = SlotTable::new(words(SlotTable::bucket_words(1)), 1, [0, 0]).unwrap();
    // This process (alive) holds the bucket, as a stalled worker would.
    t.words[0].store(u64::from(std::process::id()) | (1 << 32), Ordering::Relaxed);
    let before = lock_timeouts();
    let started = Instant::now();
    let got = t.with_bucket(&key(1, 1), |b| b.find(&key(1, 1)));
    let waited = started.elapsed();
    assert_eq!(got, None, "busy, not a value");
    assert!(waited >= MAX_WAIT && waited < MAX_WAIT * 20, "{waited:?}");
    assert!(lock_timeouts() > before);
}

#[test]
fn too_small_a_table_is_refused() {
    assert!(SlotTable::new(words(3), 1, [0, 0]).is_none());
}
