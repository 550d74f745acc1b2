//! Environment scoring: which browser traits a request shows, and what its score buys.
//!
//! A request's [`Signals`] come from its connection (HTTP version, reuse) and headers
//! (`Accept-Encoding`, `Sec-Fetch-*`, the user agent's claim); the challenge adds browser-side
//! signals when it is answered. The score is `base` plus the weights of the signals that fired.
//! Bands turn a score into an action on challenge routes: pass without a puzzle (where the route
//! allows), a puzzle made easier or harder, or a refusal below the floor. No fingerprint is
//! stored: a score is computed from the request in hand (and, for an answer, the signals its
//! signed challenge carried).
//!
//! Cost matters: this runs on every request, so it only looks for substrings in a few headers
//! and never allocates.

use std::sync::Arc;

use crate::limit::Quota;
use crate::request::{ConnectionView, HttpVersion, RequestView, TlsHello};
use crate::score::signal::{Signal, Signals};

/// A score and the signals that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Score {
    pub value: i32,
    pub signals: Signals,
}

/// One score band: what a score of at least `min` gets on a challenge route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Band {
    pub name: Arc<str>,
    pub min: i32,
    /// Pass without a puzzle on routes with `pass_on_score = true`.
    pub pass: bool,
    /// Doublings of the route's puzzle work (negative: halvings).
    pub extra_difficulty: i32,
}

/// The `[score]` section, compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoreRules {
    pub base: i32,
    /// Challenge routes refuse scores below this.
    pub floor: i32,
    /// Highest `min` first; never empty.
    pub bands: Vec<Band>,
    /// Passes on score each client key may take (`pass_per_minute`); `None`: unlimited.
    pub passes: Option<Quota>,
    /// Track each client's request rhythm (`rhythm = true`, the default): the
    /// `fixed_interval` and `burst_no_subresources` signals.
    pub rhythm: bool,
    weights: [i32; Signal::COUNT],
}

impl ScoreRules {
    /// Rules with every weight at its default; `bands` must be sorted highest `min` first.
    pub fn new(base: i32, floor: i32, bands: Vec<Band>) -> Self {
        Self {
            base,
            floor,
            bands,
            passes: None,
            rhythm: true,
            weights: std::array::from_fn(|i| Signal::ALL.get(i).map_or(0, |s| s.default_weight())),
        }
    }

    pub fn set_weight(&mut self, s: Signal, weight: i32) {
        self.weights[s as usize] = weight;
    }

    pub fn weight(&self, s: Signal) -> i32 {
        self.weights[s as usize]
    }

    pub fn score(&self, signals: Signals) -> Score {
        let mut bits = signals.bits();
        let mut value = self.base;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            value = value.saturating_add(self.weights.get(i).copied().unwrap_or(0));
            bits &= bits - 1;
        }
        Score { value, signals }
    }

    /// The band a score falls in: the first whose `min` it reaches, else the lowest.
    pub fn band(&self, value: i32) -> Option<&Band> {
        self.bands
            .iter()
            .find(|b| value >= b.min)
            .or(self.bands.last())
    }

    /// The default bands: trusted (passes, or pays a quarter), neutral, suspect (pays 8×).
    pub fn default_bands() -> Vec<Band> {
        let band = |name: &str, min, pass, extra_difficulty| Band {
            name: Arc::from(name),
            min,
            pass,
            extra_difficulty,
        };
        vec![
            band("trusted", 75, true, -2),
            band("neutral", 45, false, 0),
            band("suspect", 10, false, 3),
        ]
    }
}

/// The connection's signals: HTTP version and reuse. Only an HTTP/1.x connection is reused by
/// request count: on HTTP/2 every page load shares one (nginx counts its streams, Pingora does
/// not), and `h2` already scores it.
pub fn connection_signals(conn: &ConnectionView) -> Signals {
    let mut s = Signals::EMPTY;
    s.add_if(conn.version >= HttpVersion::H2, Signal::H2);
    s.add_if(conn.version == HttpVersion::Http10, Signal::Http10);
    let h1 = conn.version <= HttpVersion::Http11;
    s.add_if(h1 && conn.requests > 1, Signal::ReusedConnection);
    s
}

