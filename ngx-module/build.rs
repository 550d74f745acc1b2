//! Hands the nginx build directory (configure output and the `nginx` binary it built) to the
//! end-to-end tests, and the `ngx_os`/`ngx_feature` cfg values to the module's own code.
//! Cargo passes `DEP_NGINX_*` only to direct dependents of `nginx-sys`, hence the direct
//! dependency in Cargo.toml.

fn main() {
    for var in ["DEP_NGINX_BUILD_DIR", "DEP_NGINX_VERSION"] {
        println!("cargo::rerun-if-env-changed={var}");
        if let Ok(value) = std::env::var(var) {
            println!("cargo::rustc-env=TOLLGATE_{}={value}", &var[4..]);
        }
    }
}
