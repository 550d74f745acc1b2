//! Proof-of-work challenges: issued signed, checked without any stored state until solved.
//!
//! A challenge is a token the client carries back: its fields (puzzle, issue and expiry time, a
//! unique salt, the route, the key id) in the clear, and an HMAC over those fields *plus* the
//! client's address prefix and user-agent hash. The binding is not in the token, so a token
//! harvested by one machine fails everywhere else, and nothing is stored when a challenge is
//! issued: a flood of page loads costs no memory.
//!
//! The work: SHA-256 over a 64-byte prefix (the hex of the token's MAC, unknown before issue, so
//! nothing can be precomputed) followed by an 8-byte big-endian nonce. The prefix fills one
//! SHA-256 block, so a solver hashes it once and pays one compression per try. Two puzzles use
//! that hash (see [`Puzzle`]).

use sha2::{Digest, Sha256};

use crate::request::key::ClientKey;
use crate::toll::secret::{Authenticity, Keyring};
use crate::toll::wire::{open, seal, Reader, Sealed, Writer};

const TAG: &[u8] = b"tollgate challenge v1";
/// Longest token text accepted for parsing.
pub const MAX_TOKEN_LEN: usize = 1024;
/// Hashcash difficulty bounds, in leading zero bits.
pub const HASHCASH_BITS: std::ops::RangeInclusive<u32> = 1..=32;
/// Range puzzle size bounds. The answer always fits in 32 bits.
pub const RANGE_SIZE: std::ops::RangeInclusive<u64> = 2..=(1 << 32);

/// What the client must find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Puzzle {
    /// A nonce whose hash has at least `bits` leading zero bits. Expected work 2^bits hashes,
    /// but the tail is long: one client in twenty needs three times the mean.
    Hashcash { bits: u32 },
    /// The white paper's bounded search: the server hides an integer in `0..size` and publishes
    /// its hash; the client tries them in turn. Never more than `size` hashes, mean `size / 2`,
    /// so a real user's worst case is known in advance.
    Range { size: u64 },
}

impl Puzzle {
    pub fn kind(&self) -> &'static str {
        match self {
            Puzzle::Hashcash { .. } => "hashcash",
            Puzzle::Range { .. } => "range",
        }
    }

    /// The difficulty parameter: bits for hashcash, size for range.
    pub fn param(&self) -> u64 {
        match *self {
            Puzzle::Hashcash { bits } => u64::from(bits),
            Puzzle::Range { size } => size,
        }
    }

    /// Mean hashes to solve.
    pub fn expected_hashes(&self) -> f64 {
        match *self {
            Puzzle::Hashcash { bits } => 2f64.powi(bits as i32),
            Puzzle::Range { size } => size as f64 / 2.0,
        }
    }

    /// This puzzle made `steps` times harder (each step doubles the expected work), within bounds.
    pub fn harder(self, steps: u32) -> Self {
        match self {
            Puzzle::Hashcash { bits } => Puzzle::Hashcash {
                bits: bits.saturating_add(steps).min(*HASHCASH_BITS.end()),
            },
            Puzzle::Range { size } => {
                let max = *RANGE_SIZE.end();
                // Doubling `steps` times, stopping at the bound (no bits shifted out).
                let size = if steps >= max.leading_zeros() || size << steps > max {
                    max
                } else {
                    size << steps
                };
                Puzzle::Range { size }
            }
        }
    }

    /// This puzzle `steps` doublings harder, or halvings easier when negative, within bounds.
    pub fn adjust(self, steps: i32) -> Self {
        if steps >= 0 {
            return self.harder(steps.unsigned_abs());
        }
        let down = steps.unsigned_abs();
        match self {
            Puzzle::Hashcash { bits } => Puzzle::Hashcash {
                bits: bits.saturating_sub(down).max(*HASHCASH_BITS.start()),
            },
            Puzzle::Range { size } => Puzzle::Range {
                size: size.checked_shr(down).unwrap_or(0).max(*RANGE_SIZE.start()),
            },
        }
    }

    /// The expected work, as whole bits: log2 of the mean number of hashes. Comparable across
    /// kinds, so a clearance records what it cost whatever the puzzle.
    pub fn work_bits(&self) -> u32 {
        match *self {
            Puzzle::Hashcash { bits } => bits,
            // Mean size / 2 hashes.
            Puzzle::Range { size } => (63 - size.leading_zeros()).saturating_sub(1),
        }
    }

    /// From a kind name ([`Puzzle::kind`]) and parameter, as a JSON offer carries them.
    pub fn from_kind(kind: &str, param: u64) -> Option<Self> {
        match kind {
            "hashcash" => Self::from_parts(1, param),
            "range" => Self::from_parts(2, param),
            _ => None,
        }
    }

    fn from_parts(kind: u32, param: u64) -> Option<Self> {
        match kind {
            1 => u32::try_from(param)
                .ok()
                .filter(|b| HASHCASH_BITS.contains(b))
                .map(|bits| Puzzle::Hashcash { bits }),
            2 => RANGE_SIZE
                .contains(&param)
                .then_some(Puzzle::Range { size: param }),
            _ => None,
        }
    }

    fn kind_code(&self) -> u32 {
        match self {
            Puzzle::Hashcash { .. } => 1,
            Puzzle::Range { .. } => 2,
        }
    }
}

