//! The environment traits tollgate looks for, by name, and a set of them that fits in a word.
//!
//! The white paper's point (浏览环境特征校验): each trait of a modern browser (kept-alive
//! connections, gzip, HTTP/2, CSP reports, `Sec-Fetch-*`, …) is easy to fake alone, but a script
//! rarely fakes all of them, and a script that claims to be a browser and then lacks them is a
//! liar. A [`Signal`] is one such observation; the rules file gives each a weight. A
//! [`Signals`] set travels in challenge tokens, so it must stay one `u32`.

/// One observation about a request or its client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Signal {
    // Connection: decided once per connection.
    /// HTTP/2 (negotiated by ALPN over TLS, or prior-knowledge h2c).
    H2,
    /// HTTP/1.0: no modern browser speaks it.
    Http10,
    /// Not the first request on its HTTP/1.x connection: the client keeps connections alive.
    ReusedConnection,
    // Request headers.
    /// `Connection: close` on HTTP/1.1: one request per connection, like a `wget` loop.
    ConnectionClose,
    /// `Accept-Encoding` offers gzip.
    AcceptGzip,
    /// `Accept-Encoding` offers br or zstd (browsers offer them over HTTPS).
    ModernEncoding,
    /// `Sec-Fetch-Site`/`Sec-Fetch-Mode` are present (every current browser sends them).
    SecFetch,
    /// `Accept` asks for HTML and `Accept-Language` is present: a navigation as browsers make it.
    NavigationHeaders,
    /// No `User-Agent` at all.
    NoUserAgent,
    /// A user agent that names a scripting tool or library (curl, wget, python-requests, …).
    ScriptAgent,
    /// The user agent claims a browser. Weight 0 by default: it matters through
    /// [`Signals::consistent_browser`], which alone makes a client eligible for passing on score
    /// or a discount.
    ClaimsBrowser,
    // Consistency: the user agent claims a browser, the request says otherwise.
    /// Claims a browser over TLS but did not negotiate HTTP/2.
    BrowserWithoutH2,
    /// Claims a browser but sends no `Sec-Fetch-*`.
    BrowserWithoutSecFetch,
    /// Claims a browser over TLS but offers neither br nor zstd.
    BrowserWithoutModernEncoding,
    // Browser side, sent with the solution or observed before it.
    /// The challenge page's deliberate CSP violation was reported, bound to its challenge.
    CspReport,
    /// The cookie set with the challenge page came back with the solution.
    CookieRoundtrip,
    /// `navigator.webdriver` was true: the browser is automated.
    Webdriver,
    /// The solution came without the page's browser fields: a script solved it.
    NoBrowserSignals,
    /// The page was hidden (background tab) when the solution was sent.
    HiddenPage,
    /// Sent less than [`INSTANT_SUBMIT_MS`] after the page's script started.
    InstantSubmit,
    // Server side.
    /// Under-attack mode is engaged: every score is lowered by this signal's weight.
    UnderAttack,
}

/// Time from script start to submit below which a solution reads as not from the page.
pub const INSTANT_SUBMIT_MS: u64 = 20;

impl Signal {
    /// Every signal, in bit order: request-side signals first, then from [`Signal::CspReport`]
    /// on the answer's evidence and site state (see [`Signals::request_side`]).
    pub const ALL: [Signal; 21] = [
        Signal::H2,
        Signal::Http10,
        Signal::ReusedConnection,
        Signal::ConnectionClose,
        Signal::AcceptGzip,
        Signal::ModernEncoding,
        Signal::SecFetch,
        Signal::NavigationHeaders,
        Signal::NoUserAgent,
        Signal::ScriptAgent,
        Signal::ClaimsBrowser,
        Signal::BrowserWithoutH2,
        Signal::BrowserWithoutSecFetch,
        Signal::BrowserWithoutModernEncoding,
        Signal::CspReport,
        Signal::CookieRoundtrip,
        Signal::Webdriver,
        Signal::NoBrowserSignals,
        Signal::HiddenPage,
        Signal::InstantSubmit,
        Signal::UnderAttack,
    ];
    pub const COUNT: usize = Self::ALL.len();

