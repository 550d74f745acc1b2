//! The answer when proxying fails, so every front end that renders its own says the same
//! thing: 504 for an upstream that stalled, 502 for one that could not be reached or broke off.

use super::{Reason, Reply};

/// How proxying failed, as a front end classifies its error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// Connected (or connecting) and then waited past a timeout.
    Timeout,
    /// Refused, reset, unreachable, or an invalid response.
    Unavailable,
}

impl UpstreamFailure {
    /// The refusal to send downstream. It closes the connection: the request may have been
    /// half-sent, and the client should not wait on this one again.
    pub fn reply(self) -> Reply {
        match self {
            Self::Timeout => Reply::text(
                504,
                Reason::UpstreamTimeout,
                "The site did not answer in time. Try again shortly.\n",
            ),
            Self::Unavailable => Reply::text(
                502,
                Reason::UpstreamUnavailable,
                "The site cannot be reached right now. Try again shortly.\n",
            ),
        }
        .no_store()
        .close(true)
    }
}
