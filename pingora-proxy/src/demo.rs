//! The built-in demo backend, served when no upstream is configured, so a fresh checkout shows
//! the whole flow (client → tollgate → upstream) in a browser.

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

pub struct Demo;

#[async_trait]
impl ServeHttp for Demo {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let header = |name: &str| {
            req.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string()
        };
        let body = format!(
            "<!doctype html><meta charset=utf-8><title>tollgate demo backend</title>\
             <h1>You passed tollgate</h1>\
             <p>This page comes from the demo backend behind the proxy.</p>\
             <ul><li>path: {}</li><li>X-Forwarded-For: {}</li><li>X-Real-IP: {}</li></ul>\
             <p>Reload quickly to meet the rate limit (HTTP 429), keep going to get banned.</p>\n",
            escape(req.uri.path()),
            escape(&header("x-forwarded-for")),
            escape(&header("x-real-ip")),
        );
        Response::builder()
            .status(200)
            .header("content-type", "text/html; charset=utf-8")
            .header("content-length", body.len())
            .body(body.into_bytes())
            .unwrap_or_default()
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
