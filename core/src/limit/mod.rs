//! Counting clients: rate limits, the bounded store they count in, and bans.
//!
//! A [`Limiter`](limiter::Limiter) runs governor's GCRA over a [`KeyStore`](store::KeyStore)
//! that holds a hard maximum of keys and evicts the least indebted first; a reload builds new
//! limiters over the same stores, so spent bursts carry over. The ban table holds extreme
//! clients for an escalating TTL.

pub(crate) mod ban;
pub(crate) mod limiter;
pub(crate) mod store;

pub use ban::{BanPolicy, BanRecord};
pub use limiter::Quota;
