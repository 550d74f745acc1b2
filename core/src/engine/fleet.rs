//! What a front end in a fleet does with the engine: take the bans to publish, and settle the
//! claims of first answers.

use std::sync::atomic::Ordering;

use super::{gates, Engine};
use crate::clock::NS_PER_SEC;
use crate::fleet::{Count, Meter, Metered};
use crate::fleet::{ATTACK_ERRORS, ATTACK_REQUESTS};
use crate::limit::BanRecord;
use crate::request::RequestView;
use crate::toll::clearance::USAGE;
use crate::toll::penalty::PENALTIES;
use crate::verdict::{Claim, Decision, Reason, Verdict};

impl Engine {
    /// From now on, bans are queued for [`Engine::take_new_bans`] and first answers come back
    /// as [`Decision::Claim`].
    pub fn join_fleet(&self) {
        self.state.fleet.enable();
        self.state.tally.enable();
        // Rebuilt so that every limiter counts its passes for the fleet.
        self.install((*self.rules()).clone());
    }

    /// From now on (in a fleet), route limits are metered by the store: a limited request
    /// comes back as [`Decision::Meter`] first, for [`Engine::decide_metered`].
    pub fn meter_limits_in_fleet(&self) {
        self.state.exact_limits.store(true, Ordering::Relaxed);
    }

    /// Decides `req` again with the store's `reading` of `meter` (what [`Decision::Meter`]
    /// asked for): the route's limit is the store's, unless it could not be asked.
    pub fn decide_metered(
        &self,
        req: &RequestView<'_>,
        meter: &Meter,
        reading: Metered,
    ) -> Verdict {
        let active = self.active.load();
        let now = self.clock.now_ns();
        gates::decide(&active, &self.state, req, now, Some((meter, reading)))
    }

    /// What this instance let through since the last call, per limiter and key, for the
    /// others to add to theirs.
    pub fn take_counts(&self) -> Vec<Count> {
        self.state.tally.take()
    }

    /// Passes not shared because the tally was full.
    pub fn uncounted(&self) -> u64 {
        self.state.tally.lost()
    }

    /// Adds other instances' counts to this one's limiters and clearance budgets. Counts for a
    /// limiter these rules do not have are dropped.
    pub fn apply_counts(&self, counts: impl IntoIterator<Item = Count>) {
        let now = self.clock.now_ns();
        let active = self.active.load();
        let rules = &active.rules;
        for c in counts {
            let n = u64::from(c.n);
            match &*c.counter {
                USAGE => self.state.tolls.usage.charge(&c.key, c.n, c.base, now),
                PENALTIES => self.state.tolls.fleet_offences(rules, &c.key, c.n, now),
                ATTACK_REQUESTS | ATTACK_ERRORS => {
                    let Some(a) = &rules.under_attack else {
                        continue;
                    };
                    let (r, e) = match &*c.counter == ATTACK_REQUESTS {
                        true => (n, 0),
                        false => (0, n),
                    };
                    self.state.attack.add(a, now / NS_PER_SEC, r, e);
                }
                name => {
                    if let Some(l) = active.limiters.named(name) {
                        l.charge(&c.key, c.n, now);
                    }
                }
            }
        }
    }

    /// The bans recorded since the last call, oldest first, for the fleet.
    pub fn take_new_bans(&self) -> Vec<BanRecord> {
        self.state.fleet.take()
    }

    /// Applies bans other instances published, keeping the later of two records per key. A
    /// record is held to these rules' bounds first (a ban no longer than `max_ttl_secs` from
    /// now, no offence in the future), since anyone who can write to the store can publish one.
    pub fn apply_fleet_bans(&self, records: impl IntoIterator<Item = BanRecord>) {
        let now = self.clock.now_ns();
        let max_ttl_ns = self.with_rules(|r| r.bans.policy.max_ttl_secs.saturating_mul(NS_PER_SEC));
        let bounded = records.into_iter().map(|mut b| {
            b.until_ns = b.until_ns.min(now.saturating_add(max_ttl_ns));
            b.last_offence_ns = b.last_offence_ns.min(now);
            b
        });
        self.restore_bans(bounded);
    }

    /// How long the fleet must keep `ban` (seconds from now, at least 1): until its offences are
    /// forgotten under these rules, the point past which the ban table forgets it too.
    pub fn ban_memory_secs(&self, ban: &BanRecord) -> u64 {
        let now = self.clock.now_ns();
        let forget_ns =
            self.with_rules(|r| r.bans.policy.forget_after_secs.saturating_mul(NS_PER_SEC));
        let until = ban.last_seen_ns().saturating_add(forget_ns);
        until.saturating_sub(now).div_ceil(NS_PER_SEC).max(1)
    }

