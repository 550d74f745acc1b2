use super::*;

fn policy() -> BanPolicy {
    BanPolicy {
        ttl_secs: 60,
        max_ttl_secs: 300,
        escalation_factor: 2,
        forget_after_secs: 3_600,
        max_bans: 3,
    }
}

fn key(s: &str) -> ClientKey {
    ClientKey::new(s.parse().unwrap(), 32, 64)
}

#[test]
fn escalates_up_to_the_maximum_and_forgets() {
    let t = BanTable::new(10);
    let k = key("192.0.2.1");
    let mut now = 0;
    let mut ttls = Vec::new();
    for _ in 0..5 {
        let rec = t.ban(k, now, Reason::ExtremeRate, &policy());
        ttls.push((rec.until_ns - now) / NS_PER_SEC);
        now = rec.until_ns;
    }
    assert_eq!(ttls, [60, 120, 240, 300, 300]);
    now += 3_601 * NS_PER_SEC;
    let rec = t.ban(k, now, Reason::ExtremeRate, &policy());
    assert_eq!(rec.offences, 1);
}

#[test]
fn a_ban_longer_than_the_forget_window_still_escalates() {
    // forget_after (3600 s) shorter than the ban (7200 s): counting from the ban's end, the
    // next offence soon after expiry is the second, not a fresh first.
    let p = BanPolicy {
        ttl_secs: 7_200,
        max_ttl_secs: 100_000,
        ..policy()
    };
    let t = BanTable::new(10);
    let k = key("192.0.2.9");
    let first = t.ban(k, 0, Reason::ExtremeRate, &p);
    assert_eq!(
        t.sweep(first.until_ns + NS_PER_SEC, &p),
        0,
        "record swept at expiry"
    );
    let second = t.ban(k, first.until_ns + 10 * NS_PER_SEC, Reason::ExtremeRate, &p);
    assert_eq!(second.offences, 2);
    assert_eq!(
        (second.until_ns - second.last_offence_ns) / NS_PER_SEC,
        14_400
    );
}

#[test]
fn active_only_until_expiry_and_unban_lifts() {
    let t = BanTable::new(10);
    let k = key("192.0.2.1");
    t.ban(k, 0, Reason::ExtremeRate, &policy());
    assert!(t.active(&k, 59 * NS_PER_SEC).is_some());
    assert!(t.active(&k, 60 * NS_PER_SEC).is_none());
    t.ban(k, 100 * NS_PER_SEC, Reason::Manual, &policy());
    assert!(t.unban(&k, 101 * NS_PER_SEC));
    assert!(t.active(&k, 101 * NS_PER_SEC).is_none());
}

#[test]
fn bounded_and_evicts_the_soonest_expiry() {
    let t = BanTable::new(3);
    let at = |secs: u64| secs * NS_PER_SEC;
    // The oldest ban is a repeat offender's, so it expires last: evicting first-in-first-out
    // would drop it, evicting by expiry drops the second one.
    t.ban(key("192.0.2.1"), at(0), Reason::ExtremeRate, &policy());
    let long = t.ban(key("192.0.2.1"), at(60), Reason::ExtremeRate, &policy());
    assert_eq!(long.until_ns, at(180));
    for (i, ip) in ["192.0.2.2", "192.0.2.3", "192.0.2.4"].iter().enumerate() {
        t.ban(key(ip), at(61 + i as u64), Reason::ExtremeRate, &policy());
    }
    assert_eq!(t.len(), 3);
    let active = |ip: &str| t.active(&key(ip), at(65)).is_some();
    assert!(active("192.0.2.1"), "the oldest, longest ban stays");
    assert!(!active("192.0.2.2"), "the soonest expiry goes");
    assert!(active("192.0.2.3") && active("192.0.2.4"));
}

