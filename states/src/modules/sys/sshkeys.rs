//! SSH keys as Salt's `ssh` module handles them: a user's
//! `authorized_keys` (read, add, replace, remove a key), known-hosts
//! entries through `ssh-keygen -F/-R/-H` (and `ssh-keyscan` only when no
//! key is given), host keys in `/etc/ssh`, and key fingerprints.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use sha2::Digest;

use super::accounts::{self, UserInfo};
use super::run::Cmd;

pub const AUTHORIZED_KEYS: &str = ".ssh/authorized_keys";
pub const USER_KNOWN_HOSTS: &str = ".ssh/known_hosts";
pub const SYSTEM_KNOWN_HOSTS: &str = "/etc/ssh/ssh_known_hosts";
pub const DEFAULT_SSH_PORT: u16 = 22;

/// Why an ssh key operation failed; the texts are Salt's.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SshError {
    #[error("User '{0}' does not exist")]
    NoUser(String),
    #[error("Incorrect encryption key type '{0}'.")]
    BadEnc(String),
    #[error("The fingerprint_hash_type {0} is not supported.")]
    BadHashType(String),
    #[error("Problem reading ssh key file {0}")]
    Read(String),
    #[error("Could not write to key file: {0}")]
    Write(String),
    #[error("{0}")]
    Other(String),
}

/// Strict base64 (Python's `b64decode(validate=True)`): the standard
/// alphabet, padded to a multiple of four.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    if !b.len().is_multiple_of(4) {
        return None;
    }
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for (i, chunk) in b.chunks(4).enumerate() {
        let last = i == b.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Salt's `_fingerprint`: the hash (sha256 unless `hash_type` says md5)
/// of the decoded key as colon-separated hex; `Ok(None)` when the key is
/// not base64.
pub fn fingerprint(key: &str, hash_type: Option<&str>) -> Result<Option<String>, SshError> {
    let hash_type = hash_type.unwrap_or("sha256").to_lowercase();
    let Some(raw) = base64_decode(key) else {
        return Ok(None);
    };
    let digest: Vec<u8> = match hash_type.as_str() {
        "sha256" => sha2::Sha256::digest(&raw).to_vec(),
        "md5" => md5::Md5::digest(&raw).to_vec(),
        "sha512" => sha2::Sha512::digest(&raw).to_vec(),
        other => return Err(SshError::BadHashType(other.to_string())),
    };
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Some(hex.join(":")))
}

/// Salt's `_refine_enc`: a key type's short names to its full one.
pub fn refine_enc(enc: &str) -> Result<String, SshError> {
    Ok(match enc {
        "r" | "rsa" | "ssh-rsa" => "ssh-rsa".into(),
        "d" | "dsa" | "dss" | "ssh-dss" => "ssh-dss".into(),
        "e" | "ecdsa" => "ecdsa-sha2-nistp256".into(),
        "ecdsa-sha2-nistp521" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp256" => enc.into(),
        "ed25519" | "ssh-ed25519" => "ssh-ed25519".into(),
        "sk-ecdsa-sha2-nistp256@openssh.com" | "sk-ssh-ed25519@openssh.com" => enc.into(),
        "ecdsa-sk" => "sk-ecdsa-sha2-nistp256@openssh.com".into(),
        "ed25519-sk" => "sk-ssh-ed25519@openssh.com".into(),
        other => return Err(SshError::BadEnc(other.to_string())),
    })
}

/// One authorized key line split Salt's way (`^(.*?)\s?((?:sk-)?(?:ssh-|ecds)[\w-]+\s.+)$`):
/// options before the key type, the type, the key, the comment.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthLine {
    pub options: Vec<String>,
    pub enc: String,
    pub key: String,
    pub comment: String,
}

fn auth_line_re() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"^(.*?)\s?((?:sk-)?(?:ssh-|ecds)[\w-]+\s.+)$").expect("valid regex")
    })
}

