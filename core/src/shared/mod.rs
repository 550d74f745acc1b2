//! State in one shared-memory region, for front ends with several processes (nginx workers).
//!
//! This is the only code that knows raw words: [`Region`] carves a zone into tables of
//! set-associative slots of plain `AtomicU64`s; the stores, bans, replay caches and the
//! under-attack meter each have a backing over it next to their in-process one.

pub(crate) mod region;
pub(crate) mod slots;

pub use region::{Region, RegionError, RegionStats};
