//! The identity a client is counted and banned under.
//!
//! One IPv4 address, or one IPv6 /64, by default: a home or cloud customer usually owns a whole
//! /64, so counting single IPv6 addresses would let one machine rotate through 2^64 identities.
//! Both prefix lengths are configurable. The key is 16 bytes with 8-byte alignment so a tracked
//! entry stays small (see `store.rs`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address masked to its configured prefix, as 128 bits (IPv4 is stored IPv4-mapped).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ClientKey {
    hi: u64,
    lo: u64,
}

impl ClientKey {
    /// Masks `ip` to `v4_len` (IPv4) or `v6_len` (IPv6) bits. Lengths above the family's width
    /// are clamped.
    pub fn new(ip: IpAddr, v4_len: u8, v6_len: u8) -> Self {
        let (bits, len) = match canonical(ip) {
            IpAddr::V4(v4) => {
                let len = v4_len.min(32);
                let mapped = u128::from(v4.to_ipv6_mapped());
                (mapped, 96 + len)
            }
            IpAddr::V6(v6) => (u128::from(v6), v6_len.min(128)),
        };
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len))
        };
        let masked = bits & mask;
        Self {
            hi: (masked >> 64) as u64,
            lo: masked as u64,
        }
    }

    /// The key of the network `ip` belongs to under `[networks]` prefix lengths. Marked so it
    /// can never equal a client key in the tables they share: IPv4 networks sit under
    /// `::fffe:0:0/96` (client keys under `::ffff:0:0/96`), IPv6 ones carry [`NETWORK_MARK`] in
    /// bits no client key of a /64 or shorter prefix uses.
    pub fn network_of(ip: IpAddr, v4_len: u8, v6_len: u8) -> Self {
        let k = Self::new(ip, v4_len, v6_len.min(64));
        match canonical(ip) {
            IpAddr::V4(_) => Self {
                hi: k.hi,
                lo: k.lo ^ (1 << 32),
            },
            IpAddr::V6(_) => Self {
                hi: k.hi,
                lo: k.lo | NETWORK_MARK,
            },
        }
    }

    /// Whether this is a [`ClientKey::network_of`] key.
    pub fn is_network(&self) -> bool {
        let v4_network = self.hi == 0 && (self.lo >> 32) == 0xfffe;
        v4_network || (self.lo & NETWORK_MARK == NETWORK_MARK && self.hi >> 48 != 0)
    }

    /// The network this key stands for under the given prefix lengths, e.g. `203.0.113.7/32` or
    /// `2001:db8:1:2::/64`. The key itself does not carry its length, to stay 16 bytes.
    pub fn network(&self, v4_len: u8, v6_len: u8) -> String {
        match self.addr() {
            IpAddr::V4(v4) => format!("{v4}/{}", v4_len.min(32)),
            IpAddr::V6(v6) => format!("{v6}/{}", v6_len.min(128)),
        }
    }

    /// The network's first address. (IPv4 keys are stored IPv4-mapped; a masked IPv6 key may
    /// look like a NAT64 address and is still IPv6.) A network key gives its network's.
    pub fn addr(&self) -> IpAddr {
        let bits = match self.is_network() {
            true if self.hi == 0 => self.bits() ^ (1 << 32),
            true => self.bits() & !u128::from(NETWORK_MARK),
            false => self.bits(),
        };
        let v6 = Ipv6Addr::from(bits);
        v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
    }

    fn bits(&self) -> u128 {
        (u128::from(self.hi) << 64) | u128::from(self.lo)
    }

    /// The masked address as 16 bytes: what tokens are bound to.
    pub fn to_bytes(&self) -> [u8; 16] {
        self.bits().to_be_bytes()
    }

    /// A key standing for 16 arbitrary bytes (e.g. a token's serial) in a [`crate::limit::store::KeyStore`].
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        let bits = u128::from_be_bytes(bytes);
        Self {
            hi: (bits >> 64) as u64,
            lo: bits as u64,
        }
    }

    /// The key as two words, high then low: how shared tables store it.
    pub(crate) fn words(&self) -> (u64, u64) {
        (self.hi, self.lo)
    }

    /// The key [`ClientKey::words`] gave.
    pub(crate) fn from_words(hi: u64, lo: u64) -> Self {
        Self { hi, lo }
    }

    /// Used to spread keys over store shards without hashing twice.
    pub(crate) fn mix(&self) -> u64 {
        (self.hi ^ self.lo.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

/// IPv6 addresses that carry an IPv4 client are that client: IPv4-mapped (`::ffff:a.b.c.d`),
/// and the NAT64 well-known prefix (`64:ff9b::a.b.c.d`, RFC 6052), which a translator in front
/// of an IPv6-only site writes for every IPv4 client. Keyed as IPv6, a /64 would lump every
/// IPv4 client behind the translator into one key.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match (v6.to_ipv4_mapped(), nat64_embedded(v6)) {
            (Some(v4), _) | (None, Some(v4)) => IpAddr::V4(v4),
            (None, None) => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn nat64_embedded(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    const WELL_KNOWN: u128 = 0x0064_ff9b_u128 << 96;
    let bits = u128::from(v6);
    (bits >> 32 == WELL_KNOWN >> 32).then(|| Ipv4Addr::from(bits as u32))
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr())
    }
}

