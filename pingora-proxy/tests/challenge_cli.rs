//! The toll from the command line against a real proxy: `tollgate solve` pays it natively,
//! over HTTP and over HTTPS (a test CA's certificate: refused unverified, paid with `--ca-file`
//! or `--insecure`), `tollgate token` mints a clearance for one client, and
//! `tollgate rotate-secret` keeps old clearances for the grace period only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::process::Command;

use support::*;
use tollgate_core::{CLEARANCE_COOKIE as COOKIE, SECURE_COOKIE};
use tollgate_testkit::tollgate::{write_rules, Launch, TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;
use tollgate_testkit::TEST_SECRET_HEX;

#[test]
fn tollgate_solve_pays_both_puzzles_from_the_command_line() {
    let dir = TempDir::new("solve");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, &rules(14), up.addr);
    for path in ["/protected/cli", "/login"] {
        let url = format!("http://{}{path}", t.listen);
        let cookie = cli(&["solve", &url, "--user-agent", UA], &[]);
        assert!(cookie.starts_with(&format!("{COOKIE}=")), "{cookie}");
        let before = up.hits();
        let r = get(&t, "127.0.0.1", path, UA, Some(&cookie));
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(up.hits(), before + 1);
    }
}

#[test]
fn a_minted_token_passes_for_its_client_only() {
    let dir = TempDir::new("token");
    let up = Upstream::start().unwrap();
    let t = Tollgate::start(bin(), &dir.0, &rules(12), up.addr);
    let rules_path = t.rules_path.to_str().unwrap();
    let cookie = cli(
        &[
            "token",
            "--ip",
            "127.0.3.40",
            "--user-agent",
            "wrk",
            "--requests",
            "5",
            "--rules",
            rules_path,
        ],
        &[("TOLLGATE_SECRET", TEST_SECRET_HEX)],
    );
    let statuses: Vec<u16> = (0..6)
        .map(|_| get(&t, "127.0.3.40", "/protected/x", "wrk", Some(&cookie)).status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 403], "budget of 5");
    let r = get(&t, "127.0.3.41", "/protected/x", "wrk", Some(&cookie));
    assert_eq!(reason(&r), "clearance_invalid");
}

#[test]
fn a_rotated_key_keeps_old_clearances_for_the_grace_period_only() {
    let dir = TempDir::new("rotate");
    let up = Upstream::start().unwrap();
    let key_file = dir.0.join("secret.key");
    std::fs::write(&key_file, format!("current = \"{}\"\n", "11".repeat(32))).unwrap();
    let rules_path = dir.0.join("rules.toml");
    std::fs::write(&rules_path, rules(8)).unwrap();
    let key_arg = key_file.to_str().unwrap();
    let t = Tollgate::start_args(
        bin(),
        &dir.0,
        &rules_path,
        up.addr,
        &["--secret-file", key_arg],
    );
    let me = "127.0.3.70";
    let clearance = || earn(&t, me, "/protected/x");
    let rotate = |grace: &str| {
        cli(
            &[
                "rotate-secret",
                "--secret-file",
                key_arg,
                "--grace-secs",
                grace,
            ],
            &[],
        );
        assert_eq!(t.admin("POST", "/reload").status, 200);
    };
    let old = clearance();
    rotate("3600");
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert!(
        text.contains(&format!("previous = \"{}\"", "11".repeat(32))),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        get(&t, me, "/protected/x", UA, Some(&old)).status,
        200,
        "old key within grace"
    );
    let new = clearance();
    assert_eq!(get(&t, me, "/protected/x", UA, Some(&new)).status, 200);
    rotate("0");
    let r = get(&t, me, "/protected/x", UA, Some(&old));
    assert_eq!(
        (r.status, reason(&r)),
        (403, "clearance_invalid"),
        "two rotations later"
    );
    // The second key is now the previous one with no grace: its cookie stops within a second
    // or two (an ignored --grace-secs would keep it for the default hour).
    let expired = tollgate_testkit::process::eventually(std::time::Duration::from_secs(4), || {
        get(&t, me, "/protected/x", UA, Some(&new)).status == 403
    });
    assert!(expired, "the new key's cookie outlived its zero grace");
    let o = offer(&t, me, UA, "/protected/x");
    assert_eq!(o["param"], 8, "a cookie of a retired key is no offence");
}

/// A test CA and a certificate it signed for 127.0.0.1 and localhost, made with openssl in
/// `dir`: (ca.crt, server.crt, server.key).
fn test_ca(dir: &std::path::Path) -> [std::path::PathBuf; 3] {
    let f = |name: &str| dir.join(name).to_str().unwrap().to_string();
    std::fs::write(f("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    let steps = [
        format!(
            "req -x509 {ec} -days 1 -subj /CN=test-CA -keyout {} -out {}",
            f("ca.key"),
            f("ca.crt")
        ),
        format!(
            "req {ec} -subj /CN=localhost -keyout {} -out {}",
            f("server.key"),
            f("server.csr")
        ),
        format!(
            "x509 -req -days 1 -in {} -CA {} -CAkey {} -CAcreateserial -extfile {} -out {}",
            f("server.csr"),
            f("ca.crt"),
            f("ca.key"),
            f("ext.cnf"),
            f("server.crt")
        ),
    ];
    for step in steps {
        let out = Command::new("openssl")
            .args(step.split(' '))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {step}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    ["ca.crt", "server.crt", "server.key"].map(|n| dir.join(n))
}

#[test]
fn tollgate_solve_pays_over_https_with_a_ca_file_or_insecure_and_not_unverified() {
    let dir = TempDir::new("solve-tls");
    let up = Upstream::start().unwrap();
    let [ca, crt, key] = test_ca(&dir.0);
    let tls = format!(
        "[server]\ntls_listen = \"127.0.0.1:8443\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        crt.display(),
        key.display()
    );
    let rules = write_rules(&dir.0, &format!("{tls}{}", rules(14)));
    let t = Tollgate::launch(bin(), &dir.0, &rules, &Launch::new(up.addr).tls());
    let url = format!("https://{}/protected/tls", t.tls.unwrap());
    // The test CA is no system authority: an unverified site is refused, not paid.
    let refused = Command::new(bin())
        .args(["solve", &url, "--user-agent", UA])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "solved against an unknown CA");
    assert!(said.to_ascii_lowercase().contains("certificate"), "{said}");
    let ca_arg = ca.to_str().unwrap();
    for flags in [&["--ca-file", ca_arg][..], &["--insecure"]] {
        let mut args = vec!["solve", &url, "--user-agent", UA];
        args.extend(flags);
        let cookie = cli(&args, &[]);
        assert!(cookie.starts_with(&format!("{SECURE_COOKIE}=")), "{cookie}");
        let before = up.hits();
        let reached = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--cacert",
                ca_arg,
            ])
            .args(["-A", UA, "-b", &cookie, &url])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&reached.stdout), "200", "{flags:?}");
        assert_eq!(
            up.hits(),
            before + 1,
            "{flags:?}: the backend was not reached"
        );
    }
}
