//! What misbehaviour costs, against a real proxy: a forged clearance, a wrong answer, a
//! replayed answer and collecting clearances past `max_grants_per_hour` each double the
//! client's next puzzle (one more leading zero bit), and nobody else's. Honest staleness costs
//! nothing: a spent, expired or moved clearance, a retired key, a junk cookie planted beside a
//! good one, or an answer from the other address family of a dual-stack client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use tollgate_testkit::challenge::{answer, forged_cookie, verify_path, wrong_answer};
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

/// The challenge response deletes the dead clearance cookie.
fn deletes_the_cookie(r: &tollgate_testkit::http::Response) -> bool {
    r.headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("set-cookie")
            && v.starts_with("tollgate_clearance=;")
            && v.contains("Max-Age=0")
    })
}

#[test]
fn a_spent_or_moved_clearance_is_challenged_free_of_charge_and_deleted() {
    let (_dir, up, t) = start("[clearance]\nrequests = 2\n");
    let me = "127.0.5.1";
    let cookie = earn(&t, me, PATH);
    assert_eq!(price(&t, me), 10, "a fresh grant is no offence");
    for _ in 0..2 {
        assert_eq!(get(&t, me, PATH, UA, Some(&cookie)).status, 200);
    }
    for _ in 0..3 {
        let spent = get(&t, me, PATH, UA, Some(&cookie));
        assert_eq!((spent.status, reason(&spent)), (403, "clearance_spent"));
        assert!(deletes_the_cookie(&spent), "{spent:?}");
    }
    // The same cookie from a new address, and with a new user agent: ours, not theirs.
    let moved = get(&t, "127.0.5.3", PATH, UA, Some(&cookie));
    assert_eq!(reason(&moved), "clearance_invalid");
    assert!(deletes_the_cookie(&moved));
    assert_eq!(
        reason(&get(&t, me, PATH, "Other/1.0", Some(&cookie))),
        "clearance_invalid"
    );
    assert_eq!(price(&t, me), 10, "staleness is not an offence");
    assert_eq!(price(&t, "127.0.5.3"), 10);
    assert_eq!(up.hits(), 2);
}

#[test]
fn only_a_forged_cookie_costs_and_a_planted_one_never_hides_a_real_one() {
    let (_dir, up, t) = start("");
    let me = "127.0.5.30";
    let cookie = earn(&t, me, PATH);
    let junk = "tollgate_clearance=junk";
    let planted = format!("{junk}; {}; {cookie}", forged_cookie());
    assert_eq!(
        get(&t, me, PATH, UA, Some(&planted)).status,
        200,
        "any good value clears"
    );
    assert_eq!(up.hits(), 1);
    assert_eq!(price(&t, me), 10);
    let r = get(&t, me, PATH, UA, Some(junk));
    assert_eq!(reason(&r), "clearance_invalid");
    assert_eq!(price(&t, me), 10, "junk is not a forgery");
    let r = get(&t, me, PATH, UA, Some(&forged_cookie()));
    assert_eq!(reason(&r), "clearance_invalid");
    assert_eq!(price(&t, me), 11, "a bad MAC under our key is");
}

#[test]
fn a_dual_stack_client_answering_from_its_other_address_is_rechallenged_free() {
    // Behind a trusted front proxy, so the client's two address families can be named.
    let (_dir, _up, t) = start("[clients]\ntrusted_proxies = [\"127.0.5.40\"]\n");
    let via = |client: &str, path: &str| {
        let headers = [("User-Agent", UA), ("X-Forwarded-For", client)];
        t.request("127.0.5.40", "GET", path, &headers)
    };
    let v4 = "203.0.113.40";
    let offer_path = format!("/.tollgate/challenge?return={PATH}");
    let o: serde_json::Value = serde_json::from_str(&via(v4, &offer_path).body).unwrap();
    // Fetched over IPv4, answered over IPv6 (Happy Eyeballs picked the other family).
    let r = via("2001:db8::40", &solved(&o, PATH));
    assert_eq!((r.status, reason(&r)), (403, "challenge_invalid"), "{r:?}");
    assert!(
        r.body.contains("\"param\":10"),
        "a fresh challenge at the usual price"
    );
    let again: serde_json::Value = serde_json::from_str(&via(v4, &offer_path).body).unwrap();
    assert_eq!(again["param"], 10, "no offence on the IPv4 side either");
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

#[test]
fn an_expired_clearance_is_challenged_free_and_deleted() {
    let (_dir, up, t) = start("");
    let me = "127.0.5.50";
    let rules = t.rules_path.to_str().unwrap().to_string();
    let args = [
        "token",
        "--ip",
        me,
        "--user-agent",
        UA,
        "--ttl-secs",
        "1",
        "--rules",
        &rules,
    ];
    let cookie = cli(
        &args,
        &[("TOLLGATE_SECRET", tollgate_testkit::TEST_SECRET_HEX)],
    );
    assert_eq!(get(&t, me, PATH, UA, Some(&cookie)).status, 200);
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    let r = get(&t, me, PATH, UA, Some(&cookie));
    assert_eq!((r.status, reason(&r)), (403, "clearance_expired"));
    assert!(deletes_the_cookie(&r), "{r:?}");
    assert_eq!(price(&t, me), 10, "expiry is not an offence");
    assert_eq!(up.hits(), 1);
}

#[test]
fn a_client_past_its_share_of_the_replay_cache_waits_alone() {
    let dir = TempDir::new("solved-share");
    let up = Upstream::start().unwrap();
    let rules = rules(8).replace("range = 20000", "range = 20000\nmax_solved_per_client = 2");
    let t = Tollgate::start(bin(), &dir.0, &rules, up.addr);
    let flood = "127.0.5.90";
    for _ in 0..2 {
        let o = offer(&t, flood, UA, PATH);
        assert_eq!(get(&t, flood, &solved(&o, PATH), UA, None).status, 303);
    }
    let o = offer(&t, flood, UA, PATH);
    let third = get(&t, flood, &solved(&o, PATH), UA, None);
    assert_eq!((third.status, reason(&third)), (429, "challenge_busy"));
    assert_eq!(
        t.metric("tollgate_solved_challenges"),
        2.0,
        "the third was not stored"
    );
    // Everyone else still solves and passes.
    let cookie = earn(&t, "127.0.5.91", PATH);
    assert_eq!(get(&t, "127.0.5.91", PATH, UA, Some(&cookie)).status, 200);
}

#[test]
fn an_answer_used_before_a_restart_cannot_be_used_again_after_it() {
    let dir = TempDir::new("restart-replay");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, &rules(8), up.addr);
    let me = "127.0.5.95";
    let o = offer(&t, me, UA, PATH);
    let answer = solved(&o, PATH);
    assert_eq!(get(&t, me, &answer, UA, None).status, 303);
    assert_eq!(
        reason(&get(&t, me, &answer, UA, None)),
        "challenge_replayed"
    );
    let rules_path = t.rules_path.clone();
    drop(t);
    let t = Tollgate::start_with(bin(), &dir.0, &rules_path, up.addr);
    let again = get(&t, me, &answer, UA, None);
    assert_eq!(reason(&again), "challenge_expired", "{again:?}");
    assert_ne!(again.status, 303);
    assert_eq!(price(&t, me), 8, "a restart's refusal is no offence");
    // A challenge issued by the new process is answered as usual.
    assert_eq!(
        get(&t, me, &solved(&offer(&t, me, UA, PATH), PATH), UA, None).status,
        303
    );
}
