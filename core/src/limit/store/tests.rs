use super::*;
use std::net::{IpAddr, Ipv4Addr};

fn key(i: u32) -> ClientKey {
    ClientKey::new(IpAddr::V4(Ipv4Addr::from(i)), 32, 64)
}

#[test]
fn never_holds_more_than_the_cap() {
    let store = KeyStore::new(6_400);
    for i in 0..200_000u32 {
        store
            .update::<(), ()>(&key(i), || 0, |_| Ok(((), 1_000 + u64::from(i))))
            .unwrap();
    }
    assert!(store.len() <= 6_400, "len {}", store.len());
    assert!(store.evicted() >= 200_000 - 6_400);
}

#[test]
fn the_heaviest_key_survives_a_spray() {
    let store = KeyStore::new(640);
    let heavy = key(7);
    store
        .update::<(), ()>(&heavy, || 0, |_| Ok(((), u64::MAX / 2)))
        .unwrap();
    for i in 1_000..100_000u32 {
        store
            .update::<(), ()>(&key(i), || 0, |_| Ok(((), 10)))
            .unwrap();
    }
    let mut seen = None;
    store
        .update::<(), ()>(
            &heavy,
            || 0,
            |p| {
                seen = p;
                Ok(((), u64::MAX / 2))
            },
        )
        .unwrap();
    assert_eq!(seen, Some(u64::MAX / 2));
}

#[test]
fn shrinking_the_cap_keeps_the_heaviest_keys() {
    let store = KeyStore::new(64 * 1_000);
    for i in 0..20_000u32 {
        store
            .update::<(), ()>(&key(i), || 0, |_| Ok(((), 1_000 + u64::from(i))))
            .unwrap();
    }
    store.set_max_keys(64 * 16);
    store
        .update::<(), ()>(&key(999_999), || 0, |_| Ok(((), 1)))
        .unwrap();
    let heaviest = key(19_999);
    let mut seen = None;
    store
        .update::<(), ()>(
            &heaviest,
            || 0,
            |p| {
                seen = p;
                Ok(((), 1))
            },
        )
        .unwrap();
    assert!(seen.is_some(), "heaviest key was evicted");
}

#[test]
fn sweep_drops_only_rested_keys() {
    let store = KeyStore::new(1_000);
    store
        .update::<(), ()>(&key(1), || 0, |_| Ok(((), 100)))
        .unwrap();
    store
        .update::<(), ()>(&key(2), || 0, |_| Ok(((), 300)))
        .unwrap();
    assert_eq!(store.sweep(200), 1);
    assert_eq!(store.len(), 1);
}

fn shared(bytes: usize) -> (Arc<Region>, KeyStore) {
    let (region, _) = Region::attach(crate::shared::region::tests::zone(bytes), [5, 6]).unwrap();
    let region = Arc::new(region);
    (region.clone(), KeyStore::shared(region, "default"))
}

#[test]
fn shared_stores_of_one_name_count_together_and_names_apart() {
    let (region, a) = shared(Region::MIN_BYTES);
    let b = KeyStore::shared(region.clone(), "default");
    let other = KeyStore::shared(region, "route:login");
    a.update::<(), ()>(&key(1), || 0, |_| Ok(((), 10))).unwrap();
    b.update::<(), ()>(&key(1), || 0, |p| Ok(((), p.unwrap_or(0) + 5)))
        .unwrap();
    assert_eq!(a.get(&key(1)), Some(15));
    assert_eq!(other.get(&key(1)), None);
}

#[test]
fn a_shared_store_is_bounded_by_its_zone_and_keeps_the_heaviest() {
    let (region, store) = shared(Region::MIN_BYTES);
    let heavy = key(7);
    store
        .update::<(), ()>(&heavy, || 0, |_| Ok(((), u64::MAX / 2)))
        .unwrap();
    for i in 1_000..200_000u32 {
        store
            .update::<(), ()>(&key(i), || 0, |_| Ok(((), 10 + u64::from(i))))
            .unwrap();
    }
    let stats = region.stats();
    assert!(stats.counters_used as usize <= stats.counter_slots);
    assert!(stats.evicted > 0);
    assert_eq!(store.get(&heavy), Some(u64::MAX / 2));
}

