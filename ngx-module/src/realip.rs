//! Whether nginx's realip module rewrote a request's client address.
//!
//! After realip, `r->connection->sockaddr` is the client a trusted proxy named, but the
//! connection (its HTTP version, reuse, TLS) is still the proxy's, so the core must not score
//! it as the client's, as it does not for the proxy's own trusted peers. realip records a
//! rewrite by setting its per-request context. Its module is found by name at run time: an
//! nginx built without realip still loads this module, and then nothing is ever rewritten.

use std::sync::OnceLock;

use ngx::ffi::ngx_http_request_t;

/// realip's context slot, once looked up (`None`: no realip in this nginx).
fn ctx_index() -> Option<usize> {
    static INDEX: OnceLock<Option<usize>> = OnceLock::new();
    *INDEX.get_or_init(|| crate::symbols::module(c"ngx_http_realip_module").map(|m| m.ctx_index))
}

/// realip replaced this request's client address.
pub fn rewrote(r: &ngx_http_request_t) -> bool {
    let Some(index) = ctx_index() else {
        return false;
    };
    if r.ctx.is_null() {
        return false;
    }
    // SAFETY: `r.ctx` is the request's array of one context pointer per HTTP module, and
    // realip's `ctx_index` is within it.
    unsafe { !(*r.ctx.add(index)).is_null() }
}
