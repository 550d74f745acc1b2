//! The HMAC keys that sign challenges and clearance tokens.
//!
//! Tokens are stateless: whoever holds the key can check them, so the key is the one secret that
//! matters. The core never reads it from disk; a front end reads a key file or the environment and
//! hands the text here. A key file holds the current key and, during a rotation, the previous key
//! with the time until which it is still accepted, so clearances issued just before a rotation keep
//! working until they would have expired anyway:
//!
//! ```toml
//! current = "64 hex digits"
//! previous = "64 hex digits"   # optional
//! previous_until = 1700000000  # unix seconds; required with `previous`
//! ```
//!
//! Every token names its key by a 4-byte id (a hash of the key), so checking never tries keys in
//! turn, and comparison of MACs is constant-time.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::toll::wire::Sealed;
type HmacSha256 = Hmac<Sha256>;

/// Shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// Why a key file or key text was refused. Messages never include key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("key file is not valid TOML at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("`{field}` is not hexadecimal")]
    NotHex { field: &'static str },
    #[error("`{field}` is {bytes} bytes; at least {MIN_KEY_BYTES} are required")]
    TooShort { field: &'static str, bytes: usize },
    #[error("`previous` needs `previous_until` (unix seconds until which it is accepted)")]
    NoGraceEnd,
}

/// What a presented token turned out to be. Only a forgery is an offence: a token of ours for
/// another binding, or under a key rotated out, is honest staleness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authenticity {
    /// Ours, for this client.
    Genuine,
    /// Ours, for another client (address prefix or user agent changed, or copied).
    OtherClient,
    /// Names no key we hold now (rotated past its grace, or made up).
    UnknownKey,
    /// Names a key we hold, and neither its MAC nor its tag verifies.
    Forged,
}

impl Authenticity {
    /// `Ok` when genuine, else the finding (converted with `?` into a token's own error).
    pub fn genuine(self) -> Result<(), Authenticity> {
        match self {
            Authenticity::Genuine => Ok(()),
            other => Err(other),
        }
    }
}

/// Domain separation of tags from every other MAC of a key.
const TAG_DOMAIN: &[u8] = b"tollgate client-free tag\0";

/// One key: its id and an HMAC instance already keyed with it (cloning skips re-keying).
#[derive(Clone)]
struct Key {
    id: [u8; 4],
    mac: HmacSha256,
}

impl Key {
    fn new(material: &[u8]) -> Self {
        let mut id = [0u8; 4];
        let digest = Sha256::new()
            .chain_update(b"tollgate key id\0")
            .chain_update(material);
        id.copy_from_slice(&digest.finalize()[..4]);
        // HMAC accepts keys of any length, so this cannot fail.
        let mac = HmacSha256::new_from_slice(material)
            .unwrap_or_else(|_| HmacSha256::new(&Default::default()));
        Self { id, mac }
    }

    fn sign(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }
}

/// The current signing key, plus the previous one during a rotation's grace period.
#[derive(Clone)]
pub struct Keyring {
    current: Key,
    previous: Option<(Key, u64)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current_id", &hex::encode(self.current.id))
            .field("previous_until", &self.previous.as_ref().map(|p| p.1))
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    current: String,
    previous: Option<String>,
    previous_until: Option<u64>,
}

impl Keyring {
    /// A keyring with only `material` (raw bytes; at least [`MIN_KEY_BYTES`]).
    pub fn from_bytes(material: &[u8]) -> Result<Self, SecretError> {
        check_len("current", material)?;
        Ok(Self {
            current: Key::new(material),
            previous: None,
        })
    }

    /// A key given as hex, as in the `TOLLGATE_SECRET` environment variable.
    pub fn from_hex(text: &str) -> Result<Self, SecretError> {
        Self::from_bytes(&decode("current", text)?)
    }

    /// Parses a key file (format in the module docs).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let file: KeyFile = toml::from_str(text).map_err(|e| {
            let (line, column) = crate::text::line_col(text, e.span().map_or(0, |s| s.start));
            SecretError::Syntax {
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        let mut ring = Self::from_bytes(&decode("current", &file.current)?)?;
        if let Some(prev) = &file.previous {
            let bytes = decode("previous", prev)?;
            check_len("previous", &bytes)?;
            let until = file.previous_until.ok_or(SecretError::NoGraceEnd)?;
            ring.previous = Some((Key::new(&bytes), until));
        }
        Ok(ring)
    }

    /// Key-file text for a new key `material` (e.g. 32 bytes from the OS's random source).
    pub fn file_text(material: &[u8]) -> String {
        format!(
            "# tollgate signing key: keep private (mode 0600). Rotate with `tollgate rotate-secret`.\ncurrent = \"{}\"\n",
            hex::encode(material)
        )
    }

    /// Key-file text that makes `material` current and keeps the current key of `old_text`
    /// (a key file) valid until `grace_until` (unix seconds).
    pub fn rotated_file_text(
        old_text: &str,
        material: &[u8],
        grace_until: u64,
    ) -> Result<String, SecretError> {
        let old: KeyFile = toml::from_str(old_text).map_err(|e| SecretError::Syntax {
            line: 0,
            column: 0,
            message: e.message().trim().to_string(),
        })?;
        decode("current", &old.current)?;
        Ok(format!(
            "{}previous = \"{}\"\nprevious_until = {grace_until}\n",
            Self::file_text(material),
            old.current.trim()
        ))
    }

