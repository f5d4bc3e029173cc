//! The requisite graph (Salt's `salt.utils.requisite.DependencyGraph`): one
//! node per low chunk, one edge per requisite, from the state that must come
//! first to the state that waits. Ordering is a topological sort that, among
//! the states that are free to run, picks the lowest `order` first.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use indexmap::{IndexMap, IndexSet};
use serde_json::{Map, Value};

use crate::pyrepr::{py_str, str_repr as repr_str};

/// A requisite kind. The declaration order is Salt's precedence (its weight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReqType {
    Onfail,
    OnfailAny,
    OnfailAll,
    Require,
    RequireAny,
    Onchanges,
    OnchangesAny,
    Watch,
    WatchAny,
    Prereq,
    Prerequired,
    Listen,
}

impl ReqType {
    /// Every kind, in precedence order.
    pub const ALL: [ReqType; 12] = [
        ReqType::Onfail,
        ReqType::OnfailAny,
        ReqType::OnfailAll,
        ReqType::Require,
        ReqType::RequireAny,
        ReqType::Onchanges,
        ReqType::OnchangesAny,
        ReqType::Watch,
        ReqType::WatchAny,
        ReqType::Prereq,
        ReqType::Prerequired,
        ReqType::Listen,
    ];

    /// The kinds that order states (`listen` only fires at the end), in the
    /// order Salt reads them from a chunk.
    const ORDERING: [ReqType; 10] = [
        ReqType::Require,
        ReqType::RequireAny,
        ReqType::Watch,
        ReqType::WatchAny,
        ReqType::Prereq,
        ReqType::Onfail,
        ReqType::OnfailAny,
        ReqType::OnfailAll,
        ReqType::Onchanges,
        ReqType::OnchangesAny,
    ];

    pub fn key(self) -> &'static str {
        match self {
            ReqType::Onfail => "onfail",
            ReqType::OnfailAny => "onfail_any",
            ReqType::OnfailAll => "onfail_all",
            ReqType::Require => "require",
            ReqType::RequireAny => "require_any",
            ReqType::Onchanges => "onchanges",
            ReqType::OnchangesAny => "onchanges_any",
            ReqType::Watch => "watch",
            ReqType::WatchAny => "watch_any",
            ReqType::Prereq => "prereq",
            ReqType::Prerequired => "prerequired",
            ReqType::Listen => "listen",
        }
    }

    fn weight(self) -> u8 {
        self as u8
    }

    /// The kind without its `_any`/`_all` suffix.
    pub fn base(self) -> ReqType {
        match self {
            ReqType::OnfailAny | ReqType::OnfailAll => ReqType::Onfail,
            ReqType::RequireAny => ReqType::Require,
            ReqType::OnchangesAny => ReqType::Onchanges,
            ReqType::WatchAny => ReqType::Watch,
            other => other,
        }
    }
}

/// Salt's tag for a chunk: `state_|-id_|-name_|-fun`.
pub fn gen_tag(chunk: &Map<String, Value>) -> String {
    let part = |k: &str| chunk.get(k).map(py_str).unwrap_or_default();
    format!(
        "{}_|-{}_|-{}_|-{}",
        part("state"),
        part("__id__"),
        part("name"),
        part("fun")
    )
}

fn prereq_tag(tag: &str) -> String {
    format!("{tag}_|-__prereq_test__")
}

/// The requisites loop; [`DependencyGraph::cycles_str`] says where.
#[derive(Debug, thiserror::Error)]
#[error("recursive requisites")]
pub struct Cycle;

struct Node {
    tag: String,
    chunk: Option<usize>,
}

/// The graph plus the chunks it orders (owned: ordering writes each
/// chunk's final `order`, and prereq marks chunks).
#[derive(Default)]
pub struct DependencyGraph {
    pub chunks: Vec<Map<String, Value>>,
    nodes: Vec<Node>,
    by_tag: HashMap<String, usize>,
    // source -> target -> kinds (a multigraph, one edge per kind)
    out_edges: Vec<IndexMap<usize, Vec<ReqType>>>,
    in_edges: Vec<IndexMap<usize, Vec<ReqType>>>,
    lookup: IndexMap<(String, String), IndexSet<usize>>,
    sls_to_nodes: IndexMap<String, IndexSet<usize>>,
}

