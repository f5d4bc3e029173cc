//! Network interfaces, read with getifaddrs(3) and /sys/class/net (Salt runs
//! `ip addr show` and parses it), and the grains made from them: `ipv4`,
//! `ipv6`, `ip4_interfaces`, `ip6_interfaces`, `ip_interfaces`,
//! `hwaddr_interfaces`. The `network` execution module shares [`Iface`].

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use brine_proto::Grains;
use serde_json::{json, Map, Value};

use super::{read_trim, str_list};

/// One interface, with what Salt's `network.interfaces` reports about it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Iface {
    pub name: String,
    /// Administratively up (IFF_UP), as the `UP` flag of `ip link`.
    pub up: bool,
    pub hwaddr: Option<String>,
    /// The lower device of a VLAN or veth (`eth0.10@eth0`).
    pub parent: Option<String>,
    /// IPv4 addresses in kernel order; `secondary` marks the ones the kernel
    /// files as secondary (same subnet as an earlier address).
    pub inet: Vec<Inet4>,
    pub inet6: Vec<Inet6>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Inet4 {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub broadcast: Option<Ipv4Addr>,
    /// The address label (`eth0`, `eth0:1`).
    pub label: String,
    pub secondary: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Inet6 {
    pub address: Ipv6Addr,
    pub prefix: u8,
}

/// Every interface of this host, in ifindex order.
pub(crate) fn interfaces() -> Vec<Iface> {
    let mut by_name: BTreeMap<String, (u32, Iface)> = BTreeMap::new();
    let mut index_names: BTreeMap<u32, String> = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir("/sys/class/net") {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let p = e.path();
            let num = |f: &str| read_trim(p.join(f)).and_then(|s| s.parse::<u32>().ok());
            let index = num("ifindex").unwrap_or(u32::MAX);
            let flags = read_trim(p.join("flags"))
                .and_then(|s| u32::from_str_radix(s.trim_start_matches("0x"), 16).ok())
                .unwrap_or(0);
            let iface = Iface {
                name: name.clone(),
                up: flags & 0x1 != 0,
                hwaddr: read_trim(p.join("address")),
                // iflink differs from ifindex for stacked devices; the name is
                // filled in below once every index is known.
                parent: num("iflink")
                    .filter(|l| *l != index && *l != 0)
                    .map(|l| l.to_string()),
                ..Iface::default()
            };
            index_names.insert(index, name.clone());
            by_name.insert(name, (index, iface));
        }
    }
    for (_, iface) in by_name.values_mut() {
        if let Some(link) = iface.parent.take() {
            let parent = link
                .parse::<u32>()
                .ok()
                .and_then(|l| index_names.get(&l).cloned())
                .unwrap_or_else(|| format!("if{link}"));
            iface.parent = Some(parent);
        }
    }
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            let Some(addr) = a.address else { continue };
            // IPv4 addresses carry their label as the name ("eth0:1").
            let base = if by_name.contains_key(&a.interface_name) {
                a.interface_name.clone()
            } else {
                a.interface_name
                    .split(':')
                    .next()
                    .unwrap_or(&a.interface_name)
                    .to_string()
            };
            let entry = by_name.entry(base.clone()).or_insert_with(|| {
                let iface = Iface {
                    name: base.clone(),
                    up: a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP),
                    ..Iface::default()
                };
                (u32::MAX, iface)
            });
            let prefix = |m: Option<u32>| m.map_or(0, |bits| bits.count_ones() as u8);
            if let Some(v4) = addr.as_sockaddr_in() {
                let mask = a
                    .netmask
                    .as_ref()
                    .and_then(|m| m.as_sockaddr_in())
                    .map(|m| u32::from(m.ip()));
                let broadcast = a
                    .broadcast
                    .as_ref()
                    .and_then(|b| b.as_sockaddr_in())
                    .map(|b| b.ip())
                    .filter(|_| {
                        a.flags
                            .contains(nix::net::if_::InterfaceFlags::IFF_BROADCAST)
                    });
                push_inet4(
                    &mut entry.1,
                    v4.ip(),
                    prefix(mask),
                    broadcast,
                    &a.interface_name,
                );
            } else if let Some(v6) = addr.as_sockaddr_in6() {
                let mask = a
                    .netmask
                    .as_ref()
                    .and_then(|m| m.as_sockaddr_in6())
                    .map(|m| u128::from(m.ip()).count_ones() as u8)
                    .unwrap_or(128);
                entry.1.inet6.push(Inet6 {
                    address: v6.ip(),
                    prefix: mask,
                });
            }
        }
    }
    let mut list: Vec<(u32, Iface)> = by_name.into_values().collect();
    list.sort_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
    list.into_iter().map(|(_, i)| i).collect()
}

