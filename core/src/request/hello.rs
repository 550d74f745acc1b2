//! The TLS ClientHello a client opened its connection with, and its JA4 fingerprint.
//!
//! Headers are easy to copy; a TLS stack is not. Chromium and Safari put GREASE values (RFC 8701)
//! in their cipher and extension lists, Firefox's NSS sends `record_size_limit`, and a script's
//! OpenSSL or Go stack does neither. So a "Chrome" whose hello has no GREASE is a script with a
//! borrowed user agent. A front end hands the raw first TLS record to [`TlsHello::parse`] once
//! per connection; the core scores it, logs its JA4 (FoxIO's format: `t13d1516h2_…_…`) and
//! matches it in route conditions.

use sha2::{Digest, Sha256};

/// Extension numbers the fingerprint and the checks read.
const EXT_SNI: u16 = 0x0000;
const EXT_GROUPS: u16 = 0x000a;
const EXT_SIGALGS: u16 = 0x000d;
const EXT_ALPN: u16 = 0x0010;
const EXT_RECORD_SIZE_LIMIT: u16 = 0x001c;
const EXT_VERSIONS: u16 = 0x002b;

/// Longest first record read: a TLS record holds at most 16 KiB.
pub const MAX_HELLO_RECORD: usize = 5 + (1 << 14);

/// What a ClientHello says, as parsed from its first record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsHello {
    /// Highest version offered (supported_versions, else the legacy field).
    pub version: u16,
    pub sni: bool,
    /// In the order sent, GREASE included.
    pub ciphers: Vec<u16>,
    pub extensions: Vec<u16>,
    pub sigalgs: Vec<u16>,
    pub groups: Vec<u16>,
    /// The first ALPN protocol offered.
    pub alpn: Option<String>,
    /// FoxIO's JA4, computed once at parse.
    pub ja4: String,
}

/// Why bytes are not a ClientHello.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    #[error("not a TLS handshake record")]
    NotHandshake,
    #[error("not a ClientHello")]
    NotClientHello,
    #[error("ClientHello is truncated or malformed")]
    Malformed,
}

impl TlsHello {
    /// Parses the first TLS record of a connection (header included).
    pub fn parse(record: &[u8]) -> Result<Self, HelloError> {
        let mut r = Bytes(record);
        if r.u8()? != 0x16 {
            return Err(HelloError::NotHandshake);
        }
        let _record_version = r.u16()?;
        let body = r.vec16()?;
        let mut h = Bytes(body);
        if h.u8()? != 0x01 {
            return Err(HelloError::NotClientHello);
        }
        // A hello longer than its record continues in the next one: read what is here.
        let len = h.u24()?;
        let mut h = Bytes(h.0.get(..len.min(h.0.len())).ok_or(HelloError::Malformed)?);
        let legacy = h.u16()?;
        h.take(32)?; // random
        h.vec8()?; // session id
        let ciphers = u16s(h.vec16()?)?;
        h.vec8()?; // compression methods
        let mut hello = Self {
            version: legacy,
            sni: false,
            ciphers,
            extensions: Vec::new(),
            sigalgs: Vec::new(),
            groups: Vec::new(),
            alpn: None,
            ja4: String::new(),
        };
        if !h.0.is_empty() {
            let mut exts = Bytes(h.vec16()?);
            while !exts.0.is_empty() {
                let ty = exts.u16()?;
                let data = exts.vec16()?;
                hello.extension(ty, data)?;
            }
        }
        hello.ja4 = hello.fingerprint();
        Ok(hello)
    }

