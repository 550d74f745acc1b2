//! The access-phase handler: once per request (its [`record`] says whether it ran), ask the
//! core, carry out its decision; and the log-phase handler, which hands the upstream's outcome
//! of a request tollgate let through back to the core (under-attack mode counts upstream
//! errors).

use ngx::ffi::{
    ngx_array_push, ngx_conf_t, ngx_http_finalize_request, ngx_http_handler_pt, ngx_http_phases,
    ngx_http_phases_NGX_HTTP_ACCESS_PHASE, ngx_http_phases_NGX_HTTP_LOG_PHASE, ngx_http_request_t,
    ngx_int_t, NGX_DECLINED, NGX_DONE, NGX_ERROR, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_LOG_ERR,
    NGX_LOG_INFO, NGX_OK,
};
use ngx::http::{HttpModuleLocationConf, HttpModuleMainConf, NgxHttpCoreModule, Request};
use ngx::ngx_log_error;

use tollgate_core::PREFIX;

use crate::record::{self, Record};
use crate::{reply, view, worker, Tollgate};

/// Adds the handlers to the access and log phases (postconfiguration).
///
/// # Safety
/// `cf` must be the configuration nginx is finishing.
pub unsafe fn register(cf: *mut ngx_conf_t) -> ngx_int_t {
    let handlers: [(ngx_http_phases, ngx_http_handler_pt); 2] = [
        (ngx_http_phases_NGX_HTTP_ACCESS_PHASE, Some(access)),
        (ngx_http_phases_NGX_HTTP_LOG_PHASE, Some(log)),
    ];
    for (phase, handler) in handlers {
        // SAFETY: postconfiguration runs with a complete http configuration.
        let Some(cmcf) = NgxHttpCoreModule::main_conf_mut(unsafe { &*cf }) else {
            return NGX_ERROR as ngx_int_t;
        };
        let phase = &mut cmcf.phases[phase as usize].handlers;
        // SAFETY: a phase's handler array holds `ngx_http_handler_pt`s; push returns room for one.
        unsafe {
            let slot = ngx_array_push(phase).cast::<ngx_http_handler_pt>();
            if slot.is_null() {
                return NGX_ERROR as ngx_int_t;
            }
            *slot = handler;
        }
    }
    NGX_OK as ngx_int_t
}

/// A panic must not unwind into nginx (that aborts the worker with every connection it holds):
/// the core already turns one while deciding into a 500; this catches the rest of a handler.
pub(crate) fn guarded(
    r: *mut ngx_http_request_t,
    on_panic: ngx_int_t,
    f: impl FnOnce() -> ngx_int_t,
) -> ngx_int_t {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        // SAFETY: nginx called the handler with a live request.
        let log = unsafe { (*(*r).connection).log };
        ngx_log_error!(
            NGX_LOG_ERR,
            log,
            "tollgate: a handler panicked (a bug): see stderr"
        );
        on_panic
    })
}

extern "C" fn access(r: *mut ngx_http_request_t) -> ngx_int_t {
    guarded(r, NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t, || {
        access_in(r)
    })
}

fn access_in(r: *mut ngx_http_request_t) -> ngx_int_t {
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
    if unsafe { record::find(r).is_some() } {
        return NGX_DECLINED as ngx_int_t;
    }
    // SAFETY: as above.
    let Some(rec) = (unsafe { record::add(r) }) else {
        return NGX_DECLINED as ngx_int_t;
    };
    let Some(engine) = worker::engine() else {
        return NGX_DECLINED as ngx_int_t; // no tollgate_rules: nothing to enforce (checked at config time)
    };
    let mut joined = view::Joined::default();
    let view = engine.with_client_ip_header(|name| view::view(req, &mut joined, name));
    let verdict = engine.decide(&view);
    engine.count_shared(&verdict);
    let answer = engine.respond(&verdict);
    // SAFETY: `rec` is the record just added to the live request's pool.
    unsafe { *rec = Record::of(&verdict, answer.is_none()) };
    let Some(answer) = answer else {
        // The upstream never sees the clearance cookie, as behind the proxy.
        if let Some(cookie) = engine.upstream_cookie(view.cookie) {
            // SAFETY: `r` is live; `req` and `view` (which borrow its headers) are done with.
            unsafe { view::replace_cookie(r, &cookie) };
        }
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

/// Tells the core how the upstream answered a request tollgate let through.
extern "C" fn log(r: *mut ngx_http_request_t) -> ngx_int_t {
    guarded(r, NGX_OK as ngx_int_t, || log_in(r))
}

fn log_in(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx calls log handlers with a live request. Subrequests share the main
    // request's pool (and so its record): only the main request reports.
    let (main, rec, proxied, status) = unsafe {
        (
            std::ptr::eq(r, (*r).main),
            record::find(r).map(|p| *p),
            !(*r).upstream.is_null(),
            (*r).headers_out.status,
        )
    };
    if !main {
        return NGX_OK as ngx_int_t;
    }
    if let (Some(rec), true, Some(engine)) = (rec, proxied, worker::engine()) {
        if rec.passed {
            engine.upstream_outcome(u16::try_from(status).ok(), false);
        }
    }
    NGX_OK as ngx_int_t
}