/// Adds an IPv4 address, marking it secondary as the kernel does when an
/// earlier address of the interface covers the same subnet.
pub(crate) fn push_inet4(
    iface: &mut Iface,
    address: Ipv4Addr,
    prefix: u8,
    broadcast: Option<Ipv4Addr>,
    label: &str,
) {
    let net = |a: Ipv4Addr, p: u8| u32::from(a) & mask4(p);
    let secondary = iface.inet.iter().any(|i| {
        !i.secondary && i.prefix == prefix && net(i.address, prefix) == net(address, prefix)
    });
    iface.inet.push(Inet4 {
        address,
        prefix,
        broadcast,
        label: label.to_string(),
        secondary,
    });
}

/// The IPv4 netmask of a prefix length as a number.
pub(crate) fn mask4(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p if p >= 32 => u32::MAX,
        p => u32::MAX << (32 - p),
    }
}

/// Salt's IPv6 `scope` word for an address.
pub(crate) fn scope6(a: &Ipv6Addr) -> &'static str {
    let first = a.segments()[0];
    if a.is_loopback() {
        "host"
    } else if first & 0xffc0 == 0xfe80 {
        "link"
    } else if first & 0xffc0 == 0xfec0 {
        "site"
    } else {
        "global"
    }
}

/// Salt's `network.interfaces` shape for one interface.
pub(crate) fn iface_value(i: &Iface) -> Value {
    let mut m = Map::new();
    if let Some(hw) = &i.hwaddr {
        m.insert("hwaddr".into(), json!(hw));
    }
    m.insert("up".into(), json!(i.up));
    if let Some(p) = &i.parent {
        m.insert("parent".into(), json!(p));
    }
    let v4 = |a: &Inet4, with_type: bool| {
        let mut o = json!({
            "address": a.address.to_string(),
            "netmask": Ipv4Addr::from(mask4(a.prefix)).to_string(),
            "broadcast": a.broadcast.map(|b| b.to_string()),
            "label": a.label,
        });
        if with_type {
            o["type"] = json!("inet");
        }
        o
    };
    let primary: Vec<Value> = i
        .inet
        .iter()
        .filter(|a| !a.secondary)
        .map(|a| v4(a, false))
        .collect();
    let secondary: Vec<Value> = i
        .inet
        .iter()
        .filter(|a| a.secondary)
        .map(|a| v4(a, true))
        .collect();
    if !primary.is_empty() {
        m.insert("inet".into(), Value::Array(primary));
    }
    if !i.inet6.is_empty() {
        let v6 = i
            .inet6
            .iter()
            .map(|a| {
                json!({
                    "address": a.address.to_string(),
                    // A string, as Salt's parser leaves it.
                    "prefixlen": a.prefix.to_string(),
                    "scope": scope6(&a.address),
                })
            })
            .collect();
        m.insert("inet6".into(), Value::Array(v6));
    }
    if !secondary.is_empty() {
        m.insert("secondary".into(), Value::Array(secondary));
    }
    Value::Object(m)
}

/// Salt's `network.interfaces`: every interface by name.
pub(crate) fn interfaces_value(ifaces: &[Iface]) -> Value {
    Value::Object(
        ifaces
            .iter()
            .map(|i| (i.name.clone(), iface_value(i)))
            .collect(),
    )
}

/// Salt's `salt.utils.network.ip_addrs`/`ip_addrs6`: the addresses of the
/// given interfaces, loopback dropped unless asked for, deduplicated and
/// sorted by numeric value.
pub(crate) fn addrs(ifaces: &[&Iface], v6: bool, include_loopback: bool) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = ifaces
        .iter()
        .flat_map(|i| {
            let v4s = i.inet.iter().map(|a| IpAddr::V4(a.address));
            let v6s = i.inet6.iter().map(|a| IpAddr::V6(a.address));
            let all: Vec<IpAddr> = if v6 { v6s.collect() } else { v4s.collect() };
            all
        })
        .filter(|a| include_loopback || !a.is_loopback())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The IP grains.
