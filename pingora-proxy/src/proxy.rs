//! The Pingora phases: ask the core in `request_filter`, carry out its decision, proxy the rest.
//!
//! No policy here: the core decides and [`tollgate_core::respond`] says what tollgate's
//! own answers look like (refusals, challenge pages, clearance redirects); this file only moves
//! bytes.

use std::any::Any;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderValue;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::Result;
use tollgate_core::Reply;
use tollgate_core::{Decision, Engine, Meter, Metered, Verdict};
use tollgate_core::{ForwardedError, Forwarding, TlsHello};

use crate::crawlers::CrawlerDns;
use crate::fleet::Fleet;
use crate::held::HeldReplies;
use crate::hello::Hellos;
use crate::logging::LogBudget;
use crate::metrics::Metrics;
use crate::upstream::{self, Upstreams};
use crate::view;

mod auth;

/// What every request handler shares.
pub struct Shared {
    pub engine: Arc<Engine>,
    pub metrics: Metrics,
    pub log_budget: Arc<LogBudget>,
    pub upstreams: Upstreams,
    /// ClientHellos of the TLS connections, captured before their handshakes.
    pub hellos: Arc<Hellos>,
    /// Runs the crawler lookups the core asks for; `None`: no resolver could be set up.
    pub dns: Option<CrawlerDns>,
    /// The fleet this instance shares state with, once joined (`[fleet]`).
    pub fleet: OnceLock<Fleet>,
    /// Replies the auth listener holds for nginx `auth_request`.
    pub held: HeldReplies,
}

