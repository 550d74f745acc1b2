//! What one address can hold before it sends a complete request: a capped number of
//! connections, each with a header that must finish in time and within a size, and none at all
//! while it is banned. Neighbours are served throughout; request bodies are not headers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use tollgate_testkit::http::{self, connect, read_response, Conn};
use tollgate_testkit::process::eventually;
use tollgate_testkit::tollgate::{TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tollgate"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// `connections` in force; three requests in ten seconds ban when `ban_fast`.
fn start(dir: &TempDir, connections: &str, ban_fast: bool) -> (Tollgate, Upstream) {
    let up = Upstream::start().unwrap();
    let extreme = if ban_fast { 3 } else { 0 };
    let rules = format!(
        "[connections]\n{connections}\n[limit]\nrequests = 1000\nburst = 1000\n\
         [bans]\nextreme_requests = {extreme}\nextreme_window_secs = 10\nviolations = 0\n"
    );
    (Tollgate::start(bin(), &dir.0, &rules, up.addr), up)
}

/// Whether tollgate closes `s` within `limit` without answering.
fn closed_unanswered(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 256];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => panic!("answered: {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

fn closed(t: &Tollgate, reason: &str) -> f64 {
    t.metric(&format!(
        "tollgate_connections_closed_total{{reason=\"{reason}\"}}"
    ))
}

#[test]
fn one_address_holds_at_most_its_cap_and_a_closed_one_frees_a_place() {
    let dir = TempDir::new("conn-cap");
    let (t, _up) = start(&dir, "max_per_client = 5", false);
    let hog = ip("127.0.14.1");
    let mut held: Vec<TcpStream> = (0..5).map(|_| connect(hog, t.listen).unwrap()).collect();
    // The accept loop has seen all five once each of them is served on a fresh request.
    thread::sleep(Duration::from_millis(300));
    let mut sixth = connect(hog, t.listen).unwrap();
    assert!(closed_unanswered(&mut sixth, Duration::from_secs(3)));
    assert_eq!(closed(&t, "too_many_connections"), 1.0);
    let neighbour = http::request(ip("127.0.14.2"), t.listen, "GET", "/", &[]).unwrap();
    assert_eq!(neighbour.status, 200);
    // An open connection keeps working: it is one of the five.
    held[0]
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut held[0]).unwrap().status, 200);
    held.truncate(4);
    assert!(eventually(Duration::from_secs(3), || {
        http::request(hog, t.listen, "GET", "/", &[]).is_ok_and(|r| r.status == 200)
    }));
}

#[test]
fn a_trickled_header_is_cut_at_the_deadline_while_neighbours_are_served() {
    let dir = TempDir::new("conn-slow");
    let (t, _up) = start(&dir, "header_timeout_secs = 1", false);
    let mut slow = connect(ip("127.0.14.3"), t.listen).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let started = Instant::now();
    let mut cut = false;
    for _ in 0..20 {
        thread::sleep(Duration::from_millis(200));
        if slow.write_all(b"X-Slow: 1\r\n").is_err() || closed_peek(&mut slow) {
            cut = true;
            break;
        }
        let r = http::request(ip("127.0.14.4"), t.listen, "GET", "/", &[]).unwrap();
        assert_eq!(r.status, 200);
    }
    let took = started.elapsed();
    assert!(cut, "still open after {took:?}");
    assert!(took < Duration::from_millis(2500), "{took:?}");
    assert_eq!(closed(&t, "header_timeout"), 1.0);
}

/// Whether the peer has closed `s` (reads nothing, without waiting long).
fn closed_peek(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => panic!("answered a header that never ended"),
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn a_header_past_the_size_cap_is_cut_on_any_request_of_a_connection_but_bodies_pass() {
    let dir = TempDir::new("conn-size");
    let (t, up) = start(&dir, "max_header_bytes = 2048", false);
    let big = "p".repeat(1500);
    let mut conn = Conn::open(ip("127.0.14.5"), t.listen).unwrap();
    assert_eq!(conn.send("/", &[("X-Pad", &big)]).unwrap().status, 200);
    assert_eq!(conn.send("/", &[]).unwrap().status, 200);
    // A 100 KB body on a keep-alive connection is no header, with or without 100-continue.
    let mut s = connect(ip("127.0.14.5"), t.listen).unwrap();
    let body = vec![b'b'; 100_000];
    for expect in ["", "Expect: 100-continue\r\n"] {
        let head = format!(
            "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n{expect}\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&body).unwrap();
        let mut r = read_response(&mut s).unwrap();
        if r.status == 100 {
            r = read_response(&mut s).unwrap();
        }
        assert_eq!(r.status, 200, "{expect:?}");
    }
    // The third request on that connection sends 4 KB of header and is cut.
    let pad = "q".repeat(4096);
    s.write_all(format!("GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {pad}").as_bytes())
        .unwrap();
    assert!(closed_unanswered(&mut s, Duration::from_secs(3)));
    assert_eq!(closed(&t, "header_too_large"), 1.0);
    assert_eq!(up.hits(), 4);
}

#[test]
fn a_banned_peer_is_dropped_at_accept() {
    let dir = TempDir::new("conn-ban");
    let (t, _up) = start(&dir, "", true);
    let client = ip("127.0.14.6");
    let statuses: Vec<u16> = (0..4)
        .map(|_| {
            http::request(client, t.listen, "GET", "/", &[])
                .unwrap()
                .status
        })
        .collect();
    assert_eq!(statuses, [200, 200, 200, 403]);
    let mut s = connect(client, t.listen).unwrap();
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(closed_unanswered(&mut s, Duration::from_secs(3)));
    assert_eq!(closed(&t, "active_ban"), 1.0);
    let other = http::request(ip("127.0.14.7"), t.listen, "GET", "/", &[]).unwrap();
    assert_eq!(other.status, 200);
}
