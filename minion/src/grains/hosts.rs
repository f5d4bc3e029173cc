//! Naming and routing grains: `localhost`, `fqdn`, `host`, `domain`,
//! `fqdn_ip4`, `fqdn_ip6`, `fqdns`, `dns`, `ip4_gw`, `ip6_gw`, `ip_gw`.
//!
//! Salt asks the resolver (`getaddrinfo`, `gethostbyaddr`), which may go to
//! DNS and stall a minion start for seconds. Brine never sends a packet to
//! collect grains: names come from the kernel hostname and `/etc/hosts` (the
//! `files` source every resolver consults first), resolver settings from
//! `resolv.conf`, gateways from `/proc/net/route` and `/proc/net/ipv6_route`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use brine_proto::Grains;
use serde_json::{json, Value};

use super::net::{addrs, Iface};
use super::{put, read, read_trim, str_list};

pub(super) fn collect(g: &mut Grains, ifaces: &[Iface]) {
    let hostname = read_trim("/proc/sys/kernel/hostname")
        .or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .map(|h| h.to_string_lossy().to_string())
        })
        .unwrap_or_else(|| "localhost".to_string());
    let hosts = read("/etc/hosts")
        .map(|t| parse_hosts(&t))
        .unwrap_or_default();
    let fqdn = fqdn(&hostname, &hosts);
    let (host, domain) = fqdn.split_once('.').unwrap_or((&fqdn, ""));
    put(g, "localhost", hostname.clone());
    put(g, "host", host);
    put(g, "domain", domain);
    put(g, "fqdn", fqdn.clone());

    // Salt fills fqdn_ipN only when the host has addresses of that family.
    let all: Vec<&Iface> = ifaces.iter().collect();
    let (v4, v6) = fqdn_ips(&fqdn, &hosts);
    let has4 = !addrs(&all, false, true).is_empty();
    let has6 = !addrs(&all, true, true).is_empty();
    let list = |v: Vec<IpAddr>, keep: bool| {
        str_list(v.into_iter().filter(|_| keep).map(|a| a.to_string()))
    };
    g.insert("fqdn_ip4".into(), list(v4, has4));
    g.insert("fqdn_ip6".into(), list(v6, has6));
    let mut own = addrs(&all, false, false);
    own.extend(addrs(&all, true, false));
    g.insert("fqdns".into(), str_list(fqdns(&own, &hosts)));

    // systemd-resolved keeps the real upstream servers here; Salt prefers it.
    let resolv = ["/run/systemd/resolve/resolv.conf", "/etc/resolv.conf"]
        .iter()
        .find(|p| Path::new(p).exists())
        .and_then(read);
    if let Some(text) = resolv {
        g.insert("dns".into(), parse_resolv(&text));
    }

    let gw4 = read("/proc/net/route").and_then(|t| gateway4(&t));
    let gw6 = read("/proc/net/ipv6_route").and_then(|t| gateway6(&t));
    let gw = |v: Option<Option<IpAddr>>| match v {
        Some(Some(ip)) => json!(ip.to_string()),
        Some(None) => json!(true),
        None => json!(false),
    };
    g.insert("ip_gw".into(), json!(gw4.is_some() || gw6.is_some()));
    g.insert("ip4_gw".into(), gw(gw4));
    g.insert("ip6_gw".into(), gw(gw6));
}

/// `/etc/hosts` as (address, names) lines, comments dropped.
pub(super) fn parse_hosts(text: &str) -> Vec<(IpAddr, Vec<String>)> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let addr = words.next()?;
            // A zone index (fe80::1%eth0) is not part of the address.
            let addr: IpAddr = addr.split('%').next()?.parse().ok()?;
            let names: Vec<String> = words.map(str::to_string).collect();
            (!names.is_empty()).then_some((addr, names))
        })
        .collect()
}

/// The canonical name of `hostname`: the first name of the first hosts line
/// listing it, as `getaddrinfo(AI_CANONNAME)` answers from `files`; the
/// hostname itself when no line lists it.
pub(super) fn fqdn(hostname: &str, hosts: &[(IpAddr, Vec<String>)]) -> String {
    hosts
        .iter()
        .find(|(_, names)| names.iter().any(|n| n.eq_ignore_ascii_case(hostname)))
        .map(|(_, names)| names[0].clone())
        .unwrap_or_else(|| hostname.to_string())
}

