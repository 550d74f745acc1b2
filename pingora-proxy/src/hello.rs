//! The ClientHello of each TLS connection, read off the socket just before the handshake.
//!
//! rustls hands applications only a digest of the hello, without its extension list, so the JA4
//! fingerprint and the GREASE check need the raw bytes. Pingora's pre-TLS hook lets us read the
//! first record and put it back for the handshake. The core parses it; requests on that
//! connection find it again by the socket's cookie (unique per socket), in a bounded table.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use pingora::listeners::PreTlsProcess;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::GetSocketDigest;
use tokio::io::AsyncReadExt;
use tollgate_core::{TlsHello, MAX_HELLO_RECORD};

/// Connections whose hello is remembered; the oldest is forgotten first. A parsed hello takes
/// 324-348 B (measured on the captured Chromium and curl ones), so the table stays near 6 MB.
const MAX_HELLOS: usize = 16_384;
/// How long a client may take to send its hello.
const HELLO_DEADLINE: Duration = Duration::from_secs(10);

/// Hellos by socket cookie, and the cookies oldest first.
type Table = (HashMap<u64, Arc<TlsHello>>, VecDeque<u64>);

/// Hellos by socket cookie, bounded.
#[derive(Default)]
pub struct Hellos {
    table: Mutex<Table>,
}

impl Hellos {
    fn put(&self, cookie: u64, hello: TlsHello) {
        let mut guard = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let (map, order) = &mut *guard;
        while map.len() >= MAX_HELLOS {
            match order.pop_front() {
                Some(old) => map.remove(&old),
                None => break,
            };
        }
        map.insert(cookie, Arc::new(hello));
        order.push_back(cookie);
    }

    /// The hello of the connection with socket cookie `cookie`.
    pub fn get(&self, cookie: u64) -> Option<Arc<TlsHello>> {
        let guard = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        guard.0.get(&cookie).cloned()
    }
}

/// The pre-TLS hook: reads the first record, remembers its hello, puts the bytes back.
pub struct Capture {
    pub hellos: Arc<Hellos>,
    /// Told of every parsed hello (the JA4 metric).
    pub seen: Box<dyn Fn(&TlsHello) + Send + Sync>,
}

#[async_trait]
impl PreTlsProcess for Capture {
    async fn process(&self, stream: &mut L4Stream) -> pingora::Result<()> {
        let record = match tokio::time::timeout(HELLO_DEADLINE, first_record(stream)).await {
            Ok(Ok(r)) => r,
            // A client that sends nothing in time, or hangs up: the handshake fails by itself.
            _ => return Ok(()),
        };
        stream.rewind(&record);
        let cookie = stream
            .get_socket_digest()
            .and_then(|d| d.socket_cookie().ok());
        if let (Some(cookie), Ok(hello)) = (cookie, TlsHello::parse(&record)) {
            (self.seen)(&hello);
            self.hellos.put(cookie, hello);
        }
        Ok(())
    }
}

/// The first TLS record (header and body), or as much as a non-TLS client sent in its first 5
/// bytes (handed back untouched for the handshake to refuse).
async fn first_record(stream: &mut L4Stream) -> std::io::Result<Vec<u8>> {
    let mut record = vec![0u8; 5];
    stream.read_exact(&mut record).await?;
    if record[0] != 0x16 {
        return Ok(record);
    }
    let len = usize::from(u16::from_be_bytes([record[3], record[4]]));
    record.resize(5 + len.min(MAX_HELLO_RECORD - 5), 0);
    stream.read_exact(&mut record[5..]).await?;
    Ok(record)
}