/// Parses an authorized_keys line; `None` for comments and lines that
/// hold no key.
pub fn parse_auth_line(line: &str) -> Option<AuthLine> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let caps = auth_line_re().captures(line)?;
    let opts = caps.get(1).map_or("", |m| m.as_str());
    let comps: Vec<&str> = caps.get(2)?.as_str().split_whitespace().collect();
    if comps.len() < 2 {
        return None;
    }
    Some(AuthLine {
        options: if opts.is_empty() {
            Vec::new()
        } else {
            opts.split(',').map(str::to_string).collect()
        },
        enc: comps[0].to_string(),
        key: comps[1].to_string(),
        comment: comps[2..].join(" "),
    })
}

/// Salt's `_format_auth_line`.
pub fn format_auth_line(key: &str, enc: &str, comment: &str, options: &[String]) -> String {
    let mut line = String::new();
    if !options.is_empty() {
        line.push_str(&options.join(","));
        line.push(' ');
    }
    line.push_str(&format!("{enc} {key} {comment}\n"));
    line
}

/// Salt's `_validate_keys` on authorized_keys text:
/// `{key: {enc, comment, options, fingerprint}}`, keys that are not base64 left out.
pub fn auth_keys_from_text(
    text: &str,
    hash_type: Option<&str>,
) -> Result<Map<String, Value>, SshError> {
    let mut out = Map::new();
    for l in text.lines().filter_map(parse_auth_line) {
        let Some(fp) = fingerprint(&l.key, hash_type)? else {
            continue;
        };
        out.insert(
            l.key.clone(),
            json!({"enc": l.enc, "comment": l.comment, "options": l.options, "fingerprint": fp}),
        );
    }
    Ok(out)
}

/// A key file path for `user`: `%h`, `%u` and `%%` expanded, relative paths
/// taken from the home directory (Salt's `_get_config_file`).
pub fn config_file(user: &UserInfo, config: &str) -> PathBuf {
    let expanded = config
        .replace("%%", "\u{0}")
        .replace("%h", &user.home)
        .replace("%u", &user.name)
        .replace('\u{0}', "%");
    let p = Path::new(&expanded);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        Path::new(&user.home).join(p)
    }
}

fn user_or_err(user: &str) -> Result<UserInfo, SshError> {
    accounts::user_info(user).ok_or_else(|| SshError::NoUser(user.to_string()))
}

/// Salt's `auth_keys` for one user: `{}` when the file is missing.
pub fn auth_keys(
    user: &str,
    config: &str,
    hash_type: Option<&str>,
) -> Result<Map<String, Value>, SshError> {
    let Some(info) = accounts::user_info(user) else {
        return Ok(Map::new());
    };
    let path = config_file(&info, config);
    if !path.is_file() {
        return Ok(Map::new());
    }
    let text =
        std::fs::read_to_string(&path).map_err(|_| SshError::Read(path.display().to_string()))?;
    auth_keys_from_text(&text, hash_type)
}

/// Salt's `check_key`: `"add"`, `"update"` (present with other type,
/// comment or options) or `"exists"`.
pub fn check_key(
    current: &Map<String, Value>,
    key: &str,
    enc: &str,
    comment: &str,
    options: &[String],
) -> &'static str {
    let Some(have) = current.get(key) else {
        return "add";
    };
    let text = |k: &str| have[k].as_str().unwrap_or("").to_string();
    let opts: Vec<String> = have["options"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|o| o.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let current_line = format_auth_line(key, &text("enc"), &text("comment"), &opts);
    if current_line != format_auth_line(key, enc, comment, options) {
        "update"
    } else {
        "exists"
    }
}

