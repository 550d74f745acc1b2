//! The directives, and what they leave in the configuration.
//!
//! `tollgate on|off` (http, server, location: a child may turn it off), `tollgate_rules PATH`,
//! `tollgate_secret_file PATH` and `tollgate_zone NAME SIZE` (http), `tollgate_metrics`
//! (location: [`crate::metrics`]). Rules are parsed and fully
//! validated while nginx reads its configuration, so `nginx -t` and a reload with a broken rules
//! file fail with the core's own file:line:column message, and the running configuration stays.

use std::ffi::{c_char, c_void};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::Arc;

use ngx::core::{NGX_CONF_ERROR, NGX_CONF_OK};
use ngx::ffi::{
    ngx_command_t, ngx_conf_full_name, ngx_conf_t, ngx_process, ngx_shm_zone_t, ngx_str_t,
    ngx_uint_t, NGX_CONF_FLAG, NGX_CONF_NOARGS, NGX_CONF_TAKE1, NGX_CONF_TAKE2, NGX_HTTP_LOC_CONF,
    NGX_HTTP_LOC_CONF_OFFSET, NGX_HTTP_MAIN_CONF, NGX_HTTP_MAIN_CONF_OFFSET, NGX_HTTP_SRV_CONF,
    NGX_LOG_EMERG, NGX_OK, NGX_PROCESS_SIGNALLER,
};
use ngx::http::{HttpModuleMainConf, Merge, MergeConfigError};
use ngx::{ngx_conf_log_error, ngx_string};
use tollgate_core::FsReader;
use tollgate_core::{load_rules, Keyring, Rules};

use crate::{zone, Tollgate};

/// Where the signing key comes from when no `tollgate_secret_file` is given.
const ENV_HEX: &str = "TOLLGATE_SECRET";

/// The `http` block's settings.
pub struct MainConf {
    pub rules: Option<Arc<Rules>>,
    pub rules_path: Option<PathBuf>,
    pub secret_file: Option<PathBuf>,
    pub keys: Option<Keyring>,
    pub zone: *mut ngx_shm_zone_t,
    /// Some block says `tollgate on`.
    pub used: bool,
}

impl Default for MainConf {
    fn default() -> Self {
        Self {
            rules: None,
            rules_path: None,
            secret_file: None,
            keys: None,
            zone: ptr::null_mut(),
            used: false,
        }
    }
}

/// A block's `tollgate on|off`; unset inherits from the enclosing block.
#[derive(Default)]
pub struct LocConf {
    pub enable: Option<bool>,
}

impl Merge for LocConf {
    fn merge(&mut self, prev: &Self) -> Result<(), MergeConfigError> {
        if self.enable.is_none() {
            self.enable = prev.enable;
        }
        Ok(())
    }
}

const HTTP_ANY: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;

const fn command(
    name: ngx_str_t,
    kind: u32,
    set: unsafe extern "C" fn(*mut ngx_conf_t, *mut ngx_command_t, *mut c_void) -> *mut c_char,
    conf: usize,
) -> ngx_command_t {
    ngx_command_t {
        name,
        type_: kind as ngx_uint_t,
        set: Some(set),
        conf,
        offset: 0,
        post: ptr::null_mut(),
    }
}

pub static mut COMMANDS: [ngx_command_t; 6] = [
    command(
        ngx_string!("tollgate"),
        HTTP_ANY | NGX_CONF_FLAG,
        set_enable,
        NGX_HTTP_LOC_CONF_OFFSET,
    ),
    command(
        ngx_string!("tollgate_rules"),
        NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
        set_rules,
        NGX_HTTP_MAIN_CONF_OFFSET,
    ),
    command(
        ngx_string!("tollgate_secret_file"),
        NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
        set_secret_file,
        NGX_HTTP_MAIN_CONF_OFFSET,
    ),
    command(
        ngx_string!("tollgate_zone"),
        NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE2,
        set_zone,
        NGX_HTTP_MAIN_CONF_OFFSET,
    ),
    command(
        ngx_string!("tollgate_metrics"),
        NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS,
        crate::metrics::set_metrics,
        NGX_HTTP_LOC_CONF_OFFSET,
    ),
    ngx_command_t::empty(),
];

/// The directive's arguments (`[0]` is its name).
///
/// # Safety
/// `cf` must be the configuration nginx is parsing, inside a directive handler.
unsafe fn args<'a>(cf: *mut ngx_conf_t) -> &'a mut [ngx_str_t] {
    // SAFETY: inside a directive handler `cf->args` is an array of `ngx_str_t` owned by the
    // configuration pool, alive for the handler's duration.
    unsafe { (*(*cf).args).as_slice_mut::<ngx_str_t>() }
}

/// `arg` as a path, relative ones resolved against nginx's configuration directory.
///
/// # Safety
/// As [`args`].
unsafe fn full_path(cf: *mut ngx_conf_t, arg: &mut ngx_str_t) -> Option<PathBuf> {
    // SAFETY: `cf->cycle` is the cycle being configured; `arg` lives in the configuration pool,
    // and ngx_conf_full_name allocates the resolved name from the same pool.
    let ok = unsafe { ngx_conf_full_name((*cf).cycle, arg, 1) } == NGX_OK as isize;
    let text = arg.to_str().ok()?;
    ok.then(|| PathBuf::from(text))
}

