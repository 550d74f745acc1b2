//! The access-phase handler: once per request, ask the core, carry out its decision.
//!
//! nginx runs access handlers again after an internal redirect (index, try_files, error_page)
//! and zeroes per-request module contexts when it does, so "already decided" is remembered the
//! way the realip module remembers its work: as a cleanup entry on the request's pool, which
//! lives as long as the request.

use std::ffi::c_void;

use ngx::ffi::{
    ngx_array_push, ngx_conf_t, ngx_http_finalize_request, ngx_http_handler_pt,
    ngx_http_phases_NGX_HTTP_ACCESS_PHASE, ngx_http_request_t, ngx_int_t, ngx_pool_cleanup_add,
    NGX_DECLINED, NGX_DONE, NGX_ERROR, NGX_LOG_INFO, NGX_OK,
};
use ngx::http::{HttpModuleLocationConf, HttpModuleMainConf, NgxHttpCoreModule, Request};
use ngx::ngx_log_error;

use tollgate_core::PREFIX;

use crate::{reply, view, worker, Tollgate};

/// Adds the handler to the access phase (postconfiguration).
///
/// # Safety
/// `cf` must be the configuration nginx is finishing.
pub unsafe fn register(cf: *mut ngx_conf_t) -> ngx_int_t {
    // SAFETY: postconfiguration runs with a complete http configuration.
    let Some(cmcf) = NgxHttpCoreModule::main_conf_mut(unsafe { &*cf }) else {
        return NGX_ERROR as ngx_int_t;
    };
    let phase = &mut cmcf.phases[ngx_http_phases_NGX_HTTP_ACCESS_PHASE as usize].handlers;
    // SAFETY: the phase's handler array holds `ngx_http_handler_pt`s; push returns room for one.
    unsafe {
        let slot = ngx_array_push(phase).cast::<ngx_http_handler_pt>();
        if slot.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        *slot = Some(access);
    }
    NGX_OK as ngx_int_t
}

/// The pool-cleanup handler that marks a request as decided. It does nothing when run: its
/// address is the mark.
unsafe extern "C" fn decided_mark(_data: *mut c_void) {
    std::hint::black_box(0x746f_6c6c_u32); // a body of its own, so it is never merged with another
}

/// Whether `r` was decided already, before an internal redirect.
///
/// # Safety
/// `r` must be a live request.
unsafe fn already_decided(r: *const ngx_http_request_t) -> bool {
    // SAFETY: the cleanup list belongs to the request's live pool.
    unsafe {
        let mut c = (*(*r).pool).cleanup;
        while !c.is_null() {
            if (*c).handler.map(|f| f as *const ()) == Some(decided_mark as *const ()) {
                return true;
            }
            c = (*c).next;
        }
    }
    false
}

/// Marks `r` as decided; false if the pool is out of memory.
///
/// # Safety
/// `r` must be a live request.
unsafe fn mark_decided(r: *mut ngx_http_request_t) -> bool {
    // SAFETY: adding a data-less cleanup to the request's live pool.
    unsafe {
        let c = ngx_pool_cleanup_add((*r).pool, 0);
        if c.is_null() {
            return false;
        }
        (*c).handler = Some(decided_mark);
    }
    true
}

extern "C" fn access(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx calls access handlers with a live request.
    let req = unsafe { Request::from_ngx_http_request(r) };
    let on = Tollgate::location_conf(req).is_some_and(|lc| lc.enable == Some(true));
    // The challenge's own endpoints must answer wherever a protected location sends a client,
    // whichever location their path falls in.
    let reserved = req.unparsed_uri().as_bytes().starts_with(PREFIX.as_bytes());
    if !(on || reserved) || !req.is_main() {
        return NGX_DECLINED as ngx_int_t;
    }
    // SAFETY: `r` is live (above).
    if unsafe { already_decided(r) || !mark_decided(r) } {
        return NGX_DECLINED as ngx_int_t;
    }
    let Some(engine) = worker::engine() else {
        return NGX_DECLINED as ngx_int_t; // no tollgate_rules: nothing to enforce (checked at config time)
    };
    let mut joined = view::Joined::default();
    let view = engine.with_client_ip_header(|name| view::view(req, &mut joined, name));
    let verdict = engine.decide(&view);
    let Some(answer) = engine.respond(&verdict) else {
        return NGX_DECLINED as ngx_int_t;
    };
    ngx_log_error!(
        NGX_LOG_INFO,
        req.log(),
        "tollgate: answered {} {} {} from {}: {}",
        answer.status,
        view.method,
        view.path,
        verdict.client_ip,
        verdict.decision.reason().as_str()
    );
    let rc = reply::send(req, &answer);
    // SAFETY:
    // - `r` is the live main request this handler was called with, and `req` (borrowed from
    //   it) is not used again;
    // - after finalizing we return NGX_DONE and never touch `r` again.
    unsafe { ngx_http_finalize_request(r, rc) };
    NGX_DONE as ngx_int_t
}
