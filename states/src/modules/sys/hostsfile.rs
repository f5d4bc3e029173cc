//! The hosts file as Salt's `hosts` module reads and writes it: entries by
//! address (duplicate lines merged), comment lines kept, one `# comment` per
//! address.

use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A whole-line comment, kept verbatim.
    Comment(String),
    Host {
        ip: String,
        aliases: Vec<String>,
        comment: Option<String>,
    },
}

/// A parsed hosts file (Salt's `_list_hosts`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hosts {
    pub lines: Vec<Line>,
}

impl Hosts {
    pub fn parse(text: &str) -> Hosts {
        let mut hosts = Hosts::default();
        for raw in text.lines() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            if line.starts_with('#') {
                hosts.lines.push(Line::Comment(line.to_string()));
                continue;
            }
            let (body, comment) = match line.split_once('#') {
                Some((b, c)) => (b.trim(), Some(c.trim_start().to_string())),
                None => (line, None),
            };
            let mut parts = body.split_whitespace();
            let Some(ip) = parts.next() else { continue };
            let new_aliases: Vec<String> = parts.map(str::to_string).collect();
            match hosts.entry_mut(ip) {
                Some((aliases, old_comment)) => {
                    aliases.extend(new_aliases);
                    if comment.as_deref().is_some_and(|c| !c.is_empty()) {
                        *old_comment = comment;
                    }
                }
                None => hosts.lines.push(Line::Host {
                    ip: ip.to_string(),
                    aliases: new_aliases,
                    comment: comment.filter(|c| !c.is_empty()),
                }),
            }
        }
        hosts
    }

    pub fn read(path: &Path) -> Result<Hosts, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Hosts::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Hosts::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    fn entry_mut(&mut self, ip: &str) -> Option<(&mut Vec<String>, &mut Option<String>)> {
        self.lines.iter_mut().find_map(|l| match l {
            Line::Host {
                ip: i,
                aliases,
                comment,
            } if i == ip => Some((aliases, comment)),
            _ => None,
        })
    }

    /// Aliases and comment of `ip`.
    pub fn get(&self, ip: &str) -> Option<(&[String], Option<&str>)> {
        self.lines.iter().find_map(|l| match l {
            Line::Host {
                ip: i,
                aliases,
                comment,
            } if i == ip => Some((aliases.as_slice(), comment.as_deref())),
            _ => None,
        })
    }

    /// Every address with its aliases, in file order.
    pub fn addresses(&self) -> Vec<(&str, &[String])> {
        self.lines
            .iter()
            .filter_map(|l| match l {
                Line::Host { ip, aliases, .. } => Some((ip.as_str(), aliases.as_slice())),
                Line::Comment(_) => None,
            })
            .collect()
    }

    pub fn has_pair(&self, ip: &str, alias: &str) -> bool {
        self.get(ip)
            .is_some_and(|(a, _)| a.iter().any(|x| x == alias))
    }

    pub fn add(&mut self, ip: &str, alias: &str) {
        if self.has_pair(ip, alias) {
            return;
        }
        match self.entry_mut(ip) {
            Some((aliases, _)) => aliases.push(alias.to_string()),
            None => self.lines.push(Line::Host {
                ip: ip.to_string(),
                aliases: vec![alias.to_string()],
                comment: None,
            }),
        }
    }

    /// `false` when `ip` has no entry (Salt's `set_comment`).
    pub fn set_comment(&mut self, ip: &str, text: &str) -> bool {
        match self.entry_mut(ip) {
            Some((_, comment)) => {
                *comment = Some(text.to_string());
                true
            }
            None => false,
        }
    }

    /// Salt's `_write_hosts` layout.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            let text = match line {
                Line::Comment(c) => c.clone(),
                Line::Host {
                    ip,
                    aliases,
                    comment: Some(c),
                } => {
                    format!("{ip}\t\t{}\t\t# {c}", aliases.join(" "))
                }
                Line::Host {
                    ip,
                    aliases,
                    comment: None,
                } => format!("{ip}\t\t{}", aliases.join(" ")),
            };
            let text = text.trim();
            if !text.is_empty() {
                out.push_str(text);
                out.push('\n');
            }
        }
        out
    }
}

/// The hosts file unless the minion's `hosts.file` option says otherwise.
pub const DEFAULT_PATH: &str = "/etc/hosts";

impl Hosts {
    /// Salt's `list_hosts`: `{ip: {"aliases": [...], "comment": "..."}}`
    /// (`comment` only when the line has one), whole-line comments as
    /// `"comment-N": ["# text"]`, in file order.
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        let mut count = 0;
        for line in &self.lines {
            match line {
                Line::Comment(c) => {
                    out.insert(format!("comment-{count}"), serde_json::json!([c]));
                    count += 1;
                }
                Line::Host {
                    ip,
                    aliases,
                    comment,
                } => {
                    let mut entry = serde_json::Map::new();
                    entry.insert("aliases".into(), serde_json::json!(aliases));
                    if let Some(c) = comment {
                        entry.insert("comment".into(), serde_json::json!(c));
                    }
                    out.insert(ip.clone(), serde_json::Value::Object(entry));
                }
            }
        }
        serde_json::Value::Object(out)
    }

    /// Salt's `get_ip`: the first address listing `host`, or `""`.
    pub fn ip_of(&self, host: &str) -> String {
        self.addresses()
            .into_iter()
            .find(|(_, aliases)| aliases.iter().any(|a| a == host))
            .map(|(ip, _)| ip.to_string())
            .unwrap_or_default()
    }
}

