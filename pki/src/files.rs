//! Key and certificate files. Writes are atomic (a temporary file in the same
//! directory, then a rename), so a crash never leaves half a key behind.
//! Secret files are created with mode 0600 from the start: there is no
//! moment at which they are readable by others.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::PkiError;

/// Group and other read/write bits: a private key file must have none.
const INSECURE_BITS: u32 = 0o066;

/// Writes a secret file (a private key) with mode 0600, atomically.
pub fn write_secret(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    write_atomic(path, contents, 0o600)
}

/// Writes a public file (a certificate) with mode 0644, atomically.
pub fn write_public(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    write_atomic(path, contents, 0o644)
}

/// Refuses a private key file that group or others may read or write, that
/// another user owns, or that sits in a directory another user could write.
pub fn check_private(path: &Path) -> Result<(), PkiError> {
    let meta = fs::metadata(path).map_err(|source| io_err("inspect", path, source))?;
    check_mode(path, meta.permissions().mode())?;
    check_owner(path, meta.uid())?;
    check_parents(path)
}

/// Reads a private key file after checking its mode and owner on the opened
/// file (so the file checked is the file read) and the directories above it
/// (as OpenSSH's StrictModes does).
pub fn read_private(path: &Path) -> Result<String, PkiError> {
    let mut file = File::open(path).map_err(|source| io_err("open", path, source))?;
    let meta = file
        .metadata()
        .map_err(|source| io_err("inspect", path, source))?;
    check_mode(path, meta.permissions().mode())?;
    check_owner(path, meta.uid())?;
    check_parents(path)?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|source| io_err("read", path, source))?;
    Ok(text)
}

/// Reads a file holding a secret that is being carried between machines (a
/// CA bundle): refused, as a key file is, when group or others may read or
/// write it. Its owner and directories are not checked: it is read once and
/// its contents are checked on their own, not trusted because of where they lie.
pub fn read_secret_file(path: &Path) -> Result<String, PkiError> {
    let mut file = File::open(path).map_err(|source| io_err("open", path, source))?;
    let meta = file
        .metadata()
        .map_err(|source| io_err("inspect", path, source))?;
    check_mode(path, meta.permissions().mode())?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|source| io_err("read", path, source))?;
    Ok(text)
}

/// Creates a new secret file with mode 0600 from the start; refuses to
/// replace a file (or anything else) already at `path`.
pub fn write_new_secret(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                PkiError::WouldOverwrite {
                    path: path.to_path_buf(),
                }
            } else {
                io_err("create", path, source)
            }
        })?;
    if let Err(source) = f.write_all(contents).and_then(|()| f.sync_all()) {
        drop(f);
        let _ = fs::remove_file(path);
        return Err(io_err("write", path, source));
    }
    Ok(())
}

/// Refuses a directory for keys (and every directory above it) that another
/// user owns or may write, as [`read_private`] would when reading a key there.
pub(crate) fn check_key_dir(dir: &Path) -> Result<(), PkiError> {
    check_parents(&dir.join("key"))
}

/// Reads a public file; `Ok(None)` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<String>, PkiError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(io_err("read", path, source)),
    }
}

/// Removes a file; a file that is already gone is fine.
pub fn remove(path: &Path) -> Result<(), PkiError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(io_err("remove", path, source)),
    }
}

/// Creates `dir` (mode 0700) and its parents if missing.
pub fn ensure_dir(dir: &Path) -> Result<(), PkiError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| io_err("create directory", dir, source))
}

pub(crate) fn exists(path: &Path) -> Result<bool, PkiError> {
    path.try_exists()
        .map_err(|source| io_err("inspect", path, source))
}