impl DependencyGraph {
    fn node(&mut self, tag: &str) -> usize {
        if let Some(&n) = self.by_tag.get(tag) {
            return n;
        }
        self.nodes.push(Node {
            tag: tag.to_string(),
            chunk: None,
        });
        self.out_edges.push(IndexMap::new());
        self.in_edges.push(IndexMap::new());
        let n = self.nodes.len() - 1;
        self.by_tag.insert(tag.to_string(), n);
        n
    }

    fn add_edge(&mut self, source: usize, target: usize, kind: ReqType) {
        let out = self.out_edges[source].entry(target).or_default();
        if !out.contains(&kind) {
            out.push(kind);
        }
        let inn = self.in_edges[target].entry(source).or_default();
        if !inn.contains(&kind) {
            inn.push(kind);
        }
    }

    /// Adds a chunk as a node; returns the chunk's index.
    pub fn add_chunk(&mut self, chunk: Map<String, Value>) -> usize {
        let tag = gen_tag(&chunk);
        let ci = self.chunks.len();
        let n = self.node(&tag);
        self.nodes[n].chunk = Some(ci);
        let s = |k: &str| chunk.get(k).map(py_str).unwrap_or_default();
        let (state, name, id) = (s("state"), s("name"), s("__id__"));
        for key in [
            (state.clone(), name.clone()),
            (state, id.clone()),
            ("id".to_string(), id),
            ("id".to_string(), name),
        ] {
            self.lookup.entry(key).or_default().insert(n);
        }
        if let Some(Value::String(sls)) = chunk.get("__sls__") {
            if !sls.is_empty() {
                self.sls_to_nodes.entry(sls.clone()).or_default().insert(n);
            }
        }
        if let Some(Value::Array(from)) = chunk.get("__sls_included_from__") {
            for sls in from {
                self.sls_to_nodes.entry(py_str(sls)).or_default().insert(n);
            }
        }
        self.chunks.push(chunk);
        ci
    }

    fn truthy(chunk: &Map<String, Value>, key: &str) -> bool {
        chunk.get(key).is_some_and(truthy)
    }

    fn add_prereq(&mut self, node: usize, req: usize) {
        if let Some(ci) = self.nodes[node].chunk {
            self.chunks[ci].insert("__prerequiring__".into(), Value::Bool(true));
        }
        let req_chunk = self.nodes[req].chunk;
        if let Some(ci) = req_chunk {
            self.chunks[ci].insert("__prereq__".into(), Value::Bool(true));
        }
        let check_tag = prereq_tag(&self.nodes[req].tag);
        let exists = self
            .by_tag
            .get(&check_tag)
            .is_some_and(|&c| self.nodes[c].chunk.is_some());
        let check = self.node(&check_tag);
        if !exists {
            self.nodes[check].chunk = req_chunk;
            let deps: Vec<(usize, ReqType)> = self.in_edges[req]
                .iter()
                .flat_map(|(&s, kinds)| kinds.iter().map(move |&k| (s, k)))
                .collect();
            for (dep, kind) in deps {
                if kind != ReqType::Prereq {
                    self.add_edge(dep, check, kind);
                }
            }
        }
        self.add_edge(check, node, ReqType::Prereq);
        self.add_edge(node, req, ReqType::Require);
        // nested prereq chains: this state's own prereq check must wait for
        // the check of the state it prerequires
        let own_check = prereq_tag(&self.nodes[node].tag);
        if let Some(&oc) = self.by_tag.get(&own_check) {
            if self.nodes[oc].chunk.is_some() {
                self.add_edge(check, oc, ReqType::Prereq);
            }
        }
    }

    fn add_reqs(&mut self, node: usize, has_prereq: bool, kind: ReqType, reqs: &[usize]) {
        for &req in reqs {
            if kind == ReqType::Prereq {
                self.add_prereq(node, req);
            } else {
                if has_prereq {
                    let check_tag = prereq_tag(&self.nodes[node].tag);
                    let check = self.node(&check_tag);
                    self.add_edge(req, check, kind);
                }
                self.add_edge(req, node, kind);
            }
        }
    }

