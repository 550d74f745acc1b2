//! `$tollgate_decision`, `$tollgate_reason`, `$tollgate_score` and `$tollgate_signals`, for
//! access logs: what the core decided about the request, read off its [`Record`]. A request
//! tollgate did not decide (tollgate off there) has none of them: the log shows `-`.
//!
//! Not cacheable: the record is filled in the access phase, and a variable read before that
//! (in a `set`, say) must not freeze an empty value.

use std::borrow::Cow;

use ngx::ffi::{
    ngx_conf_t, ngx_http_add_variable, ngx_http_request_t, ngx_http_variable_value_t, ngx_int_t,
    ngx_pnalloc, ngx_str_t, ngx_uint_t, NGX_ERROR, NGX_HTTP_VAR_NOCACHEABLE, NGX_OK,
};

use crate::record::{self, Record};

/// What a variable reads off a record.
type Field = fn(&Record) -> Cow<'static, str>;

/// Each variable and the field of the record it reads.
const VARIABLES: [(&str, Field); 4] = [
    ("tollgate_decision", |r| r.kind.into()),
    ("tollgate_reason", |r| r.reason.into()),
    ("tollgate_score", |r| {
        r.score.map_or("-".into(), |s| s.value.to_string().into())
    }),
    ("tollgate_signals", |r| {
        r.score.map_or("-".into(), |s| s.signals.names().into())
    }),
];

/// Declares the variables (preconfiguration).
///
/// # Safety
/// `cf` must be the configuration nginx is reading.
pub unsafe fn add(cf: *mut ngx_conf_t) -> ngx_int_t {
    for (i, (name, _)) in VARIABLES.iter().enumerate() {
        let mut name = ngx_str_t {
            len: name.len(),
            data: name.as_ptr().cast_mut(),
        };
        // SAFETY: nginx copies the name into its own pool; the flags are a plain bit set.
        let v =
            unsafe { ngx_http_add_variable(cf, &mut name, NGX_HTTP_VAR_NOCACHEABLE as ngx_uint_t) };
        if v.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        // SAFETY: `v` is the live variable nginx just declared.
        unsafe {
            (*v).get_handler = Some(get);
            (*v).data = i;
        }
    }
    NGX_OK as ngx_int_t
}

unsafe extern "C" fn get(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    data: usize,
) -> ngx_int_t {
    // SAFETY: as `get_in`'s.
    crate::handler::guarded(r, NGX_ERROR as ngx_int_t, || unsafe { get_in(r, v, data) })
}

/// # Safety
/// `r` is a live request and `v` its variable's value, as nginx passes them to `get`.
unsafe fn get_in(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    data: usize,
) -> ngx_int_t {
    // SAFETY: nginx evaluates variables of a live request into a live value.
    let (rec, v) = unsafe { (record::find(r).map(|p| *p), &mut *v) };
    let field = VARIABLES.get(data).map(|(_, f)| f);
    let text = match (rec, field) {
        (Some(rec), Some(field)) if !rec.kind.is_empty() => field(&rec),
        _ => {
            v.set_not_found(1);
            return NGX_OK as ngx_int_t;
        }
    };
    let len = text.len();
    // A borrowed name is a static string, which nginx only reads.
    let bytes = match text {
        Cow::Borrowed(s) => s.as_ptr().cast_mut(),
        // SAFETY: the request's pool outlives every read of the value.
        Cow::Owned(s) => unsafe {
            let p = ngx_pnalloc((*r).pool, s.len()).cast::<u8>();
            if p.is_null() {
                return NGX_ERROR as ngx_int_t;
            }
            std::ptr::copy_nonoverlapping(s.as_ptr(), p, s.len());
            p
        },
    };
    v.set_len(len as u32);
    v.set_valid(1);
    v.set_no_cacheable(1);
    v.set_not_found(0);
    v.data = bytes;
    NGX_OK as ngx_int_t
}