pub(crate) fn io_err(action: &'static str, path: &Path, source: io::Error) -> PkiError {
    PkiError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn untrusted(path: &Path, problem: String) -> PkiError {
    PkiError::UntrustedPath {
        path: path.to_path_buf(),
        problem,
        euid: euid(),
    }
}

/// The file must be ours (root may use a root-owned file as well).
fn check_owner(path: &Path, uid: u32) -> Result<(), PkiError> {
    if uid != euid() {
        return Err(untrusted(path, format!("it is owned by uid {uid}")));
    }
    Ok(())
}

/// Every directory above a key, up to `/`, must be owned by root or by us,
/// and not writable by group or others unless it is sticky (like `/tmp`,
/// where others cannot replace what we own).
fn check_parents(path: &Path) -> Result<(), PkiError> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|source| io_err("resolve", path, source))?
            .join(path)
    };
    for dir in absolute.ancestors().skip(1) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let meta = fs::metadata(dir).map_err(|source| io_err("inspect", dir, source))?;
        let (uid, mode) = (meta.uid(), meta.permissions().mode());
        if uid != 0 && uid != euid() {
            return Err(untrusted(
                dir,
                format!("the directory holding a key is owned by uid {uid}"),
            ));
        }
        let sticky = mode & 0o1000 != 0;
        if mode & 0o022 != 0 && !sticky {
            return Err(untrusted(
                dir,
                format!(
                    "the directory holding a key has mode {:04o} (writable by group or others)",
                    mode & 0o7777
                ),
            ));
        }
    }
    Ok(())
}

fn check_mode(path: &Path, mode: u32) -> Result<(), PkiError> {
    if mode & INSECURE_BITS != 0 {
        return Err(PkiError::InsecureKeyFile {
            path: path.to_path_buf(),
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|source| io_err("create", &tmp, source))?;
        f.write_all(contents)
            .and_then(|()| f.sync_all())
            .map_err(|source| io_err("write", &tmp, source))?;
        fs::rename(&tmp, path).map_err(|source| io_err("rename into place", path, source))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // Make the rename itself durable; failure here loses nothing already written.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_under_a_directory_others_can_write_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("pki");
        ensure_dir(&dir).unwrap();
        let key = dir.join("ca.key");
        write_secret(&key, b"secret").unwrap();
        assert_eq!(read_private(&key).unwrap(), "secret");
        // A world-writable root_dir: someone else could have planted the key.
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let err = read_private(&key).unwrap_err();
        assert!(
            matches!(err, PkiError::UntrustedPath { ref path, .. } if path == root.path()),
            "{err}"
        );
        assert!(err.to_string().contains("0777"), "{err}");
        // Sticky, like /tmp: others cannot replace what we own.
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(read_private(&key).unwrap(), "secret");
    }

    #[test]
    fn a_key_file_another_user_owns_is_refused() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root to give a file to another user");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let key = root.path().join("ca.key");
        write_secret(&key, b"planted").unwrap();
        std::os::unix::fs::chown(&key, Some(65534), None).unwrap();
        let err = read_private(&key).unwrap_err();
        assert!(err.to_string().contains("owned by uid 65534"), "{err}");
        // The same for a directory on the way.
        std::os::unix::fs::chown(&key, Some(0), None).unwrap();
        std::os::unix::fs::chown(root.path(), Some(65534), None).unwrap();
        let err = read_private(&key).unwrap_err();
        assert!(err.to_string().contains("owned by uid 65534"), "{err}");
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn secret_files_are_0600_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.key");
        write_secret(&p, b"one").unwrap();
        assert_eq!(mode(&p), 0o600);
        write_secret(&p, b"two").unwrap();
        assert_eq!(read_private(&p).unwrap(), "two");
        check_private(&p).unwrap();
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);

        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        let err = read_private(&p).unwrap_err();
        assert!(
            matches!(err, PkiError::InsecureKeyFile { mode: 0o640, .. }),
            "{err}"
        );
        assert!(err.to_string().contains(&p.display().to_string()), "{err}");
        assert!(err.to_string().contains("0640"), "{err}");
        assert!(check_private(&p).is_err());
        fs::set_permissions(&p, fs::Permissions::from_mode(0o602)).unwrap();
        assert!(check_private(&p).is_err());
        fs::set_permissions(&p, fs::Permissions::from_mode(0o400)).unwrap();
        check_private(&p).unwrap();
    }

    #[test]
    fn public_files_and_removal() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.crt");
        assert_eq!(read_optional(&p).unwrap(), None);
        write_public(&p, b"cert").unwrap();
        assert_eq!(read_optional(&p).unwrap().as_deref(), Some("cert"));
        remove(&p).unwrap();
        remove(&p).unwrap();
        assert!(!exists(&p).unwrap());
    }
}
