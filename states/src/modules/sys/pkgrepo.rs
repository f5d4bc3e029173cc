//! Package repository definitions, as files: apt's one-line sources
//! (`/etc/apt/sources.list`, `/etc/apt/sources.list.d/*.list`) and yum/dnf
//! `.repo` INI files (`/etc/yum.repos.d`). Every path is taken under a root
//! directory so tests work in a temp dir.

use std::path::{Path, PathBuf};

/// A path under `root` (`/` on the real host).
pub fn under(root: &Path, abs: &str) -> PathBuf {
    root.join(abs.trim_start_matches('/'))
}

/// Writes `text` to `path`, creating its directory (mode 0755).
pub fn write_file(path: &Path, text: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

// ---- apt -------------------------------------------------------------------

/// One apt source line: `deb [signed-by=/k.gpg arch=amd64] URI DIST COMP...`.
#[derive(Debug, Clone, PartialEq)]
pub struct DebSource {
    /// `deb` or `deb-src`.
    pub kind: String,
    /// The `[key=value ...]` options, in order.
    pub options: Vec<(String, String)>,
    pub uri: String,
    pub dist: String,
    pub comps: Vec<String>,
    /// Commented out.
    pub disabled: bool,
}

impl DebSource {
    /// Parses a line; `None` when it is not a source line.
    pub fn parse(line: &str) -> Option<DebSource> {
        let mut text = line.trim();
        let disabled = text.starts_with('#');
        text = text.trim_start_matches('#').trim();
        let (kind, mut rest) = text.split_once(char::is_whitespace)?;
        if kind != "deb" && kind != "deb-src" {
            return None;
        }
        rest = rest.trim_start();
        let mut options = Vec::new();
        if let Some(inner) = rest.strip_prefix('[') {
            let (opts, after) = inner.split_once(']')?;
            for opt in opts.split_whitespace() {
                let (k, v) = opt.split_once('=')?;
                options.push((k.to_string(), v.to_string()));
            }
            rest = after;
        }
        let mut words = rest.split_whitespace();
        let uri = words.next()?.to_string();
        let dist = words.next()?.to_string();
        let comps = words
            .take_while(|w| !w.starts_with('#'))
            .map(str::to_string)
            .collect();
        Some(DebSource {
            kind: kind.to_string(),
            options,
            uri,
            dist,
            comps,
            disabled,
        })
    }

    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets (or adds) an option.
    pub fn set_option(&mut self, key: &str, value: &str) {
        match self.options.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.options.push((key.to_string(), value.to_string())),
        }
    }

    /// Whether both name the same repository (what Salt matches on: type,
    /// URI, suite, components and architectures; keys and comments aside).
    pub fn same_repo(&self, other: &DebSource) -> bool {
        let mut a = self.comps.clone();
        let mut b = other.comps.clone();
        a.sort();
        b.sort();
        self.kind == other.kind
            && self.uri.trim_end_matches('/') == other.uri.trim_end_matches('/')
            && self.dist == other.dist
            && a == b
            && self.option("arch") == other.option("arch")
    }

    /// The line as written to a file.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.disabled {
            out.push_str("# ");
        }
        out.push_str(&self.kind);
        if !self.options.is_empty() {
            let opts: Vec<String> = self
                .options
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.push_str(&format!(" [{}]", opts.join(" ")));
        }
        out.push_str(&format!(" {} {}", self.uri, self.dist));
        for c in &self.comps {
            out.push(' ');
            out.push_str(c);
        }
        out
    }
}

/// A source line found in a file.
#[derive(Debug, Clone)]
pub struct FoundSource {
    pub file: PathBuf,
    /// Line number (0-based).
    pub index: usize,
    pub source: DebSource,
}

/// `sources.list` and every `sources.list.d/*.list` under `root`.
pub fn apt_source_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![under(root, "/etc/apt/sources.list")];
    let mut extra: Vec<PathBuf> = std::fs::read_dir(under(root, "/etc/apt/sources.list.d"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "list"))
        .collect();
    extra.sort();
    files.extend(extra);
    files.retain(|f| f.is_file());
    files
}

/// Every line naming the same repository as `wanted`, in file order.
pub fn find_deb(root: &Path, wanted: &DebSource) -> Vec<FoundSource> {
    let mut out = Vec::new();
    for file in apt_source_files(root) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (index, line) in text.lines().enumerate() {
            if let Some(source) = DebSource::parse(line) {
                if source.same_repo(wanted) {
                    out.push(FoundSource {
                        file: file.clone(),
                        index,
                        source,
                    });
                }
            }
        }
    }
    out
}

