//! A response tollgate gives itself, and a small builder for one.

use std::borrow::Cow;

use super::Reason;

/// Header naming the reason, so operators (and tests) can see why without reading logs.
pub const REASON_HEADER: &str = "x-tollgate-reason";

/// Plain text, the type of every refusal.
pub(crate) const TEXT: &str = "text/plain; charset=utf-8";

/// A complete response tollgate gives instead of proxying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// Names and values; most values are static, so rendering a refusal allocates little.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    /// Text for everything but the solver's WebAssembly.
    pub body: Cow<'static, [u8]>,
    /// Close the connection after this response.
    pub close: bool,
}

impl Reply {
    /// A `status` response of type `content_type` that names `reason`.
    pub(crate) fn new(status: u16, reason: Reason, content_type: &'static str) -> Self {
        let mut headers = Vec::with_capacity(6);
        headers.push((REASON_HEADER, Cow::Borrowed(reason.as_str())));
        headers.push(("content-type", Cow::Borrowed(content_type)));
        Self {
            status,
            headers,
            body: Cow::Borrowed(b""),
            close: false,
        }
    }

    /// A plain-text response.
    pub(crate) fn text(status: u16, reason: Reason, body: impl Into<Cow<'static, str>>) -> Self {
        Self::new(status, reason, TEXT).body(body)
    }

    pub(crate) fn body(mut self, body: impl Into<Cow<'static, str>>) -> Self {
        self.body = match body.into() {
            Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
            Cow::Owned(text) => Cow::Owned(text.into_bytes()),
        };
        self
    }

    /// The body as text (binary bodies lossily).
    pub fn body_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// A binary body (the solver's WebAssembly).
    pub(crate) fn bytes(mut self, body: &'static [u8]) -> Self {
        self.body = Cow::Borrowed(body);
        self
    }

    /// Never cached: every refusal and challenge is for this client, now.
    pub(crate) fn no_store(self) -> Self {
        self.header("cache-control", "no-store")
    }

    pub(crate) fn header(
        mut self,
        name: &'static str,
        value: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Close the connection after sending (`close`) or not.
    pub(crate) fn close(mut self, close: bool) -> Self {
        self.close = close;
        self
    }

    /// The value of header `name`, if set.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        let found = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.as_ref())
    }
}
