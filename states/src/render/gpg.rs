//! The `gpg` renderer (Salt's `salt/renderers/gpg.py`): every armored
//! `-----BEGIN PGP MESSAGE-----` block in the rendered data (a text, or
//! each string of loaded data) is decrypted with the host's `gpg` and the
//! keyring in `gpg_keydir` (default `<config_dir>/gpgkeys`).

use std::path::{Path, PathBuf};

use crate::modules::sys::run::{which, Cmd};
use crate::yaml::Node;

const BEGIN: &str = "-----BEGIN PGP MESSAGE-----";
const END: &str = "-----END PGP MESSAGE-----";

/// How to decrypt: the keyring and whether a failure is an error.
pub struct Gpg {
    keydir: PathBuf,
    /// Salt's `gpg_decrypt_must_succeed` (default true): a block that does
    /// not decrypt fails the render instead of staying ciphertext.
    must_succeed: bool,
}

impl Gpg {
    /// From the options: `gpg_keydir`, else `<config_dir>/gpgkeys` (the
    /// directory of `conf_file` when `config_dir` is not set).
    pub fn from_opts(opts: &serde_json::Value) -> Result<Gpg, String> {
        if !which("gpg") {
            return Err("GPG unavailable".into());
        }
        let text = |k: &str| {
            opts.get(k)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        let keydir = match text("gpg_keydir") {
            Some(dir) => PathBuf::from(dir),
            None => {
                let config_dir = text("config_dir").map(PathBuf::from).or_else(|| {
                    text("conf_file").and_then(|f| Path::new(f).parent().map(Path::to_path_buf))
                });
                config_dir.unwrap_or_default().join("gpgkeys")
            }
        };
        let must_succeed = opts
            .get("gpg_decrypt_must_succeed")
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        Ok(Gpg {
            keydir,
            must_succeed,
        })
    }

    /// One armored block, decrypted (Salt first turns literal `\n` into
    /// line breaks, so a block written on one line in YAML decrypts too).
    fn decrypt_block(&self, cipher: &str) -> Result<String, String> {
        let cipher = cipher.replace("\\n", "\n");
        let out = Cmd::new("gpg")
            .arg("--homedir")
            .arg(self.keydir.display().to_string())
            .args(["--status-fd", "2", "--no-tty", "-d"])
            .stdin(cipher.clone())
            .run()?;
        if out.stdout.is_empty() {
            tracing::warn!("could not decrypt cipher: {}", out.stderr.trim());
            if self.must_succeed {
                return Err(format!(
                    "Could not decrypt cipher {cipher:?}, received: {:?}",
                    out.stderr
                ));
            }
            return Ok(cipher);
        }
        Ok(out.stdout)
    }

    /// `text` with each armored block replaced by its plain text; when a
    /// block was found, trailing newlines are dropped (as Salt does).
    pub fn decrypt_text(&self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        let mut found = false;
        while let Some(start) = rest.find(BEGIN) {
            let Some(len) = rest[start..].find(END) else {
                break;
            };
            let end = start + len + END.len();
            out.push_str(&rest[..start]);
            out.push_str(&self.decrypt_block(&rest[start..end])?);
            rest = &rest[end..];
            found = true;
        }
        if !found {
            return Ok(text.to_string());
        }
        out.push_str(rest);
        Ok(out.trim_end_matches('\n').to_string())
    }

    /// Every string of `node` (mapping values and list items, not keys)
    /// decrypted.
    pub fn decrypt_node(&self, node: Node) -> Result<Node, String> {
        Ok(match node {
            Node::Str(s) => Node::Str(self.decrypt_text(&s)?),
            Node::Seq(items) => Node::Seq(
                items
                    .into_iter()
                    .map(|n| self.decrypt_node(n))
                    .collect::<Result<_, _>>()?,
            ),
            Node::Map(pairs) => Node::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| Ok((k, self.decrypt_node(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other,
        })
    }
}
