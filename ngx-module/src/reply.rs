//! Sends one of the core's [`Reply`]s as a complete nginx response.

use std::ptr;

use ngx::ffi::{
    ngx_buf_t, ngx_chain_t, ngx_http_discard_request_body, ngx_http_output_filter,
    ngx_http_request_t, ngx_http_send_header, ngx_int_t, ngx_pcalloc, ngx_pnalloc, ngx_str_t,
    off_t, NGX_ERROR, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_OK,
};
use ngx::http::Request;
use tollgate_core::Reply;

/// Copies `bytes` into the request's pool, which outlives the response.
///
/// # Safety
/// `r` must be a live request.
unsafe fn pool_copy(r: *mut ngx_http_request_t, bytes: &[u8]) -> Option<ngx_str_t> {
    // SAFETY: the pool belongs to the live request; the copy fits the allocation.
    unsafe {
        let p = ngx_pnalloc((*r).pool, bytes.len().max(1)).cast::<u8>();
        if p.is_null() {
            return None;
        }
        ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
        Some(ngx_str_t {
            len: bytes.len(),
            data: p,
        })
    }
}

/// Sends `reply` on `r`; returns the code to finalize the request with.
///
/// # Safety
/// `r` must be a live main request whose response has not started.
pub unsafe fn send(r: *mut ngx_http_request_t, reply: &Reply) -> ngx_int_t {
    // SAFETY: `r` is live and ours to answer (caller's contract); the body we never read is
    // discarded first, as nginx requires before answering.
    unsafe {
        let rc = ngx_http_discard_request_body(r);
        if rc != NGX_OK as ngx_int_t {
            return rc;
        }
        let out = &mut (*r).headers_out;
        out.status = usize::from(reply.status);
        out.content_length_n = reply.body.len() as off_t;
        if reply.close {
            (*r).set_keepalive(0);
        }
        // A fresh `Request` wrapper per header: no reference to `*r` outlives a raw write.
        for (name, value) in &reply.headers {
            if name.eq_ignore_ascii_case("content-type") {
                let Some(ct) = pool_copy(r, value.as_bytes()) else {
                    return NGX_ERROR as ngx_int_t;
                };
                let out = &mut (*r).headers_out;
                out.content_type_len = ct.len;
                out.content_type = ct;
                out.content_type_lowcase = ptr::null_mut();
            } else if Request::from_ngx_http_request(r)
                .add_header_out(name, value)
                .is_none()
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
            }
        }
        let rc = ngx_http_send_header(r);
        if rc == NGX_ERROR as ngx_int_t || rc > NGX_OK as ngx_int_t || (*r).header_only() != 0 {
            return rc;
        }
        let b = ngx_pcalloc((*r).pool, size_of::<ngx_buf_t>()).cast::<ngx_buf_t>();
        if b.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        if !reply.body.is_empty() {
            let Some(body) = pool_copy(r, reply.body.as_bytes()) else {
                return NGX_ERROR as ngx_int_t;
            };
            (*b).start = body.data;
            (*b).pos = body.data;
            (*b).last = body.data.add(body.len);
            (*b).end = (*b).last;
            (*b).set_memory(1);
        }
        (*b).set_last_buf(1);
        (*b).set_last_in_chain(1);
        let mut chain = ngx_chain_t {
            buf: b,
            next: ptr::null_mut(),
        };
        ngx_http_output_filter(r, &mut chain)
    }
}
