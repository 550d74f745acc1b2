//! Where the running proxy's signing key comes from, in the README's order: `--secret-file` (or
//! `TOLLGATE_SECRET_FILE`), else `TOLLGATE_SECRET`, else `state_dir/secret.key`, generated with
//! mode 0600 on first run and kept across restarts. A cookie minted under one key passes exactly
//! when the proxy signs with that key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use tollgate_testkit::process::stdout_of;
use tollgate_testkit::tollgate::{write_rules, Launch, TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

mod support;

use support::*;

const CLIENT: &str = "127.0.6.1";
const FILE_KEY: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const ENV_KEY: &str = "2222222222222222222222222222222222222222222222222222222222222222";

/// Where `tollgate token` takes its key from.
enum Key<'a> {
    Hex(&'a str),
    File(&'a Path),
}

/// A clearance for [`CLIENT`] minted by `tollgate token` under `key` alone.
fn mint(rules: &Path, key: Key<'_>) -> String {
    let mut cmd = Command::new(bin());
    cmd.args(["token", "--ip", CLIENT, "--user-agent", UA, "--rules"])
        .arg(rules)
        .env_remove("TOLLGATE_SECRET")
        .env_remove("TOLLGATE_SECRET_FILE");
    match key {
        Key::Hex(hex) => cmd.env("TOLLGATE_SECRET", hex),
        Key::File(file) => cmd.arg("--secret-file").arg(file),
    };
    stdout_of(&mut cmd)
}

/// Whether `cookie` opens the protected route: 200, or 403 `clearance_invalid`.
fn opens(t: &Tollgate, cookie: &str) -> bool {
    let r = get(t, CLIENT, "/protected/x", UA, Some(cookie));
    match (r.status, reason(&r)) {
        (200, _) => true,
        (403, "clearance_invalid") => false,
        other => panic!("unexpected {other:?}: {r:?}"),
    }
}

#[test]
fn the_key_file_beats_the_environment_which_beats_the_state_directory() {
    let dir = TempDir::new("keys");
    let up = Upstream::start().unwrap();
    let rules = write_rules(&dir.0, &rules(8));
    let key_file = dir.0.join("named.key");
    fs::write(&key_file, format!("current = \"{FILE_KEY}\"\n")).unwrap();
    let by_file = mint(&rules, Key::Hex(FILE_KEY));
    let by_env = mint(&rules, Key::Hex(ENV_KEY));
    let file_arg = key_file.to_str().unwrap();

    // The flag and the variable naming a key file each beat TOLLGATE_SECRET.
    let flag = Launch::new(up.addr)
        .env("TOLLGATE_SECRET", Some(ENV_KEY))
        .arg("--secret-file")
        .arg(file_arg);
    let named_env = Launch::new(up.addr)
        .env("TOLLGATE_SECRET", Some(ENV_KEY))
        .env("TOLLGATE_SECRET_FILE", Some(file_arg));
    for how in [flag, named_env] {
        let t = Tollgate::launch(bin(), &dir.0, &rules, &how);
        assert_eq!(
            (opens(&t, &by_file), opens(&t, &by_env)),
            (true, false),
            "{how:?}"
        );
    }
    // TOLLGATE_SECRET beats the state directory, which it leaves alone.
    let env_only = Launch::new(up.addr).env("TOLLGATE_SECRET", Some(ENV_KEY));
    let t = Tollgate::launch(bin(), &dir.0, &rules, &env_only);
    assert_eq!((opens(&t, &by_file), opens(&t, &by_env)), (false, true));
    assert!(!dir.0.join("state/secret.key").exists());
}

#[test]
fn without_a_key_the_first_run_generates_a_private_one_and_later_runs_keep_it() {
    let dir = TempDir::new("genkey");
    let up = Upstream::start().unwrap();
    let rules = write_rules(&dir.0, &rules(8));
    let no_key = Launch::new(up.addr).env("TOLLGATE_SECRET", None);
    let generated = dir.0.join("state/secret.key");
    let mut t = Tollgate::launch(bin(), &dir.0, &rules, &no_key);
    let mode = fs::metadata(&generated).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let text = fs::read_to_string(&generated).unwrap();
    assert!(
        t.log().contains("generated a new signing key"),
        "{}",
        t.log()
    );

    let cookie = mint(&rules, Key::File(&generated));
    assert!(opens(&t, &cookie));
    assert!(!opens(&t, &mint(&rules, Key::Hex(ENV_KEY))));
    assert!(t.proc.signal("TERM"));
    assert_eq!(
        t.proc.wait_exit(std::time::Duration::from_secs(10)),
        Some(0)
    );

    let t = Tollgate::launch(bin(), &dir.0, &rules, &no_key);
    assert_eq!(
        fs::read_to_string(&generated).unwrap(),
        text,
        "the key is kept"
    );
    assert!(opens(&t, &cookie), "a restart keeps clearances valid");
}
