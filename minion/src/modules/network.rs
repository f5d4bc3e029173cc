//! `network.*`: interfaces and addresses in the shapes of Salt's `network`
//! module, from the same interface reader as the IP grains.

use std::net::IpAddr;

use serde_json::Value;

use crate::grains::net::{addrs, interfaces, interfaces_value, mask4, Iface};
use crate::registry::{Args, CallCtx, FunctionSpec, ModError, ModFuture, ModOutput};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "network.interfaces",
        doc: "Return every network interface: {name: {hwaddr, up, inet, inet6}}.\n\n\
              `inet` lists {address, netmask, broadcast, label}, `inet6` lists {address, prefixlen, scope};\n\
              `secondary` (extra IPv4 addresses in a subnet) and `parent` (lower device of a VLAN)\n\
              appear when there are some, as in Salt.",
        cli_example: "brine '*' network.interfaces",
        run: interfaces_fn,
    },
    FunctionSpec {
        name: "network.ip_addrs",
        doc: "Return the IPv4 addresses of this minion, sorted; loopback ones are left out.\n\n\
              - interface: only these interfaces: a name, a comma-separated list or a list; globs allowed.\n\
              - include_loopback: also list 127.0.0.0/8 addresses (default False).\n\
              - cidr: only addresses inside this network, e.g. 10.0.0.0/8.\n\
              - type: `public` or `private`: only addresses of that kind (ignored with cidr).",
        cli_example: "brine '*' network.ip_addrs cidr=10.0.0.0/8",
        run: ip_addrs,
    },
    FunctionSpec {
        name: "network.ip_addrs6",
        doc: "Return the IPv6 addresses of this minion, sorted; ::1 is left out.\n\n\
              - interface: only these interfaces: a name, a comma-separated list or a list; globs allowed.\n\
              - include_loopback: also list ::1 (default False).\n\
              - cidr: only addresses inside this network, e.g. 2001:db8::/32.\n\
              - type: `public` or `private`: only addresses of that kind (ignored with cidr).",
        cli_example: "brine '*' network.ip_addrs6 interface=eth0",
        run: ip_addrs6,
    },
];

fn interfaces_fn(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        Ok(ModOutput::from(interfaces_value(&interfaces())))
    })
}

fn ip_addrs(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let q = AddrQuery::parse("network.ip_addrs", &args)?;
        Ok(ModOutput::from(q.run(&interfaces(), false)))
    })
}

fn ip_addrs6(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let q = AddrQuery::parse("network.ip_addrs6", &args)?;
        Ok(ModOutput::from(q.run(&interfaces(), true)))
    })
}

/// The arguments of `ip_addrs`/`ip_addrs6`, in Salt's positional order.
#[derive(Debug, Default, PartialEq)]
struct AddrQuery {
    interface: Option<Vec<String>>,
    include_loopback: bool,
    cidr: Option<(IpAddr, u8)>,
    kind: Option<Kind>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Public,
    Private,
}

const PARAMS: [&str; 4] = ["interface", "include_loopback", "cidr", "type"];

impl AddrQuery {
    fn parse(fun: &str, args: &Args) -> Result<AddrQuery, ModError> {
        let bad = |m: String| ModError::BadArguments(format!("{fun}: {m}"));
        if args.arg.len() > PARAMS.len() {
            return Err(bad(format!(
                "takes at most {} arguments ({}), got {}",
                PARAMS.len(),
                PARAMS.join(", "),
                args.arg.len()
            )));
        }
        let mut values: [Option<&Value>; 4] = [None; 4];
        for (i, v) in args.arg.iter().enumerate() {
            values[i] = Some(v);
        }
        for (k, v) in &args.kwarg {
            if k.starts_with("__") {
                continue;
            }
            let Some(i) = PARAMS.iter().position(|p| p == k) else {
                return Err(bad(format!(
                    "unexpected keyword argument '{k}' (accepted: {})",
                    PARAMS.join(", ")
                )));
            };
            if values[i].is_some() {
                return Err(bad(format!("'{k}' given both by position and by name")));
            }
            values[i] = Some(v);
        }
        let mut q = AddrQuery::default();
        if let Some(v) = values[0].filter(|v| !v.is_null()) {
            q.interface = Some(string_list(v).ok_or_else(|| {
                bad(format!(
                    "interface must be a name or a list of names, got {v}"
                ))
            })?);
        }
        if let Some(v) = values[1].filter(|v| !v.is_null()) {
            q.include_loopback = truthy(v)
                .ok_or_else(|| bad(format!("include_loopback must be true or false, got {v}")))?;
        }
        if let Some(v) = values[2].filter(|v| !v.is_null()) {
            let text = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            q.cidr = Some(parse_cidr(&text).ok_or_else(|| bad(format!("invalid cidr '{text}'")))?);
        }
        if let Some(v) = values[3].filter(|v| !v.is_null()) {
            // Salt ignores any other value and lists every address.
            q.kind = match v.as_str() {
                Some("public") => Some(Kind::Public),
                Some("private") => Some(Kind::Private),
                _ => None,
            };
        }
        Ok(q)
    }

