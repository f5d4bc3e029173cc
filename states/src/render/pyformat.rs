//! Python's string formatting (`'%s-%d' % (a, b)`, `'{}:{port}'.format(...)`)
//! and `json.dumps`, which Salt templates lean on.

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

use super::mutable::{item, items_of, pairs_of, split_args, PyTuple};
use super::pyrepr::{float_repr, py_repr, py_str, str_repr};

fn fail(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// A parsed format spec: `[[fill]align][sign][#][0][width][,][.precision][type]`.
#[derive(Default)]
struct Spec {
    fill: Option<char>,
    align: Option<char>,
    sign: Option<char>,
    zero: bool,
    width: usize,
    precision: Option<usize>,
    kind: Option<char>,
    left: bool,
}

fn pad(s: String, spec: &Spec, numeric: bool) -> String {
    let len = s.chars().count();
    if len >= spec.width {
        return s;
    }
    let n = spec.width - len;
    let fill = spec.fill.unwrap_or(if spec.zero { '0' } else { ' ' });
    let align = spec.align.unwrap_or(if spec.left {
        '<'
    } else if spec.zero || numeric {
        '>'
    } else {
        '<'
    });
    let fills = |k: usize| fill.to_string().repeat(k);
    match align {
        '>' => {
            if fill == '0' && numeric && (s.starts_with('-') || s.starts_with('+')) {
                let (sign, rest) = s.split_at(1);
                format!("{sign}{}{rest}", fills(n))
            } else {
                format!("{}{s}", fills(n))
            }
        }
        '^' => format!("{}{s}{}", fills(n / 2), fills(n - n / 2)),
        _ => format!("{s}{}", fills(n)),
    }
}

fn as_f64(v: &Value) -> Result<f64, Error> {
    if v.kind() == ValueKind::Bool {
        return Ok(if v.is_true() { 1.0 } else { 0.0 });
    }
    if let Some(s) = v.as_str() {
        return Err(fail(format!(
            "must be real number, not str ({})",
            str_repr(s)
        )));
    }
    f64::try_from(v.clone()).map_err(|_| fail("a real number is required"))
}

fn as_int(v: &Value) -> Result<i128, Error> {
    if v.kind() == ValueKind::Bool {
        return Ok(v.is_true() as i128);
    }
    if v.is_integer() {
        return i128::try_from(v.clone()).map_err(|_| fail("an integer is required"));
    }
    if v.kind() == ValueKind::Number {
        return Ok(as_f64(v)?.trunc() as i128);
    }
    Err(fail("%d format: a real number is required, not str"))
}

fn with_sign(s: String, negative: bool, spec: &Spec) -> String {
    if negative {
        format!("-{s}")
    } else {
        match spec.sign {
            Some('+') => format!("+{s}"),
            Some(' ') => format!(" {s}"),
            _ => s,
        }
    }
}

fn format_one(v: &Value, spec: &Spec) -> Result<String, Error> {
    let kind = spec.kind.unwrap_or('s');
    let out = match kind {
        's' => {
            let s = py_str(v);
            match spec.precision {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            }
        }
        'r' | 'a' => py_repr(v),
        'd' | 'i' | 'u' => {
            let i = as_int(v)?;
            with_sign(i.unsigned_abs().to_string(), i < 0, spec)
        }
        'x' | 'X' | 'o' => {
            let i = as_int(v)?;
            let s = match kind {
                'x' => format!("{:x}", i.unsigned_abs()),
                'X' => format!("{:X}", i.unsigned_abs()),
                _ => format!("{:o}", i.unsigned_abs()),
            };
            with_sign(s, i < 0, spec)
        }
        'f' | 'F' => {
            let f = as_f64(v)?;
            let p = spec.precision.unwrap_or(6);
            with_sign(format!("{:.p$}", f.abs()), f < 0.0, spec)
        }
        'e' | 'E' => {
            let f = as_f64(v)?;
            let p = spec.precision.unwrap_or(6);
            let s = format!("{:.p$e}", f.abs());
            let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
            let e: i32 = e.parse().unwrap_or(0);
            let s = format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
            let s = if kind == 'E' { s.to_uppercase() } else { s };
            with_sign(s, f < 0.0, spec)
        }
        'g' | 'G' => {
            let f = as_f64(v)?;
            with_sign(float_repr(f.abs()), f < 0.0, spec)
        }
        'c' => match v.as_str() {
            Some(s) => s.to_string(),
            None => char::from_u32(as_int(v)? as u32)
                .map(String::from)
                .unwrap_or_default(),
        },
        other => return Err(fail(format!("unsupported format character '{other}'"))),
    };
    let numeric = !matches!(kind, 's' | 'r' | 'a' | 'c');
    Ok(pad(out, spec, numeric))
}

/// Python's `fmt % operand` for a str `fmt`.
pub fn percent_format(fmt: &str, operand: &Value) -> Result<String, Error> {
    let args: Vec<Value> = if operand.downcast_object_ref::<PyTuple>().is_some() {
        items_of(operand)?
    } else {
        vec![operand.clone()]
    };
    let mapping = (operand.kind() == ValueKind::Map).then_some(operand);
    let mut next = 0;
    let mut out = String::new();
    let chars: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        let mut key: Option<String> = None;
        if chars.get(i) == Some(&'(') {
            let end = chars[i..]
                .iter()
                .position(|c| *c == ')')
                .ok_or_else(|| fail("incomplete format key"))?;
            key = Some(chars[i + 1..i + end].iter().collect());
            i += end + 1;
        }
        while let Some(f) = chars.get(i) {
            match f {
                '-' => spec.left = true,
                '0' => spec.zero = true,
                '+' | ' ' => spec.sign = Some(*f),
                '#' => {}
                _ => break,
            }
            i += 1;
        }
        let mut width = String::new();
        while let Some(d) = chars.get(i).filter(|c| c.is_ascii_digit()) {
            width.push(*d);
            i += 1;
        }
        if chars.get(i) == Some(&'*') {
            i += 1;
            width = args.get(next).map(|v| v.to_string()).unwrap_or_default();
            next += 1;
        }
        spec.width = width.parse().unwrap_or(0);
        if chars.get(i) == Some(&'.') {
            i += 1;
            let mut p = String::new();
            while let Some(d) = chars.get(i).filter(|c| c.is_ascii_digit()) {
                p.push(*d);
                i += 1;
            }
            spec.precision = Some(p.parse().unwrap_or(0));
        }
        // length modifiers are accepted and ignored, as in Python
        while matches!(chars.get(i), Some('h' | 'l' | 'L')) {
            i += 1;
        }
        let kind = *chars.get(i).ok_or_else(|| fail("incomplete format"))?;
        i += 1;
        if kind == '%' {
            out.push('%');
            continue;
        }
        if spec.left {
            spec.align = Some('<');
            spec.zero = false;
        }
        spec.kind = Some(kind);
        let value = match (&key, mapping) {
            (Some(k), Some(m)) => item(m, &Value::from(k.as_str()))
                .ok_or_else(|| fail(format!("KeyError: {}", str_repr(k))))?,
            (Some(_), None) => return Err(fail("format requires a mapping")),
            (None, _) => {
                let v = args
                    .get(next)
                    .cloned()
                    .ok_or_else(|| fail("not enough arguments for format string"))?;
                next += 1;
                v
            }
        };
        out.push_str(&format_one(&value, &spec)?);
    }
    if key_free(fmt) && next < args.len() && mapping.is_none() {
        return Err(fail("not all arguments converted during string formatting"));
    }
    Ok(out)
}

