//! Canonical byte encodings for signed tokens.
//!
//! Every signed field is written with a length prefix, so no two different field lists encode to
//! the same bytes: a route named "a" with salt "bc" can never be spliced into route "ab" with salt
//! "c". Tokens travel as base64url (no padding), safe in cookies, query strings and HTML.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Appends length-prefixed fields to a buffer.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new(tag: &[u8]) -> Self {
        let mut w = Self {
            buf: Vec::with_capacity(96),
        };
        w.bytes(tag);
        w
    }

    /// One field. Fields longer than 65 535 bytes are cut: nothing signed here is that long.
    pub fn bytes(&mut self, field: &[u8]) -> &mut Self {
        let field = &field[..field.len().min(usize::from(u16::MAX))];
        self.buf
            .extend_from_slice(&(field.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(field);
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads the fields a [`Writer`] wrote; every read is checked, nothing panics on bad input.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `buf`, which must begin with the field `tag`.
    pub fn new(buf: &'a [u8], tag: &[u8]) -> Option<Self> {
        let mut r = Self { rest: buf };
        (r.bytes()? == tag).then_some(r)
    }

    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        if rest.len() < len {
            return None;
        }
        let (field, rest) = rest.split_at(len);
        self.rest = rest;
        Some(field)
    }

    pub fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes()?.try_into().ok()
    }

    pub fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    /// True when every byte was read: trailing bytes make a token invalid.
    pub fn done(&self) -> bool {
        self.rest.is_empty()
    }
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url, refusing anything longer than `max` decoded bytes before decoding it.
pub fn unb64(text: &str, max: usize) -> Option<Vec<u8>> {
    if text.len() > max.div_ceil(3) * 4 {
        return None;
    }
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// The parts of a signed token: what it says, its MAC bound to one client, and a shorter MAC
/// of the payload alone (the client-free tag: see [`crate::toll::secret::Authenticity`]).
pub struct Sealed {
    pub payload: Vec<u8>,
    pub mac: [u8; 32],
    /// Absent in tokens minted before tags existed.
    pub tag: Option<[u8; 16]>,
}

/// A signed token's text: payload, MAC and tag, each base64url, joined by dots.
pub fn seal(payload: &[u8], mac: &[u8; 32], tag: &[u8; 16]) -> String {
    format!("{}.{}.{}", b64(payload), b64(mac), b64(tag))
}

/// Splits and decodes a [`seal`]ed token of at most `max` characters (an untagged
/// `payload.mac` too); `None` if malformed.
pub fn open(text: &str, max: usize) -> Option<Sealed> {
    if text.len() > max {
        return None;
    }
    let mut parts = text.split('.');
    let payload = unb64(parts.next()?, max)?;
    let mac = unb64(parts.next()?, 32)?.try_into().ok()?;
    let tag = match parts.next() {
        Some(t) => Some(unb64(t, 16)?.try_into().ok()?),
        None => None,
    };
    parts
        .next()
        .is_none()
        .then_some(Sealed { payload, mac, tag })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_cannot_be_spliced() {
        let mut a = Writer::new(b"t");
        a.bytes(b"a").bytes(b"bc");
        let mut b = Writer::new(b"t");
        b.bytes(b"ab").bytes(b"c");
        let (a, b) = (a.finish(), b.finish());
        assert_ne!(a, b);
        let mut r = Reader::new(&a, b"t").unwrap();
        assert_eq!(r.bytes(), Some(&b"a"[..]));
        assert_eq!(r.bytes(), Some(&b"bc"[..]));
        assert!(r.done());
    }

    #[test]
    fn truncated_and_wrong_tag_input_is_refused() {
        let mut w = Writer::new(b"t");
        w.u64(7);
        let buf = w.finish();
        for cut in 0..buf.len() {
            let ok = Reader::new(&buf[..cut], b"t").and_then(|mut r| r.u64());
            assert!(ok.is_none(), "cut at {cut}");
        }
        assert!(Reader::new(&buf, b"x").is_none());
        assert!(unb64("!!", 10).is_none());
        assert!(unb64(&"A".repeat(100), 10).is_none());
    }
}
