//! Loading: saphyr's events are composed into a node graph (aliases share
//! nodes, as in PyYAML's composer), then constructed the way Salt's
//! `SaltYamlSafeLoader` does: its merge-key flattening, its duplicate-key
//! error and its octal rule.

use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

use super::resolve::{self, IntValue, Kind};
use super::{Node, YamlError};

const CORE: &str = "tag:yaml.org,2002:";
/// Deepest nesting accepted, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 400;
/// Most nodes one document may expand to through aliases ("billion laughs"):
/// about 80 MB of values at most, far above any real state tree or pillar.
const MAX_EXPANDED_NODES: usize = 1_000_000;

#[derive(Debug, Clone, Copy)]
struct Mark {
    line: usize,
    column: usize,
}

impl Mark {
    fn from_span(span: &Span) -> Mark {
        Mark {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

fn error_at(message: impl Into<String>, mark: Mark) -> YamlError {
    YamlError {
        message: message.into(),
        line: mark.line,
        column: mark.column,
    }
}

#[derive(Debug)]
enum Body {
    Scalar { text: String, plain: bool },
    Seq(Vec<usize>),
    Map(Vec<(usize, usize)>),
}

#[derive(Debug)]
struct Composed {
    body: Body,
    /// Full tag (`tag:yaml.org,2002:str`, `!foo`); `None` when untagged or `!`.
    tag: Option<String>,
    mark: Mark,
}

impl Composed {
    /// PyYAML's node id, used in its messages.
    fn id(&self) -> &'static str {
        match self.body {
            Body::Scalar { .. } => "scalar",
            Body::Seq(_) => "sequence",
            Body::Map(_) => "mapping",
        }
    }
}

/// Loads one YAML document as Salt's YAML renderer does.
pub(crate) fn load(text: &str) -> Result<Node, YamlError> {
    let graph = match compose_like_libyaml(text) {
        Err(e) if e.message.starts_with("invalid indentation") => {
            // libyaml does not check where flow and quoted continuation
            // lines start; saphyr does (see `relax`)
            match super::relax::indent_continuations(text) {
                Some(relaxed) => compose_like_libyaml(&relaxed)?,
                None => return Err(e),
            }
        }
        other => other?,
    };
    match graph.root {
        None => Ok(Node::Null),
        Some(root) => Constructor::new(&graph).construct(root, 0),
    }
}

struct Graph {
    nodes: Vec<Composed>,
    /// Nodes reached through an alias, whose constructed value is cached.
    shared: Vec<bool>,
    root: Option<usize>,
}

/// saphyr's message reworded as libyaml's `problem` (what Salt shows): no
/// "while parsing ..." context, and libyaml's phrasing where they differ.
fn scan_error(e: &ScanError) -> YamlError {
    let info = e.info();
    let problem = match info.split_once(", ") {
        Some((context, problem)) if context.starts_with("while ") => problem,
        _ => info,
    };
    let message = if info.contains("unknown anchor") {
        "found undefined alias".to_string()
    } else if problem.starts_with("unexpected character") || problem.starts_with("tab") {
        "found character that cannot start any token".to_string()
    } else if problem == "expected ',' or ']'" {
        "did not find expected ',' or ']'".to_string()
    } else {
        problem.to_string()
    };
    YamlError {
        message,
        line: e.marker().line(),
        column: e.marker().col() + 1,
    }
}

enum Open {
    Seq(usize),
    /// A mapping and the key waiting for its value.
    Map(usize, Option<usize>),
}

/// Composes, accepting what libyaml accepts and saphyr does not: a tab as
/// the separator after a `:` indicator (`key:<TAB>value`). Each such tab is
/// turned into a space, which keeps every later position unchanged.
fn compose_like_libyaml(text: &str) -> Result<Graph, YamlError> {
    let mut owned: Option<String> = None;
    loop {
        let current = owned.as_deref().unwrap_or(text);
        match compose(current) {
            Err(Composing::ColonTab(at)) => {
                let mut chars: Vec<char> = current.chars().collect();
                // The tab is just before the reported position.
                let tab = (0..=at.min(chars.len().saturating_sub(1)))
                    .rev()
                    .find(|&i| chars[i] == '\t' && i > 0 && chars[i - 1] == ':');
                let Some(tab) = tab else {
                    return Err(error_at(
                        "found character that cannot start any token",
                        Mark { line: 0, column: 0 },
                    ));
                };
                chars[tab] = ' ';
                owned = Some(chars.into_iter().collect());
            }
            Err(Composing::Failed(e)) => return Err(e),
            Ok(graph) => return Ok(graph),
        }
    }
}

enum Composing {
    Failed(YamlError),
    /// saphyr refused a tab after `:` near this char index.
    ColonTab(usize),
}

impl From<YamlError> for Composing {
    fn from(e: YamlError) -> Self {
        Composing::Failed(e)
    }
}

fn compose(text: &str) -> Result<Graph, Composing> {
    let mut graph = Graph {
        nodes: Vec::new(),
        shared: Vec::new(),
        root: None,
    };
    let mut anchors: HashMap<usize, usize> = HashMap::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut documents = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            if e.info()
                .starts_with("':' must be followed by a valid YAML whitespace")
            {
                Composing::ColonTab(e.marker().index())
            } else {
                Composing::Failed(scan_error(&e))
            }
        })?;
        let mark = Mark::from_span(&span);
        let is_seq = matches!(event, Event::SequenceStart(..));
        let (index, anchor, opens) = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    // PyYAML's `get_single_node`.
                    return Err(error_at(
                        "expected a single document in the stream but found another document",
                        mark,
                    )
                    .into());
                }
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
                continue;
            }
            Event::Alias(id) => {
                let target = *anchors
                    .get(&id)
                    .ok_or_else(|| error_at("found undefined alias", mark))?;
                graph.shared[target] = true;
                (target, 0, false)
            }
            Event::Scalar(value, style, anchor, tag) => {
                let tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                // libyaml treats the non-specific tag `!` as "resolve me",
                // even on a quoted scalar (`! '12'` is the int 12).
                let plain =
                    (style == ScalarStyle::Plain && tag.is_none()) || tag.as_deref() == Some("!");
                let tag = tag.filter(|t| t != "!");
                let node = Composed {
                    body: Body::Scalar {
                        text: value.into_owned(),
                        plain,
                    },
                    tag,
                    mark,
                };
                (push(&mut graph, node), anchor, false)
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(error_at("maximum nesting depth exceeded", mark).into());
                }
                let tag = tag
                    .map(|t| format!("{}{}", t.handle, t.suffix))
                    .filter(|t| t != "!");
                let body = if is_seq {
                    Body::Seq(Vec::new())
                } else {
                    Body::Map(Vec::new())
                };
                let node = Composed { body, tag, mark };
                (push(&mut graph, node), anchor, true)
            }
        };
        if anchor > 0 {
            anchors.insert(anchor, index);
        }
        attach(&mut graph, &mut stack, index);
        if opens {
            stack.push(match graph.nodes[index].body {
                Body::Seq(_) => Open::Seq(index),
                _ => Open::Map(index, None),
            });
        }
    }
    Ok(graph)
}