fn key_free(fmt: &str) -> bool {
    !fmt.contains("%(")
}

fn parse_spec(s: &str) -> Spec {
    let chars: Vec<char> = s.chars().collect();
    let mut spec = Spec::default();
    let mut i = 0;
    let is_align = |c: &char| matches!(c, '<' | '>' | '^' | '=');
    if chars.len() >= 2 && is_align(&chars[1]) {
        spec.fill = Some(chars[0]);
        spec.align = Some(chars[1]);
        i = 2;
    } else if chars.first().is_some_and(is_align) {
        spec.align = Some(chars[0]);
        i = 1;
    }
    if let Some(c @ ('+' | '-' | ' ')) = chars.get(i) {
        spec.sign = Some(*c);
        i += 1;
    }
    if chars.get(i) == Some(&'#') {
        i += 1;
    }
    if chars.get(i) == Some(&'0') {
        spec.zero = true;
        i += 1;
    }
    let mut w = String::new();
    while let Some(d) = chars.get(i).filter(|c| c.is_ascii_digit()) {
        w.push(*d);
        i += 1;
    }
    spec.width = w.parse().unwrap_or(0);
    if matches!(chars.get(i), Some(',' | '_')) {
        i += 1;
    }
    if chars.get(i) == Some(&'.') {
        i += 1;
        let mut p = String::new();
        while let Some(d) = chars.get(i).filter(|c| c.is_ascii_digit()) {
            p.push(*d);
            i += 1;
        }
        spec.precision = Some(p.parse().unwrap_or(0));
    }
    spec.kind = chars.get(i).copied();
    spec
}