#[test]
fn long_lived_entries_and_rate_counters_cannot_evict_each_other() {
    let (region, counters) = shared(Region::MIN_BYTES);
    let penalties = KeyStore::shared_ledger(region.clone(), "penalties");
    let hour = 3_600 * 1_000_000_000u64;
    // A rate counter a second in debt, and an attacker's clearance spending an hour out.
    counters
        .update::<(), ()>(&key(7), || 0, |_| Ok(((), 1_000_000_000)))
        .unwrap();
    penalties
        .update::<(), ()>(&key(8), || 0, |_| Ok(((), hour / 2)))
        .unwrap();
    // A spray of penalty entries (hours) far past the ledger's size, then of fresh counters.
    for i in 1_000..100_000u32 {
        penalties
            .update::<(), ()>(&key(i), || 0, |_| Ok(((), hour)))
            .unwrap();
    }
    assert_eq!(
        counters.get(&key(7)),
        Some(1_000_000_000),
        "a counter was pushed out"
    );
    for i in 100_000..300_000u32 {
        counters
            .update::<(), ()>(&key(i), || 0, |_| Ok(((), 2_000_000_000)))
            .unwrap();
    }
    assert!(region.stats().evicted > 0, "the counter table was full");
    let ledger_kept = (1_000..100_000u32)
        .filter(|&i| penalties.get(&key(i)).is_some())
        .count();
    assert!(
        ledger_kept > 1_000,
        "counters pushed out the ledger: {ledger_kept} left"
    );
}

#[test]
fn a_refused_update_leaves_state_alone() {
    let store = KeyStore::new(1_000);
    let r: Result<(), &str> = store.update(&key(1), || 0, |_| Err("no"));
    assert!(r.is_err());
    assert_eq!(store.len(), 0);
}

#[test]
fn a_busy_shared_bucket_fails_closed_and_stores_nothing() {
    let (region, store) = shared(Region::MIN_BYTES);
    let k = key(42);
    let held = region
        .counters
        .try_bucket(&slot_key(region::tag("default"), &k))
        .unwrap();
    // A limiter's check: refuse a key whose TAT is ahead of now.
    let check = |prev: Option<u64>| match prev {
        Some(tat) if tat > 1_000 => Err("limited"),
        _ => Ok(((), 1_000)),
    };
    assert_eq!(store.update(&k, || 0, check), Err("limited"));
    assert_eq!(store.get(&k), Some(BUSY), "a busy read is deep in debt");
    drop(held);
    assert_eq!(store.get(&k), None, "nothing was stored while busy");
    assert_eq!(store.update(&k, || 0, check), Ok(()));
}

/// Through a limiter too: a busy bucket's far-ahead TAT is no stepped-back clock to forgive.
#[test]
fn a_busy_shared_bucket_refuses_a_limiters_check() {
    use crate::clock::{CoreClock, NS_PER_SEC};
    use crate::limit::limiter::{Limiter, Quota};
    use std::num::NonZeroU32;
    let (region, store) = shared(Region::MIN_BYTES);
    let clock = CoreClock::manual(50 * NS_PER_SEC);
    let one = NonZeroU32::MIN;
    let quota = Quota {
        requests: one,
        per_secs: one,
        burst: one,
    };
    let lim = Limiter::new(quota, Arc::new(store), &clock);
    let k = key(43);
    let held = region
        .counters
        .try_bucket(&slot_key(region::tag("default"), &k))
        .unwrap();
    assert!(lim.check(&k, clock.now_ns()).is_err(), "busy: refused");
    drop(held);
    assert!(lim.check(&k, clock.now_ns()).is_ok());
}