pub(super) fn ip_grains(g: &mut Grains, ifaces: &[Iface]) {
    let all: Vec<&Iface> = ifaces.iter().collect();
    let strs = |v: Vec<IpAddr>| str_list(v.iter().map(|a| a.to_string()));
    g.insert("ipv4".into(), strs(addrs(&all, false, true)));
    g.insert("ipv6".into(), strs(addrs(&all, true, true)));
    let (mut ip4, mut ip6, mut ip, mut hw) = (Map::new(), Map::new(), Map::new(), Map::new());
    for i in ifaces {
        // Salt's order: primary IPv4, IPv6, then secondary IPv4.
        let primary = i
            .inet
            .iter()
            .filter(|a| !a.secondary)
            .map(|a| a.address.to_string());
        let secondary = i
            .inet
            .iter()
            .filter(|a| a.secondary)
            .map(|a| a.address.to_string());
        let v6: Vec<String> = i.inet6.iter().map(|a| a.address.to_string()).collect();
        let v4: Vec<String> = primary.clone().chain(secondary.clone()).collect();
        let both: Vec<String> = primary.chain(v6.iter().cloned()).chain(secondary).collect();
        ip4.insert(i.name.clone(), str_list(&v4));
        ip6.insert(i.name.clone(), str_list(&v6));
        ip.insert(i.name.clone(), str_list(&both));
        if let Some(h) = &i.hwaddr {
            hw.insert(i.name.clone(), json!(h));
        }
    }
    g.insert("ip4_interfaces".into(), Value::Object(ip4));
    g.insert("ip6_interfaces".into(), Value::Object(ip6));
    g.insert("ip_interfaces".into(), Value::Object(ip));
    g.insert("hwaddr_interfaces".into(), Value::Object(hw));
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A host like the golden Debian 12 one, plus an alias and a VLAN.
    pub(crate) fn sample() -> Vec<Iface> {
        let mut lo = Iface {
            name: "lo".into(),
            up: true,
            hwaddr: Some("00:00:00:00:00:00".into()),
            ..Default::default()
        };
        push_inet4(&mut lo, Ipv4Addr::LOCALHOST, 8, None, "lo");
        lo.inet6.push(Inet6 {
            address: Ipv6Addr::LOCALHOST,
            prefix: 128,
        });
        let mut eth0 = Iface {
            name: "eth0".into(),
            up: true,
            hwaddr: Some("52:54:00:12:34:56".into()),
            ..Default::default()
        };
        let brd = Some(Ipv4Addr::new(10, 0, 0, 255));
        push_inet4(&mut eth0, Ipv4Addr::new(10, 0, 0, 12), 24, brd, "eth0");
        push_inet4(&mut eth0, Ipv4Addr::new(10, 0, 0, 13), 24, brd, "eth0:1");
        push_inet4(&mut eth0, Ipv4Addr::new(192, 168, 7, 1), 24, None, "eth0");
        eth0.inet6.push(Inet6 {
            address: "fe80::5054:ff:fe12:3456".parse().unwrap(),
            prefix: 64,
        });
        let vlan = Iface {
            name: "eth0.10".into(),
            up: false,
            hwaddr: Some("52:54:00:12:34:56".into()),
            parent: Some("eth0".into()),
            ..Default::default()
        };
        vec![lo, eth0, vlan]
    }

    #[test]
    fn interfaces_in_salt_shape() {
        let v = interfaces_value(&sample());
        assert_eq!(
            v["eth0"],
            json!({
                "hwaddr": "52:54:00:12:34:56",
                "up": true,
                "inet": [
                    {"address": "10.0.0.12", "netmask": "255.255.255.0", "broadcast": "10.0.0.255", "label": "eth0"},
                    {"address": "192.168.7.1", "netmask": "255.255.255.0", "broadcast": null, "label": "eth0"}
                ],
                "inet6": [{"address": "fe80::5054:ff:fe12:3456", "prefixlen": "64", "scope": "link"}],
                "secondary": [
                    {"type": "inet", "address": "10.0.0.13", "netmask": "255.255.255.0", "broadcast": "10.0.0.255", "label": "eth0:1"}
                ]
            })
        );
        assert_eq!(v["lo"]["inet6"][0]["scope"], "host");
        assert_eq!(v["lo"]["inet"][0]["netmask"], "255.0.0.0");
        assert_eq!(
            v["eth0.10"],
            json!({"hwaddr": "52:54:00:12:34:56", "up": false, "parent": "eth0"})
        );
    }

    #[test]
    fn ip_grains_as_salt() {
        let mut g = Grains::new();
        ip_grains(&mut g, &sample());
        assert_eq!(
            g["ipv4"],
            json!(["10.0.0.12", "10.0.0.13", "127.0.0.1", "192.168.7.1"])
        );
        assert_eq!(g["ipv6"], json!(["::1", "fe80::5054:ff:fe12:3456"]));
        assert_eq!(
            g["ip4_interfaces"]["eth0"],
            json!(["10.0.0.12", "192.168.7.1", "10.0.0.13"])
        );
        assert_eq!(g["ip4_interfaces"]["eth0.10"], json!([]));
        assert_eq!(g["ip6_interfaces"]["lo"], json!(["::1"]));
        assert_eq!(
            g["ip_interfaces"]["eth0"],
            json!([
                "10.0.0.12",
                "192.168.7.1",
                "fe80::5054:ff:fe12:3456",
                "10.0.0.13"
            ])
        );
        assert_eq!(g["hwaddr_interfaces"]["lo"], "00:00:00:00:00:00");
    }

    #[test]
    fn masks_and_scopes() {
        assert_eq!(Ipv4Addr::from(mask4(20)).to_string(), "255.255.240.0");
        assert_eq!(mask4(0), 0);
        assert_eq!(mask4(32), u32::MAX);
        assert_eq!(scope6(&"2001:db8::1".parse().unwrap()), "global");
    }

    #[test]
    fn this_host_has_a_loopback() {
        // Even a fresh network namespace has `lo` (down, without addresses).
        let ifaces = interfaces();
        assert!(ifaces.iter().any(|i| i.name == "lo"), "{ifaces:?}");
    }
}
