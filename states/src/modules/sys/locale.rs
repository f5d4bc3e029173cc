//! The system locale: `localectl` where it answers (systemd hosts), else
//! `/etc/default/locale` (Debian) or `/etc/locale.conf`; locales generated
//! from `/etc/locale.gen` with `locale-gen`, as Salt's `locale` module does.
//! The file root is a field so tests work in a temp dir.

use std::path::{Path, PathBuf};

use super::run::Cmd;

/// Where the host's locale settings live and how to change them.
#[derive(Debug, Clone)]
pub struct LocaleSettings {
    /// `/` on the real host.
    pub root: PathBuf,
    /// Whether to use `localectl` (it answers only under systemd).
    pub localectl: bool,
    /// Whether to run `locale-gen` and `locale -a` (not in tests).
    pub tools: bool,
}

/// `System Locale: LANG=en_US.UTF-8` (continued on indented lines) in
/// `localectl status` output: the variables.
pub fn parse_localectl(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let trimmed = line.trim();
        let item = if let Some(rest) = trimmed.strip_prefix("System Locale:") {
            inside = true;
            rest.trim()
        } else if inside && !trimmed.contains(": ") && trimmed.contains('=') {
            trimmed
        } else {
            inside = false;
            continue;
        };
        if let Some((k, v)) = item.split_once('=') {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

/// `LANG=...` in a shell-style variables file, quotes removed.
pub fn lang_in(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.trim().strip_prefix("LANG=")?;
        Some(v.replace(['"', '\''], ""))
    })
}

/// Salt's `normalize_locale`: `en_US.UTF-8` and `en_US.utf8` are one
/// locale (the codeset lowercased, without dashes).
pub fn normalize(name: &str) -> String {
    let (base, modifier) = match name.split_once('@') {
        Some((b, m)) => (b, Some(m)),
        None => (name, None),
    };
    let mut out = match base.split_once('.') {
        Some((lang, codeset)) => format!("{lang}.{}", codeset.to_lowercase().replace('-', "")),
        None => base.to_string(),
    };
    if let Some(m) = modifier {
        out = format!("{out}@{m}");
    }
    out
}

impl LocaleSettings {
    /// The real host: `localectl` when it answers.
    pub fn host() -> LocaleSettings {
        let answers = Cmd::new("localectl")
            .arg("status")
            .run()
            .is_ok_and(|o| o.success());
        LocaleSettings {
            root: PathBuf::from("/"),
            localectl: answers,
            tools: true,
        }
    }

    /// Files under `root`, no tools (tests).
    pub fn at(root: &Path) -> LocaleSettings {
        LocaleSettings {
            root: root.to_path_buf(),
            localectl: false,
            tools: false,
        }
    }

    fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    /// The file holding `LANG=` without systemd: Debian's
    /// `/etc/default/locale`, else `/etc/locale.conf`.
    fn locale_file(&self) -> PathBuf {
        let debian = self.path("/etc/default/locale");
        if debian.exists() || self.path("/etc/debian_version").exists() {
            debian
        } else {
            self.path("/etc/locale.conf")
        }
    }

    /// Salt's `locale.get_locale`: the system `LANG`, "" when unset.
    pub fn get_locale(&self) -> Result<String, String> {
        if self.localectl {
            let out = Cmd::new("localectl").arg("status").run_ok()?;
            return Ok(parse_localectl(&out.stdout)
                .into_iter()
                .find(|(k, _)| k == "LANG")
                .map(|(_, v)| v)
                .unwrap_or_default());
        }
        let text = std::fs::read_to_string(self.locale_file()).unwrap_or_default();
        Ok(lang_in(&text).unwrap_or_default())
    }