/// Replaces line `index` of `file` (or removes it with `None`); a
/// `sources.list.d` file left without any source line is deleted, as Salt's
/// `del_repo` does.
pub fn edit_line(file: &Path, index: usize, new: Option<&str>) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    match new {
        Some(line) if index < lines.len() => lines[index] = line.to_string(),
        None if index < lines.len() => {
            lines.remove(index);
        }
        _ => {}
    }
    let in_dir = file.parent().is_some_and(|d| d.ends_with("sources.list.d"));
    let has_sources = lines.iter().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    });
    if new.is_none() && in_dir && !has_sources {
        return std::fs::remove_file(file).map_err(|e| format!("{}: {e}", file.display()));
    }
    let mut out = lines.join("\n");
    out.push('\n');
    write_file(file, out.as_bytes())
}

/// Appends `line` to `file` (created when missing).
pub fn append_line(file: &Path, line: &str) -> Result<(), String> {
    let mut text = std::fs::read_to_string(file).unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    text.push('\n');
    write_file(file, text.as_bytes())
}

// ---- yum/dnf ---------------------------------------------------------------

/// One `[id]` section of a `.repo` file, options in order.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoSection {
    pub id: String,
    pub options: Vec<(String, String)>,
}

impl RepoSection {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn set(&mut self, key: &str, value: &str) {
        match self.options.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.options.push((key.to_string(), value.to_string())),
        }
    }
}

/// The sections of a `.repo` file (comments dropped).
pub fn parse_repo_file(text: &str) -> Vec<RepoSection> {
    let mut out: Vec<RepoSection> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(id) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            out.push(RepoSection {
                id: id.trim().to_string(),
                options: Vec::new(),
            });
        } else if let (Some((k, v)), Some(section)) = (t.split_once('='), out.last_mut()) {
            section
                .options
                .push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// A `.repo` file's text.
pub fn render_repo_file(sections: &[RepoSection]) -> String {
    let mut out = String::new();
    for (i, s) in sections.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("[{}]\n", s.id));
        for (k, v) in &s.options {
            out.push_str(&format!("{k}={v}\n"));
        }
    }
    out
}

/// The `.repo` file defining `id` under `root`, and its sections.
pub fn find_yum(root: &Path, id: &str) -> Option<(PathBuf, Vec<RepoSection>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(under(root, "/etc/yum.repos.d"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "repo"))
        .collect();
    files.sort();
    files.into_iter().find_map(|f| {
        let sections = parse_repo_file(&std::fs::read_to_string(&f).ok()?);
        sections.iter().any(|s| s.id == id).then_some((f, sections))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb_lines_parse_match_and_render() {
        let s = DebSource::parse("deb [arch=amd64 signed-by=/etc/apt/keyrings/x.gpg] https://pkg.example.com/debian/ bookworm main contrib").unwrap();
        assert_eq!(s.kind, "deb");
        assert_eq!(s.option("signed-by"), Some("/etc/apt/keyrings/x.gpg"));
        assert_eq!(s.uri, "https://pkg.example.com/debian/");
        assert_eq!(s.comps, vec!["main", "contrib"]);
        assert_eq!(
            s.render(),
            "deb [arch=amd64 signed-by=/etc/apt/keyrings/x.gpg] https://pkg.example.com/debian/ bookworm main contrib"
        );
        let plain = DebSource::parse(
            "#deb  [arch=amd64] https://pkg.example.com/debian bookworm contrib main # note",
        )
        .unwrap();
        assert!(plain.disabled);
        assert!(plain.same_repo(&s), "keys and slashes aside, the same repo");
        let other_arch =
            DebSource::parse("deb https://pkg.example.com/debian bookworm main contrib").unwrap();
        assert!(!other_arch.same_repo(&s));
        assert!(DebSource::parse("Types: deb").is_none());
        assert!(DebSource::parse("deb https://x").is_none());
        assert!(DebSource::parse("deb [broken https://x y z").is_none());
    }

    #[test]
    fn repo_files_round_trip() {
        let text = "# comment\n[base]\nname=Base\nbaseurl=http://x/\n\n[extra]\nenabled = 0\n";
        let sections = parse_repo_file(text);
        assert_eq!(sections.len(), 2);
        assert_eq!(sections[1].get("enabled"), Some("0"));
        assert_eq!(
            render_repo_file(&sections),
            "[base]\nname=Base\nbaseurl=http://x/\n\n[extra]\nenabled=0\n"
        );
    }

    #[test]
    fn removing_the_last_line_of_a_list_file_deletes_it() {
        let dir = tempfile::TempDir::new().unwrap();
        let file = under(dir.path(), "/etc/apt/sources.list.d/x.list");
        append_line(&file, "deb http://x/ y z").unwrap();
        append_line(&file, "deb http://w/ y z").unwrap();
        edit_line(&file, 0, None).unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "deb http://w/ y z\n"
        );
        edit_line(&file, 0, None).unwrap();
        assert!(!file.exists());
    }
}
