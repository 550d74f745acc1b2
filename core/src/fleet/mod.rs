//! What a fleet of front ends shares through a store outside the process (Redis), as data: the
//! core stays I/O-free and decides on its local state; a front end that joins a fleet carries
//! the rest.
//!
//! - Bans are written through: each ban the core records is queued in a bounded [`Outbox`]
//!   the front end drains and publishes; bans from other instances come back in through
//!   [`Engine::restore_bans`](crate::Engine::restore_bans), which keeps the later of two.
//! - One-time answers are claimed: a correct first answer comes back as a
//!   [`Claim`](crate::Claim) for the
//!   front end to make once across the fleet (an atomic set-if-absent) before the clearance is
//!   handed out.
//! - Limits are reconciled (each instance's passes added to the others' buckets every few
//!   milliseconds), or with `limits = "exact"` metered by the store itself ([`Meter`]).

mod meter;
mod outbox;
mod tally;

pub use meter::{Meter, Metered};
pub(crate) use outbox::Outbox;
pub use tally::Count;
pub(crate) use tally::Tally;
pub(crate) use tally::{ATTACK_ERRORS, ATTACK_REQUESTS};