fn push(graph: &mut Graph, node: Composed) -> usize {
    graph.nodes.push(node);
    graph.shared.push(false);
    graph.nodes.len() - 1
}

fn attach(graph: &mut Graph, stack: &mut [Open], index: usize) {
    match stack.last_mut() {
        None => graph.root = Some(index),
        Some(Open::Seq(parent)) => {
            if let Body::Seq(items) = &mut graph.nodes[*parent].body {
                items.push(index);
            }
        }
        Some(Open::Map(parent, pending)) => match pending.take() {
            None => *pending = Some(index),
            Some(key) => {
                if let Body::Map(entries) = &mut graph.nodes[*parent].body {
                    entries.push((key, index));
                }
            }
        },
    }
}

/// A key as Python's dict compares it: `1 == 1.0 == True`, and PyYAML's
/// single NaN object equals itself.
#[derive(Debug, PartialEq, Eq, Hash)]
enum KeyIdentity {
    Null,
    Str(String),
    Integral(i128),
    FloatBits(u64),
    Nan,
}

fn key_identity(key: &Node) -> Option<KeyIdentity> {
    Some(match key {
        Node::Null => KeyIdentity::Null,
        Node::Bool(b) => KeyIdentity::Integral(i128::from(*b)),
        Node::Int(i) => KeyIdentity::Integral(*i),
        Node::Float(f) if f.is_nan() => KeyIdentity::Nan,
        Node::Float(f) if f.fract() == 0.0 && f.abs() < 1e30 => KeyIdentity::Integral(*f as i128),
        Node::Float(f) => KeyIdentity::FloatBits(f.to_bits()),
        Node::Str(s) => KeyIdentity::Str(s.clone()),
        Node::Seq(_) | Node::Map(_) => return None,
    })
}