/// The addresses `/etc/hosts` gives the fqdn, split by family, sorted.
pub(super) fn fqdn_ips(fqdn: &str, hosts: &[(IpAddr, Vec<String>)]) -> (Vec<IpAddr>, Vec<IpAddr>) {
    let mut found: Vec<IpAddr> = hosts
        .iter()
        .filter(|(_, names)| names.iter().any(|n| n.eq_ignore_ascii_case(fqdn)))
        .map(|(a, _)| *a)
        .collect();
    found.sort();
    found.dedup();
    found.into_iter().partition(IpAddr::is_ipv4)
}

/// Salt's `fqdns`: the names the host's own (non-loopback) addresses have,
/// reverse-resolved through `/etc/hosts`: the canonical name and every alias
/// that is a dotted name.
pub(super) fn fqdns(own: &[IpAddr], hosts: &[(IpAddr, Vec<String>)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for ip in own {
        // gethostbyaddr answers from the first matching line.
        if let Some((_, names)) = hosts.iter().find(|(a, _)| a == ip) {
            out.push(names[0].clone());
            out.extend(names[1..].iter().filter(|n| n.contains('.')).cloned());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Salt's `dns` grain from resolv.conf text.
pub(super) fn parse_resolv(text: &str) -> Value {
    let (mut ns, mut ns4, mut ns6) = (Vec::new(), Vec::new(), Vec::new());
    let (mut search, mut sortlist, mut options) = (Vec::new(), Vec::new(), Vec::new());
    let mut domain = String::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(directive) = words.next() else {
            continue;
        };
        // Everything after a `#` or `;` word is a comment.
        let args: Vec<&str> = words.take_while(|w| !w.starts_with(['#', ';'])).collect();
        match (directive.to_lowercase().as_str(), args.first()) {
            ("nameserver", Some(a)) => {
                let Ok(ip) = a.split('%').next().unwrap_or(a).parse::<IpAddr>() else {
                    continue;
                };
                let s = ip.to_string();
                let fam = if ip.is_ipv4() { &mut ns4 } else { &mut ns6 };
                for list in [&mut ns, fam] {
                    if !list.contains(&s) {
                        list.push(s.clone());
                    }
                }
            }
            ("domain", Some(d)) => domain = d.to_string(),
            ("search", _) => search = args.iter().map(|s| s.to_string()).collect(),
            ("sortlist", _) => {
                for raw in &args {
                    if let Some(net) = sortlist_entry(raw) {
                        if !sortlist.contains(&net) {
                            sortlist.push(net);
                        }
                    }
                }
            }
            // Salt keeps the first option word of each `options` line only.
            ("options", Some(o)) if !options.contains(&o.to_string()) => {
                options.push(o.to_string());
            }
            _ => {}
        }
    }
    json!({
        "nameservers": ns,
        "ip4_nameservers": ns4,
        "ip6_nameservers": ns6,
        "sortlist": sortlist,
        "domain": domain,
        "search": search,
        "options": options,
    })
}

/// A sortlist entry as Python's `ip_network(...).with_netmask`
/// ("130.155.160.0/255.255.240.0"); an address alone gets its classful mask.
fn sortlist_entry(raw: &str) -> Option<String> {
    let (addr, mask) = match raw.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (raw, None),
    };
    let ip: Ipv4Addr = addr.parse().ok()?;
    let prefix: u8 = match mask {
        Some(m) => match m.parse::<Ipv4Addr>() {
            Ok(dotted) => u32::from(dotted).count_ones() as u8,
            Err(_) => m.parse().ok().filter(|p| *p <= 32)?,
        },
        None => match ip.octets()[0] {
            0..=127 => 8,
            128..=191 => 16,
            _ => 24,
        },
    };
    let mask = super::net::mask4(prefix);
    let net = Ipv4Addr::from(u32::from(ip) & mask);
    Some(format!("{net}/{}", Ipv4Addr::from(mask)))
}

/// The first IPv4 default route of `/proc/net/route`: `Some(Some(gw))` with a
/// gateway, `Some(None)` for a route through a device only, `None` without.
pub(super) fn gateway4(text: &str) -> Option<Option<IpAddr>> {
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let hex = |s: &str| u32::from_str_radix(s, 16).ok();
        let (Some(dest), Some(gw), Some(flags), Some(mask)) =
            (hex(f[1]), hex(f[2]), hex(f[3]), hex(f[7]))
        else {
            continue;
        };
        // RTF_UP, destination and mask 0.0.0.0.
        if dest == 0 && mask == 0 && flags & 0x1 != 0 {
            // The file holds the address in host (little-endian) byte order.
            let ip = Ipv4Addr::from(gw.to_le_bytes());
            return Some((gw != 0).then_some(IpAddr::V4(ip)));
        }
    }
    None
}

/// The first IPv6 default route of `/proc/net/ipv6_route` (same answers as
/// [`gateway4`]); the kernel's unreachable catch-all routes are skipped.
pub(super) fn gateway6(text: &str) -> Option<Option<IpAddr>> {
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 {
            continue;
        }
        let Ok(flags) = u32::from_str_radix(f[8], 16) else {
            continue;
        };
        // RTF_UP set, RTF_REJECT clear, ::/0.
        let zero = "0".repeat(32);
        if f[0] == zero && f[1] == "00" && flags & 0x1 != 0 && flags & 0x200 == 0 {
            let hop = u128::from_str_radix(f[4], 16).ok()?;
            return Some((hop != 0).then_some(IpAddr::V6(Ipv6Addr::from(hop))));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS: &str = "127.0.0.1\tlocalhost\n127.0.1.1\tdeb12.example.com deb12\n10.0.0.12 deb12.example.com deb12 www.example.com web\n# 10.0.0.99 ghost\n::1 localhost ip6-localhost\nfe80::1%eth0 router6\n";

    #[test]
    fn fqdn_and_addresses_from_hosts() {
        let hosts = parse_hosts(HOSTS);
        assert_eq!(hosts.len(), 5);
        assert_eq!(fqdn("deb12", &hosts), "deb12.example.com");
        assert_eq!(fqdn("lonely", &hosts), "lonely");
        let (v4, v6) = fqdn_ips("deb12.example.com", &hosts);
        assert_eq!(
            v4,
            vec![
                "10.0.0.12".parse::<IpAddr>().unwrap(),
                "127.0.1.1".parse().unwrap()
            ]
        );
        assert!(v6.is_empty());
        let own = vec!["10.0.0.12".parse().unwrap(), "10.9.9.9".parse().unwrap()];
        assert_eq!(
            fqdns(&own, &hosts),
            vec!["deb12.example.com", "www.example.com"]
        );
    }

    #[test]
    fn resolv_conf_as_salt() {
        let v = parse_resolv(
            "# generated\nnameserver 10.0.0.53\nnameserver 10.0.0.53\nnameserver 2001:db8::53\nsearch example.com corp.example.com # trailing\noptions edns0 trust-ad\nsortlist 130.155.160.0/255.255.240.0 10.1.2.3\n",
        );
        assert_eq!(
            v,
            json!({
                "nameservers": ["10.0.0.53", "2001:db8::53"],
                "ip4_nameservers": ["10.0.0.53"],
                "ip6_nameservers": ["2001:db8::53"],
                "sortlist": ["130.155.160.0/255.255.240.0", "10.0.0.0/255.0.0.0"],
                "domain": "",
                "search": ["example.com", "corp.example.com"],
                "options": ["edns0"],
            })
        );
    }

    #[test]
    fn default_gateways() {
        let route =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                     eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(gateway4(route), Some(Some("10.0.0.1".parse().unwrap())));
        let devonly =
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n\
                       tun0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(gateway4(devonly), Some(None));
        assert_eq!(gateway4("Iface\tDestination\n"), None);

        let z = "00000000000000000000000000000000";
        let v6 = format!(
            "{z} 00 {z} 00 {z} ffffffff 00000001 00000000 00200200       lo\n\
             {z} 00 {z} 00 fe800000000000000000000000000001 00000400 00000001 00000000 00450003     eth0\n"
        );
        assert_eq!(gateway6(&v6), Some(Some("fe80::1".parse().unwrap())));
        let only_reject =
            format!("{z} 00 {z} 00 {z} ffffffff 00000001 00000000 00200200       lo\n");
        assert_eq!(gateway6(&only_reject), None);
    }
}
