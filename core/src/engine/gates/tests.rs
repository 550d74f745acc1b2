//! A bug in a gate, made on purpose: the pipeline catches the panic, that request alone gets a
//! 500, and the locks it held do not stay taken.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use crate::clock::CoreClock;
use crate::request::RequestView;
use crate::rules::{parse_rules, FsReader};
use crate::shared::region::{tests::zone, Region};
use crate::toll::Keyring;
use crate::verdict::{Decision, Reason};
use crate::Engine;

/// The path whose request panics inside the rhythm's store update (under its lock).
const PANIC_PATH: &str = "/panic-here";

pub(super) fn panic_on_request(req: &RequestView<'_>) {
    if req.path == PANIC_PATH {
        panic!("a deliberate bug under a store's lock");
    }
}

#[test]
fn a_panicking_gate_fails_that_request_alone_and_its_client_goes_on() {
    let rules = "[score]\n[limit]\nrequests = 5\nper_secs = 60\nburst = 5\n";
    let rules = parse_rules(rules, Path::new("t.toml"), &FsReader).unwrap();
    let keys = Keyring::from_hex(&"ab".repeat(32)).unwrap();
    let clock = CoreClock::manual(1_000_000_000_000);
    let (region, _) = Region::attach(zone(Region::MIN_BYTES), [7, 8]).unwrap();
    let engines = [
        Engine::new(rules.clone(), keys.clone(), clock.clone()),
        Engine::shared(rules, keys, clock, Arc::new(region)),
    ];
    let peer: IpAddr = "198.51.100.7".parse().unwrap();
    for e in &engines {
        let bug = e.decide(&RequestView::get(peer, PANIC_PATH));
        assert_eq!(bug.decision, Decision::deny(500, Reason::InternalError));
        assert_eq!(bug.client_ip, peer);
        // The same client, so the same shard or bucket the panic held: not left locked.
        let reasons: Vec<Reason> = (0..6)
            .map(|_| e.decide(&RequestView::get(peer, "/a")).decision.reason())
            .collect();
        let mut want = vec![Reason::WithinLimit; 5];
        want.push(Reason::RateLimit);
        assert_eq!(reasons, want, "the failed request was not counted");
    }
}
