//! The Pingora phases: ask the core in `request_filter`, carry out its decision, proxy the rest.
//!
//! No policy here: the core decides and [`tollgate_core::respond`] says what tollgate's
//! own answers look like (refusals, challenge pages, clearance redirects); this file only moves
//! bytes.

use std::any::Any;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderValue;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session};
use pingora::Result;
use tollgate_core::Reply;
use tollgate_core::{Decision, Engine, Verdict};
use tollgate_core::{Forwarding, TlsHello};

use crate::hello::Hellos;
use crate::logging::LogBudget;
use crate::metrics::Metrics;
use crate::view;

/// What every request handler shares.
pub struct Shared {
    pub engine: Engine,
    pub metrics: Metrics,
    pub log_budget: LogBudget,
    /// Upstreams from the command line; when empty, the rules' upstreams apply.
    pub upstreams_override: Vec<SocketAddr>,
    /// The rules file's `[server] upstreams`, replaced on reload.
    pub upstreams: ArcSwap<Vec<SocketAddr>>,
    /// Used when neither names an upstream.
    pub demo_backend: SocketAddr,
    /// ClientHellos of the TLS connections, captured before their handshakes.
    pub hellos: Arc<Hellos>,
    next_upstream: AtomicUsize,
}

impl Shared {
    pub fn new(
        engine: Engine,
        metrics: Metrics,
        log_budget: LogBudget,
        upstreams: Vec<SocketAddr>,
        upstreams_override: Vec<SocketAddr>,
        demo_backend: SocketAddr,
    ) -> Self {
        Self {
            engine,
            metrics,
            log_budget,
            upstreams_override,
            upstreams: ArcSwap::from_pointee(upstreams),
            demo_backend,
            hellos: Arc::default(),
            next_upstream: AtomicUsize::new(0),
        }
    }

    /// Round-robin over the configured upstreams.
    fn pick_upstream(&self) -> SocketAddr {
        let pick = |list: &[SocketAddr]| match list.len() {
            0 => self.demo_backend,
            n => list[self.next_upstream.fetch_add(1, Ordering::Relaxed) % n],
        };
        if self.upstreams_override.is_empty() {
            pick(&self.upstreams.load())
        } else {
            pick(&self.upstreams_override)
        }
    }
}

pub struct Gate {
    pub shared: Arc<Shared>,
}

/// Per-request state between phases: the headers the core wants changed upstream, and the
/// request's place on its connection.
#[derive(Default)]
pub struct Ctx {
    forwarding: Option<Forwarding>,
    /// Requests on this connection so far, this one included (HTTP/1.x; 0 for HTTP/2).
    conn_requests: u32,
    /// The request was proxied (the core allowed it).
    proxied: bool,
    /// The connection's ClientHello, looked up once per HTTP/1.x connection (TLS only).
    hello: Option<Arc<TlsHello>>,
}

/// What one HTTP/1.x request hands the next on the same keep-alive connection.
struct ConnMemo {
    requests: u32,
    hello: Option<Arc<TlsHello>>,
}

