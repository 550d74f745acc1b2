//! A real upstream for tests: answers 200 with what it saw, and counts requests. A path
//! `/slow/MS` is counted on arrival and answered MS milliseconds later.
//!
//! It is as permissive as the upstreams that make path tricks work (IIS, Express, Tomcat): it
//! resolves each target by decoding `%XX` until nothing changes, ignoring case, mapping `\` to
//! `/`, dropping `;params` and resolving dot segments, and says where it landed.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

/// A running upstream. Its threads end with the test process.
pub struct Upstream {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    last_xff: Arc<Mutex<Option<String>>>,
    last_headers: Arc<Mutex<Vec<(String, String)>>>,
    last_resolved: Arc<Mutex<Option<String>>>,
}

impl Upstream {
    /// Starts on a free loopback port.
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let hits = Arc::new(AtomicUsize::new(0));
        let last_xff = Arc::new(Mutex::new(None));
        let last_headers = Arc::new(Mutex::new(Vec::new()));
        let last_resolved = Arc::new(Mutex::new(None));
        let seen = Seen {
            hits: hits.clone(),
            xff: last_xff.clone(),
            headers: last_headers.clone(),
            resolved: last_resolved.clone(),
        };
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = seen.clone();
                thread::spawn(move || serve(stream, &seen));
            }
        });
        Ok(Self {
            addr,
            hits,
            last_xff,
            last_headers,
            last_resolved,
        })
    }

    /// Where the latest request landed, resolved the permissive way.
    pub fn last_resolved(&self) -> Option<String> {
        self.last_resolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Header `name` (lower-case) of the latest request, if it had one.
    pub fn last_header(&self, name: &str) -> Option<String> {
        let headers = self
            .last_headers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// Requests that reached the upstream so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The `X-Forwarded-For` of the latest request, if it had one.
    pub fn last_forwarded_for(&self) -> Option<String> {
        self.last_xff
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[derive(Clone)]
struct Seen {
    hits: Arc<AtomicUsize>,
    xff: Arc<Mutex<Option<String>>>,
    headers: Arc<Mutex<Vec<(String, String)>>>,
    resolved: Arc<Mutex<Option<String>>>,
}

/// Serves keep-alive requests on one connection until the peer closes.
fn serve(stream: TcpStream, seen: &Seen) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut xff = None;
        let mut content_len = 0usize;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                if k.eq_ignore_ascii_case("x-forwarded-for") {
                    xff = Some(v.trim().to_string());
                } else if k.eq_ignore_ascii_case("content-length") {
                    content_len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        if content_len > 0 {
            let mut sink = vec![0u8; content_len];
            if std::io::Read::read_exact(&mut reader, &mut sink).is_err() {
                return;
            }
        }
        *seen.xff.lock().unwrap_or_else(PoisonError::into_inner) = xff.clone();
        *seen.headers.lock().unwrap_or_else(PoisonError::into_inner) = headers;
        let resolved = permissive(path.split('?').next().unwrap_or("/"));
        *seen.resolved.lock().unwrap_or_else(PoisonError::into_inner) = Some(resolved);
        seen.hits.fetch_add(1, Ordering::SeqCst);
        if let Some(ms) = path.strip_prefix("/slow/").and_then(|ms| ms.parse().ok()) {
            thread::sleep(std::time::Duration::from_millis(ms));
        }
        let mut body = format!("upstream saw {path} xff={}\n", xff.unwrap_or_default());
        // A page (`….html`) comes with its own stylesheet and image, as a site's pages do.
        let kind = match path.split('?').next().unwrap_or("").ends_with(".html") {
            true => {
                body = format!("<!doctype html><link rel=stylesheet href=\"{path}.css\"><img src=\"{path}.png\"><p>{body}</p>");
                "text/html"
            }
            false => "text/plain",
        };
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nX-Upstream: test\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// `target` as a permissive upstream serves it: decoded until stable, lower-case, `\` as `/`,
/// `;params` dropped, dot segments resolved.
pub fn permissive(target: &str) -> String {
    let mut bytes = target.as_bytes().to_vec();
    loop {
        let next = decode_once(&bytes);
        if next == bytes {
            break;
        }
        bytes = next;
    }
    let text = String::from_utf8_lossy(&bytes)
        .to_lowercase()
        .replace('\\', "/");
    let mut out: Vec<&str> = Vec::new();
    for seg in text.split('/') {
        match seg.split(';').next().unwrap_or("") {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

fn decode_once(b: &[u8]) -> Vec<u8> {
    let hex = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let pair = (b[i] == b'%')
            .then(|| Some((hex(*b.get(i + 1)?)?, hex(*b.get(i + 2)?)?)))
            .flatten();
        match pair {
            Some((h, l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}