    fn add_dependency(&mut self, ci: usize, kind: ReqType, key: &str, val: &str) -> bool {
        let has_prereq = Self::truthy(&self.chunks[ci], "__prereq__");
        let node = self.by_tag[&gen_tag(&self.chunks[ci])];
        let mut found = false;
        if key == "sls" {
            if is_pattern(val) {
                found = true;
                let groups: Vec<Vec<usize>> = self
                    .sls_to_nodes
                    .iter()
                    .filter(|(sls, _)| glob_match(val, sls))
                    .map(|(_, n)| n.iter().copied().collect())
                    .collect();
                for reqs in groups {
                    self.add_reqs(node, has_prereq, kind, &reqs);
                }
            } else if let Some(reqs) = self.sls_to_nodes.get(val) {
                let reqs: Vec<usize> = reqs.iter().copied().collect();
                found = !reqs.is_empty();
                self.add_reqs(node, has_prereq, kind, &reqs);
            }
        } else if is_pattern(val) {
            let groups: Vec<Vec<usize>> = self
                .lookup
                .iter()
                .filter(|((state, name_or_id), _)| state == key && glob_match(val, name_or_id))
                .map(|(_, n)| n.iter().copied().collect())
                .collect();
            for reqs in groups {
                found = true;
                self.add_reqs(node, has_prereq, kind, &reqs);
            }
        } else if let Some(reqs) = self.lookup.get(&(key.to_string(), val.to_string())) {
            let reqs: Vec<usize> = reqs.iter().copied().collect();
            found = !reqs.is_empty();
            self.add_reqs(node, has_prereq, kind, &reqs);
        }
        found
    }

    /// Adds the chunk's requisites as edges; Salt's error text when one
    /// names nothing.
    pub fn add_requisites(&mut self, ci: usize) -> Option<String> {
        let chunk = &self.chunks[ci];
        if !ReqType::ALL.iter().any(|k| chunk.contains_key(k.key())) {
            return None;
        }
        for kind in ReqType::ORDERING {
            let Some(Value::Array(refs)) = self.chunks[ci].get(kind.key()).cloned() else {
                continue;
            };
            for req in refs {
                let (key, val) = match req {
                    Value::String(s) => ("id".to_string(), Value::String(s)),
                    Value::Object(m) => match m.into_iter().next() {
                        Some((k, v)) => (k.split('.').next().unwrap_or("").to_string(), v),
                        None => continue,
                    },
                    _ => continue,
                };
                let low = &self.chunks[ci];
                let name = low.get("name").map(py_str).unwrap_or_default();
                let sls = low.get("__sls__").map(py_str);
                let sls = sls.as_deref().unwrap_or("None");
                let val = match val {
                    Value::Null => continue,
                    Value::String(s) => s,
                    _ => {
                        return Some(format!(
                            "Requisite [{}: {key}] in state [{name}] in SLS [{sls}] must have a string as the value",
                            kind.key()
                        ))
                    }
                };
                if !self.add_dependency(ci, kind, &key, &val) {
                    return Some(format!(
                        "Referenced state does not exist for requisite [{}: ({key}: {val})] in state [{name}] in SLS [{sls}]",
                        kind.key()
                    ));
                }
            }
        }
        None
    }

    /// Normalises a chunk's `order` (`first`, `last`, missing) to a number,
    /// writing it back as Salt does.
    fn normalized_order(&mut self, ci: usize, cap: i64) -> f64 {
        let chunk = &mut self.chunks[ci];
        match chunk.get("order") {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(cap as f64),
            other => {
                let order = match other {
                    Some(Value::String(s)) if s == "last" => cap + 1_000_000,
                    Some(Value::String(s)) if s == "first" => 0,
                    _ => cap,
                };
                chunk.insert("order".into(), Value::from(order));
                order as f64
            }
        }
    }

