//! YAML as Salt reads it (PyYAML, YAML 1.1 plus Salt's own loader rules).
//!
//! INTERIM: this loader goes through serde_yaml (YAML 1.2 resolution) until
//! the Salt-compatible loader replaces it; the API below is the contract.

use serde_json::{Map, Number, Value};

/// A loaded YAML document, keeping what JSON cannot: key types and order.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
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

impl Node {
    /// Python's `str()` of a scalar key, which is what Salt's JSON output
    /// prints for non-string keys (`456`, `True`, `None`).
    pub fn key_string(&self) -> String {
        match self {
            Node::Null => "None".into(),
            Node::Bool(true) => "True".into(),
            Node::Bool(false) => "False".into(),
            Node::Int(i) => i.to_string(),
            Node::Float(f) => format!("{f:?}"),
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
            Node::Int(i) => Value::Number((*i).into()),
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
                        other => other.key_string(),
                    };
                    out.insert(key, v.to_json());
                }
                Value::Object(out)
            }
        }
    }
}

/// Loads one YAML document (an empty document is `Node::Null`).
pub fn load(text: &str) -> Result<Node, YamlError> {
    let v: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        YamlError {
            message: e.to_string(),
            line,
            column,
        }
    })?;
    Ok(from_serde(v))
}

fn from_serde(v: serde_yaml::Value) -> Node {
    match v {
        serde_yaml::Value::Null => Node::Null,
        serde_yaml::Value::Bool(b) => Node::Bool(b),
        serde_yaml::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Node::Int(i)
            } else {
                Node::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_yaml::Value::String(s) => Node::Str(s),
        serde_yaml::Value::Sequence(s) => Node::Seq(s.into_iter().map(from_serde).collect()),
        serde_yaml::Value::Mapping(m) => Node::Map(
            m.into_iter()
                .map(|(k, v)| (from_serde(k), from_serde(v)))
                .collect(),
        ),
        serde_yaml::Value::Tagged(t) => from_serde(t.value),
    }
}

/// Serialises like Salt's `salt.utils.yaml.safe_dump` (PyYAML): flow style
/// (`{a: 1, b: [x, y]}`) when `flow`, block style otherwise; ends with a
/// newline. INTERIM: serde_yaml's block output until the PyYAML-compatible
/// dumper replaces it.
pub fn dump(value: &Value, flow: bool) -> String {
    let _ = flow;
    serde_yaml::to_string(value).unwrap_or_default()
}