/// Who a token belongs to: the client's address prefix and a hash of its user agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    prefix: [u8; 16],
    ua_hash: [u8; 16],
}

impl Binding {
    pub fn new(key: &ClientKey, user_agent: Option<&str>) -> Self {
        let digest = Sha256::digest(user_agent.unwrap_or("").as_bytes());
        let mut ua_hash = [0u8; 16];
        ua_hash.copy_from_slice(&digest[..16]);
        Self {
            prefix: key.to_bytes(),
            ua_hash,
        }
    }

    pub(crate) fn encode(&self) -> [u8; 36] {
        let mut out = [0u8; 36];
        out[0..2].copy_from_slice(&16u16.to_be_bytes());
        out[2..18].copy_from_slice(&self.prefix);
        out[18..20].copy_from_slice(&16u16.to_be_bytes());
        out[20..36].copy_from_slice(&self.ua_hash);
        out
    }
}

/// A challenge as sent to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The token the client returns with its answer.
    pub token: String,
    pub puzzle: Puzzle,
    /// The 64 ASCII characters every hashed message starts with.
    pub prefix: String,
    /// For range puzzles, the hex hash of the hidden answer.
    pub target: Option<String>,
    pub expires_unix_secs: u64,
    /// The value of the cookie sent with the challenge, to come back with the answer.
    pub probe: String,
}

/// A correctly solved challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Solved {
    /// Unique per challenge: the replay cache key.
    pub id: [u8; 16],
    /// When it was issued, in nanoseconds: the first half of its serial.
    pub issued_ns: u64,
    pub expires_unix_secs: u64,
    pub puzzle: Puzzle,
    pub route: String,
    /// The environment signals (a [`crate::score::signal::Signals`] bit set) seen when it was issued.
    pub signals: u32,
    /// The probe cookie value that was sent with it.
    pub probe: String,
}

/// A genuine, unexpired challenge of this client, answered or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    pub id: [u8; 16],
    pub issued_unix_secs: u64,
    pub expires_unix_secs: u64,
    /// The route it was issued for.
    pub route: String,
}

/// Why an answer was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PowError {
    #[error("challenge token or nonce is malformed")]
    Malformed,
    #[error("challenge signature does not match: forged")]
    BadSignature,
    #[error("challenge was issued to another client (e.g. its address family changed)")]
    OtherClient,
    #[error("challenge was signed with a key no longer accepted")]
    UnknownKey,
    #[error("challenge expired")]
    Expired,
    #[error("answer is wrong")]
    WrongAnswer,
}

impl From<Authenticity> for PowError {
    fn from(a: Authenticity) -> Self {
        match a {
            Authenticity::OtherClient => Self::OtherClient,
            Authenticity::UnknownKey => Self::UnknownKey,
            Authenticity::Genuine | Authenticity::Forged => Self::BadSignature,
        }
    }
}

/// What [`issue`] needs besides the keys.
pub struct IssueParams<'a> {
    pub puzzle: Puzzle,
    pub route: &'a str,
    pub binding: Binding,
    pub now_secs: u64,
    pub ttl_secs: u64,
    /// Makes every challenge unique, e.g. a counter mixed with the clock.
    pub serial: [u8; 16],
    /// The environment signals seen at issue, carried (signed) to the answer.
    pub signals: u32,
}

/// Issues a signed challenge.
pub fn issue(keys: &Keyring, p: &IssueParams<'_>) -> Offer {
    let expires = p.now_secs.saturating_add(p.ttl_secs);
    let mut w = Writer::new(TAG);
    w.u32(p.puzzle.kind_code())
        .u64(p.puzzle.param())
        .u64(p.now_secs)
        .u64(expires)
        .bytes(&p.serial)
        .bytes(p.route.as_bytes())
        .u32(p.signals)
        .bytes(&keys.current_id());
    let payload = w.finish();
    let (id, mac) = keys.sign(&[&payload, &p.binding.encode()]);
    let prefix = prefix_of(&mac);
    let target = match p.puzzle {
        Puzzle::Hashcash { .. } => None,
        Puzzle::Range { size } => {
            let answer = range_answer(keys, id, &mac, size, p.now_secs).unwrap_or(0);
            Some(hex::encode(hash(&prefix, answer)))
        }
    };
    Offer {
        token: seal(&payload, &mac, &keys.tag(&payload)),
        puzzle: p.puzzle,
        prefix: String::from_utf8_lossy(&prefix).into_owned(),
        target,
        expires_unix_secs: expires,
        probe: probe_of(keys, id, &mac, p.now_secs),
    }
}

