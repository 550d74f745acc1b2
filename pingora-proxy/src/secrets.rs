//! Where the signing key comes from, and how it is created and rotated on disk.
//!
//! In order: `--secret-file` (or `TOLLGATE_SECRET_FILE`), else `TOLLGATE_SECRET` (hex), else
//! `STATE_DIR/secret.key`, created on first run from the OS's random source with mode 0600. A key
//! file is re-read on every reload, so `tollgate rotate-secret` followed by SIGHUP rotates without
//! a restart; the previous key keeps verifying for the grace period written into the file.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use tollgate_core::Keyring;

pub const ENV_HEX: &str = "TOLLGATE_SECRET";
const KEY_BYTES: usize = 32;

/// Where the running key came from.
#[derive(Clone, Debug)]
pub enum KeySource {
    Env,
    File(PathBuf),
}

/// The key file used when none is named.
pub fn default_file(state_dir: &Path) -> PathBuf {
    state_dir.join("secret.key")
}

/// Finds and loads the keyring (creating the default key file if needed).
pub fn load(secret_file: Option<&Path>, state_dir: &Path) -> anyhow::Result<(Keyring, KeySource)> {
    if let Some(file) = secret_file {
        return Ok((read(file)?, KeySource::File(file.to_path_buf())));
    }
    if let Ok(hex) = std::env::var(ENV_HEX) {
        let ring = Keyring::from_hex(&hex).with_context(|| format!("${ENV_HEX}"))?;
        return Ok((ring, KeySource::Env));
    }
    let file = default_file(state_dir);
    if !file.exists() {
        create(&file)?;
        tracing::info!(file = %file.display(), "generated a new signing key");
    }
    Ok((read(&file)?, KeySource::File(file)))
}

/// Reads a key file, warning when others can read it.
pub fn read(file: &Path) -> anyhow::Result<Keyring> {
    let text = fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    if let Ok(meta) = fs::metadata(file) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(file = %file.display(), "key file is readable by group or others: chmod 600 it");
        }
    }
    Keyring::parse(&text).with_context(|| format!("key file {}", file.display()))
}

pub(crate) fn random_key() -> anyhow::Result<[u8; KEY_BYTES]> {
    let mut key = [0u8; KEY_BYTES];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
    Ok(key)
}

/// Writes a fresh key file with mode 0600; refuses to overwrite.
pub(crate) fn create(file: &Path) -> anyhow::Result<()> {
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_new(file, &Keyring::file_text(&random_key()?))
}

pub(crate) fn write_new(file: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("creating {}", file.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", file.display()))
}

/// Makes a new current key in `file`, keeping the old one valid for `grace_secs`. The file is
/// replaced atomically (write, then rename), so a reload never reads half a file.
pub fn rotate(file: &Path, grace_secs: u64) -> anyhow::Result<()> {
    let old = fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    if Keyring::parse(&old).is_err() {
        bail!("{} is not a valid key file; not rotating", file.display());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let text = Keyring::rotated_file_text(&old, &random_key()?, now.saturating_add(grace_secs))?;
    let tmp = file.with_extension("key.new");
    let _ = fs::remove_file(&tmp);
    write_new(&tmp, &text)?;
    fs::rename(&tmp, file).with_context(|| format!("replacing {}", file.display()))
}
