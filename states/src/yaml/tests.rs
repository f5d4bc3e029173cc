//! Loader and dumper checked against outputs recorded from the real Salt
//! 3008.5 / PyYAML 6.0.3 (libyaml) in `testdata/`, plus the corpus cases.

use serde_json::Value;

use super::*;

/// A recorded value: `{"int": 1}`, `{"float": "1.5"}`, `{"map": [[k, v]]}`...
fn typed(v: &Value) -> Node {
    let Some(obj) = v.as_object() else {
        return Node::Null;
    };
    let (kind, inner) = obj.iter().next().expect("one key");
    match kind.as_str() {
        "bool" => Node::Bool(inner.as_bool().unwrap()),
        "int" => Node::Int(
            inner
                .as_i64()
                .map(i128::from)
                .or_else(|| inner.as_u64().map(i128::from))
                .unwrap(),
        ),
        "float" => Node::Float(match inner.as_str().unwrap() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            s => s.parse().unwrap(),
        }),
        "str" => Node::Str(inner.as_str().unwrap().to_string()),
        "seq" => Node::Seq(inner.as_array().unwrap().iter().map(typed).collect()),
        "map" => Node::Map(
            inner
                .as_array()
                .unwrap()
                .iter()
                .map(|pair| (typed(&pair[0]), typed(&pair[1])))
                .collect(),
        ),
        other => panic!("unknown kind {other}"),
    }
}

