//! The shared zone when it is full, in a real nginx (2 workers, the smallest zone nginx takes, 576k).
//!
//! A spray of fresh addresses is the cheap attack on fixed memory: these tests push each table
//! past its capacity (the slot counts are pinned by the core's
//! `the_smallest_nginx_zone_has_the_slots_the_nginx_tests_overflow`) and check that what the zone
//! forgets is what it should: the oldest ban one at a time, never a flooder's rate counter for
//! the sake of long-lived penalty entries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::net::Ipv4Addr;
use std::path::Path;

use tollgate_testkit::challenge::forged_cookie;
use tollgate_testkit::http::{self, Response};
use tollgate_testkit::nginx::{Nginx, NginxBuild, NginxConf};
use tollgate_testkit::tollgate::TempDir;
use tollgate_testkit::upstream::Upstream;

/// Ban slots in a 576k zone (about: nginx's slab header size varies by a few bytes).
const BAN_SLOTS: usize = 1_480;
/// Counter slots in a 576k zone.
const COUNTER_SLOTS: usize = 7_968;

fn start(dir: &TempDir, rules: &str, up: &Upstream) -> Nginx {
    let build = NginxBuild::beside_this_test(Path::new(env!("TOLLGATE_NGINX_BUILD_DIR")));
    let conf = NginxConf {
        zone_size: Some("576k".into()),
        ..NginxConf::default()
    };
    Nginx::start_conf(&build, &dir.0, rules, up.addr, &conf)
}

fn get(n: &Nginx, from: Ipv4Addr, path: &str, headers: &[(&str, &str)]) -> Response {
    http::request(from.into(), n.listen, "GET", path, headers).unwrap()
}

fn reason(r: &Response) -> &str {
    r.header("x-tollgate-reason").unwrap_or("-")
}

/// The `i`th sprayed address: 127.20.0.1 onwards, 250 to a /24.
fn sprayed(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(
        127,
        20 + (i / 62_500) as u8,
        (i / 250 % 250) as u8,
        (i % 250 + 1) as u8,
    )
}

#[test]
fn a_ban_spray_past_the_ban_table_evicts_the_oldest_bans_one_at_a_time() {
    let dir = TempDir::new("ngx-ban-spray");
    let up = Upstream::start().unwrap();
    // A second request within a minute is an extreme rate: two requests, one ban.
    let rules = "[limit]\nenabled = false\n[networks]\nenabled = false\n\
                 [bans]\nextreme_requests = 1\nextreme_window_secs = 600\nttl_secs = 600\n";
    let n = start(&dir, rules, &up);
    let total = 3 * BAN_SLOTS;
    for i in 0..total {
        let from = sprayed(i);
        assert_eq!(get(&n, from, "/", &[]).status, 200, "{from}");
        let second = get(&n, from, "/", &[]);
        // A full table still takes every new ban: the newcomer evicts, it is never let through.
        assert_eq!(
            (second.status, reason(&second)),
            (403, "extreme_rate"),
            "{from}"
        );
    }
    // Still remembered: `active_ban`. Forgotten: the extreme counter (kept in the counter table)
    // bans it afresh, as `extreme_rate`. The newest are asked first, as asking re-bans the
    // forgotten and so evicts again.
    let remembered = |range: std::ops::Range<usize>| {
        let remembered = range
            .rev()
            .filter(|&i| reason(&get(&n, sprayed(i), "/", &[])) == "active_ban");
        remembered.count()
    };
    let newest = remembered(total - BAN_SLOTS / 4..total);
    let oldest = remembered(0..BAN_SLOTS / 4);
    // Eight-way buckets evict the soonest expiry in the bucket: the newest quarter-table all
    // but surely still fits (a bucket would need nine of its ~334 entries), the oldest quarter
    // has been pushed out by the two tables' worth that followed it.
    assert!(
        newest >= BAN_SLOTS / 4 * 95 / 100,
        "{newest} of the newest {} remembered",
        BAN_SLOTS / 4
    );
    assert!(
        oldest <= BAN_SLOTS / 4 / 20,
        "{oldest} of the oldest {} remembered: the table grew",
        BAN_SLOTS / 4
    );
    assert!(n.log().matches("[emerg]").count() == 0, "{}", n.log());
}

#[test]
fn a_forged_cookie_spray_cannot_push_a_flooders_rate_counter_out_of_the_zone() {
    let dir = TempDir::new("ngx-ledger-spray");
    let up = Upstream::start().unwrap();
    let rules = "[limit]\nrequests = 1\nper_secs = 60\nburst = 5\n[networks]\nenabled = false\n\
                 [bans]\nextreme_requests = 0\nviolations = 0\n\
                 [[route]]\nname = \"members\"\npath_prefix = \"/members/\"\naction = \"challenge\"\n";
    let n = start(&dir, rules, &up);
    let flooder = Ipv4Addr::new(127, 19, 0, 1);
    let statuses: Vec<u16> = (0..6).map(|_| get(&n, flooder, "/", &[]).status).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
    // Each sprayed address leaves one counter (60 s of debt, less than the flooder's 300 s) and
    // one penalty for the forged clearance (600 s, `penalty_decay_secs`). Two tables' worth of
    // them: in one shared table the penalties would fill the flooder's bucket and push it out;
    // among counters alone the cheapest go first.
    let cookie = forged_cookie();
    for i in 0..2 * COUNTER_SLOTS {
        let r = get(&n, sprayed(i), "/members/x", &[("Cookie", &cookie)]);
        assert_eq!(
            (r.status, reason(&r)),
            (403, "clearance_invalid"),
            "{}",
            sprayed(i)
        );
    }
    let after = get(&n, flooder, "/", &[]);
    assert_eq!(
        (after.status, reason(&after)),
        (429, "rate_limit"),
        "the spray reset the flooder's spent burst"
    );
}
