//! Request rhythm, the server side of the white paper's behaviour collection (用户行为采集):
//! whether a client's documents arrive at near-constant intervals (a macro tool, a `wget` loop
//! with `sleep`), and whether a "browser" fetches documents in a burst without ever asking for
//! the pages' own assets.
//!
//! The summary is one `u64` per client key, riding in the slot of the limits every request
//! meets (one lookup for all three; see `KeyStore::update_rider`). It reads as a deadline, like
//! the counters beside it: the high bits are the last document's arrival plus [`TTL_UNITS`],
//! in units of 2^24 ns (16.8 ms), and the low 24 bits hold the last interval, the streak of
//! near-equal intervals, the burst of quick documents and whether an asset was fetched. Past
//! the deadline the summary is as good as absent, so the sweep may drop it; under memory
//! pressure it is the first thing forgotten, never a flooder's count.

use crate::request::RequestView;
use crate::score::signal::{Signal, Signals};

/// Nanoseconds per unit of time, as a shift: 2^24 ns = 16.8 ms.
const UNIT_SHIFT: u32 = 24;
/// How long a summary lives after its last document: 4096 units = 68.7 s, and so the longest
/// interval the 12-bit field holds.
const TTL_UNITS: u64 = 1 << INTERVAL_BITS;
const INTERVAL_BITS: u32 = 12;
/// Intervals shorter than this (30 units = 503 ms) never count as a rhythm: a page's frames,
/// or a flood the rate limits already see.
const MIN_INTERVAL: u64 = 30;
/// Near-equal intervals in a row from which [`Signal::FixedInterval`] fires: five intervals,
/// that is the sixth document.
const STREAK_FIRES: u64 = 4;
/// A document this soon after the previous one (179 units = 3.0 s) extends a burst.
const BURST_INTERVAL: u64 = 179;
/// Quick intervals in a row, with no asset since the summary began, from which
/// [`Signal::BurstNoSubresources`] fires: the seventh quick document.
const BURST_FIRES: u64 = 6;

/// How much earlier than the last stored arrival a document may have read the clock and still
/// count as its sibling (179 units = 3.0 s); earlier, the clock stepped back.
const SIBLING_SLACK: u64 = 179;

/// What a request fetches, as far as rhythm is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fetch {
    /// A page: what a person navigates to, or a script's loop asks for.
    Document,
    /// A page's own asset or a script's call (`Sec-Fetch-Dest` script, style, image, empty…).
    Asset,
}

impl Fetch {
    /// Browsers say with `Sec-Fetch-Dest`; without it, `Accept` tells an image or a stylesheet
    /// from a page (`*/*`, as tools send, counts as a page).
    pub(crate) fn of(req: &RequestView<'_>) -> Self {
        if let Some(dest) = req.sec_fetch_dest {
            let page = ["document", "iframe", "frame", "embed", "object"];
            return match page.iter().any(|d| dest.eq_ignore_ascii_case(d)) {
                true => Fetch::Document,
                false => Fetch::Asset,
            };
        }
        if req
            .sec_fetch_mode
            .is_some_and(|m| m.eq_ignore_ascii_case("navigate"))
        {
            return Fetch::Document;
        }
        match req.accept {
            Some(a) if !a.contains("text/html") && !a.trim_start().starts_with("*/*") => {
                Fetch::Asset
            }
            _ => Fetch::Document,
        }
    }
}

/// One client's rhythm, unpacked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Summary {
    /// Units at which the summary expires: the last document's arrival plus [`TTL_UNITS`].
    deadline: u64,
    /// The last interval between documents, in units (0: none yet).
    interval: u64,
    /// Intervals in a row within max(1/16, 3 units = 50 ms) of the one before.
    streak: u64,
    /// Intervals in a row under [`BURST_INTERVAL`].
    burst: u64,
    /// An asset was fetched since the summary began (it lives as long as the summary). A
    /// summary begun by an asset starts the documents' clock at that asset.
    asset_seen: bool,
}

// Low-bit layout: interval (12 bits), streak (4), burst (4), asset (1).
const STREAK_AT: u32 = INTERVAL_BITS;
const BURST_AT: u32 = STREAK_AT + 4;
const ASSET_AT: u32 = BURST_AT + 4;
const NIBBLE: u64 = 0xf;
const _: () = assert!(ASSET_AT < UNIT_SHIFT);

