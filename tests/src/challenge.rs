//! Paying tollgate's challenge natively, as a test client: the same answer works on every front
//! end, since they share the core and the key.

use serde_json::Value;
use tollgate_core::Puzzle;
use tollgate_core::{solve_parallel, Work};

/// The nonce that answers a JSON offer from `/.tollgate/challenge` (solved on 2 threads).
pub fn answer(offer: &Value) -> u64 {
    let field = |k: &str| {
        offer[k]
            .as_str()
            .unwrap_or_else(|| panic!("offer has no {k}: {offer}"))
    };
    let param = offer["param"]
        .as_u64()
        .unwrap_or_else(|| panic!("offer has no param: {offer}"));
    let puzzle = Puzzle::from_kind(field("puzzle"), param)
        .unwrap_or_else(|| panic!("unknown puzzle in {offer}"));
    let work = Work::new(puzzle, field("prefix"), offer["target"].as_str())
        .unwrap_or_else(|| panic!("offer {offer} is no work"));
    solve_parallel(&work, 2)
        .unwrap_or_else(|| panic!("no answer found for {offer}"))
        .0
}

/// The verify path submitting `nonce` for challenge `token`, returning to `back`.
pub fn verify_path(token: &str, nonce: u64, back: &str) -> String {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("challenge", token)
        .append_pair("nonce", &nonce.to_string())
        .append_pair("return", back)
        .finish();
    format!("/.tollgate/verify?{q}")
}
