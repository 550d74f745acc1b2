//! Every shipped rules file and every `rules/testdata/good` file must load; every
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! `rules/testdata/bad` file must fail with the errors its first line names (`# expect: L:C text |
//! ...`), each pinned to its line and column.

use std::fs;
use std::path::{Path, PathBuf};

use tollgate_core::load_rules;
use tollgate_core::FsReader;
use tollgate_testkit::{expected_errors, rules_files};

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules")
}

#[test]
fn shipped_and_good_files_load() {
    let mut files = rules_files("");
    files.extend(rules_files("testdata/good"));
    assert!(files.len() >= 6, "{files:?}");
    for f in files {
        if let Err(e) = load_rules(&f, &FsReader) {
            panic!("{} should load:\n{e}", f.display());
        }
    }
}

#[test]
fn bad_files_fail_with_positioned_errors() {
    let files = rules_files("testdata/bad");
    assert!(files.len() >= 8);
    for f in files {
        let wanted = expected_errors(&f);
        let err = match load_rules(&f, &FsReader) {
            Ok(_) => panic!("{} should fail", f.display()),
            Err(e) => e,
        };
        let shown = err.to_string();
        assert_eq!(err.errors.len(), wanted.len(), "{}: {shown}", f.display());
        for (pos, msg) in &wanted {
            let hit = err.errors.iter().any(|e| {
                let at = format!("{}:{}", e.line, e.column);
                // `file:L:C` names the file (a list or crawler file the rules read) too.
                let file_ok = match pos.rsplitn(3, ':').nth(2) {
                    Some(file) => e.file.ends_with(file),
                    None => e.file == f.display().to_string(),
                };
                (*pos == at || pos.ends_with(&format!(":{at}")))
                    && file_ok
                    && e.to_string().contains(msg.as_str())
            });
            assert!(hit, "{}: expected {pos} {msg:?} in\n{shown}", f.display());
        }
    }
}

#[test]
fn errors_name_file_and_route() {
    let f = rules_dir().join("testdata/bad/many-errors.toml");
    let shown = load_rules(&f, &FsReader).unwrap_err().to_string();
    assert!(
        shown.contains("many-errors.toml:12:8: route \"a\": duplicate route name"),
        "{shown}"
    );
    assert!(shown.starts_with("7 errors in rules:"), "{shown}");
}

#[test]
fn hundred_thousand_entry_list_loads_and_matches() {
    let dir = std::env::temp_dir().join(format!("tollgate-list-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let mut list = String::new();
    for i in 0..100_000u32 {
        let ip = std::net::Ipv4Addr::from(0x0A00_0000 + i * 7);
        list.push_str(&format!("{ip}\n"));
    }
    fs::write(dir.join("big.txt"), list).unwrap();
    fs::write(
        dir.join("rules.toml"),
        "[lists]\ndeny_files = [\"big.txt\"]\n",
    )
    .unwrap();
    let rules = load_rules(&dir.join("rules.toml"), &FsReader).unwrap();
    assert_eq!(rules.deny.ranges(), 100_000);
    assert!(rules.deny.contains("10.0.0.7".parse().unwrap()));
    assert!(!rules.deny.contains("10.0.0.8".parse().unwrap()));
    fs::remove_dir_all(&dir).unwrap();
}
