//! Engine probes: what the page's script finds the JavaScript engine and the DOM really are,
//! checked against the browser the user agent claims (the white paper's 浏览环境特征校验 and
//! 可信前端). Each probe is a yes/no question whose answer is known per engine family (Blink,
//! Gecko, WebKit) and version: error message and stack formats, `Function.prototype.toString`
//! of a native, engine-only globals and CSS properties, `Intl` features, whether a canvas
//! draws. Any one is easy to fake; a script that borrows a user agent rarely fakes them all,
//! and a browser run with another's user agent gives itself away on several at once.
//!
//! Each challenge picks and orders its own probes, and the page encodes its answers under a
//! key, both derived from the challenge's MAC ([`Plan::of`]): a result copied from another
//! challenge decodes to nonsense and fails its check ([`Signal::ProbeForged`]). The key is in
//! the page, so this binds a result to its challenge; it does not hide the probes from a
//! script that reads the page. Nothing is stored: the result is judged and dropped.
//!
//! The page's implementations are in `toll/assets/challenge.js` (`PROBES`), one per name here.

use sha2::{Digest, Sha256};

use crate::codes::code_table;
use crate::score::signal::{Signal, Signals};

/// What one engine family answers to a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Yes,
    No,
    /// Not known well enough to judge.
    Any,
    /// Yes from this major version on (below it, not judged: the boundary may be off by one).
    From(u16),
}

/// What a probe tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// The answers of Blink, Gecko and WebKit, in that order.
    Engine([Expect; 3]),
    /// An automation tell: a yes fires the signal, whatever the claim.
    Tell(Signal),
}

use Expect::{Any, From, No, Yes};

const fn engine(blink: Expect, gecko: Expect, webkit: Expect) -> Known {
    Known::Engine([blink, gecko, webkit])
}

code_table! {
    /// One probe, named as the page's script names it. Measured in Chromium 156 and Firefox
    /// ESR 153 on this machine; the WebKit column is from WebKit's sources and documentation.
    pub enum Probe: Known as known {
        /// `null.x` throws "Cannot read properties of null (reading 'x')".
        /// (V8's wording since Chrome 93; before it, "Cannot read property 'x' of null".)
        ErrorMessageV8 = "error_message_v8" => engine(From(93), No, No),
        /// … "can't access property "x" of null" (older: "null has no properties").
        ErrorMessageSm = "error_message_sm" => engine(No, Yes, No),
        /// … "null is not an object (evaluating 'null.x')".
        ErrorMessageJsc = "error_message_jsc" => engine(No, No, Yes),
        /// An error's `stack` starts with its message line ("Error: …").
        StackMessageLine = "stack_message_line" => engine(Yes, No, No),
        /// `Function.prototype.toString` of a native function is one line.
        NativeCodeOneLine = "native_code_one_line" => engine(Yes, No, No),
        /// `window.chrome` is an object.
        WindowChrome = "window_chrome" => engine(Yes, No, Any),
        /// `mozInnerScreenX` exists.
        MozInnerScreen = "moz_inner_screen" => engine(No, Yes, No),
        /// `navigator.vendor` is "Google Inc.".
        VendorGoogle = "vendor_google" => engine(Yes, No, No),
        /// `navigator.vendor` starts with "Apple".
        VendorApple = "vendor_apple" => engine(No, No, Yes),
        /// `CSS.supports("-moz-appearance", "none")`.
        CssMozAppearance = "css_moz_appearance" => engine(No, Yes, No),
        /// `CSS.supports("-webkit-app-region", "drag")`.
        CssWebkitAppRegion = "css_webkit_app_region" => engine(Yes, No, Any),
        /// `GestureEvent` exists.
        GestureEvent = "gesture_event" => engine(No, No, Yes),
        /// `Intl.Segmenter` exists.
        IntlSegmenter = "intl_segmenter" => engine(From(87), From(125), From(15)),
        /// `Intl.DurationFormat` exists.
        IntlDurationFormat = "intl_duration_format" => engine(From(129), From(136), From(17)),
        /// `navigator.userAgentData` exists (secure contexts only: elsewhere not answered).
        UserAgentData = "user_agent_data" => engine(From(90), No, No),
        /// A 2D canvas draws a shape (its pixel reads back), and WebGL, if there, answers its
        /// limits sanely (read in the page's first worker, off the page's thread). The pixels
        /// are compared in the page, never sent.
        Graphics = "graphics" => engine(Yes, Yes, Yes),
        /// The window has no browser around it (outer size equals inner) or no screen. Judged
        /// for desktop claims only (a phone's browser is its window), and weighted light: a
        /// desktop browser in full screen, a kiosk or an installed web app looks the same.
        HeadlessWindow = "headless_window" => Known::Tell(Signal::HeadlessWindow),
        /// No plugins and no MIME types (judged for desktop claims only: every desktop
        /// browser lists its PDF viewer).
        NoPlugins = "no_plugins" => Known::Tell(Signal::NoPlugins),
        /// The window is much larger than its page: docked developer tools.
        DevtoolsOpen = "devtools_open" => Known::Tell(Signal::DevtoolsOpen),
    }
}

/// Engine probes each challenge asks (of [`Probe::ALL`]'s 16); every tell is always asked.
const ENGINE_PROBES_ASKED: usize = 12;
/// Contradicted probes from which the claim reads as a lie (one may be an oddity: an
/// extension, a version boundary).
const MISMATCH_AT: usize = 2;

/// A browser family and major version, as a user agent claims them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Claim {
    /// Index into [`Known::Engine`]: Blink, Gecko, WebKit.
    family: usize,
    version: Option<u16>,
    desktop: bool,
}

