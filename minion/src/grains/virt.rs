//! `virtual` and `virtual_subtype`, with Salt's values ("physical", "kvm",
//! "VMware", "VirtualBox", "xen", "container" + "Docker"/"LXC", ...).
//!
//! Salt asks `systemd-detect-virt`, `virt-what` or `dmidecode` and then
//! checks files; Brine never runs a tool, so the same verdicts are drawn from
//! the files those tools read: DMI strings in sysfs, the CPU flags, the
//! clock source, /proc/xen, /proc/vz, PID 1's cgroup and environment, and the
//! markers container engines leave (/.dockerenv, /run/.containerenv,
//! /run/systemd/container).

use std::path::Path;

use brine_proto::Grains;

use super::{put, read, read_trim};

/// Everything the verdict depends on, read once so [`detect`] stays pure.
#[derive(Debug, Default, Clone)]
pub(super) struct VirtFacts {
    pub sys_vendor: String,
    pub product_name: String,
    pub bios_vendor: String,
    pub cpuinfo: String,
    /// `/sys/devices/system/clocksource/clocksource0/available_clocksource`.
    pub clocksources: String,
    /// /proc/xen, /proc/sys/xen or /sys/bus/xen exists.
    pub xen_present: bool,
    pub xen_xsd_kva: bool,
    /// `/proc/xen/capabilities` when readable.
    pub xen_capabilities: Option<String>,
    pub xen_console: bool,
    pub vz_version: bool,
    pub vz_veinfo: bool,
    /// `envID:` from /proc/self/status (OpenVZ).
    pub vz_envid: Option<u64>,
    pub chroot: bool,
    pub cgroup1: String,
    pub environ1: String,
    /// `/run/systemd/container` as systemd writes it for the init in a container.
    pub systemd_container: String,
    pub dockerenv: bool,
    pub containerenv: bool,
}

pub(super) fn collect(g: &mut Grains) {
    let facts = gather();
    let (virtual_, subtype) = detect(&facts);
    put(g, "virtual", virtual_);
    if let Some(s) = subtype {
        put(g, "virtual_subtype", s);
    }
}

fn gather() -> VirtFacts {
    let dmi = |f: &str| read_trim(format!("/sys/class/dmi/id/{f}")).unwrap_or_default();
    let status = read("/proc/self/status").unwrap_or_default();
    let vz_envid = status
        .lines()
        .find_map(|l| l.strip_prefix("envID:"))
        .and_then(|v| v.trim().parse().ok());
    VirtFacts {
        sys_vendor: dmi("sys_vendor"),
        product_name: dmi("product_name"),
        bios_vendor: dmi("bios_vendor"),
        cpuinfo: read("/proc/cpuinfo").unwrap_or_default(),
        clocksources: read_trim(
            "/sys/devices/system/clocksource/clocksource0/available_clocksource",
        )
        .unwrap_or_default(),
        xen_present: ["/proc/xen", "/proc/sys/xen", "/sys/bus/xen"]
            .iter()
            .any(|d| Path::new(d).is_dir()),
        xen_xsd_kva: Path::new("/proc/xen/xsd_kva").exists(),
        xen_capabilities: read("/proc/xen/capabilities"),
        xen_console: Path::new("/sys/bus/xen/drivers/xenconsole").is_dir(),
        vz_version: Path::new("/proc/vz/version").exists(),
        vz_veinfo: Path::new("/proc/vz/veinfo").exists(),
        vz_envid,
        chroot: is_chroot(),
        cgroup1: read("/proc/1/cgroup").unwrap_or_default(),
        // Root-only; an unreadable file simply gives no verdict.
        environ1: read("/proc/1/environ").unwrap_or_default(),
        systemd_container: read_trim("/run/systemd/container").unwrap_or_default(),
        dockerenv: Path::new("/.dockerenv").exists(),
        containerenv: Path::new("/run/.containerenv").exists(),
    }
}

/// Salt's check: `/` differs from PID 1's root (needs the right to look at
/// PID 1's root; without it, no verdict).
fn is_chroot() -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata("/"), std::fs::metadata("/proc/1/root/.")) {
        (Ok(a), Ok(b)) => a.dev() != b.dev() || a.ino() != b.ino(),
        _ => false,
    }
}

