//! Sends one of the core's [`Reply`]s as a complete nginx response.
//!
//! Everything goes through ngx's safe `Request` wrappers (status, content length, headers,
//! `send_header`, pool buffers, `output_filter`); the raw parts left are the empty last
//! buffer and buffers over bytes rather than text, which ngx has no wrappers for.

use std::borrow::Cow;
use std::ptr;

use ngx::core::{Buffer, MemoryBuffer, Pool, TemporaryBuffer};
use ngx::ffi::{
    ngx_buf_t, ngx_chain_t, ngx_http_send_special, ngx_int_t, ngx_str_t, ngx_uint_t, NGX_ERROR,
    NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_LAST, NGX_OK,
};
use ngx::http::{HTTPStatus, Request};
use tollgate_core::Reply;

/// Sends `reply` on `req`, a main request whose response has not started; returns the code to
/// finalize the request with.
pub fn send(req: &mut Request, reply: &Reply) -> ngx_int_t {
    // The body we never read is discarded first, as nginx requires before answering.
    let rc = req.discard_request_body();
    if !rc.is_ok() {
        return rc.0;
    }
    req.set_status(HTTPStatus(usize::from(reply.status)));
    req.set_content_length_n(reply.body.len());
    if reply.close {
        req.as_mut().set_keepalive(0);
    }
    for (name, value) in &reply.headers {
        let added = match name.eq_ignore_ascii_case("content-type") {
            true => set_content_type(req, value),
            false => req.add_header_out(name, value),
        };
        if added.is_none() {
            return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
        }
    }
    let rc = req.send_header().0;
    if rc == NGX_ERROR as ngx_int_t || rc > NGX_OK as ngx_int_t || req.header_only() {
        return rc;
    }
    send_body(req, &reply.body)
}

/// nginx keeps the content type apart from the header list (its charset and gzip filters read
/// it there). It only reads the text (and lowercases it into memory of its own), so static text
/// is pointed at; other text is copied into the request's pool first.
#[allow(clippy::ptr_arg)] // the variant says whether the text is static
fn set_content_type(req: &mut Request, content_type: &Cow<'static, str>) -> Option<()> {
    let text = match content_type {
        Cow::Borrowed(s) => ngx_str_t {
            len: s.len(),
            data: s.as_ptr().cast_mut(),
        },
        // SAFETY:
        // - the pool is the live request's, which outlives the response;
        // - `from_bytes` copies `s` into an allocation of its own length, or returns None.
        Cow::Owned(s) => unsafe { ngx_str_t::from_bytes(req.pool().as_ptr(), s.as_bytes())? },
    };
    let out = &mut req.as_mut().headers_out;
    out.content_type_len = text.len;
    out.content_type = text;
    out.content_type_lowcase = ptr::null_mut();
    Some(())
}

/// The body as one last buffer: static bytes in place, others copied into the pool. (The
/// `Cow` is the point: its variant says whether the bytes are static.)
#[allow(clippy::ptr_arg)]
fn send_body(req: &mut Request, body: &Cow<'static, [u8]>) -> ngx_int_t {
    if body.is_empty() {
        // A zero-length buffer that is not "special" makes nginx log an alert: end the
        // response with nginx's own last-buffer call instead.
        // SAFETY:
        // - `req` wraps the live request nginx is running this module's handler for;
        // - its header was sent above and nothing else writes its output now.
        return unsafe { ngx_http_send_special(req.as_mut(), NGX_HTTP_LAST as ngx_uint_t) };
    }
    let pool = req.pool();
    match body {
        Cow::Borrowed(bytes) => match static_buffer(&pool, bytes) {
            Some(buf) => send_last(req, buf),
            None => NGX_ERROR as ngx_int_t,
        },
        Cow::Owned(bytes) => match copied_buffer(&pool, bytes) {
            Some(buf) => send_last(req, buf),
            None => NGX_ERROR as ngx_int_t,
        },
    }
}

/// A read-only buffer over `bytes` in place (ngx has this for `&'static str` only).
fn static_buffer(pool: &Pool, bytes: &'static [u8]) -> Option<MemoryBuffer> {
    let buf = pool.calloc_type::<ngx_buf_t>();
    if buf.is_null() {
        return None;
    }
    let start = bytes.as_ptr().cast_mut();
    // SAFETY:
    // - `buf` is a zeroed `ngx_buf_t` from the request's pool, which outlives the response;
    // - `start..end` is `bytes`, static; the memory flag tells nginx never to write to it.
    unsafe {
        let end = start.add(bytes.len());
        (*buf).start = start;
        (*buf).pos = start;
        (*buf).last = end;
        (*buf).end = end;
        (*buf).set_memory(1);
    }
    Some(MemoryBuffer::from_ngx_buf(buf))
}

/// A pool buffer holding a copy of `bytes` (ngx has this for `&str` only).
fn copied_buffer(pool: &Pool, bytes: &[u8]) -> Option<TemporaryBuffer> {
    let mut buffer = pool.create_buffer(bytes.len())?;
    let buf = buffer.as_ngx_buf_mut();
    // SAFETY: `create_buffer` allocated `bytes.len()` bytes at `pos`, which nothing else holds.
    unsafe {
        ptr::copy_nonoverlapping(bytes.as_ptr(), (*buf).pos, bytes.len());
        (*buf).last = (*buf).pos.add(bytes.len());
    }
    Some(buffer)
}

/// Sends `buf` as the response's last buffer.
fn send_last(req: &mut Request, mut buf: impl Buffer) -> ngx_int_t {
    buf.set_last_buf(true);
    buf.set_last_in_chain(true);
    let mut chain = ngx_chain_t {
        buf: buf.as_ngx_buf_mut(),
        next: ptr::null_mut(),
    };
    req.output_filter(&mut chain).0
}
