//! Which upstream a request goes to, how long it may take there, and what a failure is.
//!
//! Round-robin over the configured upstreams (the command line's beat the rules file's; none
//! means the demo backend). One that refuses a connection is passed over for `upstream_down_secs`
//! and the request is retried on a sibling it has not tried. Every peer carries the configured
//! connect, read and write timeouts; the total deadline is checked as response data arrives.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use pingora::prelude::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType};
use tollgate_core::UpstreamFailure;

use crate::config::UpstreamTimeouts;

pub struct Upstreams {
    /// From the command line; when empty, the rules' upstreams apply.
    overriding: Vec<SocketAddr>,
    /// The rules file's `[server] upstreams`, replaced on reload.
    configured: ArcSwap<Vec<SocketAddr>>,
    /// Used when neither names an upstream.
    demo_backend: SocketAddr,
    timeouts: ArcSwap<UpstreamTimeouts>,
    next: AtomicUsize,
    /// Upstreams that refused a connection, and until when they are passed over. Bounded by
    /// the number of configured upstreams (entries for removed ones expire and are dropped).
    down: Mutex<HashMap<SocketAddr, Instant>>,
    /// Entries in `down` (expired ones included until the next pick drops them): while 0, a
    /// pick takes no lock.
    marked: AtomicUsize,
}

impl Upstreams {
    pub fn new(
        configured: Vec<SocketAddr>,
        overriding: Vec<SocketAddr>,
        demo_backend: SocketAddr,
        timeouts: UpstreamTimeouts,
    ) -> Self {
        Self {
            overriding,
            configured: ArcSwap::from_pointee(configured),
            demo_backend,
            timeouts: ArcSwap::from_pointee(timeouts),
            next: AtomicUsize::new(0),
            down: Mutex::new(HashMap::new()),
            marked: AtomicUsize::new(0),
        }
    }

    /// After a reload.
    pub fn replace(&self, configured: Vec<SocketAddr>, timeouts: UpstreamTimeouts) {
        self.configured.store(std::sync::Arc::new(configured));
        self.timeouts.store(std::sync::Arc::new(timeouts));
    }

    pub fn total_timeout(&self) -> Duration {
        self.timeouts.load().total
    }

    /// The next upstream for a request that has tried `tried`: round-robin, passing over those
    /// marked down while an untried one is up. `None` once every upstream was tried.
    pub fn peer(&self, tried: &[SocketAddr]) -> Option<(SocketAddr, Box<HttpPeer>)> {
        let addr = self.pick(tried)?;
        let t = **self.timeouts.load();
        let mut peer = HttpPeer::new(addr, false, String::new());
        peer.options.connection_timeout = Some(t.connect);
        peer.options.total_connection_timeout = Some(t.connect);
        peer.options.read_timeout = Some(t.read);
        peer.options.write_timeout = Some(t.write);
        Some((addr, Box::new(peer)))
    }

    fn pick(&self, tried: &[SocketAddr]) -> Option<SocketAddr> {
        let configured = self.configured.load();
        let list: &[SocketAddr] = match (&self.overriding[..], &configured[..]) {
            ([], []) => return (!tried.contains(&self.demo_backend)).then_some(self.demo_backend),
            ([], list) => list,
            (list, _) => list,
        };
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut untried = (0..list.len())
            .map(|i| list[(start + i) % list.len()])
            .filter(|a| !tried.contains(a));
        // The common case, nothing marked down: the next in turn, no lock taken.
        if self.marked.load(Ordering::Relaxed) == 0 {
            return untried.next();
        }
        let now = Instant::now();
        let mut down = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        down.retain(|_, until| *until > now);
        self.marked.store(down.len(), Ordering::Relaxed);
        let first = untried.next()?;
        let up = std::iter::once(first)
            .chain(untried)
            .find(|a| !down.contains_key(a));
        Some(up.unwrap_or(first))
    }

    /// `addr` refused a connection: pass it over for a while.
    pub fn mark_down(&self, addr: SocketAddr) {
        let until = Instant::now() + self.timeouts.load().down;
        let mut down = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh = down.insert(addr, until).is_none();
        self.marked.store(down.len(), Ordering::Relaxed);
        if fresh {
            tracing::warn!(upstream = %addr, "upstream refused a connection; passed over for its siblings");
        }
    }

    /// Whether a request that tried `tried` has an upstream left.
    pub fn has_untried(&self, tried: &[SocketAddr]) -> bool {
        let configured = self.configured.load();
        let list = if self.overriding.is_empty() {
            &configured[..]
        } else {
            &self.overriding[..]
        };
        list.iter().any(|a| !tried.contains(a))
    }
}

/// What a proxying error means for the client, or `None` when the client side failed.
pub fn classify(e: &Error) -> Option<UpstreamFailure> {
    if e.esource() != &ErrorSource::Upstream {
        return None;
    }
    Some(match e.etype() {
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
            UpstreamFailure::Timeout
        }
        _ => UpstreamFailure::Unavailable,
    })
}

/// The error that ends an exchange past its total deadline.
pub fn total_deadline_passed(total: Duration) -> Box<Error> {
    Error::explain(
        ErrorType::ReadTimedout,
        format!("upstream total timeout {total:?}"),
    )
    .into_up()
}

/// A connection refusal: the one failure a sibling is retried for (nothing reached the
/// upstream, so even a POST is safe to send elsewhere).
pub fn refused(e: &Error) -> bool {
    matches!(
        e.etype(),
        ErrorType::ConnectRefused | ErrorType::ConnectNoRoute | ErrorType::ConnectError
    )
}