/// The verdict: (`virtual`, `virtual_subtype`).
pub(super) fn detect(f: &VirtFacts) -> (String, Option<String>) {
    let mut virt = "physical".to_string();
    let mut sub: Option<String> = None;
    let set = |v: &mut String, s: &str| *v = s.to_string();

    // Hypervisors, from the DMI strings dmidecode and systemd-detect-virt read.
    let (vendor, product, bios) = (&f.sys_vendor, &f.product_name, &f.bios_vendor);
    if vendor.starts_with("Amazon EC2") {
        set(&mut virt, "Nitro");
        sub = Some("Amazon EC2".into());
    } else if product.contains("VMware") || vendor.starts_with("VMware") {
        set(&mut virt, "VMware");
    } else if product.contains("VirtualBox") || vendor.contains("innotek") {
        set(&mut virt, "VirtualBox");
    } else if vendor.contains("Microsoft") && product.contains("Virtual Machine") {
        set(&mut virt, "VirtualPC");
    } else if vendor.contains("Parallels") {
        set(&mut virt, "Parallels");
    } else if product.contains("RHEV Hypervisor") {
        set(&mut virt, "kvm");
        sub = Some("rhev".into());
    } else if product.contains("oVirt Node") || vendor.contains("oVirt") {
        set(&mut virt, "kvm");
        sub = Some("ovirt".into());
    } else if product.contains("Google") || vendor.contains("Google") {
        set(&mut virt, "gce");
    } else if product.contains("BHYVE") || bios.contains("BHYVE") {
        set(&mut virt, "bhyve");
    } else if vendor.contains("Xen") {
        set(&mut virt, "xen");
        if product.contains("HVM domU") {
            sub = Some("Xen HVM DomU".into());
        }
    } else if vendor.contains("QEMU")
        || vendor.contains("Bochs")
        || bios.contains("SeaBIOS")
        || bios.contains("Bochs")
        || product.contains("KVM")
        || vendor.contains("OpenStack")
        || f.cpuinfo.contains("QEMU Virtual CPU")
    {
        set(&mut virt, "kvm");
    } else if has_flag(&f.cpuinfo, "hypervisor") {
        // A guest whose firmware names no vendor (Firecracker, Cloud
        // Hypervisor...): the paravirtual clock tells the hypervisor.
        let cs = &f.clocksources;
        if cs.contains("kvm-clock") {
            set(&mut virt, "kvm");
        } else if cs.contains("hyperv") {
            set(&mut virt, "VirtualPC");
        } else if cs.contains("xen") {
            set(&mut virt, "xen");
        } else {
            set(&mut virt, "virtual");
        }
    }

    // Xen paravirtual guests and hosts.
    if f.xen_present {
        if f.xen_xsd_kva {
            sub = Some("Xen Dom0".into());
        } else if f.product_name == "HVM domU" {
            sub = Some("Xen HVM DomU".into());
        } else if let Some(caps) = &f.xen_capabilities {
            let dom = if caps.contains("control_d") {
                "Xen Dom0"
            } else {
                "Xen PV DomU"
            };
            sub = Some(dom.into());
        } else if f.xen_console {
            sub = Some("Xen PV DomU".into());
        }
        if sub
            .as_deref()
            .is_some_and(|s| s.to_lowercase().contains("dom"))
        {
            set(&mut virt, "xen");
        }
    }

    // OpenVZ.
    if f.vz_version {
        set(&mut virt, "openvzhn");
    } else if f.vz_veinfo {
        set(&mut virt, "openvzve");
    }
    match f.vz_envid {
        Some(0) => set(&mut virt, "openvzhn"),
        Some(_) => set(&mut virt, "openvzve"),
        None => {}
    }

    if f.chroot {
        sub = Some("chroot".into());
    }

    // Containers come last so that a container inside a VM reports the container.
    let cg = &f.cgroup1;
    let sc = f.systemd_container.as_str();
    if cg.contains(":/lxc/") || f.environ1.contains("container=lxc") || sc.starts_with("lxc") {
        set(&mut virt, "container");
        sub = Some("LXC".into());
    } else if cg.contains(":/kubepods/") {
        sub = Some("kubernetes".into());
    } else if cg.contains(":/libpod_parent/") || f.containerenv || sc == "podman" {
        set(&mut virt, "container");
        sub = Some("libpod".into());
    } else if [":/system.slice/docker", ":/docker/", ":/docker-ce/"]
        .iter()
        .any(|p| cg.contains(p))
        || f.dockerenv
        || sc == "docker"
    {
        set(&mut virt, "container");
        sub = Some("Docker".into());
    } else if sc == "systemd-nspawn" {
        set(&mut virt, "systemd-nspawn");
    }

    // Salt: a subtype without a known type is still virtual.
    if sub.is_some() && virt == "physical" {
        set(&mut virt, "virtual");
    }
    (virt, sub)
}

