//! Single targets: what each plain target type is, and what a compound is
//! made of.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;
use serde_json::{Map, Value};

use super::error::{regex_problem, Problem, Spanned};
use super::glob::Glob;
use super::grain::SubdictMatcher;
use super::MinionFacts;

#[derive(Clone, Debug)]
pub(super) enum Matcher {
    /// Shell glob on the minion id.
    Glob(Glob),
    /// Regex on the minion id, anchored at the start only (Python's
    /// `re.match`): `web` matches `web1`.
    Pcre(Regex),
    /// Exact minion ids.
    List(HashSet<Box<str>>),
    /// `key:value` on the grains, glob or regex value.
    Grain(SubdictMatcher),
    /// An address or network; matches if one of the minion's addresses of
    /// that family (grain `ipv4` or `ipv6`) is in it.
    Ipcidr(IpNet),
    /// `key:value` on the pillar, glob or regex value; never matches a
    /// minion whose pillar is unknown.
    Pillar(SubdictMatcher),
}

impl Matcher {
    /// `pos` is where `pattern` starts in the whole expression, for errors.
    pub(super) fn glob(pattern: &str, pos: usize) -> Result<Matcher, Spanned> {
        Glob::new(pattern).map(Matcher::Glob).map_err(|message| {
            Spanned::new(
                pos,
                Problem::BadGlob {
                    glob: pattern.to_string(),
                    message,
                },
            )
        })
    }

    pub(super) fn pcre(pattern: &str, pos: usize) -> Result<Matcher, Spanned> {
        // Compile the pattern alone first: wrapped in a group, an unbalanced
        // one such as `a)|(b` would compile to something else.
        Regex::new(pattern).map_err(|err| regex_problem(pattern, pos, &err))?;
        Regex::new(&format!(r"\A(?:{pattern})"))
            .map(Matcher::Pcre)
            .map_err(|err| regex_problem(pattern, pos, &err))
    }

    /// Comma-separated minion ids; blanks around the commas do not count.
    pub(super) fn list(ids: &str) -> Matcher {
        Matcher::List(
            ids.split(',')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(Box::from)
                .collect(),
        )
    }

    pub(super) fn grain(
        expr: &str,
        pos: usize,
        delimiter: char,
        regex: bool,
    ) -> Result<Matcher, Spanned> {
        SubdictMatcher::new(expr, pos, delimiter, regex, "grain").map(Matcher::Grain)
    }

    pub(super) fn pillar(
        expr: &str,
        pos: usize,
        delimiter: char,
        regex: bool,
    ) -> Result<Matcher, Spanned> {
        SubdictMatcher::new(expr, pos, delimiter, regex, "pillar").map(Matcher::Pillar)
    }

    /// An address (`10.1.2.3`, `fe80::1`) or a network (`10.0.0.0/8`). Host
    /// bits in a network are dropped: `10.1.2.3/24` means `10.1.2.0/24`
    /// (Salt refuses it).
    pub(super) fn ipcidr(text: &str, pos: usize) -> Result<Matcher, Spanned> {
        let trimmed = text.trim();
        let net = match trimmed.parse::<IpAddr>() {
            Ok(addr) => Some(IpNet::from(addr)),
            Err(_) => trimmed.parse::<IpNet>().ok().map(|net| net.trunc()),
        };
        net.map(Matcher::Ipcidr).ok_or_else(|| {
            let lead = text.len() - text.trim_start().len();
            Spanned::new(pos + lead, Problem::BadAddress(trimmed.to_string()))
        })
    }