    fn run(&self, ifaces: &[Iface], v6: bool) -> Value {
        let chosen: Vec<&Iface> = ifaces
            .iter()
            .filter(|i| match &self.interface {
                Some(pats) => pats.iter().any(|p| glob_match(p, &i.name)),
                None => true,
            })
            .collect();
        let list = addrs(&chosen, v6, self.include_loopback)
            .into_iter()
            .filter(|a| match self.cidr {
                Some(net) => in_cidr(*a, net),
                None => match self.kind {
                    Some(Kind::Public) => !is_private(a),
                    Some(Kind::Private) => is_private(a),
                    None => true,
                },
            })
            .map(|a| Value::String(a.to_string()))
            .collect();
        Value::Array(list)
    }
}

/// Salt's `split_input`: a list, or a comma-separated string.
fn string_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(
            s.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
        ),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => None,
    }
}

fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.to_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// "10.0.0.0/8", "2001:db8::/32" or a bare address (a host network).
fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
        None => (text.parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(max);
    (prefix <= max).then_some((addr, prefix))
}

fn in_cidr(a: IpAddr, (net, prefix): (IpAddr, u8)) -> bool {
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let m = mask4(prefix);
            u32::from(a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix as u32)
            };
            u128::from(a) & m == u128::from(n) & m
        }
        _ => false,
    }
}

/// Python's `ipaddress` `is_private`, which Salt's `type=` filter uses.
fn is_private(a: &IpAddr) -> bool {
    const V4: &[(&str, u8)] = &[
        ("0.0.0.0", 8),
        ("10.0.0.0", 8),
        ("127.0.0.0", 8),
        ("169.254.0.0", 16),
        ("172.16.0.0", 12),
        ("192.0.0.0", 29),
        ("192.0.0.170", 31),
        ("192.0.2.0", 24),
        ("192.168.0.0", 16),
        ("198.18.0.0", 15),
        ("198.51.100.0", 24),
        ("203.0.113.0", 24),
        ("240.0.0.0", 4),
        ("255.255.255.255", 32),
    ];
    const V6: &[(&str, u8)] = &[
        ("::1", 128),
        ("::", 128),
        ("::ffff:0:0", 96),
        ("100::", 64),
        ("2001::", 23),
        ("2001:2::", 48),
        ("2001:db8::", 32),
        ("2001:10::", 28),
        ("fc00::", 7),
        ("fe80::", 10),
    ];
    let table = if a.is_ipv4() { V4 } else { V6 };
    table
        .iter()
        .filter_map(|(n, p)| Some((n.parse::<IpAddr>().ok()?, *p)))
        .any(|net| in_cidr(*a, net))
}

