//! The shared scenario table against a real `tollgate` process and a real upstream on loopback,
//! clients bound to distinct 127.0.0.0/8 source addresses; one test case per scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::Path;

use tollgate_testkit::scenario::{run_over_http, trials};
use tollgate_testkit::tollgate::{TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let bin = Path::new(env!("CARGO_BIN_EXE_tollgate"));
    let all = trials("", true, move |s| {
        let dir = TempDir::new("scenario");
        let upstream = Upstream::start().unwrap();
        let proxy = Tollgate::start(bin, &dir.0, &s.rules, upstream.addr);
        run_over_http(s, proxy.listen, &upstream);
    });
    libtest_mimic::run(&args, all).exit();
}