impl Claim {
    fn of(ua: &str) -> Option<Self> {
        let version = |marker: &str| {
            let rest = &ua[ua.find(marker)? + marker.len()..];
            let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
            digits.parse().ok()
        };
        let (family, version) = if ua.contains("Firefox/") {
            (1, version("Firefox/"))
        } else if ua.contains("Chrome/") || ua.contains("Chromium/") {
            (0, version("Chrome/").or_else(|| version("Chromium/")))
        } else if ua.contains("AppleWebKit/") {
            (2, version("Version/"))
        } else {
            return None;
        };
        let mobile = ["Mobile", "Android", "iPhone", "iPad"];
        let desktop = !mobile.iter().any(|m| ua.contains(m));
        Some(Claim {
            family,
            version,
            desktop,
        })
    }

    /// Whether `answer` contradicts what this claim's engine answers to `probe`.
    fn contradicted_by(self, probe: Probe, answer: bool) -> bool {
        let Known::Engine(columns) = probe.known() else {
            return false;
        };
        let expected = match columns[self.family] {
            Yes => true,
            No => false,
            Any => return false,
            From(v) if self.version.is_some_and(|have| have >= v) => true,
            From(_) => return false,
        };
        answer != expected
    }
}

/// One challenge's probes, in the order its page asks them, and the key its answers are
/// encoded under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub order: Vec<Probe>,
    pub key: u32,
}

impl Plan {
    /// The plan of the challenge whose probe value is `probe` (derived from its MAC with the
    /// signing key: see `toll::pow`).
    pub fn of(probe: &str) -> Self {
        let digest = Sha256::new()
            .chain_update(b"tollgate engine probes\0")
            .chain_update(probe.as_bytes())
            .finalize();
        let word =
            |i: usize| u32::from_le_bytes([digest[i], digest[i + 1], digest[i + 2], digest[i + 3]]);
        let mut rng = word(0) | 1;
        let (mut engine, tells): (Vec<Probe>, Vec<Probe>) = Probe::ALL
            .iter()
            .partition(|p| matches!(p.known(), Known::Engine(_)));
        shuffle(&mut engine, &mut rng);
        engine.truncate(ENGINE_PROBES_ASKED);
        engine.extend(tells);
        shuffle(&mut engine, &mut rng);
        Plan {
            order: engine,
            key: word(4) | 1,
        }
    }

    /// The page's encoding of `answers` (`None`: not answered), one per probe in order:
    /// digits, a dot, the check. What `challenge.js` computes; here for tests and tools.
    pub fn encode(&self, answers: &[Option<bool>]) -> String {
        let mut stream = self.key;
        let mut check = Check::new(self.key);
        let digits: String = answers
            .iter()
            .map(|a| {
                let v = a.map_or(2, u32::from);
                stream = xorshift(stream);
                check.add(v);
                char::from(b'0' + ((v + stream % 3) % 3) as u8)
            })
            .collect();
        format!("{digits}.{:08x}", check.finish())
    }

    /// The answers `result` encodes, in order; `None` if it is not this plan's encoding.
    fn decode(&self, result: &str) -> Option<Vec<Option<bool>>> {
        let (digits, tag) = result.split_once('.')?;
        if digits.len() != self.order.len() || tag.len() != 8 {
            return None;
        }
        let mut stream = self.key;
        let mut check = Check::new(self.key);
        let mut answers = Vec::with_capacity(digits.len());
        for d in digits.bytes() {
            let d = u32::from(d.checked_sub(b'0').filter(|&d| d < 3)?);
            stream = xorshift(stream);
            let v = (d + 3 - stream % 3) % 3;
            check.add(v);
            answers.push((v < 2).then_some(v == 1));
        }
        let tag = u32::from_str_radix(tag, 16).ok()?;
        (tag == check.finish()).then_some(answers)
    }

    /// The signals of the page's `result` for a client claiming `ua`.
    pub fn judge(&self, result: &str, ua: Option<&str>) -> Signals {
        let mut s = Signals::EMPTY;
        let Some(answers) = self.decode(result) else {
            s.add(Signal::ProbeForged);
            return s;
        };
        let claim = ua.and_then(Claim::of);
        let mut contradicted = 0;
        for (&probe, answer) in self.order.iter().zip(answers) {
            let Some(answer) = answer else { continue };
            match probe.known() {
                Known::Tell(Signal::NoPlugins | Signal::HeadlessWindow)
                    if !claim.is_some_and(|c| c.desktop) => {}
                Known::Tell(signal) => s.add_if(answer, signal),
                Known::Engine(_) => {
                    contradicted +=
                        usize::from(claim.is_some_and(|c| c.contradicted_by(probe, answer)));
                }
            }
        }
        s.add_if(contradicted >= MISMATCH_AT, Signal::EngineMismatch);
        s
    }
}

/// The page's PRNG: xorshift32 (what `challenge.js` computes with `<<`, `>>>` and `^`).
fn xorshift(mut x: u32) -> u32 {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    x
}

/// Fisher–Yates with the page's PRNG.
fn shuffle<T>(items: &mut [T], rng: &mut u32) {
    for i in (1..items.len()).rev() {
        *rng = xorshift(*rng);
        items.swap(i, *rng as usize % (i + 1));
    }
}

/// The result's check: FNV-1a-style over the answers, keyed, with a final mix (`Math.imul` in
/// the page).
struct Check(u32);

impl Check {
    fn new(key: u32) -> Self {
        Check(key ^ 0x9e37_79b9)
    }

    fn add(&mut self, v: u32) {
        self.0 = (self.0 ^ v).wrapping_mul(0x0100_0193);
    }

    fn finish(&self) -> u32 {
        let h = (self.0 ^ (self.0 >> 15)).wrapping_mul(0x2c1b_3c6d);
        h ^ (h >> 12)
    }
}

#[cfg(test)]
mod tests;