    /// Signs `parts` (concatenated) with the current key; returns the key id and the MAC.
    pub fn sign(&self, parts: &[&[u8]]) -> ([u8; 4], [u8; 32]) {
        (self.current.id, self.current.sign(parts))
    }

    /// Checks `mac` over `parts` with the key named `id`, in constant time. The previous key
    /// counts only until its grace period ends at `now_secs`.
    pub fn verify(&self, id: [u8; 4], parts: &[&[u8]], mac: &[u8], now_secs: u64) -> bool {
        let Some(key) = self.key(id, now_secs) else {
            return false;
        };
        let mut m = key.mac.clone();
        for p in parts {
            m.update(p);
        }
        m.verify_slice(mac).is_ok()
    }

    /// The client-free tag of `payload` under the current key: a token carries it beside its
    /// client-bound MAC, so a genuine token presented by the wrong client (a moved address,
    /// a changed user agent) is told apart from a forgery.
    pub fn tag(&self, payload: &[u8]) -> [u8; 16] {
        let full = self.current.sign(&[TAG_DOMAIN, payload]);
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&full[..16]);
        tag
    }

    /// What a sealed token with key id `id` is for the client `binding` (its encoding): its
    /// bound MAC over payload and binding, then its tag over the payload, all in constant time.
    pub fn authenticity(
        &self,
        id: [u8; 4],
        t: &Sealed,
        binding: &[u8],
        now_secs: u64,
    ) -> Authenticity {
        let Some(key) = self.key(id, now_secs) else {
            return Authenticity::UnknownKey;
        };
        let mut m = key.mac.clone();
        m.update(&t.payload);
        m.update(binding);
        if m.verify_slice(&t.mac).is_ok() {
            return Authenticity::Genuine;
        }
        let Some(tag) = &t.tag else {
            return Authenticity::Forged;
        };
        let mut m = key.mac.clone();
        m.update(TAG_DOMAIN);
        m.update(&t.payload);
        match m.verify_truncated_left(tag) {
            Ok(()) => Authenticity::OtherClient,
            Err(_) => Authenticity::Forged,
        }
    }

    /// A value derived from the key named `id` (e.g. a puzzle's hidden answer).
    pub fn derive(&self, id: [u8; 4], parts: &[&[u8]], now_secs: u64) -> Option<[u8; 32]> {
        self.key(id, now_secs).map(|k| k.sign(parts))
    }

    /// Id of the key new tokens are signed with.
    pub fn current_id(&self) -> [u8; 4] {
        self.current.id
    }

    fn key(&self, id: [u8; 4], now_secs: u64) -> Option<&Key> {
        if id == self.current.id {
            return Some(&self.current);
        }
        match &self.previous {
            Some((k, until)) if k.id == id && now_secs < *until => Some(k),
            _ => None,
        }
    }
}

fn decode(field: &'static str, text: &str) -> Result<Vec<u8>, SecretError> {
    hex::decode(text.trim()).map_err(|_| SecretError::NotHex { field })
}

fn check_len(field: &'static str, bytes: &[u8]) -> Result<(), SecretError> {
    if bytes.len() < MIN_KEY_BYTES {
        return Err(SecretError::TooShort {
            field,
            bytes: bytes.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 32] = [7; 32];
    const B: [u8; 32] = [9; 32];

    #[test]
    fn signatures_verify_only_with_the_same_key_and_parts() {
        let ring = Keyring::from_bytes(&A).unwrap();
        let (id, mac) = ring.sign(&[b"ab", b"c"]);
        assert!(ring.verify(id, &[b"abc"], &mac, 0));
        assert!(!ring.verify(id, &[b"abd"], &mac, 0));
        assert!(!ring.verify(id, &[b"abc"], &mac[..31], 0));
        let other = Keyring::from_bytes(&B).unwrap();
        assert!(!other.verify(id, &[b"abc"], &mac, 0));
    }

    #[test]
    fn previous_key_is_accepted_until_its_grace_ends() {
        let old = Keyring::parse(&Keyring::file_text(&A)).unwrap();
        let (id, mac) = old.sign(&[b"x"]);
        let text = Keyring::rotated_file_text(&Keyring::file_text(&A), &B, 100).unwrap();
        let new = Keyring::parse(&text).unwrap();
        assert_ne!(new.current_id(), id);
        assert!(new.verify(id, &[b"x"], &mac, 99));
        assert!(!new.verify(id, &[b"x"], &mac, 100));
    }

    #[test]
    fn bad_key_files_say_what_is_wrong_without_echoing_keys() {
        assert_eq!(
            Keyring::from_hex("abcd").unwrap_err(),
            SecretError::TooShort {
                field: "current",
                bytes: 2
            }
        );
        assert_eq!(
            Keyring::from_hex("zz").unwrap_err(),
            SecretError::NotHex { field: "current" }
        );
        let text = format!(
            "current = \"{}\"\nprevious = \"{}\"\n",
            "a".repeat(64),
            "b".repeat(64)
        );
        assert_eq!(Keyring::parse(&text).unwrap_err(), SecretError::NoGraceEnd);
        let err = Keyring::parse("current = \n").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
