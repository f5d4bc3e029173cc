//! Hardware grains: CPU (`num_cpus`, `cpu_model`, `cpu_flags`), memory
//! (`mem_total`, `swap_total`, MiB), firmware (`manufacturer`, `productname`,
//! `serialnumber`, `uuid`, `bios*`), `disks`/`ssds`, `machine_id`, `efi`,
//! `num_gpus`/`gpus`.

use std::path::Path;

use brine_proto::Grains;
use serde_json::{json, Value};

use super::{put, read, read_trim, str_list};

pub(super) fn collect(g: &mut Grains) {
    let cpuinfo = read("/proc/cpuinfo").unwrap_or_default();
    let cpu = parse_cpuinfo(&cpuinfo);
    g.insert("num_cpus".into(), json!(cpu.num_cpus));
    put(g, "cpu_model", cpu.model);
    g.insert("cpu_flags".into(), str_list(&cpu.flags));

    let (mem, swap) = read("/proc/meminfo")
        .map(|t| mem_totals(&t))
        .unwrap_or((0, 0));
    g.insert("mem_total".into(), json!(mem));
    g.insert("swap_total".into(), json!(swap));

    dmi(g);

    let (disks, ssds) = block_devices();
    g.insert("disks".into(), str_list(&disks));
    g.insert("ssds".into(), str_list(&ssds));

    // Salt's get_machine_identifier: the first of these files that exists.
    let machine_id = [
        "/etc/machine-id",
        "/var/lib/dbus/machine-id",
        "/var/db/dbus/machine-id",
    ]
    .iter()
    .find_map(read_trim);
    if let Some(id) = machine_id {
        put(g, "machine_id", id);
    }

    let efi = Path::new("/sys/firmware/efi").is_dir();
    g.insert("efi".into(), json!(efi));
    g.insert("efi-secure-boot".into(), json!(efi && secure_boot()));

    let gpus = gpus();
    g.insert("num_gpus".into(), json!(gpus.len()));
    g.insert("gpus".into(), Value::Array(gpus));
}

/// What `/proc/cpuinfo` says, read the way Salt's `_linux_cpudata` reads it.
#[derive(Debug, PartialEq)]
pub(super) struct CpuInfo {
    pub num_cpus: u64,
    pub model: String,
    pub flags: Vec<String>,
}

/// Counts `processor` lines; the model comes from `model name` (x86),
/// `Processor` (old ARM), `cpu` (POWER) or `vendor_id` (s390); flags from
/// `flags` or `Features` (ARM). The last line of a kind wins, as in Salt.
pub(super) fn parse_cpuinfo(text: &str) -> CpuInfo {
    let mut num = 0u64;
    let mut model = None;
    let mut flags = None;
    for line in text.lines() {
        let Some((key, val)) = line.split_once(':') else {
            continue;
        };
        let (key, val) = (key.trim(), val.trim());
        match key {
            "processor" => num += 1,
            "# processors" => num = val.parse().unwrap_or(num),
            "vendor_id" | "model name" | "cpu" => model = Some(val.to_string()),
            "Processor" => {
                model = Some(val.split('-').next().unwrap_or(val).to_string());
                num = 1;
            }
            "flags" | "Features" => {
                flags = Some(val.split_whitespace().map(str::to_string).collect())
            }
            _ => {}
        }
    }
    CpuInfo {
        num_cpus: num,
        model: model.unwrap_or_else(|| "Unknown".to_string()),
        flags: flags.unwrap_or_default(),
    }
}

/// (`MemTotal`, `SwapTotal`) from `/proc/meminfo`, in MiB rounded down.
pub(super) fn mem_totals(text: &str) -> (u64, u64) {
    let kib = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (kib("MemTotal") / 1024, kib("SwapTotal") / 1024)
}

/// Firmware facts from sysfs, as Salt's `_hw_data` reads them on Linux. Only
/// readable files give a grain: `product_serial` and `product_uuid` are
/// root-only, and containers often have no DMI at all.
fn dmi(g: &mut Grains) {
    const FILES: &[(&str, &str)] = &[
        ("biosversion", "bios_version"),
        ("biosvendor", "bios_vendor"),
        ("boardname", "board_name"),
        ("productname", "product_name"),
        ("manufacturer", "sys_vendor"),
        ("biosreleasedate", "bios_date"),
        ("uuid", "product_uuid"),
        ("serialnumber", "product_serial"),
    ];
    let dir = Path::new("/sys/class/dmi/id");
    if !dir.is_dir() {
        return;
    }
    for (grain, file) in FILES {
        let Ok(bytes) = std::fs::read(dir.join(file)) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes).trim().to_string();
        let text = if *grain == "uuid" {
            text.to_lowercase()
        } else {
            text
        };
        put(g, grain, text);
    }
}

/// Salt's `disks` and `ssds`: devices under /sys/block that are not virtual
/// (loop, ram, zram, dm-...), split on `queue/rotational`.
fn block_devices() -> (Vec<String>, Vec<String>) {
    let mut entries = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/sys/block") {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let target = std::fs::read_link(e.path())
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let rotational = read_trim(e.path().join("queue/rotational"));
            entries.push((name, target, rotational));
        }
    }
    split_disks(entries)
}

/// Pure part of [`block_devices`]: (name, sysfs link target, rotational flag).
pub(super) fn split_disks(
    mut entries: Vec<(String, String, Option<String>)>,
) -> (Vec<String>, Vec<String>) {
    entries.sort();
    let (mut disks, mut ssds) = (Vec::new(), Vec::new());
    for (name, target, rotational) in entries {
        if target.starts_with("../devices/virtual/") {
            continue;
        }
        match rotational.as_deref() {
            Some("1") => disks.push(name),
            Some("0") => ssds.push(name),
            _ => {}
        }
    }
    (disks, ssds)
}