    /// The name used in rules files, logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Signal::H2 => "h2",
            Signal::Http10 => "http10",
            Signal::ReusedConnection => "reused_connection",
            Signal::ConnectionClose => "connection_close",
            Signal::AcceptGzip => "accept_gzip",
            Signal::ModernEncoding => "modern_encoding",
            Signal::SecFetch => "sec_fetch",
            Signal::NavigationHeaders => "navigation_headers",
            Signal::NoUserAgent => "no_user_agent",
            Signal::ScriptAgent => "script_agent",
            Signal::ClaimsBrowser => "claims_browser",
            Signal::BrowserWithoutH2 => "browser_without_h2",
            Signal::BrowserWithoutSecFetch => "browser_without_sec_fetch",
            Signal::BrowserWithoutModernEncoding => "browser_without_modern_encoding",
            Signal::CspReport => "csp_report",
            Signal::CookieRoundtrip => "cookie_roundtrip",
            Signal::Webdriver => "webdriver",
            Signal::NoBrowserSignals => "no_browser_signals",
            Signal::HiddenPage => "hidden_page",
            Signal::InstantSubmit => "instant_submit",
            Signal::UnderAttack => "under_attack",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The weight used when the rules file does not set one. Browser traits add a little each;
    /// a lie about being a browser costs more than any honest script loses, so a client
    /// replaying a copied Chrome header set over HTTP/1.1 scores below plain `curl`.
    pub fn default_weight(self) -> i32 {
        match self {
            Signal::H2 => 10,
            Signal::Http10 => -20,
            Signal::ReusedConnection => 5,
            Signal::ConnectionClose => -10,
            Signal::AcceptGzip => 5,
            Signal::ModernEncoding => 5,
            Signal::SecFetch => 5,
            Signal::NavigationHeaders => 5,
            Signal::NoUserAgent => -20,
            Signal::ScriptAgent => -10,
            Signal::ClaimsBrowser => 0,
            Signal::BrowserWithoutH2 => -45,
            Signal::BrowserWithoutSecFetch => -20,
            Signal::BrowserWithoutModernEncoding => -10,
            Signal::CspReport => 15,
            Signal::CookieRoundtrip => 10,
            Signal::Webdriver => -20,
            Signal::NoBrowserSignals => -10,
            Signal::HiddenPage => -5,
            Signal::InstantSubmit => -10,
            Signal::UnderAttack => -20,
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u8)
    }
}

// A set must fit the `u32` a challenge token carries.
const _: () = assert!(Signal::COUNT <= 32);

/// A set of signals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Signals(u32);

impl Signals {
    pub const EMPTY: Signals = Signals(0);

    pub fn add(&mut self, s: Signal) {
        self.0 |= s.bit();
    }

    pub fn remove(&mut self, s: Signal) {
        self.0 &= !s.bit();
    }

    /// Adds `s` when `fired`.
    pub fn add_if(&mut self, fired: bool, s: Signal) {
        if fired {
            self.add(s);
        }
    }

    pub fn has(self, s: Signal) -> bool {
        self.0 & s.bit() != 0
    }

    pub fn union(self, other: Signals) -> Signals {
        Signals(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Signal> {
        Signal::ALL.into_iter().filter(move |s| self.has(*s))
    }

    /// The names of the signals in the set, comma-separated (`-` when empty): for log lines.
    pub fn names(self) -> String {
        if self.is_empty() {
            return "-".to_string();
        }
        self.iter().map(Signal::name).collect::<Vec<_>>().join(",")
    }

    /// Claims a browser and none of the consistency checks caught it lying: the only clients
    /// a band may let through or discount. Headers alone (without a browser's user agent and
    /// protocol) never qualify.
    pub fn consistent_browser(self) -> bool {
        self.has(Signal::ClaimsBrowser)
            && !self.has(Signal::BrowserWithoutH2)
            && !self.has(Signal::BrowserWithoutSecFetch)
            && !self.has(Signal::BrowserWithoutModernEncoding)
    }

    /// Only what the request itself showed: no answer evidence, no site state. What a new
    /// challenge token may carry.
    pub fn request_side(self) -> Signals {
        // Bit order puts every request-side signal before the first answer-side one.
        Signals(self.0 & (Signal::CspReport.bit() - 1))
    }

    /// As carried in a challenge token.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// From a token; bits no signal uses are dropped.
    pub fn from_bits(bits: u32) -> Signals {
        let all = Signal::ALL.iter().fold(0, |acc, s| acc | s.bit());
        Signals(bits & all)
    }
}

impl FromIterator<Signal> for Signals {
    fn from_iter<I: IntoIterator<Item = Signal>>(iter: I) -> Self {
        let mut s = Signals::EMPTY;
        for x in iter {
            s.add(x);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for s in Signal::ALL {
            assert_eq!(Signal::from_name(s.name()), Some(s));
        }
        let mut names: Vec<_> = Signal::ALL.iter().map(|s| s.name()).collect();
        names.dedup();
        assert_eq!(names.len(), Signal::COUNT);
    }

    #[test]
    fn sets_keep_bit_order_and_drop_unknown_bits() {
        let set: Signals = [Signal::Webdriver, Signal::H2].into_iter().collect();
        assert_eq!(set.names(), "h2,webdriver");
        assert_eq!(Signals::from_bits(set.bits() | 1 << 31), set);
        assert_eq!(Signals::EMPTY.names(), "-");
    }
}