/// Salt's `set_host`: the first line of `ip` becomes `ip\t\talias[\t\t# comment]`,
/// its other lines go; a new line is appended when `ip` had none. An alias
/// of only whitespace removes every line of `ip`.
pub fn set_host(text: &str, ip: &str, alias: &str, comment: Option<&str>) -> String {
    let new_line = match comment.filter(|c| !c.is_empty()) {
        _ if alias.trim().is_empty() => String::new(),
        Some(c) => format!("{ip}\t\t{alias}\t\t# {c}\n"),
        None => format!("{ip}\t\t{alias}\n"),
    };
    let mut out = String::new();
    let mut replaced = false;
    for raw in text.split_inclusive('\n') {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.split_whitespace().next() != Some(ip) {
            out.push_str(raw);
            continue;
        }
        if !replaced {
            out.push_str(&new_line);
            replaced = true;
        }
    }
    if !replaced {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&new_line);
    }
    out
}

/// The hosts file's text, the file created empty when missing (as Salt's
/// `_get_or_create_hostfile` does).
pub fn read_or_create(path: &Path) -> Result<String, String> {
    if !path.exists() {
        std::fs::write(path, "").map_err(|e| format!("{}: {e}", path.display()))?;
    }
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Salt's `rm_host`: edits the matching lines in place, leaving the rest of
/// the file untouched; a line left without aliases goes away.
pub fn remove_alias(text: &str, ip: &str, alias: &str) -> String {
    let mut out = String::new();
    for raw in text.split_inclusive('\n') {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            out.push_str(raw);
            continue;
        }
        let (body, comment) = match line.split_once('#') {
            Some((b, c)) => (b, Some(c.trim_start())),
            None => (line, None),
        };
        let parts: Vec<&str> = body.split_whitespace().collect();
        if parts.first() != Some(&ip) {
            out.push_str(raw);
            continue;
        }
        let kept: Vec<&str> = parts[1..].iter().copied().filter(|a| *a != alias).collect();
        if kept.is_empty() {
            continue;
        }
        let mut new = format!("{ip}\t\t");
        for a in kept {
            new.push_str(a);
            new.push(' ');
        }
        if let Some(c) = comment {
            new.push_str("# ");
            new.push_str(c);
        }
        new.push('\n');
        out.push_str(&new);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# static table\n127.0.0.1 localhost\n\n10.0.0.1 a b # web\n10.0.0.1 c\n";

    #[test]
    fn parse_merges_addresses_and_keeps_comments() {
        let h = Hosts::parse(TEXT);
        assert_eq!(h.lines[0], Line::Comment("# static table".into()));
        let (aliases, comment) = h.get("10.0.0.1").unwrap();
        assert_eq!(aliases, ["a", "b", "c"]);
        assert_eq!(comment, Some("web"));
        assert!(h.has_pair("127.0.0.1", "localhost"));
    }

    #[test]
    fn render_uses_salts_layout() {
        let mut h = Hosts::parse(TEXT);
        h.add("10.0.0.2", "d");
        h.add("127.0.0.1", "lh");
        assert_eq!(
            h.render(),
            "# static table\n127.0.0.1\t\tlocalhost lh\n10.0.0.1\t\ta b c\t\t# web\n10.0.0.2\t\td\n"
        );
    }

    #[test]
    fn remove_edits_in_place() {
        let text = "127.0.0.1 localhost\n10.0.0.1 a b # web\n10.0.0.2 z\n";
        assert_eq!(
            remove_alias(text, "10.0.0.1", "a"),
            "127.0.0.1 localhost\n10.0.0.1\t\tb # web\n10.0.0.2 z\n"
        );
        assert_eq!(
            remove_alias(text, "10.0.0.2", "z"),
            "127.0.0.1 localhost\n10.0.0.1 a b # web\n"
        );
    }

    #[test]
    fn list_hosts_and_get_ip_shapes() {
        let h = Hosts::parse(TEXT);
        assert_eq!(
            h.to_json(),
            serde_json::json!({
                "comment-0": ["# static table"],
                "127.0.0.1": {"aliases": ["localhost"]},
                "10.0.0.1": {"aliases": ["a", "b", "c"], "comment": "web"},
            })
        );
        assert_eq!(h.ip_of("c"), "10.0.0.1");
        assert_eq!(h.ip_of("zz"), "");
    }

    #[test]
    fn set_host_replaces_first_line_and_drops_the_rest() {
        assert_eq!(
            set_host(TEXT, "10.0.0.1", "new", None),
            "# static table\n127.0.0.1 localhost\n\n10.0.0.1\t\tnew\n"
        );
        assert_eq!(
            set_host("127.0.0.1 localhost", "10.0.0.9", "x y", Some("note")),
            "127.0.0.1 localhost\n10.0.0.9\t\tx y\t\t# note\n"
        );
        assert_eq!(
            set_host(TEXT, "10.0.0.1", " ", None),
            "# static table\n127.0.0.1 localhost\n\n"
        );
    }
}
