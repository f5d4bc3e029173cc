//! YAML as Salt reads and writes it.
//!
//! `load` reads like Salt's YAML renderer (`SaltYamlSafeLoader` over
//! libyaml): YAML 1.1 resolution of plain scalars only (`yes`/`on` are
//! bools, `1e3` is a string, `1:30` is 90, timestamps stay strings), Salt's
//! octal rule (`0644` is 644, `-0644` is -420), Salt's merge-key flattening
//! (explicit keys win, `<<: [*a, *b]` applies `*b` first, a key shared by two
//! merged mappings is a conflict), `found conflicting ID '<key>'` for a
//! duplicate key with Python's key equality (`1 == 1.0 == true`), and one
//! document only. Errors carry libyaml's or Salt's wording (the `problem`
//! part, without the "while parsing ..." context) and the problem's line.
//!
//! `dump` and friends write like PyYAML's `CSafeDumper` (libyaml 0.2.5) as
//! Salt calls it; see `dump.rs` for which Salt caller each function mirrors.
//!
//! Known differences from Salt: duplicate anchors are accepted (the later
//! one wins) where libyaml refuses them; anchor names may hold any
//! non-blank characters (libyaml stops at the first one outside
//! `[A-Za-z0-9_-]`, so `&name: v` is an anchored empty key there); `!!binary`
//! gives text, `!!set` a list and ints beyond i64 a float; a recursive alias
//! is an error.

mod dump;
mod load;
mod relax;
mod resolve;

pub use dump::{
    dquote, dump, dump_with, encode_scalar, format_yaml, int_for_dump, serialize, squote,
    DumpOptions, FlowStyle,
};

use serde_json::{Map, Number, Value};

/// A loaded YAML document, keeping what JSON cannot: key types and order.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    /// Python ints as far as 128 bits carry them (`2**64` stays exact).
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in document order; duplicates are a load error.
    Map(Vec<(Node, Node)>),
}

/// A YAML error with its position (1-based line and column).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}; line {line}")]
pub struct YamlError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

/// An int as JSON: exact within i64 or u64; beyond, serde_json has no
/// integer for it and a float stands in.
pub fn int_json(i: i128) -> Value {
    if let Ok(small) = i64::try_from(i) {
        return Value::Number(small.into());
    }
    if let Ok(unsigned) = u64::try_from(i) {
        return Value::Number(unsigned.into());
    }
    Number::from_f64(i as f64).map_or(Value::Null, Value::Number)
}

impl Node {
    /// Python's `str()` of a scalar key, which is what Salt's JSON output
    /// prints for non-string keys (`456`, `True`, `None`).
    pub fn key_string(&self) -> String {
        match self {
            Node::Null => "None".into(),
            Node::Bool(true) => "True".into(),
            Node::Bool(false) => "False".into(),
            Node::Int(i) => i.to_string(),
            Node::Float(f) => resolve::python_float_repr(*f),
            Node::Str(s) => s.clone(),
            other => other.to_json().to_string(),
        }
    }

    /// Python's type name (`int`, `bool`, `str`...), for Salt's messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Node::Null => "NoneType",
            Node::Bool(_) => "bool",
            Node::Int(_) => "int",
            Node::Float(_) => "float",
            Node::Str(_) => "str",
            Node::Seq(_) => "list",
            Node::Map(_) => "dict",
        }
    }

    /// JSON as Salt's `--out json` prints it: non-string keys become strings
    /// the way Python's json module converts them (`1`, `true`, `null`).
    pub fn to_json(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => int_json(*i),
            Node::Float(f) => Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Node::Str(s) => Value::String(s.clone()),
            Node::Seq(v) => Value::Array(v.iter().map(Node::to_json).collect()),
            Node::Map(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    let key = match k {
                        Node::Str(s) => s.clone(),
                        Node::Null => "null".into(),
                        Node::Bool(b) => b.to_string(),
                        // Python's json spells non-finite float keys so.
                        Node::Float(f) if f.is_nan() => "NaN".into(),
                        Node::Float(f) if f.is_infinite() => {
                            if *f > 0.0 { "Infinity" } else { "-Infinity" }.into()
                        }
                        other => other.key_string(),
                    };
                    out.insert(key, v.to_json());
                }
                Value::Object(out)
            }
        }
    }
}

/// Loads one YAML document as Salt's YAML renderer reads it (an empty
/// document is `Node::Null`; a second document is an error).
pub fn load(text: &str) -> Result<Node, YamlError> {
    load::load(text)
}

#[cfg(test)]
mod tests;
