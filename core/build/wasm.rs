//! Assembles the solver's WebAssembly from the text `scripts/gen-worker-search.py` writes
//! (`src/toll/assets/*.wat`), with the `wat` crate: no wasm toolchain, and the binary is never
//! checked in. Each module is also validated here, so a broken generator stops the build.

use std::path::Path;

const MODULES: [&str; 2] = ["search", "search-simd"];

pub fn assemble(out: &Path) -> Result<(), String> {
    for name in MODULES {
        let src = format!("src/toll/assets/{name}.wat");
        println!("cargo:rerun-if-changed={src}");
        let bytes = wat::parse_file(&src).map_err(|e| format!("{src}: {e}"))?;
        std::fs::write(out.join(format!("{name}.wasm")), bytes)
            .map_err(|e| format!("writing {name}.wasm: {e}"))?;
    }
    Ok(())
}