extern "C" fn set_enable(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls this with the `LocConf` of the block being parsed (NGX_HTTP_LOC_CONF_OFFSET).
    let lc = unsafe { &mut *conf.cast::<LocConf>() };
    // SAFETY: called by nginx as a directive handler.
    let args = unsafe { args(cf) };
    if lc.enable.is_some() {
        return c"is duplicate".as_ptr().cast_mut();
    }
    let on = match args[1].as_bytes() {
        v if v.eq_ignore_ascii_case(b"on") => true,
        v if v.eq_ignore_ascii_case(b"off") => false,
        _ => {
            ngx_conf_log_error!(
                NGX_LOG_EMERG,
                cf,
                "tollgate: expected \"on\" or \"off\", not \"{}\"",
                args[1]
            );
            return NGX_CONF_ERROR;
        }
    };
    lc.enable = Some(on);
    if on {
        // SAFETY: `cf` is the configuration being parsed, which has an http main conf.
        if let Some(main) = Tollgate::main_conf_mut(unsafe { &*cf }) {
            main.used = true;
        }
    }
    NGX_CONF_OK
}

extern "C" fn set_rules(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls this with this module's `MainConf` (NGX_HTTP_MAIN_CONF_OFFSET).
    let mc = unsafe { &mut *conf.cast::<MainConf>() };
    if mc.rules.is_some() {
        return c"is duplicate".as_ptr().cast_mut();
    }
    // SAFETY: called by nginx as a directive handler.
    let Some(path) = (unsafe { full_path(cf, &mut args(cf)[1]) }) else {
        return c"has an unusable path".as_ptr().cast_mut();
    };
    match load_rules(&path, &FsReader) {
        Ok(rules) => {
            mc.rules = Some(Arc::new(rules));
            mc.rules_path = Some(path);
            NGX_CONF_OK
        }
        Err(e) => {
            for err in &e.errors {
                ngx_conf_log_error!(NGX_LOG_EMERG, cf, "tollgate: invalid rules: {}", err);
            }
            NGX_CONF_ERROR
        }
    }
}

extern "C" fn set_secret_file(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls this with this module's `MainConf`.
    let mc = unsafe { &mut *conf.cast::<MainConf>() };
    // SAFETY: called by nginx as a directive handler.
    match unsafe { full_path(cf, &mut args(cf)[1]) } {
        Some(p) => {
            mc.secret_file = Some(p);
            NGX_CONF_OK
        }
        None => c"has an unusable path".as_ptr().cast_mut(),
    }
}

extern "C" fn set_zone(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls this with this module's `MainConf`.
    let mc = unsafe { &mut *conf.cast::<MainConf>() };
    if !mc.zone.is_null() {
        return c"is duplicate".as_ptr().cast_mut();
    }
    // SAFETY: called by nginx as a directive handler.
    let args = unsafe { args(cf) };
    let (name, size) = args.split_at_mut(2);
    // SAFETY: as above; `cf` is the configuration being parsed.
    match unsafe { zone::add(cf, &mut name[1], &mut size[0]) } {
        Ok(z) => {
            mc.zone = z;
            NGX_CONF_OK
        }
        Err(msg) => {
            ngx_conf_log_error!(NGX_LOG_EMERG, cf, "tollgate_zone: {}", msg);
            NGX_CONF_ERROR
        }
    }
}

/// Checks the `http` block as a whole once it is read, and loads the signing key.
pub unsafe extern "C" fn init_main_conf(cf: *mut ngx_conf_t, conf: *mut c_void) -> *mut c_char {
    // SAFETY: nginx calls this with this module's `MainConf`.
    let mc = unsafe { &mut *conf.cast::<MainConf>() };
    match check(mc) {
        Ok(()) => NGX_CONF_OK,
        Err(msg) => {
            ngx_conf_log_error!(NGX_LOG_EMERG, cf, "tollgate: {}", msg);
            NGX_CONF_ERROR
        }
    }
}

fn check(mc: &mut MainConf) -> Result<(), String> {
    if mc.rules.is_none() {
        if mc.used {
            return Err("\"tollgate on\" needs \"tollgate_rules\" in the http block".into());
        }
        return Ok(());
    }
    if mc.zone.is_null() {
        return Err("\"tollgate_rules\" needs \"tollgate_zone NAME SIZE\": counters and bans live in shared memory".into());
    }
    // `nginx -s stop|quit|reload` parses the configuration too, perhaps as a user who cannot
    // read the key: it only signals the master, which loads the key itself.
    // SAFETY: nginx sets `ngx_process` before reading the configuration.
    if unsafe { ngx_process } as u32 != NGX_PROCESS_SIGNALLER {
        mc.keys = Some(load_keys(mc.secret_file.as_deref())?);
    }
    Ok(())
}

fn load_keys(file: Option<&Path>) -> Result<Keyring, String> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("reading secret file {}: {e}", file.display()))?;
        return Keyring::parse(&text).map_err(|e| format!("secret file {}: {e}", file.display()));
    }
    match std::env::var(ENV_HEX) {
        Ok(hex) => Keyring::from_hex(&hex).map_err(|e| format!("${ENV_HEX}: {e}")),
        Err(_) => Err(format!(
            "no signing key: set \"tollgate_secret_file PATH\" (or ${ENV_HEX} in nginx's environment)"
        )),
    }
}