impl Summary {
    /// The summary `value` holds at `now` units; none if absent or expired.
    fn unpack(value: u64, now: u64) -> Option<Self> {
        let deadline = value >> UNIT_SHIFT;
        (deadline > now).then_some(Summary {
            deadline,
            interval: value & (TTL_UNITS - 1),
            streak: (value >> STREAK_AT) & NIBBLE,
            burst: (value >> BURST_AT) & NIBBLE,
            asset_seen: (value >> ASSET_AT) & 1 == 1,
        })
    }

    fn pack(self) -> u64 {
        self.deadline << UNIT_SHIFT
            | self.interval.min(TTL_UNITS - 1)
            | self.streak.min(NIBBLE) << STREAK_AT
            | self.burst.min(NIBBLE) << BURST_AT
            | u64::from(self.asset_seen) << ASSET_AT
    }

    /// A document arriving at `now` units. One that read the clock before a sibling request
    /// stored a later arrival (tabs of one browser, in parallel) counts as simultaneous; one
    /// much earlier than the last arrival means the wall clock stepped back, and the rhythm
    /// starts afresh from `now` (keeping whether an asset was seen).
    fn document(self, now: u64) -> Self {
        let arrival = self.deadline - TTL_UNITS;
        if now + SIBLING_SLACK < arrival {
            return Summary {
                deadline: now + TTL_UNITS,
                asset_seen: self.asset_seen,
                ..Summary::default()
            };
        }
        let interval = now.saturating_sub(arrival);
        let prev = self.interval;
        let near =
            prev != 0 && interval >= MIN_INTERVAL && interval.abs_diff(prev) <= (prev / 16).max(3);
        Summary {
            deadline: self.deadline.max(now + TTL_UNITS),
            interval,
            streak: if near { self.streak + 1 } else { 0 },
            burst: if interval < BURST_INTERVAL {
                self.burst + 1
            } else {
                0
            },
            asset_seen: self.asset_seen,
        }
    }
}

/// The new summary after a request of kind `fetch` at `now_ns`, given the stored one (`old`,
/// 0 when none).
pub(crate) fn observe(old: u64, now_ns: u64, fetch: Fetch) -> u64 {
    let now = now_ns >> UNIT_SHIFT;
    let fresh = Summary {
        deadline: now + TTL_UNITS,
        asset_seen: fetch == Fetch::Asset,
        ..Summary::default()
    };
    let next = match (Summary::unpack(old, now), fetch) {
        (None, _) => fresh,
        (Some(s), Fetch::Document) => s.document(now),
        // An asset leaves the documents' clock alone.
        (Some(s), Fetch::Asset) => Summary {
            asset_seen: true,
            ..s
        },
    };
    next.pack()
}

