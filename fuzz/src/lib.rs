//! What each fuzz target does with its input, and the invariants it asserts.
//!
//! One function per target, called by its libFuzzer binary (`fuzz_targets/`, built by
//! `cargo fuzz` through `scripts/fuzz.sh`) and by `tests/corpus.rs`, which replays every
//! committed corpus and regression file on the stable toolchain in CI. A failed invariant
//! panics: that is what the fuzzer reports.
//!
//! - [`rules`]: any text through the rules parser and compiler: errors, never a panic, and
//!   every error points inside the file.
//! - [`request`]: any request through canonicalisation, client resolution, `decide()`,
//!   rendering and forwarding: the canonical path has no `//`, `\` or dot segments; a reply
//!   exists exactly for refusals; no header tollgate writes carries CR, LF or NUL.
//! - [`tokens`]: any string as a challenge token or a clearance cookie is refused, and a
//!   clearance minted from fuzzed fields opens back to the same fields and to nothing once one
//!   byte of its payload or MAC changes.
//! - [`region`]: a random sequence of requests, clock steps, unbans and sweeps decided by an
//!   engine on in-process tables (the model) and by two engines sharing one memory region
//!   (nginx's workers, taking turns): every decision is the same, while no table is full.
#![allow(clippy::panic)] // a fuzz target reports a broken invariant by panicking

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tollgate_core::{
    canonical_path, check_answer, check_clearance, parse_rules, respond, seal_clearance, Binding,
    Clearance, ClientKey, ConnectionView, CoreClock, Engine, HttpVersion, Keyring, Reason, Region,
    RequestView, Rules, SourceReader,
};

const KEY_HEX: &str = "5f1e0c2a9b7d4e3f8a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f";
/// The fuzzed engine's clock: a fixed instant, so a corpus replays the same way every time.
const NOW_SECS: u64 = 1_800_000_000;

/// A rules file that names list files: none exist.
struct NoFiles;

impl SourceReader for NoFiles {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            path.display().to_string(),
        ))
    }
}

/// Any bytes as a rules file.
pub fn rules(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count().max(1) + 1;
    if let Err(invalid) = parse_rules(text, Path::new("fuzz.toml"), &NoFiles) {
        assert!(!invalid.errors.is_empty(), "an error without a message");
        for e in &invalid.errors {
            assert!(
                e.line >= 1 && e.line <= lines,
                "{e} (file has {lines} lines)"
            );
            assert!(e.column >= 1, "{e}");
        }
    }
}

/// Every kind of gate the request target can reach: lists, a trusted proxy with its header,
/// each route action, both puzzles, scoring with passes, under-attack mode.
const ENGINE_RULES: &str = r#"
[clients]
trusted_proxies = ["127.0.0.0/8", "::1/128"]
client_ip_header = "X-Forwarded-For"
[lists]
allow = ["192.0.2.1"]
deny = ["198.51.100.0/24", "2001:db8:bad::/48"]
[limit]
requests = 5
per_secs = 1
burst = 5
[bans]
extreme_requests = 50
extreme_window_secs = 10
[score]
enabled = true
[under_attack]
requests_per_sec = 100
[[route]]
name = "open"
path_prefix = "/static/"
action = "allow"
[[route]]
name = "closed"
path_prefix = "/admin/"
action = "deny"
[[route]]
name = "api"
path_prefix = "/api/"
action = "limit"
host = "*.example.com"
[[route]]
name = "login"
path_prefix = "/login"
action = "challenge"
puzzle = "range"
[[route]]
name = "articles"
path_prefix = "/articles/"
action = "challenge"
pass_on_score = true
[[route]]
name = "site"
path_prefix = "/"
action = "challenge"
"#;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let rules: Rules = parse_rules(ENGINE_RULES, Path::new("fuzz.toml"), &NoFiles)
            .unwrap_or_else(|e| panic!("the fuzz engine's rules: {e:?}"));
        let keys = Keyring::from_hex(KEY_HEX).unwrap_or_else(|e| panic!("{e}"));
        Engine::new(rules, keys, CoreClock::manual(NOW_SECS * 1_000_000_000))
    })
}

/// The request a fuzz input describes: a flags byte, then newline-separated fields.
struct Fields {
    flags: u8,
    peer: IpAddr,
    values: Vec<String>,
}

