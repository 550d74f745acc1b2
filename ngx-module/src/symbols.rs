//! nginx's own modules, found by name at run time. A dynamic module that linked against
//! `ngx_http_realip_module` or `ngx_http_ssl_module` would refuse to load into an nginx built
//! without them; looked up here, their absence only switches a feature off.

use std::ffi::{c_char, c_void, CStr};

use ngx::ffi::ngx_module_t;

extern "C" {
    /// glibc's dynamic symbol lookup; nginx exports its modules (`-Wl,-E`) for dynamic ones.
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

/// The module nginx was built with under `name`, if any.
pub fn module(name: &CStr) -> Option<&'static ngx_module_t> {
    // SAFETY: RTLD_DEFAULT (null) searches the process's global symbols; a found symbol named
    // like an nginx module is its `ngx_module_t`, alive for the process.
    unsafe {
        dlsym(std::ptr::null_mut(), name.as_ptr())
            .cast::<ngx_module_t>()
            .as_ref()
    }
}
