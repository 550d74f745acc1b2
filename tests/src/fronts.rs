//! The front proxies of the forward-auth tests, on loopback ports, stopped when dropped: a real
//! Caddy (Debian's `caddy` package) from a Caddyfile, and Debian's nginx with `auth_request`.
//! The configurations are the README's.

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
	# Loopback only: a wildcard listener would collide with any socket on its port, such as
	# another test's outgoing connection (it did, three fresh ports in a row).
	default_bind 127.0.0.1
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
    /// Starts Caddy on a free port with the Caddyfile `conf(listen)` returns. A port another
    /// process took between picking and binding means a fresh port, up to three times.
    pub fn start(dir: &Path, conf: impl Fn(SocketAddr) -> String) -> Self {
        let mut said = String::new();
        for _ in 0..3 {
            let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let file = dir.join("Caddyfile");
            std::fs::write(&file, conf(listen)).unwrap_or_else(|e| panic!("Caddyfile: {e}"));
            let log = std::fs::File::create(dir.join("caddy.log"))
                .unwrap_or_else(|e| panic!("caddy log: {e}"));
            let mut cmd = Command::new("caddy");
            cmd.args(["run", "--adapter", "caddyfile", "--config"])
                .arg(&file)
                // Caddy keeps its state under $HOME: the test's own directory.
                .env("HOME", dir)
                .env("XDG_DATA_HOME", dir)
                .env("XDG_CONFIG_HOME", dir)
                .stdout(Stdio::null())
                .stderr(log);
            let proc = Guard::spawn(&mut cmd)
                .unwrap_or_else(|e| panic!("spawning caddy: {e} (apt-get install -y caddy)"));
            if wait_listening(listen, Duration::from_secs(10)) {
                return Self { proc, listen };
            }
            said = std::fs::read_to_string(dir.join("caddy.log")).unwrap_or_default();
        }
        panic!("caddy did not start on fresh ports three times:\n{said}")
    }
}

/// The README's nginx configuration for `auth_request` (the `http` block's contents): the site
/// on `listen`, the app at `app`, tollgate's auth listener at `auth`. A refusal's body comes
/// from tollgate through `error_page 401` and the held reply's id.
pub fn forward_auth_nginx_conf(listen: SocketAddr, auth: SocketAddr, app: SocketAddr) -> String {
    format!(
        "upstream tollgate_auth {{ server {auth}; }}
upstream app {{ server {app}; }}
server {{
    listen {listen};
    # The auth request: internal, so clients cannot send one themselves.
    location = /.tollgate/auth-request {{
        internal;
        proxy_pass http://tollgate_auth;
        proxy_pass_request_body off;
        proxy_set_header Content-Length \"\";
        proxy_set_header X-Original-URI $request_uri;
        proxy_set_header X-Forwarded-Method $request_method;
        proxy_set_header X-Forwarded-Host $host;
        proxy_set_header X-Forwarded-For $remote_addr;
    }}
    # The challenge's own endpoints, answered by tollgate.
    location /.tollgate/ {{
        proxy_pass http://tollgate_auth;
        proxy_set_header X-Forwarded-For $remote_addr;
    }}
    location / {{
        auth_request /.tollgate/auth-request;
        auth_request_set $tollgate_reply $upstream_http_x_tollgate_reply;
        auth_request_set $tollgate_cookie $upstream_http_x_tollgate_cookie;
        error_page 401 = @tollgate;
        proxy_set_header Cookie $tollgate_cookie;
        proxy_pass http://app;
    }}
    location @tollgate {{
        rewrite ^ /.tollgate/reply/$tollgate_reply break;
        proxy_pass http://tollgate_auth;
    }}
}}
"
    )
}

/// Debian's nginx (`/usr/sbin/nginx`, which has `auth_request`) serving `http` (the contents
/// of its `http` block) on `listen`.
pub struct AuthNginx {
    pub proc: Guard,
    pub listen: SocketAddr,
}

impl AuthNginx {
    /// Like [`Caddy::start`], for nginx.
    pub fn start(dir: &Path, http: impl Fn(SocketAddr) -> String) -> Self {
        let d = dir.display();
        let mut said = String::new();
        for _ in 0..3 {
            let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let conf = format!(
                "daemon off;
worker_processes 1;
error_log {d}/nginx-error.log info;
pid {d}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
{}
}}
",
                http(listen)
            );
            let file = dir.join("nginx-front.conf");
            std::fs::write(&file, conf).unwrap_or_else(|e| panic!("writing nginx conf: {e}"));
            let mut cmd = Command::new("/usr/sbin/nginx");
            cmd.arg("-p").arg(dir).arg("-c").arg(&file);
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            let proc = Guard::spawn(&mut cmd).unwrap_or_else(|e| {
                panic!("spawning Debian's nginx: {e} (apt-get install -y nginx)")
            });
            if wait_listening(listen, Duration::from_secs(10)) {
                return Self { proc, listen };
            }
            said = std::fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default();
        }
        panic!("nginx did not start on fresh ports three times:\n{said}")
    }
}