/// Salt's `_replace_auth_key` on text: every line holding `key` becomes `line`.
pub fn replace_key_text(text: &str, key: &str, line: &str) -> String {
    let mut out = String::new();
    for raw in text.split_inclusive('\n') {
        match parse_auth_line(raw) {
            Some(l) if l.key == key => out.push_str(line),
            _ => {
                out.push_str(raw);
                if !raw.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// Salt's `set_auth_key_from_file` on the file's text: every key in it set;
/// `"fail"` when it holds none, else the first of `fail`, `replace`, `new`
/// that any key answered, else `"no change"`.
pub fn set_auth_keys_from_text(
    user: &str,
    text: &str,
    config: &str,
    hash_type: Option<&str>,
) -> Result<&'static str, SshError> {
    let keys = auth_keys_from_text(text, hash_type)?;
    if keys.is_empty() {
        return Ok("fail");
    }
    let mut answers = Vec::new();
    for (key, attrs) in &keys {
        let (enc, comment, options) = key_attrs(attrs);
        answers.push(set_auth_key(
            user, key, &enc, &comment, &options, config, hash_type,
        )?);
    }
    Ok(["fail", "replace", "new"]
        .into_iter()
        .find(|w| answers.contains(w))
        .unwrap_or("no change"))
}

/// Salt's `check_key_file` on the file's text: `{key: add|update|exists}`.
pub fn check_keys_from_text(
    user: &str,
    text: &str,
    config: &str,
    hash_type: Option<&str>,
) -> Result<Vec<(String, &'static str)>, SshError> {
    let current = auth_keys(user, config, hash_type)?;
    let keys = auth_keys_from_text(text, hash_type)?;
    let mut out = Vec::new();
    for (key, attrs) in &keys {
        let (enc, comment, options) = key_attrs(attrs);
        let enc = refine_enc(&enc)?;
        out.push((
            key.clone(),
            check_key(&current, key, &enc, &comment, &options),
        ));
    }
    Ok(out)
}

/// `enc`, `comment` and `options` of one `auth_keys` entry.
fn key_attrs(attrs: &Value) -> (String, String, Vec<String>) {
    let text = |k: &str| attrs[k].as_str().unwrap_or("").to_string();
    let options = attrs["options"]
        .as_array()
        .map(|o| {
            o.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (text("enc"), text("comment"), options)
}

/// Salt's `rm_auth_key` on text: lines holding `key` and blank lines go.
pub fn remove_key_text(text: &str, key: &str) -> String {
    let mut out = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if parse_auth_line(line).is_some_and(|l| l.key == key) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Gives `path` to the user (when running as root) with `mode`.
fn own(path: &Path, user: &UserInfo, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    if nix::unistd::Uid::effective().is_root() {
        let _ = nix::unistd::chown(
            path,
            Some(nix::unistd::Uid::from_raw(user.uid)),
            Some(nix::unistd::Gid::from_raw(user.gid)),
        );
    }
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

/// Salt's `set_auth_key`: `"new"`, `"replace"`, `"no change"`, `"fail"`
/// (no such user, or its home is missing), `"invalid"` (a key with
/// spaces) or `"Invalid public key"` (not base64).
pub fn set_auth_key(
    user: &str,
    key: &str,
    enc: &str,
    comment: &str,
    options: &[String],
    config: &str,
    hash_type: Option<&str>,
) -> Result<&'static str, SshError> {
    if key.split_whitespace().count() > 1 {
        return Ok("invalid");
    }
    let enc = refine_enc(enc)?;
    let Some(info) = accounts::user_info(user) else {
        return Ok("fail");
    };
    if fingerprint(key, hash_type)?.is_none() {
        return Ok("Invalid public key");
    }
    let current = auth_keys(user, config, hash_type)?;
    let line = format_auth_line(key, &enc, comment, options);
    let path = config_file(&info, config);
    match check_key(&current, key, &enc, comment, options) {
        "exists" => return Ok("no change"),
        "update" => {
            let text = std::fs::read_to_string(&path)
                .map_err(|_| SshError::Read(path.display().to_string()))?;
            std::fs::write(&path, replace_key_text(&text, key, &line))
                .map_err(|e| SshError::Write(e.to_string()))?;
            return Ok("replace");
        }
        _ => {}
    }
    if path.starts_with(&info.home) && !Path::new(&info.home).is_dir() {
        return Ok("fail");
    }
    if let Some(dir) = path.parent().filter(|d| !d.is_dir()) {
        std::fs::create_dir_all(dir).map_err(|e| SshError::Write(e.to_string()))?;
        own(dir, &info, 0o700);
    }
    let new_file = !path.is_file();
    let mut text = if new_file {
        String::new()
    } else {
        std::fs::read_to_string(&path).map_err(|e| SshError::Write(e.to_string()))?
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&line);
    std::fs::write(&path, text).map_err(|e| SshError::Write(e.to_string()))?;
    if new_file {
        own(&path, &info, 0o600);
    }
    Ok("new")
}

/// Salt's `rm_auth_key`: `"Key removed"`, `"Key not present"`, or
/// `"Key not removed"` when the file could not be rewritten.
pub fn rm_auth_key(
    user: &str,
    key: &str,
    config: &str,
    hash_type: Option<&str>,
) -> Result<String, SshError> {
    let current = auth_keys(user, config, hash_type)?;
    if !current.contains_key(key) {
        return Ok("Key not present".into());
    }
    let info = user_or_err(user)?;
    let path = config_file(&info, config);
    if !path.is_file() {
        return Ok(format!(
            "Authorized keys file {} not present",
            path.display()
        ));
    }
    let done = std::fs::read_to_string(&path)
        .and_then(|text| std::fs::write(&path, remove_key_text(&text, key)));
    Ok(match done {
        Ok(()) => "Key removed".into(),
        Err(e) => {
            tracing::warn!(error = %e, "could not read/write key file");
            "Key not removed".into()
        }
    })
}

/// Salt's `host_keys`: `{type: key text, type.pub: ..., type-cert.pub: ...}`
/// from `ssh_host_<type>_key*` files in `keydir`.
pub fn host_keys(
    keydir: &Path,
    private: bool,
    certs: bool,
) -> Result<Map<String, Value>, SshError> {
    let re = regex::Regex::new(r"^ssh_host_(?P<type>.+)_key(?P<pub>(?P<cert>-cert)?\.pub)?")
        .expect("valid regex");
    let dir = std::fs::read_dir(keydir)
        .map_err(|e| SshError::Other(format!("{}: {e}", keydir.display())))?;
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    let mut out = Map::new();
    for name in names {
        let Some(m) = re.captures(&name) else {
            continue;
        };
        let is_pub = m.name("pub").is_some();
        if (!is_pub && !private) || (m.name("cert").is_some() && !certs) {
            continue;
        }
        let mut kname = m["type"].to_string();
        if let Some(p) = m.name("pub") {
            kname.push_str(p.as_str());
        }
        let text = std::fs::read_to_string(keydir.join(&name)).unwrap_or_default();
        out.insert(kname, json!(text.trim()));
    }
    Ok(out)
}

// ---- known hosts ------------------------------------------------------------------

/// One known-hosts entry (Salt's `_parse_openssh_output` item).
#[derive(Debug, Clone, PartialEq)]
pub struct KnownHost {
    pub hostname: String,
    pub enc: String,
    pub key: String,
    pub fingerprint: String,
}

impl KnownHost {
    pub fn to_json(&self) -> Value {
        json!({"hostname": self.hostname, "enc": self.enc, "key": self.key, "fingerprint": self.fingerprint})
    }
}

/// `host` or `[host]:port` as ssh spells a host on a non-default port.
pub fn ssh_hostname(host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) if p != DEFAULT_SSH_PORT => format!("[{host}]:{p}"),
        _ => host.to_string(),
    }
}

/// Salt's `_parse_openssh_output`: `host enc key` lines (what `ssh-keygen
/// -F` and `ssh-keyscan` print), comments and others skipped.
pub fn parse_known_lines(text: &str, hash_type: Option<&str>) -> Result<Vec<KnownHost>, SshError> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 3 {
            continue;
        }
        let Some(fp) = fingerprint(f[2], hash_type)? else {
            continue;
        };
        out.push(KnownHost {
            hostname: f[0].to_string(),
            enc: f[1].to_string(),
            key: f[2].to_string(),
            fingerprint: fp,
        });
    }
    Ok(out)
}

/// The known-hosts file: `config` (default the user's `.ssh/known_hosts`,
/// or the system file without a user), relative paths from the user's home.
pub fn known_hosts_file(user: Option<&str>, config: Option<&str>) -> Result<PathBuf, SshError> {
    match user {
        Some(u) => {
            let info = user_or_err(u)?;
            Ok(config_file(&info, config.unwrap_or(USER_KNOWN_HOSTS)))
        }
        None => {
            let c = config.unwrap_or(SYSTEM_KNOWN_HOSTS);
            if !Path::new(c).is_absolute() {
                return Err(SshError::Other(
                    "If not specifying a \"user\", specify an absolute \"config\".".into(),
                ));
            }
            Ok(PathBuf::from(c))
        }
    }
}

/// Salt's `get_known_host_entries`: what `ssh-keygen -F` finds for the host.
pub fn known_host_entries(
    file: &Path,
    hostname: &str,
    port: Option<u16>,
    hash_type: Option<&str>,
) -> Result<Vec<KnownHost>, SshError> {
    if !file.is_file() {
        return Ok(Vec::new());
    }
    let out = Cmd::new("ssh-keygen")
        .arg("-F")
        .arg(ssh_hostname(hostname, port))
        .arg("-f")
        .arg(file.display().to_string())
        .run()
        .map_err(SshError::Other)?;
    parse_known_lines(&out.stdout, hash_type)
}

/// Salt's `check_known_host`: `"add"`, `"update"` or `"exists"`.
pub fn check_known_host(
    stored: &[KnownHost],
    key: Option<&str>,
    fingerprint: Option<&str>,
) -> &'static str {
    if stored.is_empty() {
        return "add";
    }
    let found = match (key, fingerprint) {
        (Some(k), _) => stored.iter().any(|h| h.key == k),
        (None, Some(f)) => stored.iter().any(|h| h.fingerprint == f),
        (None, None) => true,
    };
    if found {
        "exists"
    } else {
        "update"
    }
}

/// `ssh-keyscan` for the host's keys (only used when no key is given).
pub fn keyscan(
    hostname: &str,
    enc: Option<&str>,
    port: Option<u16>,
    hash: bool,
    timeout: u32,
    hash_type: Option<&str>,
) -> Result<Vec<KnownHost>, SshError> {
    let mut cmd = Cmd::new("ssh-keyscan");
    if let Some(p) = port {
        cmd = cmd.args(["-p".to_string(), p.to_string()]);
    }
    if let Some(e) = enc {
        cmd = cmd.args(["-t", e]);
    }
    if hash {
        cmd = cmd.arg("-H");
    }
    cmd = cmd.args(["-T".to_string(), timeout.to_string(), hostname.to_string()]);
    let out = cmd.run().map_err(SshError::Other)?;
    parse_known_lines(&out.stdout, hash_type)
}

/// What `set_known_host` asks for.
#[derive(Debug, Clone, Default)]
pub struct KnownHostRequest {
    pub user: Option<String>,
    pub hostname: String,
    pub fingerprint: Option<String>,
    pub key: Option<String>,
    pub port: Option<u16>,
    pub enc: Option<String>,
    pub config: Option<String>,
    pub hash_known_hosts: bool,
    pub timeout: u32,
    pub hash_type: Option<String>,
}

/// Salt's `set_known_host` result: `{"status": "exists", "keys": [...]}`,
/// `{"status": "updated", "old": [...]|null, "new": [...]}` or
/// `{"status": "error", "error": "..."}`.
pub fn set_known_host(r: &KnownHostRequest) -> Result<Value, SshError> {
    let err = |e: &str| Ok(json!({"status": "error", "error": e}));
    if r.hostname.is_empty() {
        return err("hostname argument required");
    }
    if r.port.is_some_and(|p| p != DEFAULT_SSH_PORT) && r.hash_known_hosts {
        return err("argument port can not be used in conjunction with argument hash_known_hosts");
    }
    let ht = r.hash_type.as_deref();
    let file = known_hosts_file(r.user.as_deref(), r.config.as_deref())?;
    let stored = known_host_entries(&file, &r.hostname, r.port, ht)?;
    let stored_keys: Vec<&str> = stored.iter().map(|h| h.key.as_str()).collect();
    let update_required = stored.is_empty()
        || r.fingerprint
            .as_ref()
            .is_some_and(|f| !stored.iter().any(|h| &h.fingerprint == f))
        || r.key
            .as_ref()
            .is_some_and(|k| !stored_keys.contains(&k.as_str()));
    let check_required = !update_required && r.key.is_none() && r.fingerprint.is_none();
    if !update_required && !check_required {
        return Ok(json!({"status": "exists", "keys": stored_keys}));
    }
    let new_entries: Vec<Value> = match &r.key {
        Some(key) => vec![json!({"hostname": r.hostname, "enc": r.enc, "key": key})],
        None => {
            let remote = keyscan(
                &r.hostname,
                r.enc.as_deref(),
                r.port,
                r.hash_known_hosts,
                r.timeout,
                ht,
            )?;
            if remote.is_empty() {
                return err("Unable to receive remote host keys");
            }
            if let Some(f) = &r.fingerprint {
                if !remote.iter().any(|h| &h.fingerprint == f) {
                    return err("Remote host public keys found but none of their fingerprints match the one you have provided");
                }
            }
            if check_required && remote.iter().any(|h| stored_keys.contains(&h.key.as_str())) {
                return Ok(json!({"status": "exists", "keys": stored_keys}));
            }
            remote.iter().map(KnownHost::to_json).collect()
        }
    };
    let orig_mode = std::fs::metadata(&file).ok().map(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode()
    });
    if orig_mode.is_some() {
        remove_matched_lines(&file, &r.hostname, r.port, r.enc.as_deref())?;
    }
    let mut lines = String::new();
    for e in &new_entries {
        let host = e["hostname"].as_str().unwrap_or("");
        let enc = e["enc"].as_str().unwrap_or("");
        let key = e["key"].as_str().unwrap_or("");
        let shown = if r.hash_known_hosts
            || r.port.is_none_or(|p| p == DEFAULT_SSH_PORT)
            || host.contains(':')
        {
            host.to_string()
        } else {
            ssh_hostname(host, r.port)
        };
        lines.push_str(&format!("{shown} {enc} {key}\n"));
    }
    let user = match &r.user {
        Some(u) => Some(user_or_err(u)?),
        None => None,
    };
    if let Some(dir) = file.parent().filter(|d| !d.is_dir()) {
        std::fs::create_dir_all(dir).map_err(|e| SshError::Other(e.to_string()))?;
        if let Some(u) = &user {
            own(dir, u, 0o700);
        }
    }
    let mut text = std::fs::read_to_string(&file).unwrap_or_default();
    text.push_str(&lines);
    std::fs::write(&file, text)
        .map_err(|e| SshError::Other(format!("Couldn't append to known hosts file: '{e}'")))?;
    match &user {
        Some(u) => own(&file, u, orig_mode.unwrap_or(0o600) & 0o7777),
        None => {
            use std::os::unix::fs::PermissionsExt;
            let mode = orig_mode.unwrap_or(0o600) & 0o7777;
            let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode));
        }
    }
    if r.key.is_some() && r.hash_known_hosts {
        hash_known_hosts(&file)?;
    }
    let old = if stored.is_empty() {
        Value::Null
    } else {
        json!(stored.iter().map(KnownHost::to_json).collect::<Vec<_>>())
    };
    Ok(json!({"status": "updated", "old": old, "new": new_entries}))
}