    fn extension(&mut self, ty: u16, data: &[u8]) -> Result<(), HelloError> {
        self.extensions.push(ty);
        let mut d = Bytes(data);
        match ty {
            EXT_SNI => self.sni = true,
            EXT_SIGALGS => self.sigalgs = u16s(d.vec16()?)?,
            EXT_GROUPS => self.groups = u16s(d.vec16()?)?,
            EXT_VERSIONS => {
                let list = u16s(d.vec8()?)?;
                if let Some(v) = list.into_iter().filter(|v| !is_grease(*v)).max() {
                    self.version = v;
                }
            }
            EXT_ALPN => {
                let mut list = Bytes(d.vec16()?);
                if !list.0.is_empty() {
                    let first = list.vec8()?;
                    self.alpn = Some(String::from_utf8_lossy(first).into_owned());
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// GREASE values in the cipher or extension list: Chromium's and Safari's stacks add them.
    pub fn has_grease(&self) -> bool {
        self.ciphers
            .iter()
            .chain(&self.extensions)
            .any(|v| is_grease(*v))
    }

    /// The `record_size_limit` extension: Firefox's NSS sends it.
    pub fn has_record_size_limit(&self) -> bool {
        self.extensions.contains(&EXT_RECORD_SIZE_LIMIT)
    }

    /// FoxIO's JA4: `{a}_{b}_{c}` (protocol, version, SNI, counts, ALPN; hashed sorted ciphers;
    /// hashed sorted extensions and the signature algorithms in order), GREASE left out.
    fn fingerprint(&self) -> String {
        let ciphers: Vec<u16> = self
            .ciphers
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .collect();
        let exts: Vec<u16> = self
            .extensions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .collect();
        let version = match self.version {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            _ => "00",
        };
        let a = format!(
            "t{version}{}{:02}{:02}{}",
            if self.sni { 'd' } else { 'i' },
            ciphers.len().min(99),
            exts.len().min(99),
            alpn_chars(self.alpn.as_deref()),
        );
        let mut sorted = ciphers;
        sorted.sort_unstable();
        let b = hash12(&hex_list(&sorted));
        let mut rest: Vec<u16> = exts
            .into_iter()
            .filter(|e| *e != EXT_SNI && *e != EXT_ALPN)
            .collect();
        rest.sort_unstable();
        let mut c_in = hex_list(&rest);
        if !self.sigalgs.is_empty() {
            c_in.push('_');
            c_in.push_str(&hex_list(&self.sigalgs));
        }
        format!("{a}_{b}_{}", hash12(&c_in))
    }
}

/// RFC 8701: 0x0a0a, 0x1a1a, … 0xfafa.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// The first and last character of the first ALPN value (`h2`, `http/1.1` → `h1`), or `00`;
/// non-alphanumeric ones are replaced by the first and last hex digit of the value.
fn alpn_chars(alpn: Option<&str>) -> String {
    let Some(a) = alpn.filter(|a| !a.is_empty()) else {
        return "00".into();
    };
    let (first, last) = (a.chars().next(), a.chars().last());
    match (first, last) {
        (Some(f), Some(l)) if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() => {
            format!("{f}{l}")
        }
        _ => {
            let hex = hex::encode(a.as_bytes());
            let (f, l) = (&hex[..1], &hex[hex.len() - 1..]);
            format!("{f}{l}")
        }
    }
}

fn hex_list(values: &[u16]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:04x}")).collect();
    items.join(",")
}

/// The first 12 hex digits of SHA-256 (`000000000000` for nothing).
pub(crate) fn hash12(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".into();
    }
    hex::encode(Sha256::digest(s.as_bytes()))[..12].to_string()
}

fn u16s(b: &[u8]) -> Result<Vec<u16>, HelloError> {
    if b.len() % 2 != 0 {
        return Err(HelloError::Malformed);
    }
    Ok(b.chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect())
}

/// A cursor whose every read is checked.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HelloError> {
        if self.0.len() < n {
            return Err(HelloError::Malformed);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, HelloError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, HelloError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A field with a one-byte length.
    fn vec8(&mut self) -> Result<&'a [u8], HelloError> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    /// A field with a two-byte length.
    fn vec16(&mut self) -> Result<&'a [u8], HelloError> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    fn u24(&mut self) -> Result<usize, HelloError> {
        let b = self.take(3)?;
        Ok(usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }
}

#[cfg(test)]
mod tests;
