//! The TLS ClientHello of each connection, for the core's JA4 fingerprint and TLS-stack check,
//! as the Pingora proxy has them.
//!
//! nginx exposes no whole ClientHello (`$ssl_ciphers` lacks the extension list), but OpenSSL's
//! message callback sees every handshake message. At postconfiguration (in the master, before
//! the workers fork) the module sets that callback on every server's `SSL_CTX`; the callback
//! parses the first ClientHello of a connection and hangs the result on the `SSL` object under
//! an ex-data index of ours, whose free callback drops it with the connection. A request reads
//! it back through `r->connection->ssl` (HTTP/2 streams copy the connection, `ssl` included).

use std::ffi::{c_int, c_long, c_void};
use std::sync::atomic::{AtomicI32, Ordering};

use ngx::ffi::{
    ngx_array_t, ngx_conf_t, ngx_http_conf_ctx_t, ngx_http_core_main_conf_t,
    ngx_http_core_srv_conf_t, ngx_http_request_t, ngx_http_ssl_srv_conf_t, ngx_int_t,
    CRYPTO_get_ex_new_index, SSL_CTX_set_msg_callback, SSL_get_ex_data, SSL_set_ex_data,
    CRYPTO_EX_DATA, CRYPTO_EX_INDEX_SSL, NGX_OK, SSL,
};
use ngx::http::{HttpModuleMainConf, NgxHttpCoreModule};
use tollgate_core::{TlsHello, MAX_HELLO_RECORD};

/// Our ex-data index on `SSL` objects (-1 until installed).
static EX_INDEX: AtomicI32 = AtomicI32::new(-1);

const HANDSHAKE: c_int = 22;
const CLIENT_HELLO: u8 = 1;

/// Sets the message callback on every server's TLS context. Without `ngx_http_ssl_module` in
/// this nginx there is nothing to do.
///
/// # Safety
/// `cf` must be the configuration nginx is finishing (postconfiguration).
pub unsafe fn install(cf: *mut ngx_conf_t) -> ngx_int_t {
    let Some(ssl_module) = crate::symbols::module(c"ngx_http_ssl_module") else {
        return NGX_OK as ngx_int_t;
    };
    // SAFETY: postconfiguration runs with a complete http configuration.
    let Some(cmcf) = NgxHttpCoreModule::main_conf_mut(unsafe { &*cf }) else {
        return NGX_OK as ngx_int_t;
    };
    let index = ex_index();
    if index < 0 {
        return NGX_OK as ngx_int_t;
    }
    EX_INDEX.store(index, Ordering::Relaxed);
    // SAFETY: each server's context and its ssl srv conf are nginx's, merged before
    // postconfiguration (which is when the SSL_CTX exists).
    unsafe { each_server(cmcf, ssl_module.ctx_index) };
    NGX_OK as ngx_int_t
}

/// A fresh ex-data index whose free callback drops our hello.
fn ex_index() -> c_int {
    // SAFETY: OpenSSL's index allocation; the callbacks are `extern "C"` and outlive it.
    unsafe {
        CRYPTO_get_ex_new_index(
            CRYPTO_EX_INDEX_SSL as c_int,
            0,
            std::ptr::null_mut(),
            None,
            None,
            Some(free_hello),
        )
    }
}

/// # Safety
/// `cmcf` is nginx's core main conf; `ssl_index` the ssl module's context index.
unsafe fn each_server(cmcf: &ngx_http_core_main_conf_t, ssl_index: usize) {
    let servers: &ngx_array_t = &cmcf.servers;
    let list = servers.elts.cast::<*mut ngx_http_core_srv_conf_t>();
    for i in 0..servers.nelts {
        // SAFETY: `servers` holds `nelts` server conf pointers; each has its conf context with
        // one srv_conf slot per HTTP module.
        unsafe {
            let cscf = *list.add(i);
            let ctx: *mut ngx_http_conf_ctx_t = (*cscf).ctx;
            let sscf = (*(*ctx).srv_conf.add(ssl_index)).cast::<ngx_http_ssl_srv_conf_t>();
            if !sscf.is_null() && !(*sscf).ssl.ctx.is_null() {
                SSL_CTX_set_msg_callback((*sscf).ssl.ctx, Some(on_message));
            }
        }
    }
}

/// OpenSSL's message callback: keeps the first ClientHello a connection receives.
unsafe extern "C" fn on_message(
    write_p: c_int,
    _version: c_int,
    content_type: c_int,
    buf: *const c_void,
    len: usize,
    ssl: *mut SSL,
    _arg: *mut c_void,
) {
    let index = EX_INDEX.load(Ordering::Relaxed);
    if write_p != 0 || content_type != HANDSHAKE || buf.is_null() || len < 4 || index < 0 {
        return;
    }
    // SAFETY: OpenSSL passes `len` readable bytes of the handshake message at `buf`.
    let message = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) };
    // SAFETY: `ssl` is the live connection's; our slot is null until set below.
    if message[0] != CLIENT_HELLO || !unsafe { SSL_get_ex_data(ssl, index) }.is_null() {
        return;
    }
    // The core parses a record: give the message back its 5-byte header.
    let body = &message[..message.len().min(MAX_HELLO_RECORD - 5)];
    let mut record = Vec::with_capacity(body.len() + 5);
    record.extend_from_slice(&[0x16, 0x03, 0x01]);
    record.extend_from_slice(&(body.len() as u16).to_be_bytes());
    record.extend_from_slice(body);
    if let Ok(hello) = TlsHello::parse(&record) {
        let raw = Box::into_raw(Box::new(hello)).cast::<c_void>();
        // SAFETY: as above; on failure we still own `raw` and free it.
        if unsafe { SSL_set_ex_data(ssl, index, raw) } != 1 {
            // SAFETY: `raw` came from Box::into_raw just above and was not stored.
            drop(unsafe { Box::from_raw(raw.cast::<TlsHello>()) });
        }
    }
}

/// Drops our hello when OpenSSL frees the `SSL` object.
unsafe extern "C" fn free_hello(
    _parent: *mut c_void,
    ptr: *mut c_void,
    _ad: *mut CRYPTO_EX_DATA,
    _idx: c_int,
    _argl: c_long,
    _argp: *mut c_void,
) {
    if !ptr.is_null() {
        // SAFETY: only `on_message` stores in our slot, a `Box<TlsHello>`.
        drop(unsafe { Box::from_raw(ptr.cast::<TlsHello>()) });
    }
}

/// The ClientHello of the request's connection, if it came over TLS.
pub fn of(r: &ngx_http_request_t) -> Option<&TlsHello> {
    let index = EX_INDEX.load(Ordering::Relaxed);
    if index < 0 || r.connection.is_null() {
        return None;
    }
    // SAFETY: a request's connection and its ssl connection are live for the request; our
    // slot holds a `TlsHello` that lives until the `SSL` is freed, after the request.
    unsafe {
        let ssl = (*r.connection).ssl;
        if ssl.is_null() || (*ssl).connection.is_null() {
            return None;
        }
        SSL_get_ex_data((*ssl).connection, index)
            .cast::<TlsHello>()
            .as_ref()
    }
}
