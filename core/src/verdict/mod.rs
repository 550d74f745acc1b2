//! What the core decided, and how it is said on the wire.
//!
//! [`Reason`] is a leaf: every module may name one without importing anything else. A
//! [`Decision`] is data (refusals included); a [`Verdict`] adds what a front end needs to carry
//! it out and log it; [`respond`] renders a decision as a [`Reply`] the same way for every front
//! end.

mod decision;
mod lang;
mod reason;
mod reply;
mod respond;
mod upstream;

pub use decision::{Asset, ChallengePage, Claim, Decision, Grant, Kind, Verdict};
pub use lang::Lang;
pub use reason::Reason;
pub use reply::{Reply, REASON_HEADER};
pub use respond::respond;
pub use upstream::UpstreamFailure;