    /// Salt's `_get_chunk_order`: the chunk's own order, lowered to the
    /// lowest order among the states waiting on it.
    fn chunk_order(&mut self, cap: i64, node: usize) -> (f64, f64) {
        let Some(ci) = self.nodes[node].chunk else {
            return (cap as f64, cap as f64);
        };
        let mut order = self.normalized_order(ci, cap);
        if let Some(no) = self.chunks[ci].shift_remove("name_order") {
            let no = no.as_f64().unwrap_or(0.0);
            if no != 0.0 {
                order += no / 10000.0;
                self.chunks[ci].insert("order".into(), float_value(order));
            }
        }
        if order < 0.0 {
            order += (cap + 1_000_000) as f64;
            self.chunks[ci].insert("order".into(), float_value(order));
        }
        let own = order;
        let mut child_min = f64::INFINITY;
        let mut req_order: i16 = -1;
        let edges: Vec<(usize, ReqType)> = self.out_edges[node]
            .iter()
            .flat_map(|(&t, kinds)| kinds.iter().map(move |&k| (t, k)))
            .collect();
        for (child, kind) in edges {
            if req_order <= i16::from(kind.weight()) {
                req_order = i16::from(kind.weight());
                let child_order = match self.nodes[child].chunk {
                    Some(cc) => self.normalized_order(cc, cap),
                    None => f64::INFINITY,
                };
                child_min = child_min.min(child_order);
            }
        }
        if order > child_min {
            order = child_min;
        }
        (order, own)
    }

    /// The cap Salt derives from the integer orders (`max + 100`).
    pub fn cap(&self) -> i64 {
        let mut cap = 1i64;
        for c in &self.chunks {
            if let Some(o) = c.get("order").and_then(Value::as_i64) {
                if o > cap - 1 && o > 0 {
                    cap = o + 100;
                }
            }
        }
        cap
    }

    /// Chunk indices in execution order (a chunk under a prereq appears
    /// twice: its dry-run check, then its real run). `Err` on a cycle.
    pub fn order(&mut self, cap: i64) -> Result<Vec<usize>, Cycle> {
        let count = self.nodes.len();
        let mut in_degree: Vec<usize> = self
            .in_edges
            .iter()
            .map(|m| m.values().map(Vec::len).sum())
            .collect();
        let mut heap = BinaryHeap::new();
        for (n, degree) in in_degree.iter().enumerate() {
            if *degree == 0 {
                let key = self.sort_key(cap, n);
                heap.push(key);
            }
        }
        let mut out = Vec::new();
        let mut processed = 0;
        while let Some(HeapKey { node, .. }) = heap.pop() {
            processed += 1;
            if let Some(ci) = self.nodes[node].chunk {
                out.push(ci);
            }
            let targets: Vec<(usize, usize)> = self.out_edges[node]
                .iter()
                .map(|(&t, k)| (t, k.len()))
                .collect();
            for (t, k) in targets {
                in_degree[t] -= k;
                if in_degree[t] == 0 {
                    let key = self.sort_key(cap, t);
                    heap.push(key);
                }
            }
        }
        if processed != count {
            return Err(Cycle);
        }
        Ok(out)
    }

    fn sort_key(&mut self, cap: i64, node: usize) -> HeapKey {
        let order = self.chunk_order(cap, node);
        let label = match self.nodes[node].chunk {
            Some(ci) => {
                let c = &self.chunks[ci];
                let s = |k: &str| c.get(k).map(py_str).unwrap_or_default();
                format!("{}{}{}", s("state"), s("name"), s("fun"))
            }
            None => String::new(),
        };
        HeapKey {
            order,
            label,
            tag: self.nodes[node].tag.clone(),
            node,
        }
    }

    /// Salt's text for a cycle: `(dependent, 'kind', dependency), ...`.
    pub fn cycles_str(&self) -> String {
        let cycle = self.find_cycle();
        let mut parts = Vec::new();
        for (dependency, dependent, kind) in cycle {
            let (Some(dc), Some(pc)) = (self.nodes[dependent].chunk, self.nodes[dependency].chunk)
            else {
                continue;
            };
            let dependent_chunk = &self.chunks[dc];
            let kind = if kind == ReqType::Require && !dependent_chunk.contains_key("require") {
                ReqType::Prereq
            } else {
                kind
            };
            parts.push(format!(
                "({}, '{}', {})",
                chunk_str(dependent_chunk),
                kind.key(),
                chunk_str(&self.chunks[pc])
            ));
        }
        parts.join(", ")
    }

