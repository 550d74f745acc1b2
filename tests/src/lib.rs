//! Tollgate's end-to-end test kit.
//!
//! - [`scenario`]: the one behavioural table (request → expected decision) that every layer runs:
//!   the core directly, the Pingora proxy over loopback, and later the nginx module.
//! - [`http`]: a small blocking HTTP/1.1 client that binds any 127.0.0.0/8 source address, so one
//!   machine plays many clients. It writes requests byte for byte, headers exactly as given.
//! - [`upstream`]: a real upstream server that records what reached it.
//! - [`process`]: free ports, child processes that die with the test, waiting for readiness.

#![allow(clippy::panic)] // test-only crate: a broken fixture must fail the test loudly

pub mod browser;
pub mod challenge;
pub mod dns;
pub mod fronts;
pub mod http;
pub mod nginx;
pub mod process;
pub mod redis;
pub mod scenario;
pub mod tollgate;
pub mod upstream;

/// The signing key every test front end runs with (`TOLLGATE_SECRET`), so tests can mint tokens.
pub const TEST_SECRET_HEX: &str =
    "746f6c6c676174652d746573742d7365637265742d6e6f742d666f722d70726f64";

/// The errors a bad rules test file expects, from its first line
/// (`# expect: POS MESSAGE | POS MESSAGE …`): `(position, message)` pairs, where a position is
/// `LINE:COL` in the rules file or `FILE:LINE:COL` in a list file it names.
pub fn expected_errors(file: &std::path::Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let first = text.lines().next().unwrap_or_default();
    let expect = first
        .strip_prefix("# expect: ")
        .unwrap_or_else(|| panic!("{}: no '# expect: ' line", file.display()));
    let pair = |want: &str| {
        let (pos, msg) = want
            .split_once(' ')
            .unwrap_or_else(|| panic!("{}: {want:?} is not 'POS MESSAGE'", file.display()));
        (pos.to_string(), msg.to_string())
    };
    expect.split(" | ").map(pair).collect()
}

/// Now, in Unix seconds.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `.toml` files in `rules/DIR` (e.g. `testdata/bad`, or `""` for the shipped files),
/// sorted.
pub fn rules_files(dir: &str) -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../rules")
        .join(dir);
    let entries = std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    let mut files: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}