impl Shared {
    pub fn new(
        engine: Engine,
        metrics: Metrics,
        log_budget: Arc<LogBudget>,
        upstreams: Upstreams,
        dns: Option<CrawlerDns>,
    ) -> Self {
        if dns.is_some() {
            engine.enable_crawler_lookups();
        }
        Self {
            engine: Arc::new(engine),
            metrics,
            log_budget,
            upstreams,
            hellos: Arc::default(),
            dns,
            fleet: OnceLock::new(),
            held: HeldReplies::default(),
        }
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

pub struct Gate {
    pub shared: Arc<Shared>,
    /// The auth listener (forward-auth mode): nothing is proxied; a let-through request is
    /// answered 2xx for the front proxy that asked.
    pub auth: bool,
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
    /// Upstreams this request tried (a refused connection is retried on a sibling).
    tried: Vec<SocketAddr>,
    /// When the first upstream was picked, for the total deadline.
    proxy_start: Option<Instant>,
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
        if self.auth && self.held_front(session).await? {
            return Ok(true);
        }
        let (mut verdict, mut forwarding) = match self.decide(session, ctx, None) {
            Ok(decided) => decided,
            Err(e) => return self.auth_refused(session, &e).await,
        };
        if let (Decision::Verify { lookup, .. }, Some(dns)) = (&verdict.decision, &shared.dns) {
            // The core has counted nothing yet: it decides the same request again with the
            // lookup's outcome recorded.
            let configured = shared
                .engine
                .with_rules(|r| r.crawlers.as_ref().and_then(|c| c.resolver));
            let proved = dns.check(lookup, configured).await;
            shared.metrics.crawler_lookup(proved);
            tracing::info!(client = %lookup.ip(), crawler = lookup.crawler(), ?proved, "crawler lookup");
            shared.engine.record_crawler(lookup, proved);
            (verdict, forwarding) = match self.decide(session, ctx, None) {
                Ok(decided) => decided,
                Err(e) => return self.auth_refused(session, &e).await,
            };
        }
        if let (Decision::Meter { meter, .. }, Some(fleet)) =
            (&verdict.decision, shared.fleet.get())
        {
            // Nothing is counted yet either: decided again with the store's reading.
            let meter = meter.clone();
            let reading = fleet.meter(&meter).await;
            (verdict, forwarding) = match self.decide(session, ctx, Some((&meter, reading))) {
                Ok(decided) => decided,
                Err(e) => return self.auth_refused(session, &e).await,
            };
        }
        if let Decision::Claim { claim, .. } = &verdict.decision {
            verdict.decision = self.settle(claim).await;
        }
        if self.auth {
            return self.auth_answer(session, &verdict).await;
        }
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

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        ctx.proxy_start.get_or_insert_with(Instant::now);
        let (addr, peer) = self.shared.upstreams.peer(&ctx.tried).ok_or_else(|| {
            pingora::Error::explain(pingora::ErrorType::ConnectError, "every upstream refused")
                .into_up()
        })?;
        ctx.tried.push(addr);
        Ok(peer)
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<pingora::Error>,
    ) -> Box<pingora::Error> {
        if upstream::refused(&e) {
            if let Some(addr) = ctx.tried.last() {
                self.shared.upstreams.mark_down(*addr);
            }
            e.set_retry(self.shared.upstreams.has_untried(&ctx.tried));
        }
        e
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &pingora::Error,
        _ctx: &mut Ctx,
    ) -> FailToProxy {
        let code = match upstream::classify(e) {
            Some(failure) => {
                let reply = failure.reply();
                let status = reply.status;
                match write_reply(session, reply).await {
                    Ok(()) => status,
                    Err(_) => 0,
                }
            }
            None => downstream_failure(session, e).await,
        };
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        _upstream: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        self.within_total(ctx)
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<std::time::Duration>> {
        self.within_total(ctx).map(|()| None)
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

impl Gate {
    /// A first answer's decision: claimed across the fleet (or, outside one, as if it were),
    /// then counted and logged like any other.
    async fn settle(&self, claim: &tollgate_core::Claim) -> Decision {
        let shared = &self.shared;
        let start = Instant::now();
        let d = match shared.fleet.get() {
            Some(fleet) => fleet.settle(&shared.engine, claim).await,
            None => shared.engine.claimed(claim, None),
        };
        shared.metrics.count(&d, start.elapsed());
        let (decision, reason) = (d.kind().as_str(), d.reason().as_str());
        tracing::info!(decision, reason, "answer claimed across the fleet");
        d
    }

    /// Asks the core about the request, and counts and logs the verdict. On the auth listener,
    /// an auth request is decided as the request it names (`Err`: the core does not believe it).
    fn decide(
        &self,
        session: &Session,
        ctx: &mut Ctx,
        metered: Option<(&Meter, Metered)>,
    ) -> std::result::Result<(Verdict, Option<Forwarding>), ForwardedError> {
        let shared = &self.shared;
        if ctx.hello.is_none() {
            ctx.hello = view::hello(session, &shared.hellos);
        }
        let hello = ctx.hello.as_deref();
        let owned = shared
            .engine
            .with_client_ip_header(|name| view::headers(session, name));
        let conn = view::connection(session, ctx.conn_requests);
        let mut req = view::view(session, &owned, conn, hello);
        if self.auth {
            if let Some(named) = shared.engine.original(&req, view::forwarded(session))? {
                req = named;
            }
        }
        let start = Instant::now();
        let verdict = match metered {
            None => shared.engine.decide(&req),
            Some((meter, reading)) => shared.engine.decide_metered(&req, meter, reading),
        };
        // A lookup, claim or meter still to make is not the request's decision: counted once
        // made.
        if matches!(
            verdict.decision,
            Decision::Verify { .. } | Decision::Claim { .. } | Decision::Meter { .. }
        ) {
            return Ok((verdict, None));
        }
        shared.metrics.count(&verdict.decision, start.elapsed());
        if let Some(score) = &verdict.score {
            shared.metrics.score(score);
        }
        let fwd = verdict
            .decision
            .is_allow()
            .then(|| shared.engine.forwarding(&req, &verdict));
        log_verdict(shared, &verdict, &req);
        Ok((verdict, fwd))
    }

    fn within_total(&self, ctx: &Ctx) -> Result<()> {
        let total = self.shared.upstreams.total_timeout();
        match ctx.proxy_start {
            Some(start) if start.elapsed() > total => Err(upstream::total_deadline_passed(total)),
            _ => Ok(()),
        }
    }
}

/// The client's side failed: nothing to say to a dead connection, 400 to a bad request.
async fn downstream_failure(session: &mut Session, e: &pingora::Error) -> u16 {
    use pingora::ErrorType::{ConnectionClosed, ReadError, WriteError};
    let code = match (e.esource(), e.etype()) {
        (_, pingora::ErrorType::HTTPStatus(code)) => *code,
        (pingora::ErrorSource::Downstream, WriteError | ReadError | ConnectionClosed) => 0,
        (pingora::ErrorSource::Downstream, _) => 400,
        _ => 500,
    };
    if code > 0 && session.respond_error(code).await.is_err() {
        return 0;
    }
    code
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

pub(crate) async fn write_reply(session: &mut Session, r: Reply) -> Result<()> {
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
        Cow::Borrowed(b) => Bytes::from_static(b),
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