/// Removes the lines `ssh-keygen -F` finds for the host with key type
/// `enc` (default `rsa`, as Salt compares it), so the new key replaces them.
fn remove_matched_lines(
    file: &Path,
    hostname: &str,
    port: Option<u16>,
    enc: Option<&str>,
) -> Result<(), SshError> {
    let out = Cmd::new("ssh-keygen")
        .arg("-F")
        .arg(ssh_hostname(hostname, port))
        .arg("-f")
        .arg(file.display().to_string())
        .run()
        .map_err(SshError::Other)?;
    let numbers = matched_line_numbers(&out.stdout, enc.unwrap_or("rsa"));
    if numbers.is_empty() {
        return Ok(());
    }
    let text = std::fs::read_to_string(file).map_err(|e| {
        SshError::Other(format!(
            "Couldn't remove old entry(ies) from known hosts file: '{e}'"
        ))
    })?;
    let kept: String = text
        .split_inclusive('\n')
        .enumerate()
        .filter(|(i, _)| !numbers.contains(&(i + 1)))
        .map(|(_, l)| l)
        .collect();
    std::fs::write(file, kept).map_err(|e| {
        SshError::Other(format!(
            "Couldn't remove old entry(ies) from known hosts file: '{e}'"
        ))
    })
}

/// Salt's `_get_matched_host_line_numbers` on `ssh-keygen -F` output
/// (`# Host h found: line N` then the line): the numbers of lines of `enc`.
pub fn matched_line_numbers(output: &str, enc: &str) -> Vec<usize> {
    let lines: Vec<&str> = output.lines().collect();
    let mut out = Vec::new();
    for pair in lines.chunks(2) {
        let [head, entry] = pair else { continue };
        let Some(n) = head.split_whitespace().last().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let f: Vec<&str> = entry.split_whitespace().collect();
        if f.len() >= 2 && f[f.len() - 2] == enc {
            out.push(n);
        }
    }
    out
}