    /// Bans never published because the queue was full (the store was away too long).
    pub fn unpublished_bans(&self) -> u64 {
        self.state.fleet.dropped()
    }

    /// The decision for `claim`: `Some(true)` it is the fleet's first use of the answer (the
    /// clearance); `Some(false)` another instance took it first (a replay, and an offence);
    /// `None` the fleet could not be asked, so this instance's own memory decides (it is the
    /// first here: the clearance).
    pub fn claimed(&self, claim: &Claim, first: Option<bool>) -> Decision {
        if first != Some(false) {
            return claim.then.clone();
        }
        let now = self.clock.now_ns();
        self.with_rules(|rules| self.state.tolls.offence_of(rules, &claim.key, now));
        Decision::deny(403, Reason::ChallengeReplayed)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::NS_PER_SEC;
    use crate::fleet::Metered;
    use crate::limit::BanRecord;
    use crate::rules::{parse_rules, FsReader};
    use crate::solve::{solve_parallel, Work};
    use crate::toll::Keyring;
    use crate::verdict::{Decision, Kind, Reason};
    use crate::{CoreClock, Engine, RequestView};

    const RULES: &str = "[challenge]\ndifficulty = 6\n[bans]\nextreme_requests = 3\n[[route]]\nname = \"site\"\npath_prefix = \"/\"\naction = \"challenge\"\n";

    fn engine() -> Engine {
        let rules = parse_rules(RULES, Path::new("t.toml"), &FsReader).unwrap();
        let keys = Keyring::from_hex(&"ab".repeat(32)).unwrap();
        let e = Engine::new(rules, keys, CoreClock::manual(1_000_000_000_000));
        e.join_fleet();
        e
    }

    fn get<'a>(path: &'a str, query: Option<&'a str>) -> RequestView<'a> {
        let mut v = RequestView::get("192.0.2.9".parse().unwrap(), path);
        v.host = Some("example.com");
        v.query = query;
        v
    }

    /// A correct answer to a fresh challenge, as the verify query.
    fn answered(e: &Engine) -> String {
        let Decision::Challenge { page, .. } = e.decide(&get("/p", None)).decision else {
            panic!("challenged");
        };
        let o = &page.offer;
        let work = Work::new(o.puzzle, &o.prefix, o.target.as_deref()).unwrap();
        let (nonce, _) = solve_parallel(&work, 1).unwrap();
        format!("challenge={}&nonce={nonce}&return=/p", o.token)
    }

    #[test]
    fn a_first_answer_is_claimed_and_the_fleet_decides() {
        let e = engine();
        let q = answered(&e);
        let Decision::Claim { claim, reason } =
            e.decide(&get("/.tollgate/verify", Some(&q))).decision
        else {
            panic!("a first answer in a fleet is a claim");
        };
        assert_eq!(reason, Reason::AnswerClaim);
        assert_eq!(e.claimed(&claim, Some(true)).kind(), Kind::Pass);
        assert_eq!(
            e.claimed(&claim, None).kind(),
            Kind::Pass,
            "the fleet away: local memory"
        );
        let lost = e.claimed(&claim, Some(false));
        assert_eq!(
            lost.reason(),
            Reason::ChallengeReplayed,
            "another instance was first"
        );
        // The second use here is refused locally, without asking the fleet.
        let again = e.decide(&get("/.tollgate/verify", Some(&q))).decision;
        assert_eq!(again.reason(), Reason::ChallengeReplayed);
    }

    #[test]
    fn each_new_ban_is_queued_for_the_fleet_once() {
        let e = engine();
        for _ in 0..5 {
            e.decide(&get("/p", None));
        }
        let bans = e.take_new_bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(bans[0].reason, Reason::ExtremeRate);
        assert!(e.take_new_bans().is_empty());
    }

    #[test]
    fn counts_from_one_instance_fill_the_others_buckets() {
        let rules = "[limit]\nrequests = 1\nper_secs = 60\nburst = 5\n";
        let two: Vec<Engine> = (0..2)
            .map(|_| {
                let r = parse_rules(rules, Path::new("t.toml"), &FsReader).unwrap();
                let keys = Keyring::from_hex(&"ab".repeat(32)).unwrap();
                let e = Engine::new(r, keys, CoreClock::manual(1_000_000_000_000));
                e.join_fleet();
                e
            })
            .collect();
        for _ in 0..3 {
            assert!(two[0].decide(&get("/p", None)).decision.is_allow());
        }
        let counts = two[0].take_counts();
        assert!(
            counts.iter().any(|c| &*c.counter == "default" && c.n == 3),
            "{counts:?}"
        );
        two[1].apply_counts(counts);
        let passed = (0..5).filter(|_| two[1].decide(&get("/p", None)).decision.is_allow());
        assert_eq!(
            passed.count(),
            2,
            "5 of burst, 3 spent on the other instance"
        );
    }

    fn pair(rules: &str) -> Vec<Engine> {
        (0..2)
            .map(|_| {
                let r = parse_rules(rules, Path::new("t.toml"), &FsReader).unwrap();
                let keys = Keyring::from_hex(&"ab".repeat(32)).unwrap();
                let e = Engine::new(r, keys, CoreClock::manual(1_000_000_000_000));
                e.join_fleet();
                e
            })
            .collect()
    }

    #[test]
    fn offences_and_the_attack_meter_count_across_the_fleet() {
        let rules = "[challenge]\ndifficulty = 6\n[under_attack]\nrequests_per_sec = 9\n[score]\n[[route]]\nname = \"site\"\npath_prefix = \"/\"\naction = \"challenge\"\n";
        let two = pair(rules);
        let bits = |e: &Engine| match e.decide(&get("/p", None)).decision {
            Decision::Challenge { page, .. } => page.offer.puzzle.work_bits(),
            d => panic!("{d:?}"),
        };
        let before = bits(&two[1]);
        // A replay seen on the first instance is an offence on the second too.
        let q = answered(&two[0]);
        let Decision::Claim { claim, .. } =
            two[0].decide(&get("/.tollgate/verify", Some(&q))).decision
        else {
            panic!("a claim");
        };
        two[0].claimed(&claim, Some(false));
        two[1].apply_counts(two[0].take_counts());
        assert_eq!(
            bits(&two[1]),
            before + 1,
            "one more doubling for the offender"
        );
        // Five requests here and five there in one second: 10, over 9 on the one that hears.
        for e in &two {
            for _ in 0..3 {
                e.decide(&get("/p", None));
            }
        }
        two[1].apply_counts(two[0].take_counts());
        for e in &two {
            e.clock().advance(std::time::Duration::from_secs(1));
        }
        two[1].decide(&get("/p", None));
        assert!(
            two[1].attack_status().engaged,
            "{:?}",
            two[1].attack_status()
        );
        two[0].decide(&get("/p", None));
        assert!(
            !two[0].attack_status().engaged,
            "the first saw only its own"
        );
    }

    #[test]
    fn exact_limits_are_metered_by_the_store_and_counted_once() {
        let rules = "[limit]\nrequests = 1\nper_secs = 60\nburst = 2\n[bans]\nextreme_requests = 4\n[[route]]\nname = \"open\"\npath_prefix = \"/open\"\naction = \"allow\"\n";
        let e = pair(rules).remove(0);
        e.meter_limits_in_fleet();
        let req = get("/p", None);
        let Decision::Meter { meter, reason } = e.decide(&req).decision else {
            panic!("a limited request is metered first");
        };
        assert_eq!(
            (reason, meter.counter(), meter.burst()),
            (Reason::FleetMeter, "default", 2)
        );
        assert_eq!(meter.period_us(), 60_000_000);
        // Over in the store: refused here though the local bucket is full.
        let wait = std::time::Duration::from_secs(7);
        let over = e.decide_metered(&req, &meter, Metered::Over(wait)).decision;
        assert_eq!(
            over,
            Decision::RateLimited {
                retry_after: wait,
                reason: Reason::RateLimit
            }
        );
        // Within, twice: passes; the store away: the local bucket, which holds those two.
        for _ in 0..2 {
            assert!(e
                .decide_metered(&req, &meter, Metered::Within)
                .decision
                .is_allow());
        }
        let away = e.decide_metered(&req, &meter, Metered::Unknown).decision;
        assert_eq!(away.reason(), Reason::RateLimit, "{away:?}");
        // Five decisions on four requests, with 4 extreme requests allowed: had asking for the
        // meter counted, the last would have been a ban.
        assert!(e.take_new_bans().is_empty());
        for path in ["/open", "/.tollgate/challenge.js"] {
            let d = e.decide(&get(path, None)).decision;
            assert_ne!(d.kind(), Kind::Meter, "{path}: no limit to meter");
        }
    }

    #[test]
    fn a_published_ban_is_held_to_the_rules_bounds() {
        let e = engine();
        let now = e.clock().now_ns();
        let key = crate::ClientKey::new("198.51.100.1".parse().unwrap(), 32, 64);
        let forever = BanRecord {
            key,
            until_ns: u64::MAX,
            offences: 1,
            last_offence_ns: u64::MAX,
            reason: Reason::ExtremeRate,
        };
        e.apply_fleet_bans([forever]);
        let held = e.active_bans();
        let max = 86_400 * NS_PER_SEC;
        assert_eq!(held.len(), 1);
        assert!(
            held[0].until_ns <= now + max && held[0].last_offence_ns <= now,
            "{held:?}"
        );
    }
}
