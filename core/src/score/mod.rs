//! Environment scoring: which browser traits a request shows, and what its score buys.
//!
//! [`Signal`]s come from the connection and headers ([`request_signals`]) and, when a challenge
//! is answered, from what the page sent with it (`evidence`). Weights turn them into a
//! [`Score`], bands into an action. The under-attack meter (`attack`) lowers every score while
//! the site is flooded.

pub(crate) mod attack;
pub(crate) mod evidence;
pub mod probes;
pub(crate) mod rhythm;
pub(crate) mod signal;
pub(crate) mod weigh;

pub use attack::{AttackRules, AttackStatus};
pub use signal::{Signal, Signals};
pub use weigh::{request_signals, Band, Score, ScoreRules};