/// Python's `str.format(*args, **kwargs)`.
pub fn str_format(fmt: &str, args: &[Value]) -> Result<String, Error> {
    let (pos, kw) = split_args(args);
    let mut out = String::new();
    let mut auto = 0;
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut field = String::new();
                let mut depth = 1;
                for c in chars.by_ref() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    field.push(c);
                }
                let (name_conv, spec) = match field.split_once(':') {
                    Some((a, b)) => (a.to_string(), b.to_string()),
                    None => (field.clone(), String::new()),
                };
                let (name, conv) = match name_conv.split_once('!') {
                    Some((a, b)) => (a.to_string(), b.chars().next()),
                    None => (name_conv, None),
                };
                let (head, rest) = match name.find(['.', '[']) {
                    Some(i) => (name[..i].to_string(), name[i..].to_string()),
                    None => (name.clone(), String::new()),
                };
                let mut value = if head.is_empty() {
                    let v = pos.get(auto).cloned();
                    auto += 1;
                    v.ok_or_else(|| {
                        fail("Replacement index out of range for positional args tuple")
                    })?
                } else if let Ok(n) = head.parse::<usize>() {
                    pos.get(n).cloned().ok_or_else(|| {
                        fail(format!(
                            "Replacement index {n} out of range for positional args tuple"
                        ))
                    })?
                } else {
                    kw.iter()
                        .find(|(k, _)| *k == head)
                        .map(|(_, v)| v.clone())
                        .ok_or_else(|| fail(format!("KeyError: {}", str_repr(&head))))?
                };
                for part in rest.split(['.', '[']).filter(|p| !p.is_empty()) {
                    let key = part.trim_end_matches(']');
                    let k = key
                        .parse::<i64>()
                        .map(Value::from)
                        .unwrap_or_else(|_| Value::from(key));
                    value = value.get_item(&k).unwrap_or_default();
                }
                let mut spec = parse_spec(&spec);
                let text = match conv {
                    Some('r') | Some('a') => Value::from(py_repr(&value)),
                    Some(_) => Value::from(py_str(&value)),
                    None => value,
                };
                let numeric = matches!(text.kind(), ValueKind::Number);
                if spec.kind.is_none() {
                    spec.kind = Some(match (numeric, text.is_integer()) {
                        (true, true) => 'd',
                        _ => 's',
                    });
                    if numeric && !text.is_integer() && spec.precision.is_none() {
                        spec.kind = Some('g');
                    }
                }
                if spec.kind == Some('s') && !numeric {
                    out.push_str(&pad(format_one(&text, &spec)?, &spec, false));
                } else {
                    out.push_str(&format_one(&text, &spec)?);
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Python's `json.dumps` (default separators, `ensure_ascii`).
pub fn json_dumps(v: &Value, sort_keys: bool, indent: Option<usize>, ensure_ascii: bool) -> String {
    let mut out = String::new();
    write_json(&mut out, v, sort_keys, indent, 0, ensure_ascii);
    out
}

fn json_str(out: &mut String, s: &str, ensure_ascii: bool) {
    crate::pyjson::write_str(out, s, ensure_ascii)
}

fn json_key(k: &Value) -> String {
    match k.kind() {
        ValueKind::None => "null".into(),
        ValueKind::Bool => if k.is_true() { "true" } else { "false" }.into(),
        _ => py_str(k),
    }
}

fn write_json(
    out: &mut String,
    v: &Value,
    sort: bool,
    indent: Option<usize>,
    level: usize,
    ascii: bool,
) {
    let newline = |out: &mut String, level: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * level));
        }
    };
    let item_sep = if indent.is_some() { "," } else { ", " };
    if v.is_none() || v.is_undefined() {
        out.push_str("null");
        return;
    }
    match v.kind() {
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if v.is_integer() {
                out.push_str(&v.to_string());
            } else {
                let f = f64::try_from(v.clone()).unwrap_or(f64::NAN);
                out.push_str(&match f {
                    f if f.is_nan() => "NaN".to_string(),
                    f if f.is_infinite() && f > 0.0 => "Infinity".to_string(),
                    f if f.is_infinite() => "-Infinity".to_string(),
                    f => float_repr(f),
                });
            }
        }
        ValueKind::String => json_str(out, v.as_str().unwrap_or_default(), ascii),
        ValueKind::Map => {
            let mut pairs = pairs_of(v).unwrap_or_default();
            if sort {
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
            }
            if pairs.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, val)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, level + 1);
                json_str(out, &json_key(k), ascii);
                out.push_str(": ");
                write_json(out, val, sort, indent, level + 1, ascii);
            }
            newline(out, level);
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items = items_of(v).unwrap_or_default();
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, level + 1);
                write_json(out, item, sort, indent, level + 1, ascii);
            }
            newline(out, level);
            out.push(']');
        }
        _ => json_str(out, &py_str(v), ascii),
    }
}