impl Fields {
    fn parse(data: &[u8]) -> Option<Self> {
        let (&flags, rest) = data.split_first()?;
        let (&peer_byte, rest) = rest.split_first()?;
        let peer = match peer_byte % 4 {
            0 => IpAddr::from([127, 0, 0, 1]),
            1 => IpAddr::from([203, 0, 113, peer_byte]),
            2 => IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(peer_byte)]),
            _ => IpAddr::from([198, 51, 100, peer_byte]),
        };
        let values = rest
            .split(|b| *b == b'\n')
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        Some(Self {
            flags,
            peer,
            values,
        })
    }

    /// Field `i`, absent when not given or empty.
    fn get(&self, i: usize) -> Option<&str> {
        self.values
            .get(i)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn view(&self) -> RequestView<'_> {
        let target = self.get(1).unwrap_or("/");
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let version = match self.flags & 3 {
            0 => HttpVersion::Http10,
            1 => HttpVersion::Http11,
            2 => HttpVersion::H2,
            _ => HttpVersion::H3,
        };
        RequestView {
            conn: ConnectionView {
                tls: self.flags & 4 != 0,
                version,
                requests: u32::from(self.flags >> 4),
            },
            method: self.get(0).unwrap_or("GET"),
            host: self.get(2),
            query,
            routed_path: self.get(3),
            user_agent: self.get(4),
            forwarded_for: self.get(5),
            forwarded_proto: self.get(6),
            cookie: self.get(7),
            accept: self.get(8),
            accept_language: self.get(9),
            accept_encoding: self.get(10),
            connection: self.get(11),
            sec_fetch_site: self.get(12),
            sec_fetch_mode: self.get(13),
            content_type: self.get(14),
            sec_fetch_dest: self.get(15),
            resolved_by_front_end: self.flags & 8 != 0,
            ..RequestView::get(self.peer, path)
        }
    }
}

fn clean(s: &str) -> bool {
    !s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

/// Any request through the whole decision.
pub fn request(data: &[u8]) {
    let Some(fields) = Fields::parse(data) else {
        return;
    };
    let req = fields.view();
    let canon = canonical_path(req.path);
    if canon.ambiguity.is_none() && req.path.starts_with('/') {
        let p = &*canon.path;
        assert!(p.starts_with('/'), "{:?} -> {p:?}", req.path);
        assert!(
            !p.contains("//") && !p.contains('\\'),
            "{:?} -> {p:?}",
            req.path
        );
        let dots = p.split('/').any(|s| s == "." || s == "..");
        assert!(!dots, "{:?} -> {p:?}", req.path);
    }
    let engine = engine();
    let verdict = engine.decide(&req);
    // The core catches a panic in its gates as `internal_error`: here that is a failure.
    assert_ne!(verdict.decision.reason(), Reason::InternalError, "{req:?}");
    let reply = engine.respond(&verdict);
    assert_eq!(
        reply.is_none(),
        verdict.decision.is_allow(),
        "{:?}",
        verdict.decision
    );
    if let Some(r) = &reply {
        assert!((100..=599).contains(&r.status), "{r:?}");
        for (name, value) in &r.headers {
            assert!(clean(value), "header {name}: {value:?} in {r:?}");
        }
    }
    assert_eq!(respond(&verdict.decision, NOW_SECS), reply);
    if verdict.decision.is_allow() {
        let fwd = engine.forwarding(&req, &verdict);
        let inputs_clean = fields.values.iter().all(|v| clean(v));
        for (name, value) in &fwd.set {
            assert!(!inputs_clean || clean(value), "{name}: {value:?}");
        }
        if let Some(c) = &fwd.cookie {
            assert!(!inputs_clean || clean(c), "cookie {c:?}");
        }
    }
}

/// Any string as a token or cookie; a clearance from fuzzed fields round-trips.
pub fn tokens(data: &[u8]) {
    let Ok(keys) = Keyring::from_hex(KEY_HEX) else {
        return;
    };
    let key = ClientKey::new(IpAddr::from([203, 0, 113, 9]), 32, 64);
    let binding = Binding::new(&key, Some("fuzz-agent/1.0"));
    let text = String::from_utf8_lossy(data);
    let nonce = data
        .iter()
        .fold(0u64, |n, b| n.rotate_left(8) ^ u64::from(*b));
    assert!(
        check_answer(&keys, &text, nonce, &binding, NOW_SECS).is_err(),
        "a fuzzed challenge token verified: {text:?}"
    );
    assert!(
        check_clearance(&keys, &text, &binding, NOW_SECS).is_err(),
        "a fuzzed clearance verified: {text:?}"
    );
    let mut words = data.chunks(8).map(|c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(w)
    });
    let mut next = || words.next().unwrap_or(0);
    let issued = next() % (NOW_SECS * 2);
    let c = Clearance {
        issued_unix_secs: issued,
        expires_unix_secs: issued.saturating_add(next() % 100_000),
        budget: next() as u32,
        work_bits: (next() % 64) as u32,
        serial: {
            let (a, b) = (next(), next());
            let mut s = [0u8; 16];
            s[..8].copy_from_slice(&a.to_le_bytes());
            s[8..].copy_from_slice(&b.to_le_bytes());
            s
        },
    };
    let sealed = seal_clearance(&keys, &c, &binding);
    match check_clearance(&keys, &sealed, &binding, NOW_SECS) {
        Ok(back) => {
            assert!(
                NOW_SECS < c.expires_unix_secs,
                "an expired clearance opened"
            );
            assert_eq!(back, c);
        }
        Err(e) => assert!(NOW_SECS >= c.expires_unix_secs, "{e:?} for a fresh {c:?}"),
    }
    // One changed byte of the payload or its client-bound MAC. (The third part, the tag, only
    // tells a stale cookie from a forged one when the MAC fails: a changed tag on a genuine
    // cookie is not checked, and buys nothing.)
    let signed = sealed.rfind('.').unwrap_or(sealed.len());
    let mut bytes = sealed.into_bytes();
    let at = (nonce as usize) % signed.max(1);
    if let Some(b) = bytes.get_mut(at) {
        *b = if *b == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8_lossy(&bytes);
        assert!(
            check_clearance(&keys, &changed, &binding, NOW_SECS).is_err(),
            "one changed byte (at {at} of {}) still opened: {changed:?}",
            bytes.len()
        );
    }
}

