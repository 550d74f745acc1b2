//! Replays every committed fuzz input on the stable toolchain: the seed corpora, what the
//! fuzzer kept from its runs (`corpus/`), and the inputs of fixed crashes (`regressions/`).
//! A target whose corpus went missing fails too: an empty replay proves nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::fs;
use std::path::Path;

fn replay(target: &str, body: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut replayed = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| body(&data));
            assert!(outcome.is_ok(), "{} fails again", path.display());
            replayed += 1;
        }
    }
    assert!(replayed >= 3, "{target}: only {replayed} inputs to replay");
    eprintln!("{target}: {replayed} inputs replayed");
}

#[test]
fn rules_corpus() {
    replay("rules", tollgate_fuzz::rules);
}

#[test]
fn request_corpus() {
    replay("request", tollgate_fuzz::request);
}

#[test]
fn tokens_corpus() {
    replay("tokens", tollgate_fuzz::tokens);
}

#[test]
fn region_corpus() {
    replay("region", tollgate_fuzz::region);
}