/// Checks that `token` is a genuine, unexpired challenge issued to `binding`, without an answer
/// (a CSP report names its challenge this way).
pub fn open_token(
    keys: &Keyring,
    token: &str,
    binding: &Binding,
    now_secs: u64,
) -> Result<Opened, PowError> {
    let t = authentic(keys, token, binding, now_secs)?;
    Ok(Opened {
        id: t.id(),
        issued_unix_secs: t.issued,
        expires_unix_secs: t.expires,
        route: t.route,
    })
}

fn authentic(
    keys: &Keyring,
    token: &str,
    binding: &Binding,
    now_secs: u64,
) -> Result<Parsed, PowError> {
    let t = Parsed::new(token).ok_or(PowError::Malformed)?;
    keys.authenticity(t.key_id, &t.sealed, &binding.encode(), now_secs)
        .genuine()?;
    if now_secs >= t.expires {
        return Err(PowError::Expired);
    }
    Ok(t)
}

/// The probe cookie's value: derived from the challenge's MAC with the key, so only the
/// `Set-Cookie` that came with the challenge carries it.
fn probe_of(keys: &Keyring, id: [u8; 4], mac: &[u8; 32], now: u64) -> String {
    keys.derive(id, &[b"probe cookie\0", mac], now)
        .map(|d| hex::encode(&d[..12]))
        .unwrap_or_default()
}

/// Checks `nonce` against `token` for the client `binding` at `now_secs`.
pub fn check(
    keys: &Keyring,
    token: &str,
    nonce: u64,
    binding: &Binding,
    now_secs: u64,
) -> Result<Solved, PowError> {
    let t = authentic(keys, token, binding, now_secs)?;
    let prefix = prefix_of(&t.sealed.mac);
    let ok = match t.puzzle {
        Puzzle::Hashcash { bits } => leading_zero_bits(&hash(&prefix, nonce)) >= bits,
        Puzzle::Range { size } => {
            range_answer(keys, t.key_id, &t.sealed.mac, size, now_secs) == Some(nonce)
        }
    };
    if !ok {
        return Err(PowError::WrongAnswer);
    }
    Ok(Solved {
        id: t.id(),
        issued_ns: u64::from_be_bytes(t.serial[..8].try_into().unwrap_or([0; 8])),
        expires_unix_secs: t.expires,
        puzzle: t.puzzle,
        probe: probe_of(keys, t.key_id, &t.sealed.mac, now_secs),
        route: t.route,
        signals: t.signals,
    })
}

/// A token split into its fields; only its shape is checked here.
struct Parsed {
    sealed: Sealed,
    puzzle: Puzzle,
    serial: [u8; 16],
    issued: u64,
    expires: u64,
    route: String,
    signals: u32,
    key_id: [u8; 4],
}

impl Parsed {
    fn new(token: &str) -> Option<Self> {
        let sealed = open(token, MAX_TOKEN_LEN)?;
        let mut r = Reader::new(&sealed.payload, TAG)?;
        let kind = r.u32()?;
        let puzzle = Puzzle::from_parts(kind, r.u64()?)?;
        let issued = r.u64()?;
        let expires = r.u64()?;
        let serial: [u8; 16] = r.array()?;
        let route = String::from_utf8(r.bytes()?.to_vec()).ok()?;
        let signals = r.u32()?;
        let key_id = r.array()?;
        if !r.done() {
            return None;
        }
        Some(Self {
            sealed,
            puzzle,
            serial,
            issued,
            expires,
            route,
            signals,
            key_id,
        })
    }

    /// Unique per challenge: the replay cache key.
    fn id(&self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id.copy_from_slice(&self.sealed.mac[..16]);
        id
    }
}

/// The 64-byte message prefix: the MAC in lower-case hex.
fn prefix_of(mac: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    // Encoding 32 bytes into 64 always succeeds.
    let _ = hex::encode_to_slice(mac, &mut out);
    out
}

/// The range puzzle's hidden answer, derived from the key: nothing to store.
fn range_answer(keys: &Keyring, id: [u8; 4], mac: &[u8; 32], size: u64, now: u64) -> Option<u64> {
    if size == 0 {
        return None;
    }
    let d = keys.derive(id, &[b"range answer\0", mac], now)?;
    let mut n = [0u8; 8];
    n.copy_from_slice(&d[..8]);
    Some(u64::from_be_bytes(n) % size)
}

/// SHA-256(prefix ‖ nonce as 8 big-endian bytes): the puzzle hash.
pub fn hash(prefix: &[u8; 64], nonce: u64) -> [u8; 32] {
    Sha256::new()
        .chain_update(prefix)
        .chain_update(nonce.to_be_bytes())
        .finalize()
        .into()
}

pub fn leading_zero_bits(digest: &[u8; 32]) -> u32 {
    let mut bits = 0;
    for b in digest {
        if *b != 0 {
            return bits + b.leading_zeros();
        }
        bits += 8;
    }
    bits
}

#[cfg(test)]
mod tests;
