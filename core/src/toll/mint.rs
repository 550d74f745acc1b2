//! Clearances minted by an operator's tool (`tollgate token`) rather than earned.

use std::net::IpAddr;

use super::pow::Binding;
use super::{clearance, Clearance, Keyring};
use crate::request::ClientKey;
use crate::rules::Rules;

/// Mints a clearance cookie value for `ip` and `user_agent` under `rules`, as `tollgate token`
/// does for load tests and monitoring. `serial` must be unique per minted cookie.
pub fn mint_clearance(
    keys: &Keyring,
    rules: &Rules,
    ip: IpAddr,
    user_agent: Option<&str>,
    grant: &Clearance,
) -> String {
    let key = ClientKey::new(
        ip,
        rules.clients.ipv4_prefix_len,
        rules.clients.ipv6_prefix_len,
    );
    clearance::mint(keys, grant, &Binding::new(&key, user_agent))
}

/// The most work any challenge route of `rules` asks for: what a minted clearance (see
/// [`mint_clearance`]) claims, so it opens every route.
pub fn hardest_work_bits(rules: &Rules) -> u32 {
    let routes = rules.routes.iter().filter_map(|r| r.puzzle);
    routes
        .map(|p| p.work_bits())
        .fold(rules.challenge.puzzle.work_bits(), u32::max)
}
