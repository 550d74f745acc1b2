//! The admin listener: `/healthz`, `/metrics`, `GET /bans`, `DELETE /bans/<ip>`, `POST /reload`.
//! Bind it to loopback (the default). Every request passes [`Access`] first: a known Host, and
//! a bearer token on the routes that change something.

mod access;

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use http::{Method, Response};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde::Serialize;

use crate::proxy::Shared;
use crate::reload::Reloader;
pub use access::Access;

pub struct Admin {
    pub shared: Arc<Shared>,
    pub reloader: Arc<Reloader>,
    pub access: Access,
}

#[derive(Serialize)]
struct BanView {
    network: String,
    until_unix_secs: u64,
    offences: u32,
    reason: &'static str,
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        if let Some(refusal) = self.access.refusal(req) {
            return refusal;
        }
        let path = req.uri.path().to_string();
        let method = req.method.clone();
        match (method, path.as_str()) {
            (Method::GET, "/healthz") => text(200, "ok\n"),
            (Method::GET, "/metrics") => reply(
                200,
                "text/plain; version=0.0.4",
                self.shared.metrics.render(&self.shared.engine),
            ),
            (Method::GET, "/bans") => self.bans(),
            (Method::DELETE, p) if p.starts_with("/bans/") => self.unban(&p["/bans/".len()..]),
            (Method::POST, "/reload") => match self.reloader.reload("admin") {
                Ok(changes) => json(
                    200,
                    &serde_json::json!({ "reloaded": true, "changes": changes }),
                ),
                Err(errors) => json(
                    422,
                    &serde_json::json!({ "reloaded": false, "errors": errors }),
                ),
            },
            _ => text(
                404,
                "not found: try /healthz, /metrics, /bans, DELETE /bans/<ip>, POST /reload\n",
            ),
        }
    }
}

impl Admin {
    fn bans(&self) -> Response<Vec<u8>> {
        let engine = &self.shared.engine;
        let list: Vec<BanView> = engine
            .active_bans()
            .into_iter()
            .map(|b| BanView {
                network: engine.network(&b.key),
                until_unix_secs: b.until_unix_secs(),
                offences: b.offences,
                reason: b.reason.as_str(),
            })
            .collect();
        json(200, &list)
    }

    fn unban(&self, ip: &str) -> Response<Vec<u8>> {
        match ip.parse::<IpAddr>() {
            Err(_) => text(400, "expected DELETE /bans/<ip address>\n"),
            Ok(ip) if self.shared.engine.unban(ip) => {
                tracing::info!(client = %ip, "unbanned by operator");
                if let Some(fleet) = self.shared.fleet.get() {
                    fleet.unban(self.shared.engine.ban_keys(ip));
                }
                json(200, &serde_json::json!({ "unbanned": ip.to_string() }))
            }
            Ok(_) => json(
                404,
                &serde_json::json!({ "error": "no active ban", "ip": ip.to_string() }),
            ),
        }
    }
}

fn json<T: Serialize>(status: u16, value: &T) -> Response<Vec<u8>> {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    reply(status, "application/json", body)
}

fn text(status: u16, body: &str) -> Response<Vec<u8>> {
    reply(
        status,
        "text/plain; charset=utf-8",
        body.as_bytes().to_vec(),
    )
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("content-length", body.len())
        .body(body)
        .unwrap_or_default()
}
