//! The solver's generated sources are what their generator writes: the JavaScript search in
//! `worker.js` and both WebAssembly texts (`scripts/gen-worker-search.py --check` regenerates
//! them in memory and compares).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::Path;
use std::process::Command;

#[test]
fn the_generated_solver_sources_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("python3")
        .arg(root.join("scripts/gen-worker-search.py"))
        .arg("--check")
        .output()
        .unwrap_or_else(|e| panic!("running python3: {e}"));
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
