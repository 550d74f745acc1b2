//! The environment traits tollgate looks for, by name, and a set of them that fits in a word.
//!
//! The white paper's point (浏览环境特征校验): each trait of a modern browser (kept-alive
//! connections, gzip, HTTP/2, CSP reports, `Sec-Fetch-*`, …) is easy to fake alone, but a script
//! rarely fakes all of them, and a script that claims to be a browser and then lacks them is a
//! liar. A [`Signal`] is one such observation; the rules file gives each a weight. A
//! [`Signals`] set travels in challenge tokens, so it must stay one `u32`.

use crate::codes::code_table;

code_table! {
    /// One observation about a request or its client. The order is the bit order: request-side
    /// signals first, then from [`Signal::CspReport`] on the answer's evidence and site state
    /// (see [`Signals::request_side`]). The value is the weight used when the rules file does
    /// not set one: browser traits add a little each; a lie about being a browser costs more
    /// than any honest script loses, so a client replaying a copied Chrome header set over
    /// HTTP/1.1 scores below plain `curl`.
    pub enum Signal: i32 as default_weight {
        // Connection: decided once per connection.
        /// HTTP/2 (negotiated by ALPN over TLS, or prior-knowledge h2c).
        H2 = "h2" => 10,
        /// HTTP/1.0: no modern browser speaks it.
        Http10 = "http10" => -20,
        /// Not the first request on its HTTP/1.x connection: the client keeps connections alive.
        ReusedConnection = "reused_connection" => 5,
        // Request headers.
        /// `Connection: close` on HTTP/1.1: one request per connection, like a `wget` loop.
        ConnectionClose = "connection_close" => -10,
        /// `Accept-Encoding` offers gzip.
        AcceptGzip = "accept_gzip" => 5,
        /// `Accept-Encoding` offers br or zstd (browsers offer them over HTTPS).
        ModernEncoding = "modern_encoding" => 5,
        /// `Sec-Fetch-Site`/`Sec-Fetch-Mode` are present (every current browser sends them).
        SecFetch = "sec_fetch" => 5,
        /// `Accept` asks for HTML and `Accept-Language` is present: a navigation as browsers make it.
        NavigationHeaders = "navigation_headers" => 5,
        /// No `User-Agent` at all.
        NoUserAgent = "no_user_agent" => -20,
        /// A user agent that names a scripting tool or library (curl, wget, python-requests, …).
        ScriptAgent = "script_agent" => -10,
        /// The user agent claims a browser. Weight 0 by default: it matters through
        /// [`Signals::consistent_browser`], which alone makes a client eligible for passing on score
        /// or a discount.
        ClaimsBrowser = "claims_browser" => 0,
        // Consistency: the user agent claims a browser, the request says otherwise.
        /// Claims a browser over TLS but did not negotiate HTTP/2.
        BrowserWithoutH2 = "browser_without_h2" => -45,
        /// Claims a browser but sends no `Sec-Fetch-*`.
        BrowserWithoutSecFetch = "browser_without_sec_fetch" => -20,
        /// Claims a browser over TLS but offers neither br nor zstd.
        BrowserWithoutModernEncoding = "browser_without_modern_encoding" => -10,
        /// Claims a browser whose TLS stack the ClientHello contradicts: a Chromium or Safari
        /// without GREASE, a Firefox without `record_size_limit` (a script's OpenSSL or Go
        /// stack with a borrowed user agent).
        BrowserTlsMismatch = "browser_tls_mismatch" => -40,
        /// The user agent says `HeadlessChrome`: a browser run by a program, saying so.
        HeadlessAgent = "headless_agent" => -15,
        // Request rhythm (per client key, see `rhythm`).
        /// Five near-equal intervals in a row between documents: a macro or a `wget` loop
        /// with a fixed `sleep`.
        FixedInterval = "fixed_interval" => -20,
        /// Claims a browser, fetched six documents in a quick burst and never an asset.
        BurstNoSubresources = "burst_no_subresources" => -15,
        // Browser side, sent with the solution or observed before it.
        /// The challenge page's deliberate CSP violation was reported, bound to its challenge.
        CspReport = "csp_report" => 15,
        /// The cookie set with the challenge page came back with the solution.
        CookieRoundtrip = "cookie_roundtrip" => 10,
        /// `navigator.webdriver` was true: the browser is automated.
        Webdriver = "webdriver" => -20,
        /// The solution came without the page's browser fields: a script solved it.
        NoBrowserSignals = "no_browser_signals" => -10,
        /// The page was hidden (background tab) when the solution was sent.
        HiddenPage = "hidden_page" => -5,
        /// Sent less than [`INSTANT_SUBMIT_MS`] after the page's script started.
        InstantSubmit = "instant_submit" => -10,
        /// The page's engine probes contradict the browser the user agent claims (see `probes`).
        EngineMismatch = "engine_mismatch" => -50,
        /// The probe result is not this challenge's: copied from another, or made up.
        ProbeForged = "probe_forged" => -100,
        /// The window has no browser around it (outer size equals inner) or no screen.
        HeadlessWindow = "headless_window" => -10,
        /// A desktop browser claim with no plugins and no MIME types.
        NoPlugins = "no_plugins" => -10,
        /// Docked developer tools (weighted light: people open them too).
        DevtoolsOpen = "devtools_open" => -3,
        // Server side.
        /// Under-attack mode is engaged: every score is lowered by this signal's weight.
        UnderAttack = "under_attack" => -20,
    }
}

/// Time from script start to submit below which a solution reads as not from the page.
pub const INSTANT_SUBMIT_MS: u64 = 20;

impl Signal {
    pub const COUNT: usize = Self::ALL.len();

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
        Signal::ALL.iter().copied().filter(move |s| self.has(*s))
    }

    /// The names of the signals in the set, comma-separated (`-` when empty): for log lines.
    pub fn names(self) -> String {
        if self.is_empty() {
            return "-".to_string();
        }
        self.iter()
            .map(Signal::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Claims a browser and none of the consistency checks caught it lying: the only clients
    /// a band may let through or discount. Headers alone (without a browser's user agent and
    /// protocol) never qualify.
    pub fn consistent_browser(self) -> bool {
        self.has(Signal::ClaimsBrowser)
            && !self.has(Signal::BrowserWithoutH2)
            && !self.has(Signal::BrowserWithoutSecFetch)
            && !self.has(Signal::BrowserWithoutModernEncoding)
            && !self.has(Signal::BrowserTlsMismatch)
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
        for &s in Signal::ALL {
            assert_eq!(Signal::parse(s.as_str()), Some(s));
        }
        let mut names: Vec<_> = Signal::ALL.iter().map(|s| s.as_str()).collect();
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
