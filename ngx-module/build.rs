//! Hands the nginx build directory (configure output and the `nginx` binary it built) to the
//! end-to-end tests, and tells the module's code what the nginx it is built against provides.
//! Cargo passes `DEP_NGINX_*` only to direct dependents of `nginx-sys`, hence the direct
//! dependency in Cargo.toml.
//!
//! `cfg(ngx_http_v3)`: nginx 1.25 and later know HTTP/3 (`NGX_HTTP_VERSION_30`); Debian 12's
//! nginx is 1.22, whose headers do not define it.

/// The first nginx version whose headers define `NGX_HTTP_VERSION_30`.
const HTTP_V3_SINCE: u64 = 1_025_000;

fn main() {
    for var in ["DEP_NGINX_BUILD_DIR", "DEP_NGINX_VERSION"] {
        println!("cargo::rerun-if-env-changed={var}");
        if let Ok(value) = std::env::var(var) {
            println!("cargo::rustc-env=TOLLGATE_{}={value}", &var[4..]);
        }
    }
    println!("cargo::rerun-if-env-changed=DEP_NGINX_VERSION_NUMBER");
    println!("cargo::rustc-check-cfg=cfg(ngx_http_v3)");
    let version = std::env::var("DEP_NGINX_VERSION_NUMBER")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if version.is_some_and(|v| v >= HTTP_V3_SINCE) {
        println!("cargo::rustc-cfg=ngx_http_v3");
    }
}
