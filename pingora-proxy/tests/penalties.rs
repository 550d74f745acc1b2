//! What misbehaviour costs, against a real proxy: a spent clearance, a wrong answer, a replayed
//! answer and collecting clearances past `max_grants_per_hour` each double the client's next
//! puzzle (one more leading zero bit), and nobody else's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use tollgate_testkit::challenge::{answer, verify_path, wrong_answer};
use tollgate_testkit::tollgate::{TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

mod support;

use support::*;

const PATH: &str = "/protected/x";

/// The difficulty (bits) client `from` is offered now.
fn price(t: &Tollgate, from: &str) -> u64 {
    offer(t, from, UA, PATH)["param"].as_u64().unwrap()
}

fn start(extra: &str) -> (TempDir, Upstream, Tollgate) {
    let dir = TempDir::new("penalty");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, &format!("{}{extra}", rules(10)), up.addr);
    (dir, up, t)
}

#[test]
fn spending_a_clearance_to_the_end_raises_the_next_price() {
    let (_dir, up, t) = start("[clearance]\nrequests = 2\n");
    let me = "127.0.5.1";
    let cookie = earn(&t, me, PATH);
    assert_eq!(price(&t, me), 10, "a fresh grant is no offence");
    for _ in 0..2 {
        assert_eq!(get(&t, me, PATH, UA, Some(&cookie)).status, 200);
    }
    let spent = get(&t, me, PATH, UA, Some(&cookie));
    assert_eq!((spent.status, reason(&spent)), (403, "clearance_spent"));
    assert_eq!(price(&t, me), 11);
    assert_eq!(price(&t, "127.0.5.2"), 10);
    assert_eq!(up.hits(), 2);
}

#[test]
fn wrong_and_replayed_answers_each_raise_the_next_price() {
    let (_dir, _up, t) = start("");
    let me = "127.0.5.10";
    let o = offer(&t, me, UA, PATH);
    let (token, right) = (o["token"].as_str().unwrap(), answer(&o));
    let wrong = get(
        &t,
        me,
        &verify_path(token, wrong_answer(&o, right), PATH),
        UA,
        None,
    );
    assert_eq!(reason(&wrong), "challenge_failed");
    assert_eq!(price(&t, me), 11, "one wrong answer");
    // The token was priced at 10 bits before the offence: answering it now is too cheap.
    let good = verify_path(token, right, PATH);
    assert_eq!(reason(&get(&t, me, &good, UA, None)), "challenge_too_easy");

    let o = offer(&t, me, UA, PATH);
    let good = verify_path(o["token"].as_str().unwrap(), answer(&o), PATH);
    assert_eq!(reason(&get(&t, me, &good, UA, None)), "challenge_passed");
    assert_eq!(price(&t, me), 11, "a correct answer is no offence");
    assert_eq!(reason(&get(&t, me, &good, UA, None)), "challenge_replayed");
    assert_eq!(price(&t, me), 12, "and its replay is one");
}

#[test]
fn clearances_past_max_grants_per_hour_raise_the_next_price() {
    let (_dir, _up, t) = start("[clearance]\nmax_grants_per_hour = 2\n");
    let me = "127.0.5.20";
    let mut prices = Vec::new();
    for _ in 0..3 {
        earn(&t, me, PATH);
        prices.push(price(&t, me));
    }
    assert_eq!(
        prices,
        [10, 10, 11],
        "the third grant in the hour costs the next one a bit"
    );
    assert_eq!(price(&t, "127.0.5.21"), 10);
}
