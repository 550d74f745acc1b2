//! Saved bans survive what operators do to them: a wider prefix length re-keys them on load, a
//! `kill -9` loses at most the last save interval, and each corrupt file is set aside under its
//! own timestamped name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::fs;
use std::path::Path;
use std::time::Duration;

use tollgate_testkit::process::eventually;
use tollgate_testkit::tollgate::{write_rules, TempDir, Tollgate};
use tollgate_testkit::upstream::Upstream;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tollgate"))
}

fn rules(v4_prefix: u8) -> String {
    format!(
        "[clients]\nipv4_prefix_len = {v4_prefix}\n[limit]\nrequests = 1000\nburst = 1000\n\
         [bans]\nextreme_requests = 3\nextreme_window_secs = 10\nviolations = 0\n\
         close_connection = false\n"
    )
}

fn banned(t: &Tollgate, client: &str) -> bool {
    t.get(client, "/").header("x-tollgate-reason") == Some("active_ban")
}

fn stop(mut t: Tollgate) {
    assert!(t.proc.signal("TERM"));
    assert_eq!(t.proc.wait_exit(Duration::from_secs(15)), Some(0));
}

#[test]
fn widening_the_prefix_keeps_a_saved_ban_on_the_whole_new_network() {
    let dir = TempDir::new("rekey");
    let up = Upstream::start().unwrap();
    let path = write_rules(&dir.0, &rules(32));
    let t = Tollgate::start_with(bin(), &dir.0, &path, up.addr);
    for _ in 0..4 {
        t.get("127.0.12.7", "/");
    }
    assert!(banned(&t, "127.0.12.7"));
    assert!(
        !banned(&t, "127.0.12.8"),
        "a /32 ban covers its address only"
    );
    stop(t);

    fs::write(&path, rules(24)).unwrap();
    let t = Tollgate::start_with(bin(), &dir.0, &path, up.addr);
    for neighbour in ["127.0.12.7", "127.0.12.8", "127.0.12.200"] {
        assert!(banned(&t, neighbour), "{neighbour} after /32 -> /24");
    }
    assert!(!banned(&t, "127.0.13.1"));
    let listed = t.admin("GET", "/bans").body;
    assert!(
        listed.contains("\"network\": \"127.0.12.0/24\""),
        "{listed}"
    );
}

#[test]
fn kill_9_keeps_the_bans_of_the_last_save() {
    let dir = TempDir::new("kill9");
    let up = Upstream::start().unwrap();
    let path = write_rules(&dir.0, &rules(32));
    let t = Tollgate::start_with(bin(), &dir.0, &path, up.addr);
    for _ in 0..4 {
        t.get("127.0.12.20", "/");
    }
    let file = dir.0.join("state/bans.json");
    let saved = || fs::read_to_string(&file).unwrap_or_default();
    assert!(eventually(Duration::from_secs(8), || saved().contains("127.0.12.20")));
    assert!(t.proc.signal("KILL"));
    drop(t);
    let t = Tollgate::start_with(bin(), &dir.0, &path, up.addr);
    assert!(banned(&t, "127.0.12.20"), "{}", t.log());
}

#[test]
fn every_corrupt_file_is_kept_under_its_own_name() {
    let dir = TempDir::new("corrupt");
    let up = Upstream::start().unwrap();
    let path = write_rules(&dir.0, &rules(32));
    let state = dir.0.join("state");
    fs::create_dir_all(&state).unwrap();
    for (n, junk) in ["{ not json", "[1, 2"].iter().enumerate() {
        fs::write(state.join("bans.json"), junk).unwrap();
        let t = Tollgate::start_with(bin(), &dir.0, &path, up.addr);
        assert!(t.log().contains("ban state not loaded"), "{}", t.log());
        assert_eq!(t.get("127.0.12.40", "/").status, 200);
        drop(t);
        let mut copies: Vec<String> = fs::read_dir(&state)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with("bans.json.corrupt-"))
            .collect();
        copies.sort();
        assert_eq!(copies.len(), n + 1, "{copies:?}");
        let kept: Vec<String> = copies
            .iter()
            .map(|c| fs::read_to_string(state.join(c)).unwrap())
            .collect();
        assert!(kept.iter().any(|k| k == junk), "{kept:?}");
    }
}

#[test]
fn a_network_ban_is_saved_as_one_and_covers_the_network_after_a_restart() {
    let dir = TempDir::new("network-ban");
    let up = Upstream::start().unwrap();
    let rules =
        "[limit]\nrequests = 1000\nburst = 1000\n[networks]\nrequests = 3\nper_secs = 600\n\
                 burst = 3\nviolations = 1\nviolations_window_secs = 600\n\
                 [bans]\nextreme_requests = 0\nviolations = 0\nclose_connection = false\n";
    let path = write_rules(&dir.0, rules);
    let t = Tollgate::start_with(bin(), &dir.0, &path, up.addr);
    let statuses: Vec<u16> = (1..=5)
        .map(|n| t.get(&format!("127.0.16.{n}"), "/").status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429, 403], "{}", t.log());
    let listed = t.admin("GET", "/bans").body;
    assert!(
        listed.contains("\"network\": \"127.0.16.0/24\""),
        "{listed}"
    );
    assert!(listed.contains("network_violations"), "{listed}");
    stop(t);
    let saved = fs::read_to_string(dir.0.join("state/bans.json")).unwrap();
    assert!(saved.contains("\"network\": true"), "{saved}");
    let t = Tollgate::start_with(bin(), &dir.0, &path, up.addr);
    assert!(banned(&t, "127.0.16.77"), "the whole /24 after a restart");
    assert!(!banned(&t, "127.0.17.1"));
    assert_eq!(t.admin("DELETE", "/bans/127.0.16.200").status, 200);
    assert!(
        !banned(&t, "127.0.16.77"),
        "lifting any address's ban lifts its network's"
    );
}
