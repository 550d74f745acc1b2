//! The shared scenario table in a real nginx built from the vendored source, with the module and
//! 2 workers on one `reuseport` listener; one test case per scenario. nginx's realip trusts the
//! rules' proxies; the upstream's `X-Forwarded-For` is the operator's `proxy_set_header`, so it
//! is not checked here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::Path;
use std::sync::Arc;

use tollgate_testkit::nginx::{Nginx, NginxBuild};
use tollgate_testkit::scenario::{run_over_http_as, trials, FrontEnd};
use tollgate_testkit::tollgate::TempDir;
use tollgate_testkit::upstream::Upstream;

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let build = Arc::new(NginxBuild::beside_this_test(Path::new(env!(
        "TOLLGATE_NGINX_BUILD_DIR"
    ))));
    let all = trials("", true, move |s| {
        let dir = TempDir::new("ngx-scenario");
        let upstream = Upstream::start().unwrap();
        let n = Nginx::start(&build, &dir.0, &s.rules, upstream.addr);
        run_over_http_as(s, n.listen, &upstream, FrontEnd::Nginx);
    });
    libtest_mimic::run(&args, all).exit();
}
