//! Tollgate's decision core.
//!
//! Everything that decides what happens to a request lives here, and nothing else does: no
//! sockets, no files, no async runtime, no Pingora or nginx types. A front end turns its request
//! into a [`RequestView`], calls [`Engine::decide`], and carries out the returned [`Decision`]
//! (see [`respond`] for the shared HTTP rendering of a decision).
//!
//! The pieces, in the order a request meets them:
//! - [`client`] finds the real client address (trusted proxies only) and its [`ClientKey`];
//! - [`cidr`] answers allow/deny list membership;
//! - [`ban`] holds extreme clients for an escalating TTL;
//! - [`route`] picks the first route rule that matches;
//! - [`limit`] runs governor's GCRA over the bounded [`store`];
//! - [`toll`] asks challenge routes for a clearance ([`clearance`]) or a solved proof-of-work
//!   ([`pow`]), answers tollgate's own endpoints, and remembers used answers ([`replay`]) and
//!   misbehaving clients ([`penalty`]). Keys come from [`secret`].
//!
//! Rules are parsed and validated in [`rules`], then swapped in atomically by [`Engine::reload`];
//! state (counters, bans) lives in the engine and survives reloads. A front end with several
//! processes puts that state in one shared-memory [`region`] ([`Engine::shared`]).

pub mod attack;
pub mod ban;
pub mod cidr;
pub mod clearance;
pub mod client;
pub mod clock;
mod decide;
pub mod decision;
pub mod engine;
mod evidence;
pub mod key;
pub mod limit;
pub mod page;
pub mod path;
pub mod penalty;
pub mod pow;
pub mod region;
pub mod replay;
pub mod request;
pub mod respond;
pub mod route;
pub mod rules;
pub mod score;
pub mod secret;
pub mod signal;
mod slots;
pub mod solve;
pub mod store;
pub mod toll;
mod wire;

pub use clock::CoreClock;
pub use decision::{Decision, Reason, Verdict};
pub use engine::{Engine, EngineStats};
pub use key::ClientKey;
pub use request::{ConnectionView, HttpVersion, RequestView};
pub use rules::{load_rules, parse_rules, InvalidRules, Rules, SourceReader};
pub use secret::Keyring;
