//! How a refusal looks on the wire, shared by every front end so they answer alike.

use std::borrow::Cow;

use crate::decision::Decision;

/// A complete response for a refused request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// Names and values; most values are static, so rendering a refusal allocates little.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    pub body: &'static str,
    /// Close the connection after this response.
    pub close: bool,
}

/// Header naming the reason, so operators (and tests) can see why without reading logs.
pub const REASON_HEADER: &str = "x-tollgate-reason";

/// The response for `decision` at `now_unix_secs`, or `None` when the request should be proxied.
pub fn refusal(decision: &Decision, now_unix_secs: u64) -> Option<Refusal> {
    let reason = (REASON_HEADER, Cow::Borrowed(decision.reason().as_str()));
    let (status, retry, body, close) = match decision {
        Decision::Allow { .. } => return None,
        Decision::Deny { status, .. } => (*status, None, "Forbidden.\n", false),
        Decision::RateLimited { retry_after, .. } => {
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            (
                429,
                Some(secs.max(1)),
                "Too many requests: slow down.\n",
                false,
            )
        }
        Decision::Banned {
            until_unix_secs,
            close,
            ..
        } => {
            let secs = until_unix_secs.saturating_sub(now_unix_secs).max(1);
            (403, Some(secs), "Banned.\n", *close)
        }
        Decision::Challenge { .. } => (
            403,
            None,
            "A challenge is required but not available.\n",
            false,
        ),
    };
    let mut headers = Vec::with_capacity(4);
    headers.push(reason);
    headers.push(("cache-control", Cow::Borrowed("no-store")));
    headers.push(("content-type", Cow::Borrowed("text/plain; charset=utf-8")));
    if let Some(secs) = retry {
        headers.push(("retry-after", Cow::Owned(secs.to_string())));
    }
    Some(Refusal {
        status,
        headers,
        body,
        close,
    })
}
