//! The first thing a connection meets: is it let in at all, and may its headers take their
//! time.
//!
//! At accept, before TLS, [`AcceptFilter`] asks the core whether the peer may connect (a banned
//! direct peer, or a client key at its `[connections] max_per_client`, is dropped there). Then
//! [`Admission`] wraps the proxy: it holds the core's [`ConnectionSlot`] for the connection's
//! whole life (Pingora runs every request of a connection, HTTP/1.x keep-alive or HTTP/2,
//! inside one `process_new`), asks again (a TLS handshake takes time, and the filter cannot
//! hold a place), and puts a [`HeaderGuard`] under Pingora's parser.

mod header_guard;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::listeners::ConnectionFilter;
use pingora::protocols::Stream;
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;

use crate::proxy::{Gate, Shared};
use header_guard::{HeaderGuard, HeaderLimits};

/// Drops refused peers at accept, before a TLS handshake is spent on them.
#[derive(Debug)]
pub struct AcceptFilter {
    pub shared: Arc<Shared>,
}

#[async_trait]
impl ConnectionFilter for AcceptFilter {
    async fn should_accept(&self, addr: Option<&std::net::SocketAddr>) -> bool {
        let Some(peer) = addr.map(std::net::SocketAddr::ip) else {
            return true;
        };
        admit(&self.shared, peer).is_some()
    }
}

/// The proxy, behind the connection checks.
pub struct Admission {
    proxy: Arc<HttpProxy<Gate>>,
    shared: Arc<Shared>,
    /// Counts a header cut; made once, shared by every connection's guard.
    on_cut: Arc<dyn Fn(&'static str) + Send + Sync>,
}

#[async_trait]
impl ServerApp for Admission {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let peer = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let _slot = match peer {
            Some(ip) => Some(admit(&self.shared, ip)?),
            None => None,
        };
        let guarded = HeaderGuard::new(stream, self.limits());
        self.proxy.process_new(Box::new(guarded), shutdown).await
    }

    async fn cleanup(&self) {
        self.proxy.cleanup().await;
    }
}

impl Admission {
    pub fn new(proxy: HttpProxy<Gate>, shared: Arc<Shared>) -> Self {
        let counted = shared.clone();
        Self {
            proxy: Arc::new(proxy),
            shared,
            on_cut: Arc::new(move |why| counted.metrics.connection_closed(why)),
        }
    }

    /// The current `[connections]` limits (a reload applies to new connections).
    fn limits(&self) -> HeaderLimits {
        let rules = self.shared.engine.connection_rules();
        HeaderLimits {
            timeout: Duration::from_secs(u64::from(rules.header_timeout_secs)),
            max_bytes: rules.max_header_bytes as usize,
            on_cut: self.on_cut.clone(),
        }
    }
}

/// The core's slot for `peer`, or `None` (counted) when it is refused.
fn admit(shared: &Shared, peer: IpAddr) -> Option<tollgate_core::ConnectionSlot> {
    match shared.engine.open_connection(peer) {
        Ok(slot) => Some(slot),
        Err(reason) => {
            shared.metrics.connection_closed(reason.as_str());
            None
        }
    }
}