/// The signals a summary shows. `browser`: the request claims a browser, which fetches its
/// pages' assets.
pub(crate) fn signals(value: u64, now_ns: u64, browser: bool) -> Signals {
    let mut s = Signals::EMPTY;
    if let Some(sum) = Summary::unpack(value, now_ns >> UNIT_SHIFT) {
        s.add_if(sum.streak >= STREAK_FIRES, Signal::FixedInterval);
        s.add_if(
            browser && sum.burst >= BURST_FIRES && !sum.asset_seen,
            Signal::BurstNoSubresources,
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::NS_PER_SEC;

    const MS: u64 = 1_000_000;

    /// Runs documents (and assets, as `a`) at the given gaps in ms; the signals after each.
    fn run(start_s: u64, steps: &[(u64, Fetch)], browser: bool) -> Vec<String> {
        let mut now = start_s * NS_PER_SEC;
        let mut v = 0;
        steps
            .iter()
            .map(|&(gap, fetch)| {
                now += gap * MS;
                v = observe(v, now, fetch);
                signals(v, now, browser).names()
            })
            .collect()
    }

    fn docs(gaps: &[u64]) -> Vec<(u64, Fetch)> {
        gaps.iter().map(|&g| (g, Fetch::Document)).collect()
    }

    #[test]
    fn a_loop_with_a_fixed_sleep_shows_on_its_sixth_document() {
        let gaps = [0, 1012, 1031, 998, 1020, 1009, 1025, 1003];
        let seen = run(1000, &docs(&gaps), false);
        assert_eq!(seen[4], "-", "four intervals are not yet a rhythm");
        assert_eq!(seen[5], "fixed_interval");
        assert_eq!(seen[7], "fixed_interval");
        // One long pause breaks the streak; it builds again.
        let mut broken = gaps.to_vec();
        broken.extend([4000, 1000]);
        assert_eq!(run(1000, &docs(&broken), false)[9], "-");
    }

    #[test]
    fn varied_or_quick_intervals_and_a_pages_assets_show_nothing() {
        let person = [0, 2300, 5100, 1400, 9800, 3300, 2100, 7000, 1200];
        assert!(run(5, &docs(&person), false).iter().all(|s| s == "-"));
        // Frames of one page: quick, equal, and below the shortest rhythm.
        let frames = [0, 40, 40, 40, 40, 40, 40, 40];
        assert!(run(5, &docs(&frames), false).iter().all(|s| s == "-"));
        // Assets between documents do not move the documents' clock.
        let mut steps = Vec::new();
        for _ in 0..8 {
            steps.extend([
                (1000, Fetch::Document),
                (5, Fetch::Asset),
                (7, Fetch::Asset),
            ]);
        }
        steps.iter_mut().skip(3).step_by(3).for_each(|s| s.0 = 988);
        assert_eq!(
            run(5, &steps, true).last().map(String::as_str),
            Some("fixed_interval")
        );
    }

    #[test]
    fn a_browser_fetching_pages_in_a_burst_without_assets_shows_it() {
        let gaps = [0, 700, 1300, 400, 2200, 900, 1600, 500];
        let seen = run(9, &docs(&gaps), true);
        assert_eq!(seen[5], "-");
        assert_eq!(seen[6], "burst_no_subresources");
        // Not for a client that claims no browser, nor once an asset was fetched.
        assert!(run(9, &docs(&gaps), false).iter().all(|s| s == "-"));
        let mut with_asset = docs(&gaps);
        with_asset.insert(2, (50, Fetch::Asset));
        assert!(run(9, &with_asset, true).iter().all(|s| s == "-"));
    }

    #[test]
    fn a_summary_expires_and_stays_a_deadline() {
        let now = 77 * NS_PER_SEC;
        let v = observe(0, now, Fetch::Document);
        assert!(
            v > now && v <= now + 69 * NS_PER_SEC,
            "a deadline about 68.7 s ahead"
        );
        let later = now + 70 * NS_PER_SEC;
        assert_eq!(Summary::unpack(v, later >> UNIT_SHIFT), None);
        assert_eq!(
            observe(v, later, Fetch::Document),
            observe(0, later, Fetch::Document)
        );
    }

    #[test]
    fn a_document_stamped_before_a_siblings_later_one_counts_as_simultaneous() {
        let now = 300 * NS_PER_SEC;
        let later = observe(0, now + 2 * NS_PER_SEC, Fetch::Document);
        let v = observe(later, now, Fetch::Document);
        let s = Summary::unpack(v, now >> UNIT_SHIFT);
        assert_eq!(s.map(|s| (s.interval, s.burst)), Some((0, 1)));
        assert_eq!(
            v >> UNIT_SHIFT,
            later >> UNIT_SHIFT,
            "the later deadline stays"
        );
    }

    #[test]
    fn a_clock_stepped_back_starts_the_rhythm_afresh() {
        let now = 900 * NS_PER_SEC;
        let mut v = 0;
        for i in 0..7 {
            v = observe(v, now + i * NS_PER_SEC, Fetch::Document);
        }
        let stepped = now - 600 * NS_PER_SEC;
        let v = observe(v, stepped, Fetch::Document);
        let s = Summary::unpack(v, stepped >> UNIT_SHIFT);
        assert_eq!(s.map(|s| (s.interval, s.burst, s.streak)), Some((0, 0, 0)));
        assert_eq!(
            v >> UNIT_SHIFT,
            (stepped >> UNIT_SHIFT) + TTL_UNITS,
            "it expires from now"
        );
        // The next documents, a person's pace, build no burst out of the step.
        let later = observe(v, stepped + 9 * NS_PER_SEC, Fetch::Document);
        assert_eq!(signals(later, stepped + 9 * NS_PER_SEC, true).names(), "-");
    }

    #[test]
    fn request_kinds_follow_sec_fetch_dest_then_accept() {
        use std::net::{IpAddr, Ipv4Addr};
        let mut r = RequestView::get(IpAddr::V4(Ipv4Addr::LOCALHOST), "/");
        assert_eq!(Fetch::of(&r), Fetch::Document);
        r.accept = Some("*/*");
        assert_eq!(Fetch::of(&r), Fetch::Document);
        r.accept = Some("image/avif,image/webp,*/*");
        assert_eq!(Fetch::of(&r), Fetch::Asset);
        r.sec_fetch_dest = Some("document");
        assert_eq!(Fetch::of(&r), Fetch::Document);
        r.sec_fetch_dest = Some("empty");
        r.accept = Some("text/html");
        assert_eq!(Fetch::of(&r), Fetch::Asset);
    }
}
