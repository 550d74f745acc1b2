//! `tollgate check` against the shipped test data: the `[server]` section is the proxy's to
//! validate, so its bad files (`rules/testdata/bad-server/`) are checked here, along with every
//! core bad file (the proxy must report those the same way) and every good file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::{Path, PathBuf};
use std::process::Command;

use tollgate_testkit::{expected_errors, rules_files};

fn testdata(dir: &str) -> Vec<PathBuf> {
    rules_files(&format!("testdata/{dir}"))
}

fn check(file: &Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("check")
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn bad_files_fail_with_every_expected_error_at_its_position() {
    let files = [testdata("bad-server"), testdata("bad")].concat();
    assert!(files.len() >= 14, "{files:?}");
    for f in files {
        let wanted = expected_errors(&f);
        let (code, stderr) = check(&f);
        assert_eq!(code, Some(1), "{}: {stderr}", f.display());
        let n = wanted.len();
        let s = if n == 1 { "" } else { "s" };
        assert!(
            stderr.starts_with(&format!("{n} error{s} in rules:")),
            "{}: {stderr}",
            f.display()
        );
        for (pos, msg) in &wanted {
            // `3:10` is in the rules file; `list.txt:3:3` names the list file it is in.
            let at = match pos.starts_with(|c: char| c.is_ascii_digit()) {
                true => format!(".toml:{pos}: "),
                false => format!("/{pos}: "),
            };
            let hit = stderr
                .lines()
                .any(|l| l.contains(&at) && l.contains(msg.as_str()));
            assert!(hit, "{}: expected {pos} {msg:?} in\n{stderr}", f.display());
        }
    }
}

#[test]
fn good_files_pass() {
    let shipped = rules_files("");
    for f in testdata("good").into_iter().chain(shipped) {
        let (code, stderr) = check(&f);
        assert_eq!(code, Some(0), "{}: {stderr}", f.display());
    }
}