/// Equality that treats NaN as equal to itself.
fn same(a: &Node, b: &Node) -> bool {
    match (a, b) {
        (Node::Float(x), Node::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Node::Seq(x), Node::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Node::Map(x), Node::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        _ => a == b,
    }
}

#[test]
fn loads_like_salt_on_recorded_cases() {
    check_load_cases(include_str!("testdata/load_cases.json"));
}

/// Syntax corners where a YAML 1.2 scanner could part from libyaml.
#[test]
fn loads_like_salt_on_syntax_corners() {
    check_load_cases(include_str!("testdata/load_syntax_cases.json"));
}

fn check_load_cases(fixture: &str) {
    let cases: Vec<Value> = serde_json::from_str(fixture).unwrap();
    let mut failures = Vec::new();
    for case in &cases {
        let text = case["yaml"].as_str().unwrap();
        let got = load(text);
        match (case.get("value"), &got) {
            (Some(want), Ok(node)) if same(&typed(want), node) => {}
            (None, Err(e)) => {
                if let Some(line) = case["line"].as_u64() {
                    if e.line as u64 != line {
                        failures.push(format!("{text:?}: error line {} want {line} ({e})", e.line));
                    }
                }
            }
            _ => failures.push(format!("{text:?}: got {got:?}, want {case}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_use_libyaml_and_salt_wording() {
    let cases: Vec<Value> = serde_json::from_str(include_str!("testdata/load_cases.json")).unwrap();
    let mut failures = Vec::new();
    for case in &cases {
        let (Some(want), Some(text)) = (case["error"].as_str(), case["yaml"].as_str()) else {
            continue;
        };
        let got = load(text).unwrap_err();
        // Salt prints PyYAML's node repr for an unhashable key; we print JSON.
        if !got.message.contains(want) && !want.starts_with("found unacceptable key") {
            failures.push(format!("{text:?}: {got} (salt: {want})"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn dumps_like_salt_on_recorded_cases() {
    check_dump_cases(include_str!("testdata/dump_cases.json"));
}

/// 250 random nestings of awkward scalars, dumped by the real Salt.
#[test]
fn dumps_like_salt_on_random_structures() {
    check_dump_cases(include_str!("testdata/dump_cases_random.json"));
}

fn check_dump_cases(fixture: &str) {
    let cases: Vec<Value> = serde_json::from_str(fixture).unwrap();
    let mut compared = 0;
    let auto = DumpOptions {
        flow: FlowStyle::Auto,
        sort_keys: false,
        allow_unicode: true,
    };
    let mut failures = Vec::new();
    for case in &cases {
        let v = &case["v"];
        let mut check = |what: &str, got: String| {
            if let Some(want) = case[what].as_str() {
                compared += 1;
                if got != want {
                    failures.push(format!("{what} {v}:\n  got  {got:?}\n  want {want:?}"));
                }
            }
        };
        check("flow", dump(v, true));
        check("block", dump(v, false));
        check("auto", dump_with(v, &auto));
        check("ser", serialize(v));
        if let Ok(encoded) = encode_scalar(v) {
            check("enc", encoded);
        }
        if let Some(s) = v.as_str() {
            check("dq", dquote(s));
            check("sq", squote(s));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(compared >= cases.len() * 4);
}

fn json_of(text: &str) -> Value {
    load(text).unwrap().to_json()
}

#[test]
fn file_modes_follow_salt_octal_rule() {
    // sem-yaml-octal-modes: unsigned leading zeros are dropped (decimal),
    // a sign keeps YAML 1.1 octal, and non-octal digits stay strings.
    let v = json_of(
        "mode: 0644\nq: '0644'\nplain: 644\no: 0o644\ne: 08\nn: 0999\nhex: 0x1F\nz: 00644\n\
         u: 1_000\nneg: -0644\nplus: +0644\n",
    );
    assert_eq!(
        v,
        serde_json::json!({"mode": 644, "q": "0644", "plain": 644, "o": "0o644", "e": "08",
            "n": "0999", "hex": 31, "z": 644, "u": 1000, "neg": -420, "plus": 420})
    );
}

#[test]
fn yaml_1_1_booleans_and_nulls_apply_to_plain_scalars_only() {
    let v = json_of("- yes\n- Off\n- y\n- 'yes'\n- \"on\"\n- ~\n- None\n- Null\n-\n");
    assert_eq!(
        v,
        serde_json::json!([true, false, "y", "yes", "on", null, "None", null, null])
    );
    // A boolean key stays a bool key; its JSON spelling is `true`.
    let node = load("yes: key_is_yes\n").unwrap();
    assert_eq!(
        node,
        Node::Map(vec![(Node::Bool(true), Node::Str("key_is_yes".into()))])
    );
    assert_eq!(node.to_json(), serde_json::json!({"true": "key_is_yes"}));
}

#[test]
fn numbers_need_pyyaml_shapes() {
    let v =
        json_of("a: 1e3\nb: 6.8523015e+5\nc: 3.10\nd: 1:30\ne: 2024-01-15\nf: 10.0.0.1\ng: .inf\n");
    assert_eq!(v["a"], "1e3");
    assert_eq!(v["b"], 685230.15);
    assert_eq!(v["c"], 3.1);
    assert_eq!(v["d"], 90);
    assert_eq!(v["e"], "2024-01-15");
    assert_eq!(v["f"], "10.0.0.1");
    assert_eq!(
        load("g: .inf").unwrap(),
        Node::Map(vec![(Node::Str("g".into()), Node::Float(f64::INFINITY))])
    );
}

#[test]
fn explicit_tags_override_resolution() {
    let v = json_of(
        "a: !!str 1\nb: !!int '0644'\nc: !!float 1\nd: !!bool 'on'\ne: !!null x\nf: ! 12\n",
    );
    assert_eq!(
        v,
        serde_json::json!({"a": "1", "b": 644, "c": 1.0, "d": true, "e": null, "f": 12})
    );
    let err = load("a: !foo x").unwrap_err();
    assert_eq!(
        err.message,
        "could not determine a constructor for the tag '!foo'"
    );
}

#[test]
fn merge_keys_follow_salt_flattening() {
    // sem-yaml-anchors-merge: explicit keys win; merged keys come first.
    let node = load("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 20\n  z: 30\n").unwrap();
    let Node::Map(top) = node else { panic!() };
    assert_eq!(
        top[1].1,
        Node::Map(vec![
            (Node::Str("x".into()), Node::Int(1)),
            (Node::Str("y".into()), Node::Int(20)),
            (Node::Str("z".into()), Node::Int(30)),
        ])
    );
    // A list of merges is applied last-first.
    let v = json_of("a: &a {x: 1}\nb: &b {z: 2}\nc: {<<: [*a, *b]}\n");
    let order: Vec<&String> = v["c"].as_object().unwrap().keys().collect();
    assert_eq!(order, ["z", "x"]);
    // Unlike plain PyYAML, a key two merged mappings share is a conflict.
    let err = load("a: &a {x: 1}\nb: &b {x: 2}\nc: {<<: [*a, *b]}\n").unwrap_err();
    assert_eq!(err.message, "found conflicting ID 'x'");
}

#[test]
fn duplicate_keys_are_conflicting_ids_with_their_line() {
    let err = load("ntp:\n  a: 1\nother: 2\nntp:\n  b: 2\n").unwrap_err();
    assert_eq!(err.message, "found conflicting ID 'ntp'");
    assert_eq!((err.line, err.column), (4, 1));
    assert_eq!(err.to_string(), "found conflicting ID 'ntp'; line 4");
    // Python's dict equality: 1, 1.0 and true are one key.
    let err = load("1: a\ntrue: b\n").unwrap_err();
    assert_eq!(err.message, "found conflicting ID 'True'");
}

#[test]
fn documents_and_aliases() {
    assert_eq!(load("").unwrap(), Node::Null);
    assert_eq!(load("# nothing\n").unwrap(), Node::Null);
    assert_eq!(load("--- a\n...\n").unwrap(), Node::Str("a".into()));
    let err = load("a: 1\n---\nb: 2\n").unwrap_err();
    assert!(
        err.message.starts_with("expected a single document"),
        "{err}"
    );
    assert_eq!(err.line, 2);
    assert_eq!(
        json_of("a: &l [1, 2]\nb: *l\n"),
        serde_json::json!({"a": [1, 2], "b": [1, 2]})
    );
    assert_eq!(
        load("a: *nope").unwrap_err().message,
        "found undefined alias"
    );
    assert_eq!(
        load("a: &r [*r]").unwrap_err().message,
        "found a recursive alias"
    );
}

#[test]
fn hostile_input_is_an_error_not_a_crash() {
    let deep = "[".repeat(5000);
    assert!(load(&deep).is_err());
    // Nine levels of ten aliases each: a billion nodes if expanded.
    let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        laughs.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    assert_eq!(
        load(&laughs).unwrap_err().message,
        "document expands to too many nodes"
    );
    assert_eq!(
        load("a: b: c").unwrap_err().message,
        "mapping values are not allowed in this context"
    );
}

#[test]
fn key_strings_are_python_str() {
    assert_eq!(Node::Float(1e16).key_string(), "1e+16");
    assert_eq!(Node::Float(2.0).key_string(), "2.0");
    assert_eq!(Node::Bool(false).key_string(), "False");
    assert_eq!(Node::Null.key_string(), "None");
}

#[test]
fn jinja_filters_and_serializer_trim_like_salt() {
    let v: Value = serde_json::from_str(r#"{"b": 1, "a": [2, 3], "c": {"y": 1, "x": 2}}"#).unwrap();
    assert_eq!(
        format_yaml(&v, true, false),
        "{b: 1, a: [2, 3], c: {y: 1, x: 2}}"
    );
    assert_eq!(
        format_yaml(&v, true, true),
        "{a: [2, 3], b: 1, c: {x: 2, y: 1}}"
    );
    assert_eq!(
        format_yaml(&v, false, false),
        "b: 1\na:\n- 2\n- 3\nc:\n  y: 1\n  x: 2"
    );
    assert_eq!(serialize(&v), "a: [2, 3]\nb: 1\nc: {x: 2, y: 1}");
    assert_eq!(
        format_yaml(&Value::String("abc".into()), true, false),
        "abc"
    );
    assert_eq!(
        encode_scalar(&Value::String("it's".into())).unwrap(),
        "\"it's\""
    );
    assert_eq!(encode_scalar(&serde_json::json!(1.0)).unwrap(), "1.0");
    assert!(encode_scalar(&serde_json::json!([1])).is_err());
    assert_eq!(dquote("it's \"x\"\n"), r#""it's \"x\"\n""#);
    assert_eq!(squote("it's"), "'it''s'");
}
