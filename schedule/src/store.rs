//! The scheduler's file: runtime items and every job's last runs, as JSON,
//! written atomically (temporary file, fsync, rename, fsync of the
//! directory) so a crash leaves the old file or the new one, never half.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::scheduler::Saved;

/// The file is never read past this size (a corrupt or hostile file).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("schedule file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("schedule file {path}: {reason}")]
    Bad { path: PathBuf, reason: String },
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct File {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Items added at runtime, by name, as written.
    #[serde(default)]
    pub items: BTreeMap<String, Value>,
    /// Every job's state, by name.
    #[serde(default)]
    pub jobs: BTreeMap<String, Saved>,
}

impl Default for File {
    fn default() -> Self {
        File {
            enabled: true,
            items: BTreeMap::new(),
            jobs: BTreeMap::new(),
        }
    }
}

/// Reads the file; a missing file is an empty schedule.
pub fn load(path: &Path) -> Result<File, StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(File::default()),
        Err(e) => return Err(io(e)),
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(StoreError::Bad {
            path: path.to_path_buf(),
            reason: format!("larger than {MAX_FILE_BYTES} bytes"),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    serde_json::from_slice(&bytes).map_err(|e| StoreError::Bad {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Writes the file atomically.
pub fn save(path: &Path, file: &File) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let body = serde_json::to_vec_pretty(file).map_err(|e| StoreError::Bad {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(&body).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
