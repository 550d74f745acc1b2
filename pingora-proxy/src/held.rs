//! Replies the auth listener holds for nginx `auth_request`, which drops an auth response's
//! body: a refused auth request is answered 401 with an id, and nginx's `error_page 401`
//! location fetches tollgate's real reply (the challenge page, a 429…) under that id, once.
//!
//! Bounded: at most [`MAX_HELD`] replies, each for [`HOLD`]; holding one more drops the expired
//! and, when still full, the oldest, in O(1) each (ids are queued in the order they were held).
//! Ids are 128 random bits, so a reply is found only by the nginx that asked.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tollgate_core::Reply;

/// How long nginx has to fetch a reply (it does so at once, on the same request).
const HOLD: Duration = Duration::from_secs(10);

/// Replies held at once: a challenge page is about 3 KB, so about 12 MB at most.
const MAX_HELD: usize = 4096;

#[derive(Default)]
pub struct HeldReplies {
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    replies: HashMap<u128, (Instant, Reply)>,
    /// Ids in the order they were held (some already taken).
    order: VecDeque<(Instant, u128)>,
}

impl HeldReplies {
    /// Holds `reply`; returns its id (32 hex digits), or the reply back without randomness.
    pub fn hold(&self, reply: Reply) -> Result<String, Reply> {
        let mut id = [0u8; 16];
        if getrandom::fill(&mut id).is_err() {
            return Err(reply);
        }
        let id = u128::from_be_bytes(id);
        let now = Instant::now();
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let h = &mut *held;
        while let Some(&(at, old)) = h.order.front() {
            let expired = now.duration_since(at) >= HOLD;
            if !expired && h.replies.len() < MAX_HELD && h.order.len() < 2 * MAX_HELD {
                break;
            }
            h.order.pop_front();
            h.replies.remove(&old);
        }
        h.replies.insert(id, (now, reply));
        h.order.push_back((now, id));
        Ok(format!("{id:032x}"))
    }

    /// The reply held under `id`, once, if it has not expired.
    pub fn take(&self, id: &str) -> Option<Reply> {
        let id = u128::from_str_radix(id, 16)
            .ok()
            .filter(|_| id.len() == 32)?;
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, reply) = held.replies.remove(&id)?;
        (at.elapsed() < HOLD).then_some(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn reply(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Cow::Borrowed(b""),
            close: false,
        }
    }

    #[test]
    fn a_held_reply_is_taken_once_and_the_store_stays_bounded() {
        let h = HeldReplies::default();
        let id = h.hold(reply(429)).unwrap();
        assert_eq!(id.len(), 32);
        assert_eq!(h.take("nonsense"), None);
        assert_eq!(h.take(&id).map(|r| r.status), Some(429));
        assert_eq!(h.take(&id), None, "taken twice");
        let first = h.hold(reply(403)).unwrap();
        for _ in 0..MAX_HELD {
            h.hold(reply(403)).unwrap();
        }
        let held = h.held.lock().unwrap();
        assert!(held.replies.len() <= MAX_HELD && held.order.len() <= 2 * MAX_HELD);
        drop(held);
        assert_eq!(h.take(&first), None, "the oldest made room");
    }
}