#[test]
fn a_shared_table_escalates_and_lifts_like_a_local_one() {
    let (region, _) = Region::attach(
        crate::shared::region::tests::zone(Region::MIN_BYTES),
        [1, 1],
    )
    .unwrap();
    let region = Arc::new(region);
    let t = BanTable::shared(region.clone());
    let other_worker = BanTable::shared(region);
    let k = key("192.0.2.1");
    assert!(t.active(&k, 0).is_none());
    let first = t.ban(k, 0, Reason::RepeatedViolations, &policy());
    let seen = other_worker.active(&k, NS_PER_SEC).unwrap();
    assert_eq!(seen, first);
    assert_eq!(seen.reason, Reason::RepeatedViolations);
    let second = other_worker.ban(k, first.until_ns, Reason::ExtremeRate, &policy());
    assert_eq!(second.offences, 2);
    assert_eq!((second.until_ns - first.until_ns) / NS_PER_SEC, 120);
    assert!(t.unban(&k, first.until_ns + 1));
    assert_eq!(t.snapshot().len(), 1);
    assert!(t.active_list(first.until_ns + 1).is_empty());
}

#[test]
fn snapshot_restores() {
    let t = BanTable::new(10);
    let first = t.ban(key("192.0.2.1"), 0, Reason::ExtremeRate, &policy());
    let again = t.ban(key("192.0.2.1"), first.until_ns, Reason::Manual, &policy());
    t.ban(key("192.0.2.2"), 5, Reason::RepeatedViolations, &policy());
    let u = BanTable::new(10);
    u.restore(t.snapshot());
    let mut before = t.snapshot();
    let mut after = u.snapshot();
    before.sort_by_key(|r| r.until_ns);
    after.sort_by_key(|r| r.until_ns);
    assert_eq!(after, before, "until, offences and reason all survive");
    let restored = u.active(&key("192.0.2.1"), first.until_ns).unwrap();
    assert_eq!(
        (restored.until_ns, restored.offences, restored.reason),
        (again.until_ns, 2, Reason::Manual)
    );
}

#[test]
fn a_full_table_gives_up_one_record_and_keeps_everyone_elses_history() {
    let t = BanTable::new(3);
    let at = |secs: u64| secs * NS_PER_SEC;
    // Three offenders whose bans have expired but whose offences are remembered.
    for (i, ip) in ["192.0.2.1", "192.0.2.2", "192.0.2.3"].iter().enumerate() {
        t.ban(key(ip), at(i as u64), Reason::ExtremeRate, &policy());
    }
    // A fourth, long after: the oldest record (192.0.2.1) makes room, nobody else's.
    t.ban(key("192.0.2.4"), at(1_000), Reason::ExtremeRate, &policy());
    assert_eq!(t.len(), 3);
    let mut kept: Vec<String> = t.snapshot().iter().map(|r| r.key.to_string()).collect();
    kept.sort();
    assert_eq!(kept, ["192.0.2.2", "192.0.2.3", "192.0.2.4"]);
    // 192.0.2.2 offends again: its history survived the overflow, so the ban escalates.
    let again = t.ban(key("192.0.2.2"), at(1_001), Reason::ExtremeRate, &policy());
    assert_eq!(again.offences, 2);
    assert_eq!((again.until_ns - again.last_offence_ns) / NS_PER_SEC, 120);
}

#[test]
fn the_sweep_drops_exactly_the_forgotten_records() {
    let t = BanTable::new(100);
    let at = |secs: u64| secs * NS_PER_SEC;
    t.ban(key("192.0.2.1"), at(0), Reason::ExtremeRate, &policy());
    t.ban(key("192.0.2.2"), at(1_000), Reason::ExtremeRate, &policy());
    // 192.0.2.1 was last seen at 60 s (its ban's end): forgotten after 3,660 s.
    assert_eq!(t.sweep(at(3_661), &policy()), 1);
    assert_eq!(t.len(), 1);
    assert!(t.unban(&key("192.0.2.2"), at(1_001)));
    // Lifting the ban moved its record to 1,001 s in the index: forgotten after 4,601 s.
    assert_eq!(t.sweep(at(4_600), &policy()), 0);
    assert_eq!(t.sweep(at(4_602), &policy()), 1);
    assert_eq!(t.len(), 0);
}
