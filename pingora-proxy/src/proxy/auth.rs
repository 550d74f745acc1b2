//! The auth listener's side of a request (forward-auth mode): held replies for nginx, the
//! check that an auth request names a request the core believes, and the answer to the front
//! proxy instead of proxying.

use pingora::proxy::Session;
use pingora::Result;
use tollgate_core::{is_auth_path, ForwardedError, Reply, Verdict, REASON_HEADER};
use tollgate_core::{AUTH_REQUEST_PATH, HELD_REPLY_PATH};

use super::{write_reply, Gate};
use crate::view;

impl Gate {
    /// Before any decision: answers a held-reply fetch. True when it answered.
    pub(super) async fn held_front(&self, session: &mut Session) -> Result<bool> {
        let path = session.req_header().uri.path();
        let Some(id) = path.strip_prefix(HELD_REPLY_PATH) else {
            return Ok(false);
        };
        let reply = self.held_reply(session, id);
        write_reply(session, reply).await?;
        Ok(true)
    }

    /// An auth request the core does not believe.
    pub(super) async fn auth_refused(
        &self,
        session: &mut Session,
        e: &ForwardedError,
    ) -> Result<bool> {
        tracing::warn!(peer = %view::peer(session), error = %e, "forward-auth request refused");
        write_reply(session, self.shared.engine.auth_refused(e)).await?;
        Ok(true)
    }

    /// The answer to the front proxy: 2xx to let the request through, else tollgate's reply
    /// (for nginx `auth_request`: 401 naming the held reply).
    pub(super) async fn auth_answer(
        &self,
        session: &mut Session,
        verdict: &Verdict,
    ) -> Result<bool> {
        let path = session.req_header().uri.path();
        let (auth, nginx) = (is_auth_path(path), path == AUTH_REQUEST_PATH);
        let cookie = view::headers(session, None).cookie;
        let reply = self
            .shared
            .engine
            .auth_reply(verdict, auth, cookie.as_deref());
        let reply = match nginx && !(200..300).contains(&reply.status) {
            true => self.hold(reply),
            false => reply,
        };
        write_reply(session, reply).await?;
        Ok(true)
    }

    /// nginx's 401 for a refusal, naming the reply held for its `error_page` location.
    fn hold(&self, reply: Reply) -> Reply {
        let reason = reply.header_value(REASON_HEADER).map(str::to_string);
        let held = self.shared.held.hold(reply);
        match held {
            Ok(id) => self.shared.engine.auth_held(id, reason.as_deref()),
            Err(reply) => reply,
        }
    }

    /// A held reply, for the trusted proxy it was held for.
    fn held_reply(&self, session: &Session, id: &str) -> Reply {
        let engine = &self.shared.engine;
        let trusted = engine.trusts_proxy(view::peer(session));
        let held = trusted.then(|| self.shared.held.take(id)).flatten();
        held.unwrap_or_else(|| engine.auth_reply_gone())
    }
}