struct Constructor<'g> {
    graph: &'g Graph,
    cache: HashMap<usize, Node>,
    /// Shared nodes being constructed, to refuse recursive aliases.
    in_progress: HashSet<usize>,
    expanded: usize,
}

impl<'g> Constructor<'g> {
    fn new(graph: &'g Graph) -> Self {
        Constructor {
            graph,
            cache: HashMap::new(),
            in_progress: HashSet::new(),
            expanded: 0,
        }
    }

    fn construct(&mut self, index: usize, depth: usize) -> Result<Node, YamlError> {
        let node = &self.graph.nodes[index];
        if depth > MAX_DEPTH {
            return Err(error_at("maximum nesting depth exceeded", node.mark));
        }
        self.expanded += 1;
        if self.expanded > MAX_EXPANDED_NODES {
            return Err(error_at("document expands to too many nodes", node.mark));
        }
        if !self.graph.shared[index] {
            return self.construct_fresh(index, depth);
        }
        if let Some(done) = self.cache.get(&index) {
            self.expanded += done.count_nodes();
            return Ok(done.clone());
        }
        if !self.in_progress.insert(index) {
            return Err(error_at("found a recursive alias", node.mark));
        }
        let built = self.construct_fresh(index, depth);
        self.in_progress.remove(&index);
        let built = built?;
        self.cache.insert(index, built.clone());
        Ok(built)
    }