    /// One word of a compound expression, starting at byte `pos`: `X@pattern`
    /// or a bare glob on the id.
    pub(super) fn word(word: &str, pos: usize) -> Result<Matcher, Spanned> {
        let Some(prefix) = Prefix::split(word) else {
            return Matcher::glob(word, pos);
        };
        let pattern = &word[prefix.len..];
        let pattern_pos = pos + prefix.len;
        let prefix_text = &word[..prefix.len];
        if !"GPELSIJN".contains(prefix.engine) {
            return Err(Spanned::new(
                pos,
                Problem::UnknownPrefix(prefix_text.to_string()),
            ));
        }
        if pattern.is_empty() {
            return Err(Spanned::new(
                pos,
                Problem::EmptyPattern(prefix_text.to_string()),
            ));
        }
        let delimiter = prefix.delimiter.unwrap_or(':');
        match prefix.engine {
            'G' => Matcher::grain(pattern, pattern_pos, delimiter, false),
            'P' => Matcher::grain(pattern, pattern_pos, delimiter, true),
            'I' => Matcher::pillar(pattern, pattern_pos, delimiter, false),
            'J' => Matcher::pillar(pattern, pattern_pos, delimiter, true),
            'E' => Matcher::pcre(pattern, pattern_pos),
            'L' => Ok(Matcher::list(pattern)),
            'S' => Matcher::ipcidr(pattern, pattern_pos),
            _ => Err(Spanned::new(
                pos,
                Problem::NodegroupNotExpanded(pattern.to_string()),
            )),
        }
        .map_err(|mut err| {
            // "needs key:value" is about the whole word: point at its start.
            if matches!(err.problem, Problem::NeedsKeyValue { .. }) {
                err.pos = pos;
            }
            err
        })
    }

    pub(super) fn matches(&self, facts: &MinionFacts<'_>) -> bool {
        match self {
            Matcher::Glob(glob) => glob.is_match(facts.id),
            Matcher::Pcre(regex) => regex.is_match(facts.id),
            Matcher::List(ids) => ids.contains(facts.id),
            Matcher::Grain(subdict) => subdict.is_match(facts.grains),
            Matcher::Ipcidr(net) => has_address_in(facts.grains, net),
            Matcher::Pillar(subdict) => facts.pillar.is_some_and(|p| subdict.is_match(p)),
        }
    }

    pub(super) fn needs_grains(&self) -> bool {
        matches!(self, Matcher::Grain(_) | Matcher::Ipcidr(_))
    }

    /// The top-level grains this matcher reads.
    pub(super) fn grain_keys(&self, out: &mut Vec<String>) {
        match self {
            Matcher::Grain(subdict) => out.extend(subdict.top_keys().map(str::to_string)),
            Matcher::Ipcidr(IpNet::V4(_)) => out.push("ipv4".into()),
            Matcher::Ipcidr(IpNet::V6(_)) => out.push("ipv6".into()),
            _ => {}
        }
    }
}

/// The `G@` or `G;@` at the start of a compound word.
struct Prefix {
    engine: char,
    /// Salt's custom delimiter: `G;@os;Debian`.
    delimiter: Option<char>,
    /// Bytes up to and including the `@`.
    len: usize,
}

impl Prefix {
    /// A letter then `@` is a prefix (maybe an unknown one). For the types
    /// that take a delimiter, a letter, one character and `@` is one too.
    fn split(word: &str) -> Option<Prefix> {
        let mut chars = word.char_indices();
        let (_, engine) = chars.next()?;
        if !engine.is_ascii_alphabetic() {
            return None;
        }
        let (_, second) = chars.next()?;
        if second == '@' {
            return Some(Prefix {
                engine,
                delimiter: None,
                len: 2,
            });
        }
        let (at, third) = chars.next()?;
        if third == '@' && "GPIJ".contains(engine) {
            return Some(Prefix {
                engine,
                delimiter: Some(second),
                len: at + 1,
            });
        }
        None
    }
}

fn has_address_in(grains: &Map<String, Value>, net: &IpNet) -> bool {
    let grain = match net {
        IpNet::V4(_) => "ipv4",
        IpNet::V6(_) => "ipv6",
    };
    let is_in = |address: &str| address.parse::<IpAddr>().is_ok_and(|ip| net.contains(&ip));
    match grains.get(grain) {
        Some(Value::Array(addresses)) => addresses.iter().filter_map(Value::as_str).any(is_in),
        Some(Value::String(address)) => is_in(address),
        _ => false,
    }
}
