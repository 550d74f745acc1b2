//! Clearance tokens: the cookie a client gets for a solved challenge.
//!
//! Like challenges, clearances are signed, not stored: fields in the clear (issue time, expiry,
//! request budget, a unique serial, key id) and an HMAC over them plus the client's address prefix
//! and user-agent hash. A cookie copied to another machine or browser fails the signature.
//!
//! What *is* stored is how much of its budget a clearance has spent ([`Usage`]), keyed by serial in
//! a bounded [`KeyStore`], so a solved challenge buys a bounded number of requests.

use std::sync::Arc;

use crate::clock::NS_PER_SEC;
use crate::fleet::Tally;
use crate::limit::store::KeyStore;
use crate::request::key::ClientKey;
use crate::toll::pow::Binding;
use crate::toll::secret::{Authenticity, Keyring};
use crate::toll::wire::{open, seal, Reader, Sealed, Writer};

const TAG: &[u8] = b"tollgate clearance v1";
/// Name of the clearance cookie over plain HTTP.
pub const COOKIE: &str = "tollgate_clearance";
/// Its name over HTTPS: a `__Host-` cookie is `Secure`, host-only and `Path=/`, so neither a
/// sibling subdomain nor a plain-HTTP response can plant or overwrite it.
pub const SECURE_COOKIE: &str = "__Host-tollgate_clearance";

/// The clearance cookie's name for a request that is HTTPS (`secure`) or not.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_COOKIE
    } else {
        COOKIE
    }
}
const MAX_LEN: usize = 512;
/// The `work_bits` of a clearance paid in time, not work (`nojs = "wait"`): no puzzle is worth
/// 0 bits, so it opens only the routes that offer waiting.
pub const WAITED: u32 = 0;

/// The fields of a clearance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clearance {
    pub issued_unix_secs: u64,
    pub expires_unix_secs: u64,
    /// Requests this clearance may make.
    pub budget: u32,
    /// The work paid for it ([`crate::toll::pow::Puzzle::work_bits`]): a clearance opens only routes
    /// whose puzzle costs no more.
    pub work_bits: u32,
    /// Unique per clearance: the key its spending is counted under.
    pub serial: [u8; 16],
}

/// Why a clearance cookie was refused. Only [`ClearanceError::Forged`] is an offence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClearanceError {
    #[error("clearance cookie is malformed")]
    Malformed,
    #[error("clearance was issued to another client (address or user agent changed, or copied)")]
    OtherClient,
    #[error("clearance was signed with a key no longer accepted")]
    UnknownKey,
    #[error("clearance signature does not match: forged")]
    Forged,
    #[error("clearance expired")]
    Expired,
}

impl From<Authenticity> for ClearanceError {
    fn from(a: Authenticity) -> Self {
        match a {
            Authenticity::OtherClient => Self::OtherClient,
            Authenticity::UnknownKey => Self::UnknownKey,
            Authenticity::Genuine | Authenticity::Forged => Self::Forged,
        }
    }
}

/// The cookie value for `c`, bound to `binding`.
pub fn mint(keys: &Keyring, c: &Clearance, binding: &Binding) -> String {
    let mut w = Writer::new(TAG);
    w.u64(c.issued_unix_secs)
        .u64(c.expires_unix_secs)
        .u32(c.budget)
        .u32(c.work_bits)
        .bytes(&c.serial)
        .bytes(&keys.current_id());
    let payload = w.finish();
    let (_, mac) = keys.sign(&[&payload, &binding.encode()]);
    seal(&payload, &mac, &keys.tag(&payload))
}

/// Checks a cookie value for `binding` at `now_secs`.
pub fn check(
    keys: &Keyring,
    value: &str,
    binding: &Binding,
    now_secs: u64,
) -> Result<Clearance, ClearanceError> {
    let (c, key_id, sealed) = parse(value).ok_or(ClearanceError::Malformed)?;
    keys.authenticity(key_id, &sealed, &binding.encode(), now_secs)
        .genuine()?;
    if now_secs >= c.expires_unix_secs {
        return Err(ClearanceError::Expired);
    }
    Ok(c)
}

fn parse(value: &str) -> Option<(Clearance, [u8; 4], Sealed)> {
    let sealed = open(value, MAX_LEN)?;
    let mut r = Reader::new(&sealed.payload, TAG)?;
    let c = Clearance {
        issued_unix_secs: r.u64()?,
        expires_unix_secs: r.u64()?,
        budget: r.u32()?,
        work_bits: r.u32()?,
        serial: r.array()?,
    };
    let key_id = r.array()?;
    r.done().then_some((c, key_id, sealed))
}