    fn find_cycle(&self) -> Vec<(usize, usize, ReqType)> {
        #[derive(Clone, Copy, PartialEq)]
        enum Color {
            White,
            Gray,
            Black,
        }
        struct Dfs<'g> {
            g: &'g DependencyGraph,
            color: Vec<Color>,
            parent: HashMap<usize, (usize, ReqType)>,
        }
        impl Dfs<'_> {
            fn visit(&mut self, node: usize) -> Option<Vec<(usize, usize, ReqType)>> {
                self.color[node] = Color::Gray;
                for (&target, kinds) in &self.g.out_edges[node] {
                    for &kind in kinds {
                        if self.color[target] == Color::Gray {
                            let mut cycle = vec![(node, target, kind)];
                            let mut cur = node;
                            while cur != target {
                                let (prev, k) = *self.parent.get(&cur)?;
                                cycle.push((prev, cur, k));
                                cur = prev;
                            }
                            cycle.reverse();
                            return Some(cycle);
                        } else if self.color[target] == Color::White {
                            self.parent.insert(target, (node, kind));
                            if let Some(c) = self.visit(target) {
                                return Some(c);
                            }
                        }
                    }
                }
                self.color[node] = Color::Black;
                None
            }
        }
        let mut dfs = Dfs {
            g: self,
            color: vec![Color::White; self.nodes.len()],
            parent: HashMap::new(),
        };
        for n in 0..self.nodes.len() {
            if dfs.color[n] == Color::White {
                if let Some(c) = dfs.visit(n) {
                    return c;
                }
            }
        }
        Vec::new()
    }

    /// What `chunk` waits on: `(kind, chunk index)`, in edge order. A chunk
    /// marked `__prereq__` answers for its dry-run check node.
    pub fn dependencies(&self, ci: usize) -> Vec<(ReqType, usize)> {
        let chunk = &self.chunks[ci];
        let mut tag = gen_tag(chunk);
        if Self::truthy(chunk, "__prereq__") {
            tag = prereq_tag(&tag);
        }
        let Some(&node) = self.by_tag.get(&tag) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (&src, kinds) in &self.in_edges[node] {
            if let Some(dc) = self.nodes[src].chunk {
                for &k in kinds {
                    out.push((k, dc));
                }
            }
        }
        out
    }
}

#[derive(Debug)]
struct HeapKey {
    order: (f64, f64),
    label: String,
    tag: String,
    node: usize,
}

impl HeapKey {
    fn cmp_key(&self, other: &Self) -> Ordering {
        self.order
            .0
            .total_cmp(&other.order.0)
            .then(self.order.1.total_cmp(&other.order.1))
            .then_with(|| self.label.cmp(&other.label))
            .then_with(|| self.tag.cmp(&other.tag))
    }
}

impl PartialEq for HeapKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp_key(other) == Ordering::Equal
    }
}
impl Eq for HeapKey {}
impl PartialOrd for HeapKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for HeapKey {
    // reversed: BinaryHeap pops the greatest, we want the smallest key
    fn cmp(&self, other: &Self) -> Ordering {
        other.cmp_key(self)
    }
}

fn chunk_str(chunk: &Map<String, Value>) -> String {
    let s = |k: &str| chunk.get(k).map(py_str).unwrap_or_else(|| "None".into());
    let mut out = format!(
        "{{'SLS': {}, 'ID': {}",
        repr_str(&s("__sls__")),
        repr_str(&s("__id__"))
    );
    if chunk.get("__id__") != chunk.get("name") {
        out.push_str(&format!(", 'NAME': {}", repr_str(&s("name"))));
    }
    out.push('}');
    out
}

fn float_value(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// Python truthiness of a JSON value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn is_pattern(val: &str) -> bool {
    val.contains(['*', '?', '[', ']'])
}

/// Python's `fnmatch.fnmatch` (case-sensitive on Linux).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    globset::GlobBuilder::new(pattern)
        .literal_separator(false)
        .backslash_escape(false)
        .build()
        .map(|g| g.compile_matcher().is_match(text))
        .unwrap_or(false)
}