/// Set in the low word of an IPv6 network key (see [`ClientKey::network_of`]).
const NETWORK_MARK: u64 = 0x4E45_5457_4F52_4B00; // "NETWORK\0"

/// The unspecified IPv4 address, used where a front end has no peer address at all.
pub const UNKNOWN_PEER: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_aggregates_to_slash_64() {
        let a = ClientKey::new("2001:db8:1:2::1".parse().unwrap(), 32, 64);
        let b = ClientKey::new("2001:db8:1:2:ffff::9".parse().unwrap(), 32, 64);
        let c = ClientKey::new("2001:db8:1:3::1".parse().unwrap(), 32, 64);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.network(32, 64), "2001:db8:1:2::/64");
    }

    #[test]
    fn ipv4_is_per_address_and_mapped_form_is_the_same_client() {
        let a = ClientKey::new("10.1.2.3".parse().unwrap(), 32, 64);
        let m = ClientKey::new("::ffff:10.1.2.3".parse().unwrap(), 32, 64);
        let b = ClientKey::new("10.1.2.4".parse().unwrap(), 32, 64);
        assert_eq!(a, m);
        assert_ne!(a, b);
        assert_eq!(a.network(32, 64), "10.1.2.3/32");
        let net24 = ClientKey::new("10.1.2.200".parse().unwrap(), 24, 64);
        assert_eq!(net24.network(24, 64), "10.1.2.0/24");
        assert_eq!(std::mem::size_of::<ClientKey>(), 16);
    }

    #[test]
    fn network_keys_never_equal_client_keys_and_read_back_as_their_network() {
        let v4 = ClientKey::network_of("198.51.100.77".parse().unwrap(), 24, 48);
        assert_eq!(
            v4,
            ClientKey::network_of("198.51.100.1".parse().unwrap(), 24, 48)
        );
        assert_ne!(v4, ClientKey::new("198.51.100.0".parse().unwrap(), 32, 64));
        assert!(v4.is_network());
        assert_eq!(v4.addr().to_string(), "198.51.100.0");
        let v6 = ClientKey::network_of("2001:db8:1:ffff::9".parse().unwrap(), 24, 48);
        assert_eq!(
            v6,
            ClientKey::network_of("2001:db8:1:2::1".parse().unwrap(), 24, 48)
        );
        assert_ne!(v6, ClientKey::new("2001:db8:1::".parse().unwrap(), 32, 64));
        assert!(v6.is_network());
        assert_eq!(v6.addr().to_string(), "2001:db8:1::");
        for client in ["198.51.100.0", "2001:db8:1::", "::1", "10.0.0.1"] {
            assert!(
                !ClientKey::new(client.parse().unwrap(), 32, 64).is_network(),
                "{client}"
            );
        }
    }

    #[test]
    fn nat64_well_known_addresses_are_their_ipv4_client() {
        let nat = |s: &str| ClientKey::new(s.parse().unwrap(), 32, 64);
        assert_eq!(nat("64:ff9b::203.0.113.7"), nat("203.0.113.7"));
        assert_ne!(nat("64:ff9b::203.0.113.7"), nat("64:ff9b::203.0.113.8"));
        assert_eq!(
            nat("64:ff9b::203.0.113.7").network(32, 64),
            "203.0.113.7/32"
        );
        // Only the /96 well-known prefix: a neighbouring prefix is an ordinary /64.
        assert_eq!(nat("64:ff9b:0:0:1::1"), nat("64:ff9b::1:0:0:2"));
        assert_eq!(nat("64:ff9b:0:0:1::1").network(32, 64), "64:ff9b::/64");
    }
}
