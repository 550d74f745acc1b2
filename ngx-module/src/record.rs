//! What tollgate decided about a request, kept where it outlives internal redirects.
//!
//! nginx runs access handlers again after an internal redirect (index, try_files, error_page)
//! and zeroes per-request module contexts when it does, so the decision is kept the way the
//! realip module keeps its work: as a cleanup entry on the request's pool, which lives as long
//! as the request. Its presence marks the request as decided (the core is asked once); the
//! log-phase handler and the `$tollgate_*` variables read what it holds.

use std::ffi::c_void;
use std::ptr;

use ngx::ffi::{ngx_http_request_t, ngx_pool_cleanup_add};
use tollgate_core::{Score, Verdict};

/// One request's decision, in plain data (the pool frees it without running any destructor).
#[derive(Clone, Copy, Debug)]
pub struct Record {
    /// The decision's kind and reason as the proxy's metrics and logs name them; empty until
    /// the core has decided.
    pub kind: &'static str,
    pub reason: &'static str,
    pub score: Option<Score>,
    /// Let through to nginx's content phase (the upstream, or files).
    pub passed: bool,
}

impl Record {
    const PENDING: Self = Self {
        kind: "",
        reason: "",
        score: None,
        passed: false,
    };

    /// What `verdict` decided; `passed` when tollgate sends no reply of its own.
    pub fn of(verdict: &Verdict, passed: bool) -> Self {
        Self {
            kind: verdict.decision.kind().as_str(),
            reason: verdict.decision.reason().as_str(),
            score: verdict.score,
            passed,
        }
    }
}

/// The pool-cleanup handler of a record. It does nothing when run: its address is the mark.
unsafe extern "C" fn record_mark(_data: *mut c_void) {
    std::hint::black_box(0x746f_6c6c_u32); // a body of its own, so it is never merged with another
}

/// The record of `r`, if it was decided already (before an internal redirect, say).
///
/// # Safety
/// `r` must be a live request.
pub unsafe fn find(r: *const ngx_http_request_t) -> Option<*mut Record> {
    // SAFETY: the cleanup list belongs to the request's live pool; a cleanup whose handler is
    // `record_mark` was made by `add`, whose data is a `Record`.
    unsafe {
        let mut c = (*(*r).pool).cleanup;
        while !c.is_null() {
            if (*c).handler.map(|f| f as *const ()) == Some(record_mark as *const ()) {
                return Some((*c).data.cast::<Record>());
            }
            c = (*c).next;
        }
    }
    None
}

/// Marks `r` as decided with a pending record; `None` if the pool is out of memory.
///
/// # Safety
/// `r` must be a live request.
pub unsafe fn add(r: *mut ngx_http_request_t) -> Option<*mut Record> {
    // SAFETY: a cleanup with room for one `Record` on the request's live pool; nginx's pool
    // allocations are aligned for any type (NGX_ALIGNMENT).
    unsafe {
        let c = ngx_pool_cleanup_add((*r).pool, std::mem::size_of::<Record>());
        if c.is_null() {
            return None;
        }
        let rec = (*c).data.cast::<Record>();
        ptr::write(rec, Record::PENDING);
        (*c).handler = Some(record_mark);
        Some(rec)
    }
}
