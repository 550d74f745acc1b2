//! `[connections]`: per-client connection cap and header deadlines, range-checked.

use super::Ctx;
use crate::rules::defaults::{HEADER_TIMEOUT_SECS, MAX_CONNECTIONS_PER_CLIENT, MAX_HEADER_BYTES};
use crate::rules::raw::RawConnections;
use crate::rules::ConnectionRules;

const SECTION: &str = "[connections]";

impl Ctx<'_, '_> {
    pub(super) fn connections(&mut self, raw: &RawConnections) -> ConnectionRules {
        let mut int = |v, spec| u32::try_from(self.int(SECTION, v, spec)).unwrap_or(0);
        ConnectionRules {
            max_per_client: int(raw.max_per_client.as_ref(), &MAX_CONNECTIONS_PER_CLIENT),
            header_timeout_secs: int(raw.header_timeout_secs.as_ref(), &HEADER_TIMEOUT_SECS),
            max_header_bytes: int(raw.max_header_bytes.as_ref(), &MAX_HEADER_BYTES),
        }
    }
}