fn has_flag(cpuinfo: &str, flag: &str) -> bool {
    cpuinfo
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.trim() == "flags")
        .any(|(_, v)| v.split_whitespace().any(|f| f == flag))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> VirtFacts {
        VirtFacts {
            cpuinfo: "processor : 0\nflags : fpu sse\n".into(),
            cgroup1: "0::/\n".into(),
            ..Default::default()
        }
    }

    #[test]
    fn bare_metal_is_physical() {
        let mut f = facts();
        f.sys_vendor = "Dell Inc.".into();
        f.product_name = "PowerEdge R640".into();
        assert_eq!(detect(&f), ("physical".into(), None));
    }

    #[test]
    fn hypervisors_from_dmi() {
        let mut f = facts();
        f.sys_vendor = "QEMU".into();
        f.product_name = "Standard PC (Q35 + ICH9, 2009)".into();
        assert_eq!(detect(&f).0, "kvm");
        f.sys_vendor = "VMware, Inc.".into();
        f.product_name = "VMware Virtual Platform".into();
        assert_eq!(detect(&f).0, "VMware");
        f.sys_vendor = "Microsoft Corporation".into();
        f.product_name = "Virtual Machine".into();
        assert_eq!(detect(&f).0, "VirtualPC");
        f.sys_vendor = "Amazon EC2".into();
        f.product_name = "m5.large".into();
        assert_eq!(detect(&f), ("Nitro".into(), Some("Amazon EC2".into())));
        f.sys_vendor = "Google".into();
        f.product_name = "Google Compute Engine".into();
        assert_eq!(detect(&f).0, "gce");
    }

    #[test]
    fn flag_only_guest_uses_the_clock_source() {
        let mut f = facts();
        f.cpuinfo = "flags : fpu hypervisor\n".into();
        f.clocksources = "kvm-clock tsc acpi_pm".into();
        assert_eq!(detect(&f).0, "kvm");
        f.clocksources = "tsc".into();
        assert_eq!(detect(&f).0, "virtual");
    }

    #[test]
    fn containers_win_over_the_hypervisor() {
        let mut f = facts();
        f.sys_vendor = "QEMU".into();
        f.dockerenv = true;
        assert_eq!(detect(&f), ("container".into(), Some("Docker".into())));
        let mut f = facts();
        f.cgroup1 = "12:cpu:/lxc/web1\n".into();
        assert_eq!(detect(&f), ("container".into(), Some("LXC".into())));
        let mut f = facts();
        f.cgroup1 = "11:memory:/kubepods/burstable/pod1\n".into();
        assert_eq!(detect(&f), ("virtual".into(), Some("kubernetes".into())));
        let mut f = facts();
        f.containerenv = true;
        assert_eq!(detect(&f), ("container".into(), Some("libpod".into())));
    }

    #[test]
    fn xen_guests() {
        let mut f = facts();
        f.xen_present = true;
        // /sys/bus/xen alone (a Fedora kernel not running on Xen) says nothing.
        assert_eq!(detect(&f), ("physical".into(), None));
        f.xen_console = true;
        assert_eq!(detect(&f), ("xen".into(), Some("Xen PV DomU".into())));
        f.xen_capabilities = Some("control_d\n".into());
        assert_eq!(detect(&f), ("xen".into(), Some("Xen Dom0".into())));
    }
}