/// What each clearance has spent, in a bounded store.
///
/// The stored value is `expiry (ns) + requests spent` (budgets are far below the billion
/// nanoseconds in a second), so the store's sweep, which drops values in the past, forgets a
/// clearance exactly when it expires, and its eviction, which drops the smallest values first,
/// forgets the clearances closest to expiry first.
#[derive(Debug)]
pub struct Usage {
    store: Arc<KeyStore>,
    /// Where spending is counted for the fleet, under [`USAGE`].
    tally: Arc<Tally>,
    name: Arc<str>,
}

/// The fleet's name for clearance spending.
pub const USAGE: &str = "usage";

impl Usage {
    pub fn new(store: Arc<KeyStore>, tally: Arc<Tally>) -> Self {
        let name = Arc::from(USAGE);
        Self { store, tally, name }
    }

    /// Adds `n` requests other instances spent of the clearance `serial`, whose budget starts
    /// at `base` (its expiry, in ns).
    pub fn charge(&self, serial: &ClientKey, n: u32, base: u64, now_ns: u64) {
        let _ = self.store.update(
            serial,
            || now_ns,
            |prev| {
                let spent = prev.unwrap_or(base).max(base);
                Ok::<_, std::convert::Infallible>(((), spent.saturating_add(u64::from(n))))
            },
        );
    }

    /// Spends one request of `c`; `false` when its budget is used up.
    pub fn spend(&self, c: &Clearance, now_ns: u64) -> bool {
        let base = c.expires_unix_secs.saturating_mul(NS_PER_SEC);
        let key = ClientKey::from_bytes(c.serial);
        let budget = u64::from(c.budget);
        self.store
            .update(
                &key,
                || now_ns,
                |prev| {
                    let spent = prev.map_or(0, |v| v.saturating_sub(base));
                    if spent >= budget {
                        Err(())
                    } else {
                        Ok(((), base.saturating_add(spent + 1)))
                    }
                },
            )
            .inspect(|()| self.tally.add(&self.name, &key, base))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keyring {
        Keyring::from_bytes(&[5; 32]).unwrap()
    }

    fn me() -> Binding {
        Binding::new(
            &ClientKey::new("192.0.2.1".parse().unwrap(), 32, 64),
            Some("UA"),
        )
    }

    fn clearance() -> Clearance {
        Clearance {
            issued_unix_secs: 100,
            expires_unix_secs: 200,
            budget: 3,
            work_bits: 21,
            serial: [1; 16],
        }
    }

    #[test]
    fn a_minted_cookie_checks_only_for_its_client_and_lifetime() {
        let v = mint(&keys(), &clearance(), &me());
        assert_eq!(check(&keys(), &v, &me(), 150), Ok(clearance()));
        assert_eq!(check(&keys(), &v, &me(), 200), Err(ClearanceError::Expired));
        let thief = Binding::new(
            &ClientKey::new("192.0.2.9".parse().unwrap(), 32, 64),
            Some("UA"),
        );
        assert_eq!(
            check(&keys(), &v, &thief, 150),
            Err(ClearanceError::OtherClient)
        );
        let other_key = Keyring::from_bytes(&[6; 32]).unwrap();
        assert_eq!(
            check(&other_key, &v, &me(), 150),
            Err(ClearanceError::UnknownKey)
        );
        let mut tampered = v.clone();
        tampered.replace_range(3..4, if &v[3..4] == "A" { "B" } else { "A" });
        assert!(check(&keys(), &tampered, &me(), 150).is_err());
        // A made-up MAC and tag under our key id is a forgery; so is a genuine cookie whose
        // tag was swapped for garbage and presented by another client.
        let (payload, _) = v.split_once('.').unwrap();
        let forged = format!("{payload}.{}.{}", "A".repeat(43), "A".repeat(22));
        assert_eq!(
            check(&keys(), &forged, &me(), 150),
            Err(ClearanceError::Forged)
        );
        let untagged = v.rsplit_once('.').unwrap().0;
        assert_eq!(check(&keys(), untagged, &me(), 150), Ok(clearance()));
        assert_eq!(
            check(&keys(), untagged, &thief, 150),
            Err(ClearanceError::Forged),
            "an untagged cookie (minted before tags) cannot be told apart"
        );
        assert_eq!(
            check(&keys(), "junk", &me(), 150),
            Err(ClearanceError::Malformed)
        );
    }

    #[test]
    fn the_budget_is_exact() {
        let usage = Usage::new(Arc::new(KeyStore::new(1_000)), Arc::default());
        let c = clearance();
        let spent = (0..10)
            .filter(|_| usage.spend(&c, 150 * NS_PER_SEC))
            .count();
        assert_eq!(spent, 3);
    }
}