    fn construct_fresh(&mut self, index: usize, depth: usize) -> Result<Node, YamlError> {
        let node = &self.graph.nodes[index];
        let tag = node.tag.as_deref();
        let short = tag.and_then(|t| t.strip_prefix(CORE));
        match (&node.body, short) {
            (Body::Scalar { text, plain }, _) => self.construct_scalar(node, text, *plain),
            (Body::Seq(items), None | Some("seq")) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.construct(*item, depth + 1)?);
                }
                Ok(Node::Seq(out))
            }
            (Body::Seq(items), Some("pairs")) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let pair = self.single_pair(*item, depth)?;
                    out.push(Node::Seq(vec![pair.0, pair.1]));
                }
                Ok(Node::Seq(out))
            }
            (Body::Map(_), None | Some("map") | Some("omap")) => {
                self.construct_mapping(index, depth)
            }
            (Body::Map(_), Some("set")) => match self.construct_mapping(index, depth)? {
                Node::Map(entries) => Ok(Node::Seq(entries.into_iter().map(|(k, _)| k).collect())),
                other => Ok(other),
            },
            (body, Some("map" | "omap" | "set")) => Err(error_at(
                format!("expected a mapping node, but found {}", id_of(body)),
                node.mark,
            )),
            (body, Some("seq" | "pairs")) => Err(error_at(
                format!("expected a sequence node, but found {}", id_of(body)),
                node.mark,
            )),
            (
                Body::Seq(_) | Body::Map(_),
                Some("str" | "int" | "float" | "bool" | "null" | "binary" | "timestamp"),
            ) => Err(error_at(
                format!("expected a scalar node, but found {}", node.id()),
                node.mark,
            )),
            _ => Err(undefined_tag(node)),
        }
    }

    fn single_pair(&mut self, index: usize, depth: usize) -> Result<(Node, Node), YamlError> {
        let node = &self.graph.nodes[index];
        match &node.body {
            Body::Map(entries) if entries.len() == 1 => {
                let (k, v) = entries[0];
                Ok((self.construct(k, depth + 1)?, self.construct(v, depth + 1)?))
            }
            _ => Err(error_at(
                format!("expected a single mapping item, but found {}", node.id()),
                node.mark,
            )),
        }
    }

    fn construct_scalar(
        &self,
        node: &Composed,
        text: &str,
        plain: bool,
    ) -> Result<Node, YamlError> {
        let kind = match node.tag.as_deref() {
            None if plain => resolve::resolve_plain(text),
            None => Kind::Str,
            Some(tag) => match tag.strip_prefix(CORE) {
                Some("str" | "python/unicode") => Kind::Str,
                Some("null") => Kind::Null,
                Some("bool") => Kind::Bool,
                Some("int") => Kind::Int,
                Some("float") => Kind::Float,
                Some("timestamp") => Kind::Timestamp,
                Some("merge") => Kind::Merge,
                Some("value") => Kind::Value,
                Some("binary") => return binary(text).map_err(|m| error_at(m, node.mark)),
                Some("map" | "omap" | "set") => {
                    return Err(error_at(
                        "expected a mapping node, but found scalar",
                        node.mark,
                    ))
                }
                Some("seq" | "pairs") => {
                    return Err(error_at(
                        "expected a sequence node, but found scalar",
                        node.mark,
                    ))
                }
                _ => return Err(undefined_tag(node)),
            },
        };
        let at = |message: String| error_at(message, node.mark);
        Ok(match kind {
            Kind::Null => Node::Null,
            Kind::Str | Kind::Timestamp => Node::Str(text.to_string()),
            Kind::Bool => Node::Bool(resolve::construct_bool(text).map_err(at)?),
            Kind::Int => match resolve::construct_int(text).map_err(at)? {
                IntValue::Small(i) => Node::Int(i),
                IntValue::Big(f) => Node::Float(f),
            },
            Kind::Float => Node::Float(resolve::construct_float(text).map_err(at)?),
            Kind::Merge | Kind::Value => return Err(undefined_tag_named(node, kind)),
        })
    }

    /// Salt's `flatten_mapping`: merged entries go first, minus those whose
    /// key text an explicit key already has; a list of merges is applied
    /// last-first, and a key two merged mappings share is a conflict.
    fn flatten(&self, index: usize, depth: usize) -> Result<Vec<(usize, usize)>, YamlError> {
        let node = &self.graph.nodes[index];
        if depth > MAX_DEPTH {
            return Err(error_at("maximum nesting depth exceeded", node.mark));
        }
        let Body::Map(entries) = &node.body else {
            return Ok(Vec::new());
        };
        let mut merged = Vec::new();
        let mut own = Vec::new();
        for &(key, value) in entries {
            if !self.is_key_of_kind(key, Kind::Merge) {
                own.push((key, value));
                continue;
            }
            let value_node = &self.graph.nodes[value];
            match &value_node.body {
                Body::Map(_) => merged.extend(self.flatten(value, depth + 1)?),
                Body::Seq(items) => {
                    let mut parts = Vec::with_capacity(items.len());
                    for &item in items {
                        let sub = &self.graph.nodes[item];
                        if !matches!(sub.body, Body::Map(_)) {
                            return Err(error_at(
                                format!("expected a mapping for merging, but found {}", sub.id()),
                                sub.mark,
                            ));
                        }
                        parts.push(self.flatten(item, depth + 1)?);
                    }
                    for part in parts.into_iter().rev() {
                        merged.extend(part);
                    }
                }
                Body::Scalar { .. } => {
                    return Err(error_at(
                        "expected a mapping or list of mappings for merging, but found scalar",
                        value_node.mark,
                    ))
                }
            }
        }
        if merged.is_empty() {
            return Ok(own);
        }
        let existing: HashSet<KeyText> = own.iter().map(|(k, _)| self.key_text(*k)).collect();
        let mut out: Vec<(usize, usize)> = merged
            .into_iter()
            .filter(|(k, _)| !existing.contains(&self.key_text(*k)))
            .collect();
        out.extend(own);
        Ok(out)
    }

    /// What Salt compares merged keys by: the raw scalar text (so `1` and
    /// `'1'` are the same), or the node itself for collections.
    fn key_text(&self, index: usize) -> KeyText<'g> {
        match &self.graph.nodes[index].body {
            Body::Scalar { text, .. } => KeyText::Text(text),
            _ => KeyText::Node(index),
        }
    }

    fn is_key_of_kind(&self, index: usize, kind: Kind) -> bool {
        let node = &self.graph.nodes[index];
        let Body::Scalar { text, plain } = &node.body else {
            return false;
        };
        let wanted = if kind == Kind::Merge {
            "merge"
        } else {
            "value"
        };
        match node.tag.as_deref() {
            Some(tag) => tag.strip_prefix(CORE) == Some(wanted),
            None => *plain && resolve::resolve_plain(text) == kind,
        }
    }

    fn construct_mapping(&mut self, index: usize, depth: usize) -> Result<Node, YamlError> {
        let entries = self.flatten(index, depth)?;
        let mut seen: HashSet<KeyIdentity> = HashSet::with_capacity(entries.len());
        let mut out = Vec::with_capacity(entries.len());
        for (key_index, value_index) in entries {
            let key_node = &self.graph.nodes[key_index];
            // Salt retags a `=` key as a string.
            let key = if self.is_key_of_kind(key_index, Kind::Value) {
                Node::Str("=".into())
            } else {
                self.construct(key_index, depth + 1)?
            };
            let Some(identity) = key_identity(&key) else {
                return Err(error_at(
                    format!("found unacceptable key {}", key.to_json()),
                    key_node.mark,
                ));
            };
            let value = self.construct(value_index, depth + 1)?;
            if !seen.insert(identity) {
                return Err(error_at(
                    format!("found conflicting ID '{}'", key.key_string()),
                    key_node.mark,
                ));
            }
            out.push((key, value));
        }
        Ok(Node::Map(out))
    }
}

