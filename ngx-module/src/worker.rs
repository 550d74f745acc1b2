//! Per-worker state: one [`Engine`] over the shared zone, and a one-second sweep timer.
//!
//! Workers are forked from the master after it read the configuration, so each builds its engine
//! in `init_process` from the rules and keys the master parsed. Engines of old and new workers
//! (during a reload) and of sibling workers all decide on the same zone.

use std::sync::{Arc, OnceLock};

use ngx::ffi::{
    ngx_add_timer, ngx_cycle_t, ngx_del_timer, ngx_event_t, ngx_exiting, ngx_int_t, ngx_process,
    ngx_quit, ngx_terminate, NGX_ERROR, NGX_LOG_EMERG, NGX_OK, NGX_PROCESS_SINGLE,
    NGX_PROCESS_WORKER,
};
use ngx::http::HttpModuleMainConf;
use ngx::ngx_log_error;
use tollgate_core::Region;
use tollgate_core::{CoreClock, Engine, Rules};

use crate::{zone, Tollgate};

static ENGINE: OnceLock<Engine> = OnceLock::new();

/// This worker's engine; `None` when tollgate is not configured.
pub fn engine() -> Option<&'static Engine> {
    ENGINE.get()
}

const SWEEP_MS: usize = 1000;

// SAFETY: an all-zero ngx_event_t is nginx's own idle event (it allocates them with calloc).
static mut TICK: ngx_event_t = unsafe { std::mem::zeroed() };
/// Debug logging reads a connection's fd through a timer event's `data`: give it real memory.
static TICK_IDENT: [usize; 4] = [0, 0, 0, 0x5447_4c54];

pub unsafe extern "C" fn init_process(cycle: *mut ngx_cycle_t) -> ngx_int_t {
    // SAFETY: nginx sets `ngx_process` before calling init_process.
    let p = unsafe { ngx_process } as u32;
    if p != NGX_PROCESS_WORKER && p != NGX_PROCESS_SINGLE {
        return NGX_OK as ngx_int_t;
    }
    // SAFETY: nginx passes the live cycle.
    let cycle = unsafe { &*cycle };
    let Some(mc) = Tollgate::main_conf(cycle) else {
        return NGX_OK as ngx_int_t;
    };
    let (Some(rules), Some(keys), false) = (&mc.rules, &mc.keys, mc.zone.is_null()) else {
        return NGX_OK as ngx_int_t;
    };
    // Each worker names itself in the zone's lock words (a forked copy would name the master).
    Region::process_started();
    // SAFETY: the zone was declared by `tollgate_zone` and mapped by the master before forking.
    let words = unsafe { zone::words(mc.zone) };
    // Never format here: sibling and old workers may be using the zone. The master formatted it.
    let Some(region) = Region::open(words).map(Arc::new) else {
        ngx_log_error!(
            NGX_LOG_EMERG,
            cycle.log,
            "tollgate: the shared zone holds no tollgate region"
        );
        return NGX_ERROR as ngx_int_t;
    };
    let rules = Rules::clone(rules);
    let _ = ENGINE.set(Engine::shared(
        rules,
        keys.clone(),
        CoreClock::system(),
        region,
    ));
    // SAFETY: TICK is only touched by this (single-threaded) worker's event loop.
    unsafe {
        let ev = &raw mut TICK;
        (*ev).handler = Some(tick);
        (*ev).log = cycle.log;
        (*ev).data = (&raw const TICK_IDENT).cast_mut().cast();
        (*ev).set_cancelable(1); // must not hold a worker back from a graceful exit
        ngx_add_timer(ev, SWEEP_MS);
    }
    NGX_OK as ngx_int_t
}

unsafe extern "C" fn tick(ev: *mut ngx_event_t) {
    // SAFETY: nginx's process-state globals are plain integers written by this process's
    // signal handling on the same thread.
    if unsafe { ngx_exiting != 0 || ngx_quit != 0 || ngx_terminate != 0 } {
        return;
    }
    if let Some(e) = engine() {
        e.sweep();
    }
    // SAFETY: `ev` is TICK, owned by this worker's event loop.
    unsafe { ngx_add_timer(ev, SWEEP_MS) };
}

pub unsafe extern "C" fn exit_process(_cycle: *mut ngx_cycle_t) {
    // SAFETY: TICK belongs to this worker's event loop, which has stopped running handlers.
    unsafe {
        let ev = &raw mut TICK;
        if (*ev).timer_set() != 0 {
            ngx_del_timer(ev);
        }
    }
}
