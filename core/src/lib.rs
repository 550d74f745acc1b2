//! Tollgate's decision core.
//!
//! Everything that decides what happens to a request lives here, and nothing else does: no
//! sockets, no files, no async runtime, no Pingora or nginx types. A front end turns its request
//! into a [`RequestView`], calls [`Engine::decide`], and carries out the returned [`Decision`]
//! ([`Engine::respond`] renders it the same way for every front end).
//!
//! The folders follow the request's path:
//! - `request`: the view, the real client ([`ClientKey`]), the canonical path, CIDR lists and
//!   the route that matches;
//! - `engine`: the [`Engine`], whose ordered gates take a request through the allow list, bans,
//!   the deny list, scoring, the extreme-rate counter, tollgate's endpoints and the route's
//!   action;
//! - `limit`: rate limits over bounded stores, and bans;
//! - `score`: environment signals, the score and the under-attack meter;
//! - `toll`: what a challenge route costs: clearances, proof-of-work challenges, used answers,
//!   penalties, keys, the page;
//! - `verdict`: the [`Decision`] with its [`Reason`], and the [`Reply`] it becomes;
//! - `shared`: state in one shared-memory [`Region`] for multi-process front ends;
//! - `rules`: the rules file, parsed and validated with positions, compiled once.
//!
//! Only the items re-exported here are the core's API; the modules behind them are private.

mod clock;
mod codes;
mod crawl;
mod engine;
mod fleet;
mod limit;
mod request;
mod rules;
mod score;
mod shared;
#[cfg(any(test, feature = "solver"))]
mod solve;
mod text;
mod toll;
mod verdict;

pub use clock::{CoreClock, NS_PER_SEC};
pub use crawl::{Crawler, CrawlerLookup, CrawlerRules};
pub use engine::{
    is_auth_path, ConnectionSlot, Engine, EngineStats, AUTH_COOKIE_HEADER, AUTH_PATH,
    AUTH_REQUEST_PATH, HELD_REPLY_HEADER, HELD_REPLY_PATH,
};
pub use fleet::{Count, Meter, Metered};
pub use limit::{BanPolicy, BanRecord, Quota};
pub use request::{
    canonical_path, host_without_port, Action, Ambiguity, Canonical, CidrSet, ClientKey,
    ConnectionView, Forwarded, ForwardedError, Forwarding, HelloError, HttpVersion, IpHeader,
    RequestView, Route, RouteId, TlsHello, MAX_HELLO_RECORD, STRIPPED_HEADERS, UNKNOWN_PEER,
};
pub use rules::{
    load_rules, parse_rules, read_rules_text, ConfigError, ConnectionRules, FsReader, InvalidRules,
    Mode, Rules, SourceReader,
};
pub use score::probes::{Plan, Probe};
pub use score::{request_signals, AttackStatus, Score, ScoreRules, Signal, Signals};
pub use shared::{Region, RegionError, RegionStats};
#[cfg(feature = "solver")]
pub use solve::{solve, solve_parallel, Work};
pub use text::line_col;
pub use toll::{
    check_answer, check_clearance, clearance_cookie_name, hardest_work_bits, issue_challenge,
    mint_clearance, seal_clearance, Binding, Clearance, ClearanceError, IssueParams, Keyring,
    Offer, PowError, Puzzle, SecretError, Solved, CLEARANCE_COOKIE, MAX_CHALLENGE_TTL_SECS,
    OFFER_PATH, PREFIX, SECURE_COOKIE, VERIFY_PATH,
};
pub use verdict::{
    respond, Asset, ChallengePage, Claim, Decision, Grant, Kind, Lang, Reason, Reply,
    UpstreamFailure, Verdict, REASON_HEADER,
};
