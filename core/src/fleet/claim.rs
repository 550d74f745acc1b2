//! A correct first answer, waiting for the fleet to agree it is the first anywhere.

use crate::request::ClientKey;
use crate::verdict::Decision;

/// Made by the front end with an atomic set-if-absent of [`key`](Claim::id) that expires with
/// the challenge, then handed to [`Engine::claimed`](crate::Engine::claimed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    id: [u8; 16],
    expires_unix_secs: u64,
    /// Who answered: a replay elsewhere is its offence.
    pub(crate) key: ClientKey,
    /// What the answer earns if it is the first: the clearance.
    pub(crate) then: Decision,
}

impl Claim {
    pub(crate) fn new(
        id: [u8; 16],
        expires_unix_secs: u64,
        key: ClientKey,
        then: Decision,
    ) -> Self {
        Self {
            id,
            expires_unix_secs,
            key,
            then,
        }
    }

    /// The answered challenge's serial, in hex: the name to claim.
    pub fn id_hex(&self) -> String {
        hex::encode(self.id)
    }

    /// How long the claim must be remembered: until the challenge expires (at least a second).
    pub fn ttl_secs(&self, now_unix_secs: u64) -> u64 {
        self.expires_unix_secs.saturating_sub(now_unix_secs).max(1)
    }
}