/// Limits, bans with escalation, per-route limits and a network limit, all small enough that a
/// short input reaches every state, on at most 64 clients: no table fills.
const REGION_RULES: &str = r#"
[limit]
requests = 3
per_secs = 10
burst = 3
[bans]
extreme_requests = 12
extreme_window_secs = 10
violations = 4
violations_window_secs = 30
ttl_secs = 20
escalation_factor = 2
max_ttl_secs = 80
[networks]
requests = 20
per_secs = 10
burst = 20
violations = 6
violations_window_secs = 30
[[route]]
name = "login"
path_prefix = "/login"
action = "limit"
limit = { requests = 1, per_secs = 30, burst = 1 }
[[route]]
name = "static"
path_prefix = "/static/"
action = "allow"
"#;

/// Any sequence of operations on the model and on the shared region.
pub fn region(data: &[u8]) {
    static RULES: OnceLock<Rules> = OnceLock::new();
    let rules = RULES
        .get_or_init(|| {
            parse_rules(REGION_RULES, Path::new("fuzz.toml"), &NoFiles)
                .unwrap_or_else(|e| panic!("the region target's rules: {e:?}"))
        })
        .clone();
    let Ok(keys) = Keyring::from_hex(KEY_HEX) else {
        return;
    };
    let clock = CoreClock::manual(NOW_SECS * 1_000_000_000);
    let model = Engine::new(rules.clone(), keys.clone(), clock.clone());
    // One zone for the whole run (a region holds it for 'static), wiped for every input so
    // attaching formats it afresh; the lock keeps parallel replays apart.
    static ZONE: OnceLock<&'static [AtomicU64]> = OnceLock::new();
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    Region::process_started();
    let zone = *ZONE.get_or_init(|| {
        Box::leak(
            (0..Region::MIN_BYTES / 8)
                .map(|_| AtomicU64::new(0))
                .collect(),
        )
    });
    for w in zone {
        w.store(0, Ordering::Relaxed);
    }
    let Ok((region, _)) = Region::attach(zone, [3, 4]) else {
        return;
    };
    let region = Arc::new(region);
    let workers = [
        Engine::shared(rules.clone(), keys.clone(), clock.clone(), region.clone()),
        Engine::shared(rules, keys, clock.clone(), region),
    ];
    // A sweep walks every table of both sides: most of an input's cost. Past a few per input
    // they find nothing new, so the rest are skipped and the fuzzer spends its time on requests.
    let mut sweeps_left = 4;
    for (step, pair) in data.chunks(2).enumerate() {
        let (op, arg) = (pair[0], pair.get(1).copied().unwrap_or(0));
        let worker = &workers[step % 2];
        // Clients 10.0.{0,1}.{0..31}: two /24 networks of 32 clients each.
        let peer = IpAddr::from([10, 0, (arg >> 5) & 1, arg & 31]);
        match op % 8 {
            0..=3 => {
                let path = ["/", "/login", "/static/x", "/a"][usize::from(op % 4)];
                let req = RequestView::get(peer, path);
                let (want, got) = (model.decide(&req), worker.decide(&req));
                assert_ne!(got.decision.reason(), Reason::InternalError, "step {step}");
                assert_eq!(
                    (want.decision.kind(), want.decision.reason()),
                    (got.decision.kind(), got.decision.reason()),
                    "step {step}: {path} from {peer}"
                );
            }
            4 | 5 => clock.advance(Duration::from_millis(u64::from(arg) * 100)),
            6 => assert_eq!(model.unban(peer), worker.unban(peer), "unban {peer}"),
            _ if sweeps_left > 0 => {
                sweeps_left -= 1;
                model.sweep();
                worker.sweep();
            }
            _ => {}
        }
    }
}
