//! The shared-memory zone of `tollgate_zone NAME SIZE`, laid out as the core's [`Region`].
//!
//! nginx maps the zone in the master before forking workers, so every worker sees it at the same
//! address. On `nginx -s reload` a zone with the same name and size keeps its mapping (and so
//! its counters and bans); the region's header recognises it and nothing is re-formatted. The
//! slab allocator nginx puts at the start of every zone is left alone: the region takes the
//! memory after its header, and nothing else ever allocates from this zone.

use std::ffi::c_void;
use std::ptr::addr_of_mut;
use std::sync::atomic::AtomicU64;

use ngx::ffi::{
    ngx_int_t, ngx_parse_size, ngx_shared_memory_add, ngx_shm_zone_t, ngx_slab_pool_t, ngx_str_t,
    NGX_ERROR, NGX_LOG_EMERG, NGX_LOG_NOTICE, NGX_OK,
};
use ngx::ngx_log_error;
use tollgate_core::Region;

use crate::ngx_http_tollgate_module;

/// Declares the zone.
///
/// # Safety
/// `cf` must be the configuration nginx is parsing; `name` and `size` its directive arguments.
pub unsafe fn add(
    cf: *mut ngx::ffi::ngx_conf_t,
    name: &mut ngx_str_t,
    size: &mut ngx_str_t,
) -> Result<*mut ngx_shm_zone_t, String> {
    // SAFETY: `size` is a valid ngx_str_t from the configuration pool.
    let bytes = unsafe { ngx_parse_size(size) };
    let min = Region::MIN_BYTES + 64 * 1024;
    if bytes < 0 || (bytes as usize) < min {
        return Err(format!(
            "size \"{size}\" is invalid or below the minimum of {min} bytes"
        ));
    }
    // SAFETY: `cf` is live; the tag is this module's static, the same object on every reload
    // (nginx keeps the module loaded), so a reload finds and reuses the zone.
    let zone = unsafe {
        ngx_shared_memory_add(
            cf,
            name,
            bytes as usize,
            addr_of_mut!(ngx_http_tollgate_module).cast(),
        )
    };
    if zone.is_null() {
        return Err(format!("could not declare zone \"{name}\""));
    }
    // SAFETY: nginx returned a live zone descriptor owned by the cycle.
    unsafe { (*zone).init = Some(init) };
    Ok(zone)
}

/// The zone's words after nginx's slab header, 64-byte aligned.
///
/// # Safety
/// `zone` must be a mapped zone declared by [`add`] (its `shm.addr`/`size` set by nginx).
pub unsafe fn words(zone: *const ngx_shm_zone_t) -> &'static [AtomicU64] {
    // SAFETY: nginx mapped `size` bytes at `addr` for the life of the process (a zone is only
    // unmapped in the master after a reload that dropped it; workers keep their own mapping
    // until they exit). AtomicU64 has no invalid bit patterns and the range is 64-byte aligned,
    // inside the mapping, and never touched by the slab allocator (nobody allocates from it).
    unsafe {
        let base = (*zone).shm.addr as usize;
        let end = base + (*zone).shm.size;
        let start = (base + size_of::<ngx_slab_pool_t>()).next_multiple_of(64);
        std::slice::from_raw_parts(start as *const AtomicU64, (end - start) / 8)
    }
}

/// nginx's zone initialiser (master process, at startup and at every reload).
unsafe extern "C" fn init(zone: *mut ngx_shm_zone_t, _old: *mut c_void) -> ngx_int_t {
    let mut seed = [0u8; 16];
    let _ = getrandom::fill(&mut seed); // on failure the seed is zero: placement is then guessable, nothing worse
    let half = |b: &[u8]| b.iter().fold(0u64, |w, &x| (w << 8) | u64::from(x));
    // SAFETY: nginx calls this with the zone it just mapped (or kept).
    let words = unsafe { words(zone) };
    // SAFETY: `shm.log` is nginx's cycle log.
    let log = unsafe { (*zone).shm.log };
    match Region::attach(words, [half(&seed[..8]), half(&seed[8..])]) {
        Ok((region, formatted)) => {
            let s = region.stats();
            let what = if formatted {
                "formatted"
            } else {
                "kept across reload"
            };
            ngx_log_error!(
                NGX_LOG_NOTICE,
                log,
                "tollgate: zone {}: {} counter slots, {} bans kept",
                what,
                s.counter_slots,
                s.bans_used
            );
            NGX_OK as ngx_int_t
        }
        Err(e) => {
            ngx_log_error!(NGX_LOG_EMERG, log, "tollgate: {}", e);
            NGX_ERROR as ngx_int_t
        }
    }
}
