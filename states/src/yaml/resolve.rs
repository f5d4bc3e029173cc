//! PyYAML's YAML 1.1 implicit resolvers and scalar constructors, with Salt's
//! octal override. Hand-written matchers stand in for PyYAML's regexes so no
//! regex is compiled per scalar.

/// The type a scalar resolves to (PyYAML's `tag:yaml.org,2002:*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Null,
    Bool,
    Int,
    Float,
    Str,
    /// `<<`: only meaningful as a mapping key.
    Merge,
    /// `=`: only meaningful as a mapping key.
    Value,
    /// Salt constructs timestamps as their text.
    Timestamp,
}

/// What a plain (unquoted, untagged) scalar resolves to, in PyYAML's
/// resolver order: bool, float, int, merge, null, timestamp, value.
pub(crate) fn resolve_plain(s: &str) -> Kind {
    if is_bool(s) {
        Kind::Bool
    } else if is_float(s) {
        Kind::Float
    } else if is_int(s) {
        Kind::Int
    } else if s == "<<" {
        Kind::Merge
    } else if is_null(s) {
        Kind::Null
    } else if is_timestamp(s) {
        Kind::Timestamp
    } else if s == "=" {
        Kind::Value
    } else {
        Kind::Str
    }
}

fn is_bool(s: &str) -> bool {
    matches!(
        s,
        "yes"
            | "Yes"
            | "YES"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

fn strip_sign(s: &str) -> &str {
    s.strip_prefix(['-', '+']).unwrap_or(s)
}

/// `[0-9][0-9_]*` etc: every byte satisfies `rest`, the first also `first`.
fn all_after_first(s: &[u8], first: impl Fn(u8) -> bool, rest: impl Fn(u8) -> bool) -> bool {
    match s.split_first() {
        Some((f, tail)) => first(*f) && tail.iter().all(|b| rest(*b)),
        None => false,
    }
}

fn digit_or_underscore(b: u8) -> bool {
    b.is_ascii_digit() || b == b'_'
}

/// `(?::[0-5]?[0-9])+`, the sexagesimal tail.
fn is_sexagesimal_tail(s: &[u8]) -> bool {
    if s.is_empty() {
        return false;
    }
    s.split(|b| *b == b':').skip(1).all(|part| match part {
        [d] => d.is_ascii_digit(),
        [a, b] => (b'0'..=b'5').contains(a) && b.is_ascii_digit(),
        _ => false,
    }) && s[0] == b':'
}

/// PyYAML's int regex.
pub(crate) fn is_int(s: &str) -> bool {
    let body = strip_sign(s).as_bytes();
    if let Some(bits) = body.strip_prefix(b"0b") {
        return !bits.is_empty() && bits.iter().all(|b| matches!(b, b'0' | b'1' | b'_'));
    }
    if let Some(hex) = body.strip_prefix(b"0x") {
        return !hex.is_empty() && hex.iter().all(|b| b.is_ascii_hexdigit() || *b == b'_');
    }
    if let Some(oct) = body.strip_prefix(b"0") {
        return oct.iter().all(|b| matches!(b, b'0'..=b'7' | b'_'));
    }
    // [1-9][0-9_]* optionally followed by the sexagesimal tail.
    let head_len = body
        .iter()
        .position(|b| !digit_or_underscore(*b))
        .unwrap_or(body.len());
    let (head, tail) = body.split_at(head_len);
    all_after_first(head, |b| (b'1'..=b'9').contains(&b), digit_or_underscore)
        && (tail.is_empty() || is_sexagesimal_tail(tail))
}

/// `(?:[eE][-+][0-9]+)?`
fn is_opt_exponent(s: &[u8]) -> bool {
    match s {
        [] => true,
        [e, sign, digits @ ..] => {
            matches!(e, b'e' | b'E')
                && matches!(sign, b'-' | b'+')
                && !digits.is_empty()
                && digits.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// PyYAML's float regex (a dot is required: `1e3` is a string).
pub(crate) fn is_float(s: &str) -> bool {
    if matches!(s, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let unsigned = strip_sign(s);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    let b = unsigned.as_bytes();
    if let Some(frac) = s.as_bytes().strip_prefix(b".") {
        // \.[0-9][0-9_]*(?:[eE][-+][0-9]+)? (no sign allowed)
        let n = frac
            .iter()
            .position(|c| !digit_or_underscore(*c))
            .unwrap_or(frac.len());
        return n > 0 && frac[0].is_ascii_digit() && is_opt_exponent(&frac[n..]);
    }
    // [0-9][0-9_]* then either `\.[0-9_]*(exp)?` or `(:[0-5]?[0-9])+\.[0-9_]*`
    let n = b
        .iter()
        .position(|c| !digit_or_underscore(*c))
        .unwrap_or(b.len());
    if n == 0 || !b[0].is_ascii_digit() {
        return false;
    }
    let rest = &b[n..];
    if let Some(after_dot) = rest.strip_prefix(b".") {
        let m = after_dot
            .iter()
            .position(|c| !digit_or_underscore(*c))
            .unwrap_or(after_dot.len());
        return is_opt_exponent(&after_dot[m..]);
    }
    match rest.iter().position(|c| *c == b'.') {
        Some(dot) => {
            is_sexagesimal_tail(&rest[..dot])
                && rest[dot + 1..].iter().all(|c| digit_or_underscore(*c))
        }
        None => false,
    }
}

/// PyYAML's timestamp regex.
pub(crate) fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        return digits(&b[..4]) && digits(&b[5..7]) && digits(&b[8..]);
    }
    // yyyy-m?m-d?d(T|[ \t]+)h?h:mm:ss(.frac)?([ \t]*(Z|[-+]h?h(:mm)?))?
    let mut i = 0;
    let take_digits = |i: &mut usize, min: usize, max: usize| -> bool {
        let start = *i;
        while *i < b.len() && *i - start < max && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start >= min
    };
    let eat = |i: &mut usize, c: u8| -> bool {
        if b.get(*i) == Some(&c) {
            *i += 1;
            true
        } else {
            false
        }
    };
    if !(take_digits(&mut i, 4, 4)
        && eat(&mut i, b'-')
        && take_digits(&mut i, 1, 2)
        && eat(&mut i, b'-')
        && take_digits(&mut i, 1, 2))
    {
        return false;
    }
    if !(eat(&mut i, b'T') || eat(&mut i, b't')) {
        let start = i;
        while matches!(b.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if !(take_digits(&mut i, 1, 2)
        && eat(&mut i, b':')
        && take_digits(&mut i, 2, 2)
        && eat(&mut i, b':')
        && take_digits(&mut i, 2, 2))
    {
        return false;
    }
    if eat(&mut i, b'.') {
        take_digits(&mut i, 0, usize::MAX);
    }
    if i == b.len() {
        return true;
    }
    while matches!(b.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    if eat(&mut i, b'Z') {
        return i == b.len();
    }
    if !(eat(&mut i, b'-') || eat(&mut i, b'+')) || !take_digits(&mut i, 1, 2) {
        return false;
    }
    if eat(&mut i, b':') && !take_digits(&mut i, 2, 2) {
        return false;
    }
    i == b.len()
}

/// An integer as PyYAML builds it, after Salt's loader strips leading zeros
/// from unsigned octal-looking values (`0644` is decimal 644, `-0644` stays
/// octal). Python ints are unbounded; past i64 we fall back to a float.
pub(crate) fn construct_int(raw: &str) -> Result<IntValue, String> {
    let mut text = raw;
    if text != "0" && text.starts_with('0') && !text.starts_with("0b") && !text.starts_with("0x") {
        text = text.trim_start_matches('0');
        if text.is_empty() {
            text = "0";
        }
    }
    let cleaned = text.replace('_', "");
    let first = cleaned
        .chars()
        .next()
        .ok_or_else(|| "string index out of range".to_string())?;
    let sign: i128 = if first == '-' { -1 } else { 1 };
    let body = if first == '-' || first == '+' {
        &cleaned[1..]
    } else {
        &cleaned[..]
    };
    let invalid =
        |base: u32, digits: &str| format!("invalid literal for int() with base {base}: '{digits}'");
    let parse = |digits: &str, base: u32| -> Result<i128, String> {
        i128::from_str_radix(digits.trim(), base).map_err(|e| {
            use std::num::IntErrorKind;
            match e.kind() {
                IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => "overflow".to_string(),
                _ => invalid(base, digits),
            }
        })
    };
    let magnitude = if body == "0" {
        Ok(0)
    } else if let Some(bits) = body.strip_prefix("0b") {
        parse(bits, 2)
    } else if let Some(hex) = body.strip_prefix("0x") {
        parse(hex, 16)
    } else if body.starts_with('0') {
        parse(body, 8)
    } else if body.contains(':') {
        let mut total: i128 = 0;
        for part in body.split(':') {
            let digit = parse(part, 10)?;
            total = total
                .checked_mul(60)
                .and_then(|t| t.checked_add(digit))
                .ok_or_else(|| "overflow".to_string())?;
        }
        Ok(total)
    } else {
        parse(body, 10)
    };
    match magnitude {
        Ok(m) => {
            let v = sign * m;
            Ok(IntValue::Small(v))
        }
        Err(e) if e == "overflow" => {
            // Beyond i128: only a float can stand in for Python's big int.
            let approx: f64 = body.parse::<f64>().unwrap_or(f64::INFINITY);
            Ok(IntValue::Big(sign as f64 * approx))
        }
        Err(e) => Err(e),
    }
}

/// An int that fits i128, or a float standing in for a bigger Python int.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum IntValue {
    Small(i128),
    Big(f64),
}

/// A float as PyYAML's `construct_yaml_float` builds it.
pub(crate) fn construct_float(raw: &str) -> Result<f64, String> {
    let value = raw.replace('_', "").to_lowercase();
    let first = value
        .chars()
        .next()
        .ok_or_else(|| "string index out of range".to_string())?;
    let sign = if first == '-' { -1.0 } else { 1.0 };
    let body = if first == '-' || first == '+' {
        &value[1..]
    } else {
        &value[..]
    };
    let py_float = |s: &str| -> Result<f64, String> {
        let t = s.trim();
        // Rust accepts forms Python rejects ("inf" is fine in both; "1e" not).
        t.parse::<f64>()
            .map_err(|_| format!("could not convert string to float: '{s}'"))
    };
    if body == ".inf" {
        Ok(sign * f64::INFINITY)
    } else if body == ".nan" {
        Ok(f64::NAN)
    } else if body.contains(':') {
        let mut total = 0.0;
        for part in body.split(':') {
            total = total * 60.0 + py_float(part)?;
        }
        Ok(sign * total)
    } else {
        Ok(sign * py_float(body)?)
    }
}

/// PyYAML's `construct_yaml_bool` for an explicit `!!bool`.
pub(crate) fn construct_bool(raw: &str) -> Result<bool, String> {
    match raw.to_lowercase().as_str() {
        "yes" | "true" | "on" => Ok(true),
        "no" | "false" | "off" => Ok(false),
        other => Err(format!("'{other}'")),
    }
}

/// Python's `repr(float)`: shortest round-trip digits, exponent form below
/// 1e-4 and from 1e16 (`1e+16`, `1.5e-05`), `inf`/`nan`.
pub(crate) fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e16".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if neg { "-" } else { "" };
    if !(-4..16).contains(&exp) {
        let (head, tail) = digits.split_at(1);
        let frac = if tail.is_empty() {
            String::new()
        } else {
            format!(".{tail}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{head}{frac}e{esign}{:02}", exp.unsigned_abs());
    }
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        let zeros = "0".repeat(point.unsigned_abs() as usize);
        format!("{sign}0.{zeros}{digits}")
    } else {
        let point = point as usize;
        if digits.len() <= point {
            let zeros = "0".repeat(point - digits.len());
            format!("{sign}{digits}{zeros}.0")
        } else {
            format!("{sign}{}.{}", &digits[..point], &digits[point..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_resolve_like_pyyaml() {
        let cases: &[(&str, Kind)] = &[
            ("yes", Kind::Bool),
            ("OFF", Kind::Bool),
            ("y", Kind::Str),
            ("n", Kind::Str),
            ("yES", Kind::Str),
            ("1.0", Kind::Float),
            ("1e3", Kind::Str),
            ("1.0e3", Kind::Str),
            ("1.0e+3", Kind::Float),
            ("6.8523015e+5", Kind::Float),
            (".5", Kind::Float),
            ("-.5", Kind::Str),
            ("1.", Kind::Float),
            ("1_000.5", Kind::Float),
            (".inf", Kind::Float),
            ("-.Inf", Kind::Float),
            (".NaN", Kind::Float),
            ("-.nan", Kind::Str),
            ("190:20:30.15", Kind::Float),
            ("1.2.3", Kind::Str),
            ("10.0.0.1", Kind::Str),
            ("42", Kind::Int),
            ("+12", Kind::Int),
            ("-0", Kind::Int),
            ("0", Kind::Int),
            ("0644", Kind::Int),
            ("08", Kind::Str),
            ("0999", Kind::Str),
            ("0o644", Kind::Str),
            ("0x1F", Kind::Int),
            ("0x", Kind::Str),
            ("0b101", Kind::Int),
            ("0b", Kind::Str),
            ("1_000", Kind::Int),
            ("1:30", Kind::Int),
            ("190:20:30", Kind::Int),
            ("1:60", Kind::Str),
            ("1:", Kind::Str),
            ("0:30", Kind::Str),
            ("~", Kind::Null),
            ("", Kind::Null),
            ("Null", Kind::Null),
            ("None", Kind::Str),
            ("nULL", Kind::Str),
            ("<<", Kind::Merge),
            ("=", Kind::Value),
            ("2024-01-15", Kind::Timestamp),
            ("2024-01-15 10:20:30", Kind::Timestamp),
            ("2024-1-5T1:20:30.5Z", Kind::Timestamp),
            ("2024-01-15 10:20:30 +02:00", Kind::Timestamp),
            ("2024-01-15x", Kind::Str),
        ];
        for (text, kind) in cases {
            assert_eq!(resolve_plain(text), *kind, "{text:?}");
        }
    }

    #[test]
    fn ints_follow_salt_octal_rules() {
        let cases: &[(&str, i64)] = &[
            ("0644", 644),
            ("00644", 644),
            ("-0644", -420),
            ("+0644", 420),
            ("0_644", 644),
            ("000", 0),
            ("0x1F", 31),
            ("-0x10", -16),
            ("0b101", 5),
            ("1_000", 1000),
            ("1:30", 90),
            ("190:20:30", 685230),
            ("-1:30", -90),
        ];
        for (text, want) in cases {
            assert_eq!(
                construct_int(text),
                Ok(IntValue::Small(i128::from(*want))),
                "{text}"
            );
        }
        // beyond 64 bits the int stays exact as far as 128 bits go
        assert_eq!(
            construct_int("12345678901234567890"),
            Ok(IntValue::Small(12345678901234567890))
        );
        assert_eq!(
            construct_int("-18446744073709551616"),
            Ok(IntValue::Small(-18446744073709551616))
        );
        assert_eq!(
            construct_int("1".repeat(40).as_str()),
            Ok(IntValue::Big("1".repeat(40).parse().unwrap()))
        );
        assert!(construct_int("0_").is_err());
        assert_eq!(
            construct_int("1.5").unwrap_err(),
            "invalid literal for int() with base 10: '1.5'"
        );
    }

    #[test]
    fn floats_follow_pyyaml() {
        assert_eq!(construct_float("6.8523015e+5"), Ok(685230.15));
        assert_eq!(construct_float("-2.50"), Ok(-2.5));
        assert_eq!(construct_float("1_0.5"), Ok(10.5));
        assert_eq!(construct_float("-.INF"), Ok(f64::NEG_INFINITY));
        assert!(construct_float(".NaN").unwrap().is_nan());
        assert_eq!(construct_float("1:30.5"), Ok(90.5));
        assert_eq!(construct_float("1"), Ok(1.0));
        assert!(construct_float("abc").is_err());
    }

    #[test]
    fn float_repr_matches_python() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (0.5, "0.5"),
            (-2.5, "-2.5"),
            (3006.1, "3006.1"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.25e-7, "1.25e-07"),
            (123456789.123, "123456789.123"),
            (1e100, "1e+100"),
            (f64::INFINITY, "inf"),
            (f64::NAN, "nan"),
        ];
        for (f, want) in cases {
            assert_eq!(python_float_repr(*f), *want);
        }
    }
}
