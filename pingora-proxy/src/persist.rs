//! Bans on disk, so a restart does not pardon anyone.
//!
//! `state_dir/bans.json` is rewritten atomically (temporary file, then rename) every few seconds
//! and at shutdown, and read at start. A corrupt file is logged and set aside, never fatal.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tollgate_core::BanRecord;
use tollgate_core::{ClientKey, Engine, Reason};

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
        })
        .collect();
    let n = bans.len();
    fs::create_dir_all(state_dir)?;
    let tmp = state_dir.join("bans.json.tmp");
    fs::write(
        &tmp,
        serde_json::to_vec_pretty(&Saved { version: 1, bans })?,
    )?;
    fs::rename(&tmp, path(state_dir))?;
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
            let aside = state_dir.join("bans.json.corrupt");
            fs::rename(&file, &aside)?;
            anyhow::bail!(
                "{} is not valid ({e}); moved to {}",
                file.display(),
                aside.display()
            );
        }
    };
    let records: Vec<BanRecord> = saved.bans.into_iter().filter_map(record).collect();
    let n = records.len();
    engine.restore_bans(records);
    Ok(n)
}

fn record(b: SavedBan) -> Option<BanRecord> {
    let ip = b.key.parse().ok()?;
    Some(BanRecord {
        // The saved address is already masked: keep all its bits.
        key: ClientKey::new(ip, 32, 128),
        until_ns: b.until_ns,
        offences: b.offences,
        last_offence_ns: b.last_offence_ns,
        reason: Reason::parse(&b.reason).unwrap_or(Reason::Manual),
    })
}
