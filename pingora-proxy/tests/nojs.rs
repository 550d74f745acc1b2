//! Visitors without JavaScript on a `nojs = "wait"` route: the page's `<noscript>` refresh leads
//! to a signed link that works only after the wait, once, and buys a clearance with the smaller
//! `nojs_requests` budget that opens only waiting routes. Headless Chromium with JavaScript
//! disabled gets through by waiting; a route without `nojs` offers nothing of the kind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::time::Duration;

use tollgate_testkit::http::Response;
use tollgate_testkit::tollgate::{TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;
use tollgate_testkit::{browser, challenge};

mod support;

use support::bin;

const RULES: &str = r#"
[challenge]
nojs_wait_secs = 2
[clearance]
nojs_requests = 3
[[route]]
name = "strict"
path_prefix = "/strict"
action = "challenge"
[[route]]
name = "articles"
path_prefix = "/"
action = "challenge"
nojs = "wait"
"#;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

fn get(t: &Tollgate, path: &str, cookie: Option<&str>) -> Response {
    let mut headers = vec![("User-Agent", UA)];
    if let Some(c) = cookie {
        headers.push(("Cookie", c));
    }
    t.request("127.0.0.91", "GET", path, &headers)
}

fn reason(r: &Response) -> &str {
    r.header("x-tollgate-reason").unwrap_or("-")
}

fn wait_link(page: &Response) -> Option<String> {
    challenge::wait_link(&page.body)
}

#[test]
fn the_link_works_after_the_wait_once_and_buys_a_small_budget_on_waiting_routes_only() {
    let dir = TempDir::new("nojs-link");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, RULES, up.addr);
    let page = get(&t, "/article?id=7", None);
    assert_eq!((page.status, reason(&page)), (403, "route_challenge"));
    let link = wait_link(&page).expect("a waiting route's page carries the refresh");
    assert!(page.body.clone().contains("content=\"3;url="), "wait + 1 s");

    let early = get(&t, &link, None);
    assert_eq!((early.status, reason(&early)), (403, "nojs_too_early"));
    std::thread::sleep(Duration::from_millis(2_100));
    let paid = get(&t, &link, None);
    assert_eq!((paid.status, reason(&paid)), (303, "nojs_waited"));
    assert_eq!(paid.header("location"), Some("/article?id=7"));
    let again = get(&t, &link, None);
    assert_eq!((again.status, reason(&again)), (403, "challenge_replayed"));

    let set = paid.header("set-cookie").unwrap();
    let cookie = set.split(';').next().unwrap();
    for i in 0..3 {
        assert_eq!(get(&t, &format!("/article/{i}"), Some(cookie)).status, 200);
    }
    let spent = get(&t, "/article/3", Some(cookie));
    assert_eq!(reason(&spent), "clearance_spent", "nojs_requests = 3");
    assert_eq!(up.hits(), 3);
}

#[test]
fn a_route_without_nojs_offers_no_link_and_takes_no_waited_clearance() {
    let dir = TempDir::new("nojs-strict");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, RULES, up.addr);
    let strict = get(&t, "/strict/x", None);
    assert_eq!(wait_link(&strict), None);
    // The strict page's token in a wait link: only a waiting route's challenge may be waited out.
    let body = strict.body.clone();
    let token = body
        .split("\"token\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let forged = get(
        &t,
        &format!("/.tollgate/wait?challenge={token}&return=/strict/x"),
        None,
    );
    assert_eq!((forged.status, reason(&forged)), (403, "challenge_invalid"));
    // A clearance waited for on the articles route does not open the strict one.
    let link = wait_link(&get(&t, "/a", None)).unwrap();
    std::thread::sleep(Duration::from_millis(3_100));
    let paid = get(&t, &link, None);
    let cookie = paid
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(get(&t, "/a", Some(&cookie)).status, 200);
    let too_weak = get(&t, "/strict/x", Some(&cookie));
    assert_eq!(
        (too_weak.status, reason(&too_weak)),
        (403, "clearance_too_weak")
    );
}

#[test]
fn chromium_without_javascript_gets_through_by_waiting() {
    if !browser::available() {
        return;
    }
    let dir = TempDir::new("nojs-chromium");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, RULES, up.addr);
    let v = browser::pass_without_javascript(
        &format!("http://{}/news", t.listen),
        "upstream saw /news",
    );
    let elapsed = v["elapsed_ms"].as_u64().unwrap();
    assert!(elapsed >= 2_000, "it waited: {elapsed} ms");
    assert_eq!(
        v["solve_ms"],
        serde_json::Value::Null,
        "and solved nothing: {v}"
    );
    let waited = v["responses"].as_array().unwrap().iter().any(|r| {
        r["url"].as_str().unwrap_or("").contains("/.tollgate/wait?") && r["reason"] == "nojs_waited"
    });
    assert!(waited, "{v}");
    // The page, and the favicon Chromium asks for once it holds the clearance.
    assert!((1..=2).contains(&up.hits()), "{}", up.hits());
}
