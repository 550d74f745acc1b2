//! The shared scenario table against a real `tollgate` process and a real upstream on loopback,
//! clients bound to distinct 127.0.0.0/8 source addresses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::Path;

use tollgate_testkit::scenario::{run_over_http, table};
use tollgate_testkit::tollgate::{TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

#[test]
fn every_scenario_holds_in_the_proxy() {
    let bin = Path::new(env!("CARGO_BIN_EXE_tollgate"));
    let mut ran = 0;
    for s in table().scenarios.iter().filter(|s| !s.core_only) {
        let dir = TempDir::new("scenario");
        let upstream = Upstream::start().unwrap();
        let proxy = Tollgate::start(bin, &dir.0, &s.rules, upstream.addr);
        run_over_http(s, proxy.listen, &upstream);
        ran += 1;
    }
    assert!(ran >= 6, "only {ran} scenarios ran");
}
