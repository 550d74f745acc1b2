//! The auth listener's side of a request (forward-auth mode): held replies for nginx, the
//! check that an auth request names a request the core believes, and the answer to the front
//! proxy instead of proxying.

use pingora::proxy::Session;
use pingora::Result;
use tollgate_core::{is_auth_path, ForwardedError, Forwarding, Reply, Verdict};
use tollgate_core::{AUTH_REQUEST_PATH, HELD_REPLY_PATH};

use super::{write_reply, Gate};
use crate::view;

impl Gate {
    /// Before any decision: answers a held-reply fetch, or refuses an auth request the core
    /// would not believe. True when it answered.
    pub(super) async fn auth_front(&self, session: &mut Session) -> Result<bool> {
        if let Some(id) = session
            .req_header()
            .uri
            .path()
            .strip_prefix(HELD_REPLY_PATH)
        {
            let reply = self.held_reply(session, id);
            write_reply(session, reply).await?;
            return Ok(true);
        }
        if let Err(e) = self.original(session) {
            tracing::warn!(peer = %view::peer(session), error = %e, "forward-auth request refused");
            write_reply(session, self.shared.engine.auth_refused(&e)).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The answer to the front proxy: 2xx to let the request through, else tollgate's reply
    /// (for nginx `auth_request`: 401 naming the held reply).
    pub(super) async fn auth_answer(
        &self,
        session: &mut Session,
        verdict: &Verdict,
        forwarding: Option<Forwarding>,
    ) -> Result<bool> {
        let cookie = view::headers(session, None).cookie;
        let engine = &self.shared.engine;
        let auth = is_auth_path(session.req_header().uri.path());
        let reply = engine.auth_reply(verdict, auth, cookie.as_deref(), forwarding.as_ref());
        let reply = match session.req_header().uri.path() == AUTH_REQUEST_PATH {
            true if !(200..300).contains(&reply.status) => self.hold(reply),
            _ => reply,
        };
        write_reply(session, reply).await?;
        Ok(true)
    }

    /// nginx's 401 for a refusal, naming the reply held for its `error_page` location.
    fn hold(&self, reply: Reply) -> Reply {
        let engine = &self.shared.engine;
        match self.shared.held.hold(reply.clone()) {
            Some(id) => engine.auth_held(id, &reply),
            None => reply,
        }
    }

    /// A held reply, for the trusted proxy it was held for.
    fn held_reply(&self, session: &Session, id: &str) -> Reply {
        let engine = &self.shared.engine;
        let trusted = engine.trusts_proxy(view::peer(session));
        let held = trusted.then(|| self.shared.held.take(id)).flatten();
        held.unwrap_or_else(|| engine.auth_reply_gone())
    }

    /// On the auth listener: an auth request must name a request the core will believe.
    pub(super) fn original(&self, session: &Session) -> std::result::Result<(), ForwardedError> {
        let owned = self
            .shared
            .engine
            .with_client_ip_header(|n| view::headers(session, n));
        let req = view::view(session, &owned, view::connection(session, 1), None);
        match is_auth_path(req.path) {
            true => self
                .shared
                .engine
                .original(&req, view::forwarded(session))
                .map(drop),
            false => Ok(()),
        }
    }
}
