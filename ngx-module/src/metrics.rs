//! `tollgate_metrics` (location): serves the zone's counts in Prometheus' text format, with the
//! proxy's series names, whichever worker takes the scrape (every worker counts in the zone).
//! The core renders it ([`tollgate_core::Engine::shared_metrics`]); this is the content handler.

use std::ffi::{c_char, c_void};

use ngx::core::NGX_CONF_OK;
use ngx::ffi::{ngx_command_t, ngx_conf_t, ngx_http_request_t, ngx_int_t, NGX_HTTP_NOT_FOUND};
use ngx::http::{HttpModuleLocationConf, NgxHttpCoreModule, Request};

use crate::{reply, worker};

/// The directive: this location's content is the metrics.
pub extern "C" fn set_metrics(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls directive handlers with the configuration being parsed, inside a
    // location block (NGX_HTTP_LOC_CONF), which has a core location configuration.
    if let Some(clcf) = NgxHttpCoreModule::location_conf_mut(unsafe { &*cf }) {
        clcf.handler = Some(serve);
    }
    NGX_CONF_OK
}

extern "C" fn serve(r: *mut ngx_http_request_t) -> ngx_int_t {
    let failed = ngx::ffi::NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    crate::handler::guarded(r, failed, || serve_in(r))
}

fn serve_in(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx calls content handlers with a live main request; nginx finalizes it with
    // the code returned.
    let req = unsafe { Request::from_ngx_http_request(r) };
    match worker::engine().and_then(|e| e.shared_metrics()) {
        Some(answer) => reply::send(req, &answer),
        None => NGX_HTTP_NOT_FOUND as ngx_int_t,
    }
}
