//! Protocol upgrades (WebSocket) only where a route says `upgrade = true`: after a 101 the
//! connection's bytes flow past every limit, so elsewhere the `Upgrade` header never reaches
//! the upstream, and the request is answered as plain HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::thread;
use std::time::Duration;

use tollgate_testkit::http::connect;
use tollgate_testkit::tollgate::{TempDir, Tollgate};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tollgate"))
}

/// An upstream that switches to an echo protocol when asked (`Upgrade` present), and otherwise
/// answers `200 plain` and closes.
fn echo_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for s in listener.incoming().take(32).flatten() {
            thread::spawn(move || serve(s));
        }
    });
    addr
}

fn serve(mut s: TcpStream) {
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut upgrade = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line.trim_end().is_empty() {
            break;
        }
        upgrade |= line.to_ascii_lowercase().starts_with("upgrade:");
    }
    if !upgrade {
        let _ =
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nplain");
        return;
    }
    let _ = s.write_all(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    );
    let mut buf = [0u8; 64];
    while let Ok(n @ 1..) = reader.read(&mut buf) {
        if s.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

const RULES: &str = "[limit]\nrequests = 1000\nburst = 1000\n\
                     [[route]]\nname = \"socket\"\npath_prefix = \"/ws\"\naction = \"limit\"\nupgrade = true\n";

fn ask_upgrade(t: &Tollgate, path: &str) -> (TcpStream, String) {
    let mut s = connect("127.0.0.1".parse().unwrap(), t.listen).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).unwrap(),
            1,
            "{}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    (s, String::from_utf8_lossy(&head).to_string())
}

#[test]
fn a_route_with_upgrade_true_switches_and_others_stay_plain_http() {
    let dir = TempDir::new("upgrade");
    let up = echo_upstream();
    let t = Tollgate::start(bin(), &dir.0, RULES, up);
    let (mut ws, head) = ask_upgrade(&t, "/ws/chat");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    ws.write_all(b"ping").unwrap();
    let mut echoed = [0u8; 4];
    ws.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"ping");

    let (mut plain, head) = ask_upgrade(&t, "/chat");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut body = [0u8; 5];
    plain.read_exact(&mut body).unwrap();
    assert_eq!(&body, b"plain", "the upstream never saw Upgrade");
}
