//! Tollgate as an nginx dynamic module: the same decision core as the Pingora proxy, behind
//! nginx's access phase.
//!
//! Glue only. nginx parses the directives ([`conf`]), the master formats the shared-memory zone
//! ([`zone`]), each worker builds its own [`tollgate_core::Engine`] over that zone ([`worker`]),
//! and the access-phase handler ([`handler`]) turns a request into the core's view ([`view`]),
//! asks for a decision, and sends the core's reply ([`reply`]) or lets the request through.
//! The decision stays on the request ([`record`]) for the log phase and the `$tollgate_*`
//! variables ([`vars`]).
//! Every policy lives in the core; every `unsafe` block says why it is sound.

mod conf;
mod handler;
mod hello;
mod metrics;
mod realip;
mod record;
mod reply;
mod symbols;
mod vars;
mod view;
mod worker;
mod zone;

use std::ptr::{addr_of, addr_of_mut};

use ngx::ffi::{ngx_conf_t, ngx_http_module_t, ngx_int_t, ngx_module_t, NGX_HTTP_MODULE, NGX_OK};
use ngx::http::{HttpModule, HttpModuleLocationConf, HttpModuleMainConf};

use conf::{LocConf, MainConf, COMMANDS};

/// The module type nginx's generic code is written against.
pub struct Tollgate;

impl HttpModule for Tollgate {
    fn module() -> &'static ngx_module_t {
        // SAFETY: the module static is only written by nginx while it loads the module, before
        // any code of ours runs; afterwards it is read-only.
        unsafe { &*addr_of!(ngx_http_tollgate_module) }
    }

    unsafe extern "C" fn postconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
        // SAFETY: nginx passes the live configuration being built.
        let rc = unsafe { handler::register(cf) };
        if rc != NGX_OK as ngx_int_t {
            return rc;
        }
        // SAFETY: as above; the servers' TLS contexts exist by now.
        unsafe { hello::install(cf) }
    }
}

// SAFETY: `MainConf` is the type `create_main_conf` allocates for this module.
unsafe impl HttpModuleMainConf for Tollgate {
    type MainConf = MainConf;
}

// SAFETY: `LocConf` is the type `create_loc_conf` allocates for this module.
unsafe impl HttpModuleLocationConf for Tollgate {
    type LocationConf = LocConf;
}

static NGX_HTTP_TOLLGATE_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: Some(preconfiguration),
    postconfiguration: Some(Tollgate::postconfiguration),
    create_main_conf: Some(Tollgate::create_main_conf),
    init_main_conf: Some(conf::init_main_conf),
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(Tollgate::create_loc_conf),
    merge_loc_conf: Some(Tollgate::merge_loc_conf),
};

/// Declares the `$tollgate_*` variables.
unsafe extern "C" fn preconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
    // SAFETY: nginx passes the configuration it is reading.
    unsafe { vars::add(cf) }
}

ngx::ngx_modules!(ngx_http_tollgate_module);

/// The module table nginx loads (`load_module …/libtollgate_ngx.so`).
#[used]
#[allow(non_upper_case_globals)]
pub static mut ngx_http_tollgate_module: ngx_module_t = ngx_module_t {
    ctx: addr_of!(NGX_HTTP_TOLLGATE_CTX) as _,
    // SAFETY: taking the address of a static never reads it.
    commands: unsafe { addr_of_mut!(COMMANDS[0]) },
    type_: NGX_HTTP_MODULE as _,
    init_process: Some(worker::init_process),
    exit_process: Some(worker::exit_process),
    ..ngx_module_t::default()
};
