//! A transport wrapper that cuts off HTTP/1.x request headers that arrive too slowly or grow
//! too large.
//!
//! Pingora times each read (60 s) and caps a header at 1 MiB, so a client trickling one byte
//! every 59 s, or sending 1 MiB it never finishes, holds a connection and its buffer
//! indefinitely. This wrapper sits under Pingora's parser and watches the bytes go by: from the
//! first byte of a request until the blank line that ends its header, at most
//! `max_header_bytes` may arrive, within `header_timeout`. Past either, the read fails and
//! Pingora closes the connection.
//!
//! Request boundaries are seen from both directions: a header ends at its blank line; the next
//! one starts with the first read after a final (non-1xx) response begins. HTTP/2 connections
//! (ALPN h2) are left alone: their header list is capped by the HTTP/2 settings instead.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::{SslDigest, TlsRef};
use pingora::protocols::{GetProxyDigest, GetSocketDigest, GetTimingDigest};
use pingora::protocols::{Peek, Shutdown, Ssl, Stream, UniqueID, UniqueIDType, ALPN};
use pingora::protocols::{SocketDigest, TimingDigest};
use std::future::Future;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use tokio::time::{sleep, Sleep};

/// The limits, and who hears about a cut.
#[derive(Clone)]
pub struct HeaderLimits {
    pub timeout: Duration,
    pub max_bytes: usize,
    pub on_cut: Arc<dyn Fn(&'static str) + Send + Sync>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reading a request header: `bytes` so far; `line` is the current line's length without
    /// CR; `lines` says a non-empty line was seen (leading blank lines are tolerated).
    Header {
        bytes: usize,
        line: usize,
        lines: bool,
    },
    /// Past the header: body bytes, or waiting for the response.
    Body,
    /// Not HTTP/1.x (ALPN h2): never inspected.
    Off,
}

pub struct HeaderGuard {
    inner: Stream,
    limits: HeaderLimits,
    phase: Phase,
    /// Set at a header's first byte, cleared at its end.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl HeaderGuard {
    pub fn new(inner: Stream, limits: HeaderLimits) -> Self {
        let h2 = matches!(inner.selected_alpn_proto(), Some(ALPN::H2));
        Self {
            inner,
            limits,
            phase: if h2 { Phase::Off } else { header() },
            deadline: None,
        }
    }

    /// Feeds freshly read bytes through the header scanner; `Err` names the cut.
    fn scan(&mut self, fresh: &[u8]) -> Result<(), &'static str> {
        let Phase::Header {
            mut bytes,
            mut line,
            mut lines,
        } = self.phase
        else {
            return Ok(());
        };
        if self.deadline.is_none() && !fresh.is_empty() {
            self.deadline = Some(Box::pin(sleep(self.limits.timeout)));
        }
        for (i, &b) in fresh.iter().enumerate() {
            match b {
                b'\n' if line == 0 && lines => {
                    self.phase = Phase::Body;
                    self.deadline = None;
                    return within(bytes + i + 1, self.limits.max_bytes);
                }
                b'\n' => {
                    lines |= line > 0;
                    line = 0;
                }
                b'\r' => {}
                _ => line += 1,
            }
        }
        bytes += fresh.len();
        self.phase = Phase::Header { bytes, line, lines };
        within(bytes, self.limits.max_bytes)
    }

    /// A response starting on the way out ends the request: the next read is a new header.
    fn wrote(&mut self, out: &[u8]) {
        let final_response = out.starts_with(b"HTTP/1.") && out.get(9) != Some(&b'1');
        if self.phase == Phase::Body && final_response {
            self.phase = header();
        }
    }

    fn cut(&self, why: &'static str) -> io::Error {
        (self.limits.on_cut)(why);
        let kind = match why {
            "header_timeout" => io::ErrorKind::TimedOut,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, why)
    }
}

fn header() -> Phase {
    Phase::Header {
        bytes: 0,
        line: 0,
        lines: false,
    }
}

fn within(bytes: usize, max: usize) -> Result<(), &'static str> {
    if bytes > max {
        Err("header_too_large")
    } else {
        Ok(())
    }
}

impl AsyncRead for HeaderGuard {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(deadline) = self.deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(self.cut("header_timeout")));
            }
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        if let Err(why) = self.scan(&buf.filled()[before..]) {
            return Poll::Ready(Err(self.cut(why)));
        }
        if let Some(deadline) = self.deadline.as_mut() {
            // Registers the waker, so a client that then goes silent is woken at the deadline.
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(self.cut("header_timeout")));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for HeaderGuard {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.inner).poll_write(cx, data))?;
        self.wrote(&data[..n.min(data.len())]);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.inner).poll_write_vectored(cx, bufs))?;
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            let first: &[u8] = first;
            self.wrote(&first[..n.min(first.len())]);
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

// What Pingora asks of a transport, passed through.

#[async_trait]
impl Shutdown for HeaderGuard {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }
}

impl UniqueID for HeaderGuard {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for HeaderGuard {
    fn get_ssl(&self) -> Option<&TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for HeaderGuard {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for HeaderGuard {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl GetSocketDigest for HeaderGuard {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest);
    }
}

#[async_trait]
impl Peek for HeaderGuard {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

impl fmt::Debug for HeaderGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaderGuard")
            .field("inner", &self.inner)
            .field("phase", &self.phase)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(max: usize) -> HeaderGuard {
        let (a, _b) = tokio::io::duplex(64);
        let stream: Stream = Box::new(a);
        HeaderGuard::new(
            stream,
            HeaderLimits {
                timeout: Duration::from_secs(10),
                max_bytes: max,
                on_cut: Arc::new(|_| {}),
            },
        )
    }

    #[tokio::test]
    async fn a_header_ends_at_its_blank_line_however_it_is_split() {
        let mut g = guard(64);
        for part in [
            "\r\nGET / HTTP/1.1\r",
            "\nHost: a\r\n",
            "\r",
            "\nbody bytes past the cap .......................................................",
        ] {
            assert_eq!(g.scan(part.as_bytes()), Ok(()), "{part:?}");
        }
        assert_eq!(g.phase, Phase::Body);
        assert!(g.deadline.is_none());
        g.wrote(b"HTTP/1.1 100 Continue\r\n\r\n");
        assert_eq!(g.phase, Phase::Body, "a 1xx is not the end of the request");
        g.wrote(b"HTTP/1.1 200 OK\r\n");
        assert_eq!(g.phase, header());
    }

    #[tokio::test]
    async fn bare_lf_headers_end_too_and_oversized_ones_are_cut() {
        let mut g = guard(64);
        assert_eq!(g.scan(b"GET / HTTP/1.0\nA: b\n\n"), Ok(()));
        assert_eq!(g.phase, Phase::Body);
        let mut g = guard(64);
        assert_eq!(g.scan(&[b'x'; 64]), Ok(()));
        assert_eq!(g.scan(b"y"), Err("header_too_large"));
    }
}