/// Shell-style glob (`*`, `?`, `[abc]`, `[!a-z]`), as Python's `fnmatch`.
fn glob_match(pattern: &str, name: &str) -> bool {
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        // Returns (matched, length of the class including brackets).
        let mut i = 1;
        let negate = matches!(p.get(i), Some('!' | '^'));
        if negate {
            i += 1;
        }
        let mut hit = false;
        let mut first = true;
        while let Some(&ch) = p.get(i) {
            if ch == ']' && !first {
                return Some((hit != negate, i + 1));
            }
            first = false;
            if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|e| *e != ']') {
                let end = p[i + 2];
                hit |= ch <= c && c <= end;
                i += 3;
            } else {
                hit |= ch == c;
                i += 1;
            }
        }
        None
    }
    fn go(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len()).any(|k| go(&p[1..], &s[k..])),
            Some('?') => !s.is_empty() && go(&p[1..], &s[1..]),
            Some('[') => match (s.first(), class(p, s.first().copied().unwrap_or('\0'))) {
                (Some(_), Some((true, len))) => go(&p[len..], &s[1..]),
                (Some(_), Some((false, _))) => false,
                // An unclosed bracket is a literal '['.
                (Some('['), None) => go(&p[1..], &s[1..]),
                _ => false,
            },
            Some(&c) => s.first() == Some(&c) && go(&p[1..], &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = name.chars().collect();
    go(&p, &s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grains::net::tests::sample;
    use serde_json::json;

    fn query(pairs: &[(&str, Value)]) -> Result<AddrQuery, ModError> {
        let mut args = Args::default();
        for (k, v) in pairs {
            args.kwarg.insert(k.to_string(), v.clone());
        }
        AddrQuery::parse("network.ip_addrs", &args)
    }

    #[test]
    fn ip_addrs_filters_like_salt() {
        let ifaces = sample();
        let run = |pairs: &[(&str, Value)]| query(pairs).unwrap().run(&ifaces, false);
        assert_eq!(run(&[]), json!(["10.0.0.12", "10.0.0.13", "192.168.7.1"]));
        assert_eq!(
            run(&[("include_loopback", json!(true))]),
            json!(["10.0.0.12", "10.0.0.13", "127.0.0.1", "192.168.7.1"])
        );
        assert_eq!(
            run(&[("cidr", json!("192.168.0.0/16"))]),
            json!(["192.168.7.1"])
        );
        assert_eq!(run(&[("type", json!("public"))]), json!([]));
        assert_eq!(
            run(&[
                ("interface", json!("l*")),
                ("include_loopback", json!("True"))
            ]),
            json!(["127.0.0.1"])
        );
        assert_eq!(run(&[("interface", json!("lo, eth9"))]), json!([]));
        assert_eq!(
            query(&[]).unwrap().run(&ifaces, true),
            json!(["fe80::5054:ff:fe12:3456"])
        );
    }

    #[test]
    fn positional_arguments_follow_salts_order() {
        let args = Args {
            arg: vec![json!("eth0"), json!(false), json!("10.0.0.0/24")],
            kwarg: Default::default(),
        };
        let q = AddrQuery::parse("network.ip_addrs", &args).unwrap();
        assert_eq!(q.interface, Some(vec!["eth0".to_string()]));
        assert_eq!(q.run(&sample(), false), json!(["10.0.0.12", "10.0.0.13"]));
    }

    #[test]
    fn bad_arguments_are_named() {
        let err = query(&[("cidr", json!("10.0.0.0/99"))]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "network.ip_addrs: invalid cidr '10.0.0.0/99'"
        );
        let err = query(&[("colour", json!("red"))]).unwrap_err();
        assert!(
            err.to_string()
                .contains("unexpected keyword argument 'colour'"),
            "{err}"
        );
        assert!(query(&[("include_loopback", json!("maybe"))]).is_err());
        let args = Args {
            arg: vec![json!("eth0")],
            kwarg: [("interface".to_string(), json!("lo"))]
                .into_iter()
                .collect(),
        };
        assert!(AddrQuery::parse("network.ip_addrs", &args).is_err());
    }

    #[test]
    fn private_ranges_and_globs() {
        assert!(is_private(&"10.1.2.3".parse().unwrap()));
        assert!(is_private(&"172.31.0.1".parse().unwrap()));
        assert!(!is_private(&"172.32.0.1".parse().unwrap()));
        assert!(!is_private(&"8.8.8.8".parse().unwrap()));
        assert!(is_private(&"fd00::1".parse().unwrap()));
        assert!(!is_private(&"2a00:1450::1".parse().unwrap()));
        assert!(glob_match("eth*", "eth0"));
        assert!(glob_match("en[op]?s*", "enp0s3"));
        assert!(glob_match("eth[!1]", "eth0"));
        assert!(!glob_match("eth[!0]", "eth0"));
        assert!(!glob_match("eth", "eth0"));
    }

    /// Through the registry, as a job would call them.
    #[tokio::test]
    async fn registered_and_runnable() {
        let run = |name: &str, args: Args| {
            let f = crate::registry::lookup(name).expect("registered");
            (f.run)(crate::registry::test_ctx(), args)
        };
        let out = run("network.interfaces", Args::default())
            .await
            .expect("interfaces");
        assert!(out.value.get("lo").is_some(), "{}", out.value);
        let mut args = Args::default();
        args.kwarg.insert("include_loopback".into(), json!(true));
        args.kwarg.insert("interface".into(), json!("lo"));
        let out = run("network.ip_addrs", args).await.expect("ip_addrs");
        assert!(out.value.is_array());
        let out = run("network.ip_addrs6", Args::default())
            .await
            .expect("ip_addrs6");
        assert!(out.value.is_array());
    }
}
