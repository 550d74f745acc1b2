//! A real Caddy (Debian's `caddy` package) on a loopback port, configured from a Caddyfile,
//! stopped when dropped: the front proxy of the forward-auth tests.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{free_port, wait_listening, Guard};

pub struct Caddy {
    pub proc: Guard,
    pub listen: SocketAddr,
}

/// The README's Caddyfile for forward auth: the site on `listen`, the app at `app`, tollgate's
/// auth listener at `auth`. `/.tollgate/` goes to tollgate itself; everything else asks it first.
pub fn forward_auth_caddyfile(listen: SocketAddr, auth: SocketAddr, app: SocketAddr) -> String {
    format!(
        "{{
	admin off
	auto_https off
}}
http://{listen} {{
	# Only Caddy asks tollgate's auth endpoint; a client asking it directly gets nothing.
	handle /.tollgate/auth {{
		respond 404
	}}
	handle /.tollgate/* {{
		reverse_proxy {auth}
	}}
	handle {{
		forward_auth {auth} {{
			uri /.tollgate/auth?
			copy_headers X-Tollgate-Cookie>Cookie
		}}
		reverse_proxy {app}
	}}
}}
"
    )
}

impl Caddy {
    /// Starts Caddy on a free port with the Caddyfile `conf(listen)` returns.
    pub fn start(dir: &Path, conf: impl FnOnce(SocketAddr) -> String) -> Self {
        let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let file = dir.join("Caddyfile");
        std::fs::write(&file, conf(listen)).unwrap_or_else(|e| panic!("writing Caddyfile: {e}"));
        let log = std::fs::File::create(dir.join("caddy.log"))
            .unwrap_or_else(|e| panic!("caddy log: {e}"));
        let mut cmd = Command::new("caddy");
        cmd.args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&file)
            // Caddy keeps its state under $HOME/.local/share/caddy: the test's own directory.
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir)
            .env("XDG_CONFIG_HOME", dir)
            .stdout(Stdio::null())
            .stderr(log);
        let proc = Guard::spawn(&mut cmd)
            .unwrap_or_else(|e| panic!("spawning caddy: {e} (apt-get install -y caddy)"));
        let up = wait_listening(listen, Duration::from_secs(20));
        let said = std::fs::read_to_string(dir.join("caddy.log")).unwrap_or_default();
        assert!(up, "caddy did not start:\n{said}");
        Self { proc, listen }
    }
}