/// Every signal one request shows by itself. `forwarded`: the peer is a trusted proxy, so the
/// connection (HTTP version, TLS, reuse) is the proxy's, not the client's, and says nothing.
pub fn request_signals(req: &RequestView<'_>, forwarded: bool) -> Signals {
    let mut s = if forwarded {
        Signals::EMPTY
    } else {
        connection_signals(&req.conn)
    };
    let enc = Encodings::of(req.accept_encoding);
    let sec_fetch = req.sec_fetch_site.is_some() || req.sec_fetch_mode.is_some();
    let h1 = req.conn.version <= HttpVersion::Http11;
    s.add_if(
        h1 && has_token(req.connection, "close"),
        Signal::ConnectionClose,
    );
    s.add_if(enc.gzip, Signal::AcceptGzip);
    s.add_if(enc.modern, Signal::ModernEncoding);
    s.add_if(sec_fetch, Signal::SecFetch);
    let html = req.accept.is_some_and(|a| a.contains("text/html"));
    s.add_if(
        html && req.accept_language.is_some(),
        Signal::NavigationHeaders,
    );
    match Agent::of(req.user_agent) {
        Agent::Missing => s.add(Signal::NoUserAgent),
        Agent::Script => s.add(Signal::ScriptAgent),
        Agent::Browser => {
            s.add(Signal::ClaimsBrowser);
            s.add_if(
                req.user_agent
                    .is_some_and(|u| u.contains("HeadlessChrome/")),
                Signal::HeadlessAgent,
            );
            let tls = req.conn.tls && !forwarded;
            s.add_if(tls && h1, Signal::BrowserWithoutH2);
            s.add_if(!sec_fetch, Signal::BrowserWithoutSecFetch);
            s.add_if(tls && !enc.modern, Signal::BrowserWithoutModernEncoding);
            let hello = req.tls_hello.filter(|_| !forwarded);
            s.add_if(
                hello.is_some_and(|h| !stack_fits(h, req.user_agent.unwrap_or(""))),
                Signal::BrowserTlsMismatch,
            );
        }
        Agent::Other => {}
    }
    s
}

/// Whether the ClientHello could come from the browser family `ua` claims: Chromium and Safari
/// send GREASE; Firefox (NSS) sends `record_size_limit` and no GREASE.
fn stack_fits(hello: &TlsHello, ua: &str) -> bool {
    if ua.contains("Firefox/") {
        hello.has_record_size_limit() && !hello.has_grease()
    } else {
        hello.has_grease()
    }
}

/// What `Accept-Encoding` offers.
#[derive(Default)]
struct Encodings {
    gzip: bool,
    modern: bool,
}

impl Encodings {
    fn of(header: Option<&str>) -> Self {
        let mut e = Encodings::default();
        for item in header.unwrap_or("").split(',').take(16) {
            let coding = item.split(';').next().unwrap_or("").trim();
            if coding.eq_ignore_ascii_case("gzip") {
                e.gzip = true;
            } else if coding.eq_ignore_ascii_case("br") || coding.eq_ignore_ascii_case("zstd") {
                e.modern = true;
            }
        }
        e
    }
}

