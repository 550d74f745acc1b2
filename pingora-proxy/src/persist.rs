//! Bans on disk, so a restart does not pardon anyone.
//!
//! `state_dir/bans.json` is rewritten every few seconds and at shutdown: a temporary file,
//! fsynced, renamed into place, then the directory fsynced, so a crash or power cut leaves either
//! the old file or the new one. It is read at start. A corrupt file is logged and set aside under
//! a timestamped name (earlier copies are kept), never fatal. Saved addresses are re-keyed under
//! the current prefix lengths, so widening `ipv6_prefix_len` keeps every ban.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tollgate_core::BanRecord;
use tollgate_core::{Engine, Reason};

#[derive(Serialize, Deserialize)]
struct Saved {
    version: u32,
    bans: Vec<SavedBan>,
}

#[derive(Serialize, Deserialize)]
struct SavedBan {
    /// The key's address (network base), e.g. "203.0.113.7" or "2001:db8:1:2::".
    key: String,
    until_ns: u64,
    offences: u32,
    last_offence_ns: u64,
    reason: String,
    /// A ban of a whole `[networks]` network rather than of one client key.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    network: bool,
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("bans.json")
}

/// Writes every ban record. Returns how many.
pub fn save(engine: &Engine, state_dir: &Path) -> anyhow::Result<usize> {
    let bans: Vec<SavedBan> = engine
        .ban_snapshot()
        .into_iter()
        .map(|r| SavedBan {
            key: r.key.to_string(),
            until_ns: r.until_ns,
            offences: r.offences,
            last_offence_ns: r.last_offence_ns,
            reason: r.reason.as_str().to_string(),
            network: r.key.is_network(),
        })
        .collect();
    let n = bans.len();
    fs::create_dir_all(state_dir)?;
    let tmp = state_dir.join("bans.json.tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(&serde_json::to_vec_pretty(&Saved { version: 1, bans })?)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path(state_dir))?;
    File::open(state_dir)?.sync_all()?;
    Ok(n)
}

/// Loads saved bans into `engine`. A missing file is no error; a corrupt one is renamed aside.
pub fn load(engine: &Engine, state_dir: &Path) -> anyhow::Result<usize> {
    let file = path(state_dir);
    let text = match fs::read(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let saved: Saved = match serde_json::from_slice(&text) {
        Ok(s) => s,
        Err(e) => {
            let aside = corrupt_copy(state_dir);
            fs::rename(&file, &aside)?;
            anyhow::bail!(
                "{} is not valid ({e}); moved to {}",
                file.display(),
                aside.display()
            );
        }
    };
    let records: Vec<BanRecord> = saved
        .bans
        .into_iter()
        .filter_map(|b| record(engine, b))
        .collect();
    let n = records.len();
    engine.restore_bans(records);
    Ok(n)
}

/// `bans.json.corrupt-<unix seconds>`, with a counter when that name is taken.
fn corrupt_copy(state_dir: &Path) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut aside = state_dir.join(format!("bans.json.corrupt-{secs}"));
    let mut n = 1;
    while aside.exists() {
        aside = state_dir.join(format!("bans.json.corrupt-{secs}.{n}"));
        n += 1;
    }
    aside
}

fn record(engine: &Engine, b: SavedBan) -> Option<BanRecord> {
    let ip = b.key.parse().ok()?;
    // The saved network's base, masked again under today's prefix lengths: a wider prefix
    // keeps the ban on the whole new network, a narrower one on the base's own network. A
    // network ban is dropped when `[networks]` is now off.
    let key = match b.network {
        true => engine.network_key(ip)?,
        false => engine.client_key(ip),
    };
    Some(BanRecord {
        key,
        until_ns: b.until_ns,
        offences: b.offences,
        last_offence_ns: b.last_offence_ns,
        reason: Reason::parse(&b.reason).unwrap_or(Reason::Manual),
    })
}