/// `ssh-keygen -H -f file`, its `.old` backup removed (Salt's `hash_known_hosts`).
pub fn hash_known_hosts(file: &Path) -> Result<(), SshError> {
    Cmd::new("ssh-keygen")
        .args(["-H", "-f"])
        .arg(file.display().to_string())
        .run_ok()
        .map_err(SshError::Other)?;
    let _ = std::fs::remove_file(format!("{}.old", file.display()));
    Ok(())
}

/// Salt's `rm_known_host`: `ssh-keygen -R`.
pub fn rm_known_host(
    user: Option<&str>,
    hostname: &str,
    config: Option<&str>,
    port: Option<u16>,
) -> Result<Value, SshError> {
    if hostname.is_empty() {
        return Ok(json!({"status": "error", "error": "hostname argument required"}));
    }
    let file = known_hosts_file(user, config)?;
    if !file.is_file() {
        return Ok(
            json!({"status": "error", "error": format!("Known hosts file {} does not exist", file.display())}),
        );
    }
    let host = ssh_hostname(hostname, port);
    Cmd::new("ssh-keygen")
        .args(["-R", &host, "-f"])
        .arg(file.display().to_string())
        .run_ok()
        .map_err(SshError::Other)?;
    let _ = std::fs::remove_file(format!("{}.old", file.display()));
    Ok(json!({"status": "removed", "comment": format!("{} removed from {}", host, file.display())}))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ed25519 public key (base64 of a well-formed blob).
    pub const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn base64_is_strict() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGk=").unwrap(), b"hi");
        assert_eq!(base64_decode("YWJj").unwrap(), b"abc");
        assert!(base64_decode("aGVsbG8").is_none());
        assert!(base64_decode("a=GV").is_none());
        assert!(base64_decode("aGV$bG8=").is_none());
    }

    #[test]
    fn fingerprints_are_hex_pairs() {
        let fp = fingerprint("aGVsbG8=", None).unwrap().unwrap();
        // sha256("hello")
        assert!(fp.starts_with("2c:f2:4d:ba:5f:b0:a3:0e"), "{fp}");
        let md5 = fingerprint("aGVsbG8=", Some("md5")).unwrap().unwrap();
        assert_eq!(md5, "5d:41:40:2a:bc:4b:2a:76:b9:71:9d:91:10:17:c5:92");
        assert_eq!(fingerprint("not base64!", None), Ok(None));
        assert_eq!(
            fingerprint(KEY, Some("sha3")).unwrap_err().to_string(),
            "The fingerprint_hash_type sha3 is not supported."
        );
    }

    #[test]
    fn authorized_keys_parse_and_edit() {
        let text = format!(
            "# mine\n\
             ssh-ed25519 {KEY} me@host\n\
             no-pty,command=\"x\" ssh-rsa aGVsbG8= two words\n\
             ssh-rsa ###bad### x\n"
        );
        let keys = auth_keys_from_text(&text, None).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[KEY]["enc"], "ssh-ed25519");
        assert_eq!(keys[KEY]["comment"], "me@host");
        assert_eq!(keys[KEY]["options"], json!([]));
        assert_eq!(
            keys["aGVsbG8="]["options"],
            json!(["no-pty", "command=\"x\""])
        );
        assert_eq!(keys["aGVsbG8="]["comment"], "two words");
        assert_eq!(
            check_key(&keys, KEY, "ssh-ed25519", "me@host", &[]),
            "exists"
        );
        assert_eq!(check_key(&keys, KEY, "ssh-ed25519", "other", &[]), "update");
        assert_eq!(check_key(&keys, "YWJj", "ssh-rsa", "", &[]), "add");
        let line = format_auth_line(KEY, "ssh-ed25519", "new", &["no-pty".into()]);
        assert_eq!(line, format!("no-pty ssh-ed25519 {KEY} new\n"));
        let replaced = replace_key_text(&text, KEY, &line);
        assert!(replaced.contains(&format!("\nno-pty ssh-ed25519 {KEY} new\n")));
        let removed = remove_key_text(&format!("{text}\n\n"), KEY);
        assert!(!removed.contains(KEY));
        assert!(removed.starts_with("# mine\nno-pty,command"));
        assert_eq!(refine_enc("rsa").unwrap(), "ssh-rsa");
        assert_eq!(refine_enc("e").unwrap(), "ecdsa-sha2-nistp256");
        assert_eq!(
            refine_enc("foo").unwrap_err().to_string(),
            "Incorrect encryption key type 'foo'."
        );
    }

    #[test]
    fn config_paths_expand_like_sshd() {
        let u = accounts::parse_user("joe:x:1000:1000::/home/joe:/bin/sh\n", "", "joe").unwrap();
        assert_eq!(
            config_file(&u, ".ssh/authorized_keys"),
            PathBuf::from("/home/joe/.ssh/authorized_keys")
        );
        assert_eq!(
            config_file(&u, "/etc/keys/%u"),
            PathBuf::from("/etc/keys/joe")
        );
        assert_eq!(config_file(&u, "%h/k%%"), PathBuf::from("/home/joe/k%"));
    }

    #[test]
    fn ssh_keygen_output_line_numbers() {
        let out = format!(
            "# Host example.org found: line 2\nexample.org ssh-ed25519 {KEY}\n\
             # Host example.org found: line 5\nexample.org ssh-rsa aGVsbG8=\n"
        );
        assert_eq!(matched_line_numbers(&out, "ssh-ed25519"), vec![2]);
        assert_eq!(matched_line_numbers(&out, "rsa"), Vec::<usize>::new());
        let parsed = parse_known_lines(&out, None).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].hostname, "example.org");
        assert_eq!(check_known_host(&parsed, Some(KEY), None), "exists");
        assert_eq!(check_known_host(&parsed, Some("YWJj"), None), "update");
        assert_eq!(check_known_host(&[], Some(KEY), None), "add");
        assert_eq!(ssh_hostname("h", Some(2222)), "[h]:2222");
        assert_eq!(ssh_hostname("h", Some(22)), "h");
    }

    #[test]
    fn known_host_set_on_a_temp_file_with_ssh_keygen() {
        if !super::super::run::which("ssh-keygen") {
            println!("skipped: no ssh-keygen");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        let req = KnownHostRequest {
            hostname: "example.org".into(),
            key: Some(KEY.into()),
            enc: Some("ssh-ed25519".into()),
            config: Some(file.to_str().unwrap().into()),
            hash_known_hosts: false,
            timeout: 5,
            ..Default::default()
        };
        let r = set_known_host(&req).unwrap();
        assert_eq!(r["status"], "updated", "{r}");
        assert_eq!(r["old"], Value::Null);
        assert_eq!(r["new"][0]["key"], KEY);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            format!("example.org ssh-ed25519 {KEY}\n")
        );
        let again = set_known_host(&req).unwrap();
        assert_eq!(again, json!({"status": "exists", "keys": [KEY]}));
        // Another key of the same type replaces the line; hashed this time.
        let other = "AAAAC3NzaC1lZDI1NTE5AAAAIJvTZm1u4Xm0T0p5ox6cGQmDSpjBQeRkY5W9r1Wn0Rjr";
        let req2 = KnownHostRequest {
            key: Some(other.into()),
            hash_known_hosts: true,
            ..req.clone()
        };
        let r = set_known_host(&req2).unwrap();
        assert_eq!(r["status"], "updated", "{r}");
        assert_eq!(r["old"][0]["key"], KEY);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("|1|"), "hashed: {text}");
        assert!(!text.contains(KEY));
        let found = known_host_entries(&file, "example.org", None, None).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, other);
        let gone = rm_known_host(None, "example.org", Some(file.to_str().unwrap()), None).unwrap();
        assert_eq!(gone["status"], "removed");
        assert!(known_host_entries(&file, "example.org", None, None)
            .unwrap()
            .is_empty());
    }
}