    /// Salt's `locale.set_locale`: the system `LANG`.
    pub fn set_locale(&self, locale: &str) -> Result<(), String> {
        if locale.is_empty() || locale.contains(['\n', '"', '\'', ' ']) {
            return Err(format!("'{locale}' is not a locale name"));
        }
        if self.localectl {
            return Cmd::new("localectl")
                .args(["set-locale", &format!("LANG={locale}")])
                .run_ok()
                .map(drop);
        }
        let path = self.locale_file();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut replaced = false;
        let mut lines: Vec<String> = text
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("LANG=") && !replaced {
                    replaced = true;
                    format!("LANG={locale}")
                } else {
                    l.to_string()
                }
            })
            .collect();
        if !replaced {
            lines.push(format!("LANG={locale}"));
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        std::fs::write(&path, lines.join("\n") + "\n")
            .map_err(|e| format!("Failed to write {}: {e}", path.display()))
    }

    /// Salt's `locale.list_avail`: the generated locales (`locale -a`);
    /// without tools, the uncommented entries of `/etc/locale.gen`.
    pub fn list_avail(&self) -> Result<Vec<String>, String> {
        if self.tools {
            let out = Cmd::new("locale").arg("-a").run_ok()?;
            return Ok(out.stdout.lines().map(|l| l.trim().to_string()).collect());
        }
        let text = std::fs::read_to_string(self.path("/etc/locale.gen")).unwrap_or_default();
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect())
    }

    /// Salt's `locale.avail`: whether `locale` is generated.
    pub fn avail(&self, locale: &str) -> Result<bool, String> {
        let want = normalize(locale.split_whitespace().next().unwrap_or(""));
        Ok(self.list_avail()?.iter().any(|l| normalize(l) == want))
    }

    /// The `/usr/share/i18n/SUPPORTED` line for `locale`: the line itself
    /// (`en_US.UTF-8 UTF-8`) or one whose first field is it (`en_US.UTF-8`).
    pub fn supported_line(&self, locale: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.path("/usr/share/i18n/SUPPORTED")).ok()?;
        let first = locale.split_whitespace().next()?;
        text.lines()
            .map(str::trim)
            .find(|l| *l == locale.trim())
            .or_else(|| {
                text.lines()
                    .map(str::trim)
                    .find(|l| l.split_whitespace().next() == Some(first))
            })
            .map(str::to_string)
    }

    /// Salt's `locale.gen_locale` on Debian: the locale enabled in
    /// `/etc/locale.gen` (uncommented, or appended) and `locale-gen` run.
    pub fn gen_locale(&self, locale: &str) -> Result<(), String> {
        let line = self.supported_line(locale).ok_or_else(|| {
            format!("The provided locale \"{locale}\" is not found in /usr/share/i18n/SUPPORTED")
        })?;
        let path = self.path("/etc/locale.gen");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut found = false;
        let mut lines: Vec<String> = text
            .lines()
            .map(|l| {
                let bare = l.trim().trim_start_matches('#').trim();
                if bare == line {
                    found = true;
                    line.clone()
                } else {
                    l.to_string()
                }
            })
            .collect();
        if !found {
            lines.push(line.clone());
        }
        std::fs::write(&path, lines.join("\n") + "\n")
            .map_err(|e| format!("Failed to write {}: {e}", path.display()))?;
        if self.tools {
            Cmd::new("locale-gen").run_ok()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localectl_and_files_are_read() {
        let text = "   System Locale: LANG=en_US.UTF-8\n                  LC_TIME=C.UTF-8\n       VC Keymap: us\n";
        assert_eq!(
            parse_localectl(text),
            vec![
                ("LANG".to_string(), "en_US.UTF-8".to_string()),
                ("LC_TIME".to_string(), "C.UTF-8".to_string())
            ]
        );
        assert_eq!(
            lang_in("# x\nLANG=\"de_DE.UTF-8\"\n").as_deref(),
            Some("de_DE.UTF-8")
        );
        assert_eq!(normalize("en_US.UTF-8"), "en_US.utf8");
        assert_eq!(normalize("sr_RS.UTF-8@latin"), "sr_RS.utf8@latin");
        assert_eq!(normalize("C"), "C");
    }

    #[test]
    fn locale_is_set_and_generated_in_files() {
        let dir = tempfile::TempDir::new().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(etc.join("default")).unwrap();
        std::fs::create_dir_all(dir.path().join("usr/share/i18n")).unwrap();
        std::fs::write(etc.join("debian_version"), "12\n").unwrap();
        std::fs::write(
            etc.join("default/locale"),
            "#  File generated by update-locale\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("usr/share/i18n/SUPPORTED"),
            "de_DE.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\nen_US ISO-8859-1\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("locale.gen"),
            "# en_US ISO-8859-1\n# en_US.UTF-8 UTF-8\n",
        )
        .unwrap();
        let l = LocaleSettings::at(dir.path());
        assert_eq!(l.get_locale().unwrap(), "");
        l.set_locale("en_US.UTF-8").unwrap();
        assert_eq!(l.get_locale().unwrap(), "en_US.UTF-8");
        l.set_locale("de_DE.UTF-8").unwrap();
        assert_eq!(
            std::fs::read_to_string(etc.join("default/locale")).unwrap(),
            "#  File generated by update-locale\nLANG=de_DE.UTF-8\n"
        );
        assert!(l.set_locale("x\ny").is_err());

        assert!(!l.avail("en_US.UTF-8").unwrap());
        l.gen_locale("en_US.UTF-8").unwrap();
        assert!(l.avail("en_US.utf8").unwrap());
        assert_eq!(
            std::fs::read_to_string(etc.join("locale.gen")).unwrap(),
            "# en_US ISO-8859-1\nen_US.UTF-8 UTF-8\n"
        );
        l.gen_locale("de_DE.UTF-8 UTF-8").unwrap();
        assert_eq!(l.list_avail().unwrap(), vec!["en_US.UTF-8", "de_DE.UTF-8"]);
        assert!(l
            .gen_locale("xx_XX")
            .unwrap_err()
            .contains("is not found in"));
    }
}
