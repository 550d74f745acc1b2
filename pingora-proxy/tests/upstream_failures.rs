//! Upstream failures against real sockets: a black hole times out into the core's 504, a
//! refusing upstream is passed over for its sibling, nothing reachable is a 502, and each one
//! counts as an upstream error (the signal under-attack mode reads), never a downstream one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tollgate_testkit::process::{eventually, free_port};
use tollgate_testkit::tollgate::{write_rules, Launch, TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tollgate"))
}

const LIMITS: &str = "[limit]\nrequests = 1000\nburst = 1000\n";

/// Accepts connections and never answers; holds them until dropped.
struct BlackHole {
    addr: SocketAddr,
    _held: Arc<Mutex<Vec<TcpStream>>>,
}

impl BlackHole {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let held = Arc::new(Mutex::new(Vec::new()));
        let keep = held.clone();
        thread::spawn(move || {
            for s in listener.incoming().take(64).flatten() {
                keep.lock().unwrap().push(s);
            }
        });
        Self { addr, _held: held }
    }
}

fn start(dir: &TempDir, server: &str, how: Launch) -> Tollgate {
    let rules = write_rules(&dir.0, &format!("[server]\n{server}\n{LIMITS}"));
    Tollgate::launch(bin(), &dir.0, &rules, &how)
}

/// The count is taken after the response is sent (Pingora's logging phase): wait for it.
fn assert_upstream_errors(t: &Tollgate, want: f64) {
    let counted = eventually(Duration::from_secs(3), || {
        t.metric("tollgate_upstream_errors_total") == want
    });
    assert!(counted, "{}", t.metric("tollgate_upstream_errors_total"));
}

#[test]
fn a_black_hole_upstream_gets_the_cores_504_at_the_read_timeout() {
    let dir = TempDir::new("blackhole");
    let hole = BlackHole::start();
    let t = start(
        &dir,
        "upstream_read_timeout_secs = 0.5",
        Launch::new(hole.addr),
    );
    let started = Instant::now();
    let r = t.get("127.0.13.1", "/stuck");
    let took = started.elapsed();
    assert_eq!(
        (r.status, r.header("x-tollgate-reason")),
        (504, Some("upstream_timeout")),
        "{r:?}"
    );
    assert!(r.body.contains("did not answer in time"), "{}", r.body);
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_upstream_errors(&t, 1.0);
}

#[test]
fn the_total_deadline_cuts_a_slow_answer_that_the_read_timeout_would_wait_for() {
    let dir = TempDir::new("total");
    let up = Upstream::start().unwrap();
    let server = "upstream_read_timeout_secs = 10\nupstream_total_timeout_secs = 0.5";
    let t = start(&dir, server, Launch::new(up.addr));
    assert_eq!(t.get("127.0.13.2", "/").status, 200);
    let r = t.get("127.0.13.2", "/slow/1500");
    assert_eq!(
        (r.status, r.header("x-tollgate-reason")),
        (504, Some("upstream_timeout")),
        "{r:?}"
    );
    assert_upstream_errors(&t, 1.0);
}

#[test]
fn a_refusing_upstream_is_passed_over_for_its_sibling() {
    let dir = TempDir::new("refusing");
    let up = Upstream::start().unwrap();
    let dead = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let t = start(&dir, "", Launch::new(dead).upstream(up.addr));
    let statuses: Vec<u16> = (0..6).map(|_| t.get("127.0.13.3", "/").status).collect();
    assert_eq!(statuses, [200; 6], "{}", t.log());
    assert_eq!(up.hits(), 6);
    let log = t.log();
    assert_eq!(
        log.matches("passed over for its siblings").count(),
        1,
        "{log}"
    );
}

#[test]
fn nothing_reachable_is_the_cores_502() {
    let dir = TempDir::new("unreachable");
    let dead = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let t = start(&dir, "", Launch::new(dead));
    let r = t.get("127.0.13.4", "/");
    assert_eq!(
        (r.status, r.header("x-tollgate-reason")),
        (502, Some("upstream_unavailable")),
        "{r:?}"
    );
    assert_upstream_errors(&t, 1.0);
}

#[test]
fn pingoras_own_error_lines_draw_on_the_log_budget() {
    let dir = TempDir::new("pingora-log");
    let dead = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let how = Launch::new(dead).arg("--log-refusals-per-sec").arg("2");
    let t = start(&dir, "", how);
    let started = Instant::now();
    for _ in 0..30 {
        assert_eq!(t.get("127.0.13.5", "/").status, 502);
    }
    let seconds = started.elapsed().as_secs() + 1;
    let counted = eventually(Duration::from_secs(3), || {
        let logged = t.log().matches("Fail to proxy").count() as f64;
        logged + t.metric("tollgate_log_lines_suppressed_total") == 30.0
    });
    assert!(counted, "{}", t.log());
    let logged = t.log().matches("Fail to proxy").count() as u64;
    assert!(
        logged >= 1 && logged <= 2 * seconds,
        "{logged} lines in {seconds} s"
    );
}