#[async_trait]
impl ProxyHttp for Gate {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::default()
    }

    fn persist_connection_context(
        &self,
        _session: &Session,
        ctx: &Ctx,
    ) -> Option<Box<dyn Any + Send + Sync>> {
        Some(Box::new(ConnMemo {
            requests: ctx.conn_requests,
            hello: ctx.hello.clone(),
        }))
    }

    fn on_connection_reuse(
        &self,
        _session: &mut Session,
        ctx: &mut Ctx,
        prev: Box<dyn Any + Send + Sync>,
    ) {
        if let Ok(memo) = prev.downcast::<ConnMemo>() {
            ctx.conn_requests = memo.requests;
            ctx.hello = memo.hello;
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let shared = &self.shared;
        if !session.is_http2() {
            ctx.conn_requests = ctx.conn_requests.saturating_add(1);
        }
        let (verdict, forwarding) = {
            if ctx.hello.is_none() {
                ctx.hello = view::hello(session, &shared.hellos);
            }
            let hello = ctx.hello.as_deref();
            let owned = shared
                .engine
                .with_client_ip_header(|name| view::headers(session, name));
            let conn = view::connection(session, ctx.conn_requests);
            let req = view::view(session, &owned, conn, hello);
            let start = Instant::now();
            let verdict = shared.engine.decide(&req);
            shared.metrics.count(&verdict.decision, start.elapsed());
            if let Some(score) = &verdict.score {
                shared.metrics.score(score);
            }
            let fwd = verdict
                .decision
                .is_allow()
                .then(|| shared.engine.forwarding(&req, &verdict));
            log_verdict(shared, &verdict, &req);
            (verdict, fwd)
        };
        match shared.engine.respond(&verdict) {
            None => {
                ctx.forwarding = forwarding;
                ctx.proxied = true;
                Ok(false)
            }
            Some(r) => {
                write_reply(session, r).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(
            self.shared.pick_upstream(),
            false,
            String::new(),
        )))
    }

    async fn logging(&self, session: &mut Session, error: Option<&pingora::Error>, ctx: &mut Ctx) {
        note_upstream(&self.shared, session, error, ctx);
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Some(fwd) = ctx.forwarding.take() {
            for name in fwd.remove.iter() {
                upstream.remove_header(*name);
            }
            for (name, value) in fwd.set {
                upstream.insert_header(name, value)?;
            }
            match fwd.cookie {
                Some(c) if c.is_empty() => {
                    upstream.remove_header("cookie");
                }
                Some(c) => upstream.insert_header("cookie", c)?,
                None => {}
            }
        }
        Ok(())
    }
}

/// Reports how the upstream handled a proxied request; the core decides what is a failure.
fn note_upstream(shared: &Shared, session: &Session, error: Option<&pingora::Error>, ctx: &Ctx) {
    if !ctx.proxied {
        return;
    }
    let status = session.response_written().map(|r| r.status.as_u16());
    let upstream = error.is_some_and(|e| e.esource() == &pingora::ErrorSource::Upstream);
    if shared.engine.upstream_outcome(status, upstream) {
        shared.metrics.upstream_error();
    }
}

async fn write_reply(session: &mut Session, r: Reply) -> Result<()> {
    let mut resp = ResponseHeader::build(r.status, Some(r.headers.len() + 2))?;
    for (name, value) in r.headers {
        match value {
            Cow::Borrowed(v) => resp.append_header(name, HeaderValue::from_static(v))?,
            Cow::Owned(v) => resp.append_header(name, v)?,
        };
    }
    resp.insert_header("content-length", r.body.len())?;
    if r.close {
        resp.insert_header("connection", HeaderValue::from_static("close"))?;
        session.set_keepalive(None);
    }
    session.write_response_header(Box::new(resp), false).await?;
    let body = match r.body {
        Cow::Borrowed(b) => Bytes::from_static(b.as_bytes()),
        Cow::Owned(b) => Bytes::from(b),
    };
    session.write_response_body(Some(body), true).await
}

/// One structured line per refusal (or observed refusal) and per granted clearance, within the
/// log budget, with the environment score and the signals that fired.
fn log_verdict(shared: &Shared, v: &Verdict, req: &tollgate_core::RequestView<'_>) {
    let (shown, observed) = match &v.observed {
        Some(d) => (d, true),
        None => (&v.decision, false),
    };
    let granted = matches!(shown, Decision::Pass { .. });
    if !shown.is_refusal() && !granted {
        return;
    }
    if !shared.log_budget.take() {
        shared.metrics.log_suppressed.inc();
        return;
    }
    let (score, signals) = match &v.score {
        Some(s) => (Some(s.value), s.signals.names()),
        None => (None, String::new()),
    };
    tracing::info!(
        decision = shown.kind().as_str(),
        reason = shown.reason().as_str(),
        score,
        signals,
        client = %v.client_ip,
        key = %shared.engine.network(&v.key),
        route = v.route.as_deref().unwrap_or("-"),
        method = req.method,
        path = req.path,
        ja4 = req.tls_hello.map_or("-", |h| h.ja4.as_str()),
        observed,
        "{}",
        if granted { "granted" } else { "refused" }
    );
}