/// The last byte of the `SecureBoot` EFI variable is 1 when it is on.
fn secure_boot() -> bool {
    let Ok(dir) = std::fs::read_dir("/sys/firmware/efi/efivars") else {
        return false;
    };
    dir.flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("SecureBoot-"))
        .and_then(|e| std::fs::read(e.path()).ok())
        .is_some_and(|b| b.last() == Some(&1))
}

/// Salt's `gpus` from PCI display controllers (class 0x03xxxx) in sysfs
/// instead of `lspci`: the vendor named as Salt names it, the model from the
/// PCI id database when installed.
fn gpus() -> Vec<Value> {
    let Ok(dir) = std::fs::read_dir("/sys/bus/pci/devices") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for e in dir.flatten() {
        let p = e.path();
        let class = read_trim(p.join("class")).unwrap_or_default();
        if !class.starts_with("0x03") {
            continue;
        }
        let vendor = read_trim(p.join("vendor")).unwrap_or_default();
        let device = read_trim(p.join("device")).unwrap_or_default();
        found.push((e.file_name(), vendor, device));
    }
    if found.is_empty() {
        return Vec::new();
    }
    found.sort();
    let ids = [
        "/usr/share/misc/pci.ids",
        "/usr/share/hwdata/pci.ids",
        "/usr/share/pci.ids",
    ]
    .iter()
    .find_map(read)
    .unwrap_or_default();
    found
        .into_iter()
        .map(|(_, vendor, device)| {
            let v = vendor.trim_start_matches("0x");
            let d = device.trim_start_matches("0x");
            let model = pci_device_name(&ids, v, d).unwrap_or_else(|| format!("Device {d}"));
            json!({"vendor": gpu_vendor(v), "model": model})
        })
        .collect()
}

/// Salt's GPU vendor words by PCI vendor id.
fn gpu_vendor(id: &str) -> &'static str {
    match id {
        "10de" => "nvidia",
        "1002" | "1022" => "amd",
        "8086" => "intel",
        "1013" => "cirrus logic",
        "15ad" => "vmware",
        "102b" => "matrox",
        "1a03" => "aspeed",
        _ => "unknown",
    }
}

/// Looks a device name up in pci.ids text ("vvvv  Vendor" then "\tdddd  Device").
pub(super) fn pci_device_name(ids: &str, vendor: &str, device: &str) -> Option<String> {
    let mut in_vendor = false;
    for line in ids.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if !line.starts_with('\t') {
            if in_vendor {
                return None;
            }
            in_vendor = line
                .get(..4)
                .is_some_and(|v| v.eq_ignore_ascii_case(vendor));
        } else if in_vendor && !line.starts_with("\t\t") {
            let l = &line[1..];
            if l.get(..4).is_some_and(|d| d.eq_ignore_ascii_case(device)) {
                return Some(l[4..].trim().to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO_X86: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz\nflags\t\t: fpu vme de pse\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz\nflags\t\t: fpu vme de pse\n\n";

    const CPUINFO_ARM64: &str = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes\nCPU implementer\t: 0x41\n\nprocessor\t: 1\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes\n";

    const MEMINFO: &str = "MemTotal:        8152872 kB\nMemFree:          421652 kB\nSwapCached:            0 kB\nSwapTotal:       2097148 kB\nHugePages_Total:       0\n";

    #[test]
    fn cpuinfo_x86_and_arm() {
        let c = parse_cpuinfo(CPUINFO_X86);
        assert_eq!(c.num_cpus, 2);
        assert_eq!(c.model, "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz");
        assert_eq!(c.flags, vec!["fpu", "vme", "de", "pse"]);
        let c = parse_cpuinfo(CPUINFO_ARM64);
        assert_eq!(c.num_cpus, 2);
        assert_eq!(c.model, "Unknown");
        assert_eq!(c.flags, vec!["fp", "asimd", "evtstrm", "aes"]);
        assert_eq!(parse_cpuinfo("").num_cpus, 0);
    }

    #[test]
    fn meminfo_totals_in_mib() {
        assert_eq!(mem_totals(MEMINFO), (7961, 2047));
        assert_eq!(mem_totals(""), (0, 0));
    }

    #[test]
    fn disks_skip_virtual_devices() {
        let e = |n: &str, t: &str, r: &str| (n.to_string(), t.to_string(), Some(r.to_string()));
        let (disks, ssds) = split_disks(vec![
            e(
                "vda",
                "../devices/pci0000:00/0000:00:02.0/virtio1/block/vda",
                "1",
            ),
            e("loop0", "../devices/virtual/block/loop0", "0"),
            e("nvme0n1", "../devices/pci0000:00/nvme/nvme0/nvme0n1", "0"),
            e("sda", "../devices/pci0000:00/ata1/sda", "1"),
        ]);
        assert_eq!(disks, vec!["sda", "vda"]);
        assert_eq!(ssds, vec!["nvme0n1"]);
    }

    #[test]
    fn pci_ids_lookup() {
        let ids = "# comment\n10de  NVIDIA Corporation\n\t1eb8  TU104GL [Tesla T4]\n\t\t10de 12a2  T4 16GB\n1234  Technical Corp.\n\t1111  QEMU Virtual Video Controller\n";
        assert_eq!(
            pci_device_name(ids, "10de", "1eb8").as_deref(),
            Some("TU104GL [Tesla T4]")
        );
        assert_eq!(
            pci_device_name(ids, "1234", "1111").as_deref(),
            Some("QEMU Virtual Video Controller")
        );
        assert_eq!(pci_device_name(ids, "1234", "2222"), None);
        assert_eq!(gpu_vendor("10de"), "nvidia");
    }
}