#[test]
fn two_lanes_count_apart_in_one_key_and_evict_together() {
    let [a, b] = KeyStore::lanes(64 * 10);
    a.update::<(), ()>(&key(1), || 0, |_| Ok(((), 10))).unwrap();
    b.update::<(), ()>(&key(1), || 0, |p| Ok(((), p.unwrap_or(0) + 5)))
        .unwrap();
    assert_eq!((a.get(&key(1)), b.get(&key(1))), (Some(10), Some(5)));
    assert_eq!((a.len(), b.len()), (1, 0), "a key is counted once");
    // The heavy key's debt is in its second lane only; a spray of lighter keys must not evict it.
    b.update::<(), ()>(&key(7), || 0, |_| Ok(((), u64::MAX / 2)))
        .unwrap();
    for i in 1_000..50_000u32 {
        a.update::<(), ()>(&key(i), || 0, |_| Ok(((), 100)))
            .unwrap();
    }
    assert!(a.len() <= 64 * 10, "len {}", a.len());
    assert_eq!(b.get(&key(7)), Some(u64::MAX / 2));
    assert_eq!(a.get(&key(7)), None);
    // Swept through the first lane: everything at rest by 200 ns goes, the heavy key stays.
    assert_eq!(b.sweep(200), 0);
    let held = a.len();
    assert_eq!(a.sweep(200), held - 1);
    assert_eq!(b.get(&key(7)), Some(u64::MAX / 2));
}

/// Riders (the request rhythm) sprayed from fresh addresses, far past the cap, with deadlines
/// later than a flooder's debt: the flooder's count stays, and the riders pay for the room.
#[test]
fn a_rider_spray_never_pushes_out_a_debt() {
    let sec = 1_000_000_000u64;
    let lanes = KeyStore::lanes(6_400);
    let shared_store = shared(Region::MIN_BYTES).1;
    for store in [&lanes[0], &shared_store] {
        let flooder = key(7);
        store
            .update::<(), ()>(&flooder, || 0, |_| Ok(((), 5 * sec)))
            .unwrap();
        for i in 1_000..200_000u32 {
            store.update_rider(&key(i), || sec, |_| 70 * sec);
        }
        assert_eq!(store.get(&flooder), Some(5 * sec), "{store:?}");
        assert_eq!(store.update_rider(&flooder, || sec, |old| old + 1), 1);
    }
    assert!(lanes[0].len() <= 6_400);
}

/// In a store full of debts, a rider for a new key is not kept at all: no debt makes way.
#[test]
fn a_rider_for_a_new_key_in_a_full_store_of_debts_is_dropped() {
    let sec = 1_000_000_000u64;
    let lanes = KeyStore::lanes(640);
    for i in 0..5_000u32 {
        lanes[0]
            .update::<(), ()>(&key(i), || 0, |_| Ok(((), 9 * sec)))
            .unwrap();
    }
    let debts = || {
        (0..5_000u32)
            .filter(|&i| lanes[0].get(&key(i)).is_some())
            .count()
    };
    let before = debts();
    for i in 10_000..20_000u32 {
        assert_eq!(
            lanes[0].update_rider(&key(i), || sec, |_| 70 * sec),
            70 * sec
        );
    }
    assert_eq!(debts(), before, "every debt stays");
    assert!(lanes[0].len() <= 640);
    let kept = (10_000..20_000u32).filter(|&i| lanes[0].update_rider(&key(i), || sec, |o| o) != 0);
    assert_eq!(
        kept.count(),
        lanes[0].len() - before,
        "riders took only the free room"
    );
}

/// A rider is a deadline: the sweep keeps its key until it passes, and a count update
/// leaves it in place.
#[test]
fn the_sweep_keeps_a_live_rider_and_counts_leave_it_alone() {
    let sec = 1_000_000_000u64;
    let lanes = KeyStore::lanes(1_000);
    lanes[0].update_rider(&key(1), || 0, |_| 60 * sec);
    lanes[0]
        .update::<(), ()>(&key(1), || 0, |_| Ok(((), sec)))
        .unwrap();
    assert_eq!(lanes[0].sweep(2 * sec), 0, "the rider is live");
    assert_eq!(lanes[0].update_rider(&key(1), || 0, |old| old), 60 * sec);
    assert_eq!(lanes[0].sweep(61 * sec), 1);
    let (_region, shared_store) = shared(Region::MIN_BYTES);
    shared_store.update_rider(&key(1), || 0, |_| 60 * sec);
    assert_eq!(shared_store.get(&key(1)), None, "a rider alone is no count");
    shared_store
        .update::<(), ()>(&key(1), || 0, |p| Ok(((), p.map_or(sec, |t| t + sec))))
        .unwrap();
    assert_eq!(shared_store.get(&key(1)), Some(sec), "a rider is no count");
    assert_eq!(
        shared_store.update_rider(&key(1), || 0, |old| old),
        60 * sec
    );
}