/// `pprint.pformat` for values that fit on a line: `repr()` with dict keys
/// sorted.
pub fn sorted_repr(v: &Value) -> String {
    match v.kind() {
        ValueKind::Map => {
            let mut pairs = pairs_of(v).unwrap_or_default();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            let inner: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", sorted_repr(k), sorted_repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        ValueKind::Seq if v.downcast_object_ref::<PyTuple>().is_none() => {
            let inner: Vec<String> = items_of(v)
                .unwrap_or_default()
                .iter()
                .map(sorted_repr)
                .collect();
            format!("[{}]", inner.join(", "))
        }
        _ => py_repr(v),
    }
}

#[cfg(test)]
mod tests {
    use super::super::mutable::new_tuple;
    use super::*;

    #[test]
    fn percent_formats_like_python() {
        let t = new_tuple(vec![Value::from("x"), Value::from(5)]);
        assert_eq!(percent_format("%s=%d", &t).unwrap(), "x=5");
        assert_eq!(
            percent_format("/home/%s", &Value::from("bob")).unwrap(),
            "/home/bob"
        );
        assert_eq!(
            percent_format(
                "%05.1f|%-3s|%%",
                &new_tuple(vec![Value::from(2.6875), Value::from("a")])
            )
            .unwrap(),
            "002.7|a  |%"
        );
        assert_eq!(percent_format("%s", &Value::from(true)).unwrap(), "True");
    }

    #[test]
    fn str_format_like_python() {
        assert_eq!(
            str_format("{}-{}", &[Value::from("a"), Value::from(1)]).unwrap(),
            "a-1"
        );
        assert_eq!(
            str_format("{0:>4}|{1!r}", &[Value::from("a"), Value::from("b")]).unwrap(),
            "   a|'b'"
        );
    }
}