/// `token` is one of the comma-separated tokens of `header` (case-insensitive).
fn has_token(header: Option<&str>, token: &str) -> bool {
    header.is_some_and(|h| h.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// What a user agent claims to be.
#[derive(Debug, PartialEq, Eq)]
enum Agent {
    Missing,
    /// A tool or library that says so.
    Script,
    /// A desktop or mobile browser (Chrome, Edge, Firefox, Safari and their relatives).
    Browser,
    Other,
}

/// User-agent prefixes of tools and libraries, lower case.
const SCRIPTS: &[&str] = &[
    "curl/",
    "wget/",
    "python-requests/",
    "python-urllib/",
    "python-httpx/",
    "aiohttp/",
    "go-http-client/",
    "java/",
    "okhttp/",
    "apache-httpclient/",
    "libwww-perl/",
    "httpie/",
    "scrapy/",
    "node-fetch",
    "axios/",
    "undici",
    "postmanruntime/",
    "tollgate-solve/",
];

impl Agent {
    fn of(ua: Option<&str>) -> Self {
        let Some(ua) = ua.filter(|u| !u.trim().is_empty()) else {
            return Agent::Missing;
        };
        if ua.starts_with("Mozilla/5.0 (") {
            let engine = ["Chrome/", "Firefox/", "Safari/"];
            let crawler = ua.contains("bot") || ua.contains("Bot");
            return if !crawler && engine.iter().any(|b| ua.contains(b)) {
                Agent::Browser
            } else {
                Agent::Other
            };
        }
        let head = ua.as_bytes();
        let script = SCRIPTS
            .iter()
            .any(|p| head.len() >= p.len() && head[..p.len()].eq_ignore_ascii_case(p.as_bytes()));
        if script {
            Agent::Script
        } else {
            Agent::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn rules() -> ScoreRules {
        ScoreRules::new(50, 10, ScoreRules::default_bands())
    }

    fn chrome(version: HttpVersion) -> RequestView<'static> {
        let mut r = RequestView::get(PEER, "/");
        r.conn = ConnectionView {
            tls: true,
            version,
            requests: 0,
        };
        r.user_agent = Some(CHROME);
        r.accept = Some("text/html,application/xhtml+xml,*/*;q=0.8");
        r.accept_encoding = Some("gzip, deflate, br, zstd");
        r.accept_language = Some("en-US,en;q=0.9");
        r.sec_fetch_site = Some("none");
        r.sec_fetch_mode = Some("navigate");
        r
    }

    fn signals(r: &RequestView<'_>) -> String {
        request_signals(r, false).names()
    }

    #[test]
    fn a_browser_over_h2_shows_every_trait_and_passes() {
        let r = chrome(HttpVersion::H2);
        assert_eq!(
            signals(&r),
            "h2,accept_gzip,modern_encoding,sec_fetch,navigation_headers,claims_browser"
        );
        assert!(request_signals(&r, false).consistent_browser());
        let s = rules().score(request_signals(&r, false));
        assert_eq!(s.value, 80);
        assert_eq!(rules().band(s.value).map(|b| &*b.name), Some("trusted"));
    }

    #[test]
    fn a_copied_browser_header_set_over_http1_scores_below_honest_scripts() {
        let liar = rules()
            .score(request_signals(&chrome(HttpVersion::Http11), false))
            .value;
        let mut curl = RequestView::get(PEER, "/");
        curl.conn.tls = true;
        curl.user_agent = Some("curl/7.88.1");
        curl.accept = Some("*/*");
        let mut wget = curl.clone();
        wget.user_agent = Some("Wget/1.21.3");
        wget.accept_encoding = Some("identity");
        wget.connection = Some("Keep-Alive");
        let mut python = curl.clone();
        python.user_agent = Some("python-requests/2.28.1");
        python.accept_encoding = Some("gzip, deflate");
        for honest in [&curl, &wget, &python] {
            let value = rules().score(request_signals(honest, false)).value;
            assert!(
                liar < value,
                "liar {liar} vs {:?} {value}",
                honest.user_agent
            );
            assert!(request_signals(honest, false).has(Signal::ScriptAgent));
        }
        let liar = request_signals(&chrome(HttpVersion::Http11), false);
        assert!(liar.has(Signal::BrowserWithoutH2) && !liar.consistent_browser());
    }

    #[test]
    fn a_lazy_liar_falls_below_the_floor() {
        let mut r = RequestView::get(PEER, "/");
        r.conn.tls = true;
        r.user_agent = Some(CHROME);
        r.accept_encoding = Some("gzip");
        let s = rules().score(request_signals(&r, false));
        assert_eq!(
            s.signals.names(),
            "accept_gzip,claims_browser,browser_without_h2,browser_without_sec_fetch,browser_without_modern_encoding"
        );
        assert!(s.value < rules().floor, "{}", s.value);
    }

    #[test]
    fn connection_traits_count_once_per_connection_fact() {
        let mut r = RequestView::get(PEER, "/");
        r.user_agent = Some("x");
        r.connection = Some("keep-alive, Close");
        assert_eq!(signals(&r), "connection_close");
        r.conn.requests = 2;
        r.connection = None;
        assert_eq!(signals(&r), "reused_connection");
        r.conn.version = HttpVersion::Http10;
        assert_eq!(signals(&r), "http10,reused_connection");
        r.user_agent = Some("   ");
        assert!(request_signals(&r, false).has(Signal::NoUserAgent));
    }

    #[test]
    fn behind_a_trusted_proxy_the_connection_says_nothing() {
        let r = chrome(HttpVersion::Http11);
        let s = request_signals(&r, true);
        assert_eq!(
            s.names(),
            "accept_gzip,modern_encoding,sec_fetch,navigation_headers,claims_browser"
        );
        assert!(s.consistent_browser());
    }

    #[test]
    fn headers_alone_never_make_a_consistent_browser() {
        let mut r = chrome(HttpVersion::H2);
        r.user_agent = Some("x");
        let s = request_signals(&r, false);
        assert!(rules().score(s).value >= 75, "trusted band by headers");
        assert!(!s.consistent_browser());
    }

    #[test]
    fn agents_are_classified_by_prefix_and_claim() {
        assert_eq!(Agent::of(Some("WGET/1.0")), Agent::Script);
        assert_eq!(Agent::of(Some(CHROME)), Agent::Browser);
        assert_eq!(
            Agent::of(Some(
                "Mozilla/5.0 (compatible; Googlebot/2.1) Chrome/1 Safari/1"
            )),
            Agent::Other
        );
        assert_eq!(Agent::of(Some("w")), Agent::Other);
        assert_eq!(Agent::of(None), Agent::Missing);
    }

    #[test]
    fn bands_pick_the_first_reached_and_weights_override() {
        let mut r = rules();
        assert_eq!(r.band(100).map(|b| b.min), Some(75));
        assert_eq!(r.band(45).map(|b| b.min), Some(45));
        assert_eq!(r.band(-100).map(|b| b.min), Some(10));
        r.set_weight(Signal::H2, 40);
        let s: Signals = [Signal::H2, Signal::Webdriver].into_iter().collect();
        assert_eq!(r.score(s).value, 50 + 40 - 20);
    }
}