#[derive(PartialEq, Eq, Hash)]
enum KeyText<'g> {
    Text(&'g str),
    Node(usize),
}

fn id_of(body: &Body) -> &'static str {
    match body {
        Body::Scalar { .. } => "scalar",
        Body::Seq(_) => "sequence",
        Body::Map(_) => "mapping",
    }
}

fn undefined_tag(node: &Composed) -> YamlError {
    error_at(
        format!(
            "could not determine a constructor for the tag '{}'",
            node.tag.as_deref().unwrap_or_default()
        ),
        node.mark,
    )
}

fn undefined_tag_named(node: &Composed, kind: Kind) -> YamlError {
    let name = if kind == Kind::Merge {
        "merge"
    } else {
        "value"
    };
    error_at(
        format!("could not determine a constructor for the tag '{CORE}{name}'"),
        node.mark,
    )
}

/// `!!binary`: Salt returns bytes; we keep them as (lossy) text since a
/// `Node` has no bytes.
fn binary(text: &str) -> Result<Node, String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        if c.is_ascii_whitespace() || c == b'=' {
            continue;
        }
        let v = ALPHABET
            .iter()
            .position(|a| *a == c)
            .ok_or_else(|| "failed to decode base64 data: invalid character".to_string())?;
        bits = (bits << 6) | v as u32;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    Ok(Node::Str(String::from_utf8_lossy(&out).into_owned()))
}

impl Node {
    fn count_nodes(&self) -> usize {
        match self {
            Node::Seq(items) => 1 + items.iter().map(Node::count_nodes).sum::<usize>(),
            Node::Map(entries) => {
                1 + entries
                    .iter()
                    .map(|(k, v)| k.count_nodes() + v.count_nodes())
                    .sum::<usize>()
            }
            _ => 1,
        }
    }
}
