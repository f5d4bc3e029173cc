//! `ps.*`: processes, CPUs and partitions as Salt's `ps` module reports
//! them through psutil, read here straight from `/proc` with psutil's rules
//! (process names, status words, which partitions are physical).

use std::collections::HashMap;
use std::path::Path;

use brine_states::modules::sys::{accounts, mounts};
use serde_json::{json, Map, Value};

use super::sysexec::off_thread;
use crate::registry::{as_str_list, Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "ps.boot_time",
        doc: "Return the boot time in seconds since the epoch (or formatted).\n\n\
              - time_format: a strftime format, e.g. %Y-%m-%d %H:%M:%S (local time).",
        cli_example: "brine '*' ps.boot_time time_format='%Y-%m-%d'",
        run: boot_time,
    },
    FunctionSpec {
        name: "ps.disk_partitions",
        doc: "Return the mounted partitions: [{device, mountpoint, fstype, opts}].\n\n\
              - all: also pseudo, memory and duplicate file systems (default False: only\n\
              file systems of block devices, as psutil lists them).",
        cli_example: "brine '*' ps.disk_partitions",
        run: disk_partitions,
    },
    FunctionSpec {
        name: "ps.get_pid_list",
        doc: "Return the ids of every running process.",
        cli_example: "brine '*' ps.get_pid_list",
        run: get_pid_list,
    },
    FunctionSpec {
        name: "ps.kill_pid",
        doc: "Send a signal to a process; True when it was sent.\n\n\
              - pid: the process id.\n\
              - signal: the signal number (default 15, SIGTERM).",
        cli_example: "brine '*' ps.kill_pid 2000 signal=9",
        run: kill_pid,
    },
    FunctionSpec {
        name: "ps.num_cpus",
        doc: "Return the number of online logical CPUs.",
        cli_example: "brine '*' ps.num_cpus",
        run: num_cpus,
    },
    FunctionSpec {
        name: "ps.pgrep",
        doc: "Return the ids of the processes whose name contains the pattern, or None.\n\n\
              - pattern: the text (or regex) to look for.\n\
              - user: only processes of this user.\n\
              - full: match the whole command line instead of the name (default False).\n\
              - pattern_is_regex: the pattern is a regular expression (default False).",
        cli_example: "brine '*' ps.pgrep sshd full=True",
        run: pgrep,
    },
    FunctionSpec {
        name: "ps.pkill",
        doc: "Signal the processes whose name contains the pattern: {killed: [pids]}, or None.\n\n\
              - pattern: the text to look for.\n\
              - user: only processes of this user.\n\
              - signal: the signal number (default 15, SIGTERM).\n\
              - full: match the whole command line instead of the name (default False).",
        cli_example: "brine '*' ps.pkill apache signal=9",
        run: pkill,
    },
    FunctionSpec {
        name: "ps.proc_info",
        doc: "Return a process's attributes: pid, ppid, name, exe, cmdline, status, username, uids,\n\
              gids, create_time, num_threads, nice, cwd, terminal, cpu_times, memory_info.\n\n\
              - pid: the process id.\n\
              - attrs: only these attributes (a list).",
        cli_example: "brine '*' ps.proc_info 2000 attrs='[\"cmdline\", \"create_time\"]'",
        run: proc_info,
    },
    FunctionSpec {
        name: "ps.top",
        doc: "Return the processes that used the most CPU over an interval:\n\
              [{cmd, user, status, pid, create_time, cpu: {...}, mem: {...}}], busiest first.\n\n\
              - num_processes: how many (default 5).\n\
              - interval: seconds to measure over (default 3).",
        cli_example: "brine '*' ps.top num_processes=10 interval=1",
        run: top,
    },
];

const PROC: &str = "/proc";
/// The kernel's `USER_HZ`: the unit of the CPU times in `/proc`, 100 on
/// every Linux architecture Brine runs on.
const CLK_TCK: f64 = 100.0;

/// One process from `/proc/<pid>/stat` (fields after the command name).
#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    pub pid: i32,
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    pub tty_nr: i64,
    pub utime: f64,
    pub stime: f64,
    pub cutime: f64,
    pub cstime: f64,
    pub nice: i64,
    pub num_threads: i64,
    /// Clock ticks after boot.
    pub starttime: f64,
    pub iowait: f64,
}

/// Parses `/proc/<pid>/stat`; the name is between the first `(` and the
/// last `)`, as it may hold both.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let comm = text[open + 1..close].to_string();
    let f: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let int = |i: usize| f.get(i).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    Some(Stat {
        pid,
        comm,
        state: f.first()?.chars().next()?,
        ppid: int(1) as i32,
        tty_nr: int(4),
        utime: num(11) / CLK_TCK,
        stime: num(12) / CLK_TCK,
        cutime: num(13) / CLK_TCK,
        cstime: num(14) / CLK_TCK,
        nice: int(16),
        num_threads: int(17),
        starttime: num(19),
        iowait: num(39) / CLK_TCK,
    })
}

/// psutil's status words for the kernel's state letters.
pub fn status_word(state: char) -> &'static str {
    match state {
        'R' => "running",
        'S' => "sleeping",
        'D' => "disk-sleep",
        'T' => "stopped",
        't' => "tracing-stop",
        'Z' => "zombie",
        'X' | 'x' => "dead",
        'K' => "wake-kill",
        'W' => "waking",
        'I' => "idle",
        'P' => "parked",
        _ => "unknown",
    }
}

/// `btime` from `/proc/stat`: boot time in seconds since the epoch.
pub fn parse_btime(stat: &str) -> Option<i64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// A CPU list such as `0-3,6` (`/sys/devices/system/cpu/online`) counted.
pub fn count_cpu_list(text: &str) -> usize {
    text.trim()
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|part| match part.split_once('-') {
            Some((a, b)) => match (a.parse::<usize>(), b.parse::<usize>()) {
                (Ok(a), Ok(b)) if b >= a => b - a + 1,
                _ => 0,
            },
            None => usize::from(part.parse::<usize>().is_ok()),
        })
        .sum()
}

/// The `Uid:`/`Gid:` line of `/proc/<pid>/status`: real, effective, saved.
fn status_ids(status: &str, field: &str) -> Option<[u32; 3]> {
    let line = status.lines().find_map(|l| l.strip_prefix(field))?;
    let v: Vec<u32> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    Some([*v.first()?, *v.get(1)?, *v.get(2)?])
}

/// The page size from the auxiliary vector (`AT_PAGESZ`), 4096 if unreadable.
fn page_size() -> u64 {
    const AT_PAGESZ: u64 = 6;
    let Ok(aux) = std::fs::read("/proc/self/auxv") else {
        return 4096;
    };
    aux.chunks_exact(16)
        .find_map(|pair| {
            let key = u64::from_ne_bytes(pair[..8].try_into().ok()?);
            let value = u64::from_ne_bytes(pair[8..].try_into().ok()?);
            (key == AT_PAGESZ).then_some(value)
        })
        .unwrap_or(4096)
}

/// Reads what the functions need of one process; `None` once it is gone.
struct Proc {
    stat: Stat,
    cmdline: Vec<String>,
    uids: Option<[u32; 3]>,
    gids: Option<[u32; 3]>,
}

impl Proc {
    fn read(pid: i32) -> Option<Proc> {
        let dir = Path::new(PROC).join(pid.to_string());
        let stat = parse_stat(&std::fs::read_to_string(dir.join("stat")).ok()?)?;
        let cmdline = std::fs::read(dir.join("cmdline"))
            .map(|raw| {
                raw.split(|b| *b == 0)
                    .filter(|p| !p.is_empty())
                    .map(|p| String::from_utf8_lossy(p).to_string())
                    .collect()
            })
            .unwrap_or_default();
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        Some(Proc {
            stat,
            cmdline,
            uids: status_ids(&status, "Uid:"),
            gids: status_ids(&status, "Gid:"),
        })
    }

    /// psutil's `name()`: the kernel's 15-character name, completed from
    /// the command line when it was cut short.
    fn name(&self) -> String {
        let comm = &self.stat.comm;
        if comm.len() >= 15 {
            if let Some(first) = self.cmdline.first() {
                let base = first.rsplit('/').next().unwrap_or(first);
                if base.starts_with(comm.as_str()) {
                    return base.to_string();
                }
            }
        }
        comm.clone()
    }

    fn username(&self, users: &HashMap<u32, String>) -> Value {
        match self.uids {
            Some([real, ..]) => users
                .get(&real)
                .map_or_else(|| json!(real.to_string()), |n| json!(n)),
            None => Value::Null,
        }
    }

    fn create_time(&self, btime: i64) -> f64 {
        btime as f64 + self.stat.starttime / CLK_TCK
    }

    fn cpu_times(&self) -> Value {
        let s = &self.stat;
        json!({
            "user": s.utime, "system": s.stime, "children_user": s.cutime,
            "children_system": s.cstime, "iowait": s.iowait,
        })
    }

    fn memory_info(&self, page: u64) -> Value {
        let dir = Path::new(PROC).join(self.stat.pid.to_string());
        let statm = std::fs::read_to_string(dir.join("statm")).unwrap_or_default();
        let v: Vec<u64> = statm
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0) * page)
            .collect();
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        json!({
            "rss": at(1), "vms": at(0), "shared": at(2), "text": at(3),
            "lib": at(4), "data": at(5), "dirty": at(6),
        })
    }
}

fn pids() -> Vec<i32> {
    let mut out: Vec<i32> = std::fs::read_dir(PROC)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort_unstable();
    out
}

fn user_names() -> HashMap<u32, String> {
    accounts::all_users()
        .into_iter()
        .map(|u| (u.uid, u.name))
        .collect()
}

fn btime() -> i64 {
    parse_btime(&std::fs::read_to_string("/proc/stat").unwrap_or_default()).unwrap_or(0)
}

fn boot_time(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let format = a.opt_str("time_format", 0)?;
        a.finish()?;
        let b = btime();
        let Some(format) = format else {
            return Ok(json!(b).into());
        };
        let when = chrono::DateTime::from_timestamp(b, 0)
            .ok_or_else(|| ModError::Failed(format!("bad boot time {b}")))?
            .with_timezone(&chrono::Local);
        // chrono reports a bad format while writing: collect it, as Salt
        // returns False for a format strftime refuses.
        use std::fmt::Write;
        let mut text = String::new();
        match write!(text, "{}", when.format(&format)) {
            Ok(()) => Ok(json!(text).into()),
            Err(_) => Ok(json!(false).into()),
        }
    })
}

fn num_cpus(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        let online = std::fs::read_to_string("/sys/devices/system/cpu/online")
            .map(|t| count_cpu_list(&t))
            .unwrap_or(0);
        let n = if online > 0 {
            online
        } else {
            std::fs::read_to_string("/proc/cpuinfo")
                .unwrap_or_default()
                .lines()
                .filter(|l| l.starts_with("processor"))
                .count()
        };
        Ok(json!(n).into())
    })
}

fn get_pid_list(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        Ok(json!(pids()).into())
    })
}

/// Physical file system types (psutil's rule): `/proc/filesystems` lines
/// not marked `nodev`, plus zfs.
pub fn physical_fstypes(filesystems: &str) -> Vec<String> {
    filesystems
        .lines()
        .filter_map(|l| match l.split_once('\t') {
            Some(("nodev", t)) => (t.trim() == "zfs").then(|| "zfs".to_string()),
            _ => Some(l.trim().to_string()),
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// psutil's `disk_partitions` from `/proc/self/mounts` text.
pub fn partitions(mounts_text: &str, physical: Option<&[String]>) -> Vec<Value> {
    mounts_text
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 4 {
                return None;
            }
            let device = if f[0] == "none" {
                String::new()
            } else {
                mounts::unescape(f[0])
            };
            if let Some(types) = physical {
                if device.is_empty() || !types.iter().any(|t| t == f[2]) {
                    return None;
                }
            }
            Some(json!({
                "device": device,
                "mountpoint": mounts::unescape(f[1]),
                "fstype": f[2],
                "opts": f[3],
            }))
        })
        .collect()
}

fn disk_partitions(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let all = a.opt_bool("all", 0)?.unwrap_or(false);
        a.finish()?;
        let text = std::fs::read_to_string(mounts::PROC_MOUNTS)
            .map_err(|e| ModError::Failed(format!("{}: {e}", mounts::PROC_MOUNTS)))?;
        let types = (!all).then(|| {
            physical_fstypes(&std::fs::read_to_string("/proc/filesystems").unwrap_or_default())
        });
        Ok(json!(partitions(&text, types.as_deref())).into())
    })
}

/// The processes whose name (or command line) matches, with their user.
fn matching(
    pattern: &str,
    regex: Option<&regex::Regex>,
    user: Option<&str>,
    full: bool,
) -> Vec<i32> {
    let users = user_names();
    pids()
        .into_iter()
        .filter_map(Proc::read)
        .filter(|p| {
            let line = if full { p.cmdline.join(" ") } else { p.name() };
            let hit = match regex {
                Some(re) => re.is_match(&line),
                None => line.contains(pattern),
            };
            hit && user.is_none_or(|u| p.username(&users) == json!(u))
        })
        .map(|p| p.stat.pid)
        .collect()
}

fn pgrep(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let pattern = a.take_str("pattern", 0)?;
        let user = a.opt_str("user", 1)?;
        let full = a.opt_bool("full", 2)?.unwrap_or(false);
        let is_regex = a.opt_bool("pattern_is_regex", 3)?.unwrap_or(false);
        a.finish()?;
        let re = is_regex
            .then(|| regex::Regex::new(&pattern))
            .transpose()
            .map_err(|e| ModError::BadArguments(format!("bad pattern: {e}")))?;
        off_thread(move || {
            let found = matching(&pattern, re.as_ref(), user.as_deref(), full);
            Ok(if found.is_empty() {
                Value::Null
            } else {
                json!(found)
            }
            .into())
        })
        .await
    })
}

fn signal_of(n: i64) -> Result<nix::sys::signal::Signal, ModError> {
    i32::try_from(n)
        .ok()
        .and_then(|n| nix::sys::signal::Signal::try_from(n).ok())
        .ok_or_else(|| ModError::BadArguments(format!("invalid signal {n}")))
}

fn send(pid: i32, signal: nix::sys::signal::Signal) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).is_ok()
}

fn pkill(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let pattern = a.take_str("pattern", 0)?;
        let user = a.opt_str("user", 1)?;
        let signal = signal_of(a.opt_i64("signal", 2)?.unwrap_or(15))?;
        let full = a.opt_bool("full", 3)?.unwrap_or(false);
        a.finish()?;
        off_thread(move || {
            let me = std::process::id() as i32;
            let killed: Vec<i32> = matching(&pattern, None, user.as_deref(), full)
                .into_iter()
                // Never the minion itself: a broad pattern must not stop it.
                .filter(|pid| *pid != me)
                .filter(|pid| send(*pid, signal))
                .collect();
            Ok(if killed.is_empty() {
                Value::Null
            } else {
                json!({ "killed": killed })
            }
            .into())
        })
        .await
    })
}

fn kill_pid(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let pid = a.take("pid", 0)?;
        let pid = crate::registry::as_i64("pid", &pid)?;
        let signal = signal_of(a.opt_i64("signal", 1)?.unwrap_or(15))?;
        a.finish()?;
        let sent = i32::try_from(pid).is_ok_and(|pid| pid > 0 && send(pid, signal));
        Ok(json!(sent).into())
    })
}

/// Every attribute `proc_info` offers, for one process.
fn info_of(p: &Proc, page: u64, users: &HashMap<u32, String>) -> Map<String, Value> {
    let dir = Path::new(PROC).join(p.stat.pid.to_string());
    let link = |name: &str| {
        std::fs::read_link(dir.join(name))
            .map(|l| json!(l.to_string_lossy()))
            .unwrap_or(Value::Null)
    };
    let ids = |v: Option<[u32; 3]>| {
        v.map_or(
            Value::Null,
            |[r, e, s]| json!({"real": r, "effective": e, "saved": s}),
        )
    };
    let terminal = match p.stat.tty_nr {
        0 => Value::Null,
        n => {
            let (major, minor) = ((n >> 8) & 0xfff, (n & 0xff) | ((n >> 12) & 0xfff00));
            match major {
                136..=143 => json!(format!("/dev/pts/{}", (major - 136) * 256 + minor)),
                4 if minor < 64 => json!(format!("/dev/tty{minor}")),
                _ => Value::Null,
            }
        }
    };
    let mut m = Map::new();
    m.insert("pid".into(), json!(p.stat.pid));
    m.insert("ppid".into(), json!(p.stat.ppid));
    m.insert("name".into(), json!(p.name()));
    m.insert("exe".into(), link("exe"));
    m.insert("cmdline".into(), json!(p.cmdline));
    m.insert("status".into(), json!(status_word(p.stat.state)));
    m.insert("username".into(), p.username(users));
    m.insert("uids".into(), ids(p.uids));
    m.insert("gids".into(), ids(p.gids));
    m.insert("create_time".into(), json!(p.create_time(btime())));
    m.insert("num_threads".into(), json!(p.stat.num_threads));
    m.insert("nice".into(), json!(p.stat.nice));
    m.insert("cwd".into(), link("cwd"));
    m.insert("terminal".into(), terminal);
    m.insert("cpu_times".into(), p.cpu_times());
    m.insert("memory_info".into(), p.memory_info(page));
    m
}

fn proc_info(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let pid = a.take("pid", 0)?;
        let pid = crate::registry::as_i64("pid", &pid)?;
        let attrs = a.opt("attrs", 1)?;
        let attrs = attrs.map(|v| as_str_list("attrs", &v)).transpose()?;
        a.finish()?;
        off_thread(move || {
            let gone = || ModError::Failed(format!("process no longer exists (pid={pid})"));
            let p = i32::try_from(pid)
                .ok()
                .and_then(Proc::read)
                .ok_or_else(gone)?;
            let mut info = info_of(&p, page_size(), &user_names());
            if let Some(attrs) = attrs {
                if let Some(bad) = attrs.iter().find(|a| !info.contains_key(a.as_str())) {
                    return Err(ModError::Failed(format!("invalid attr name '{bad}'")));
                }
                info.retain(|k, _| attrs.contains(k));
            }
            Ok(Value::Object(info).into())
        })
        .await
    })
}

fn top(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let num = a.opt_i64("num_processes", 0)?.unwrap_or(5).max(0) as usize;
        let interval = a.opt_f64("interval", 1)?.unwrap_or(3.0);
        a.finish()?;
        if !(0.0..=3600.0).contains(&interval) {
            return Err(ModError::BadArguments(format!(
                "interval must be between 0 and 3600 seconds, not {interval}"
            )));
        }
        let start: Vec<(i32, f64, f64)> = off_thread(|| {
            Ok(pids()
                .into_iter()
                .filter_map(Proc::read)
                .map(|p| (p.stat.pid, p.stat.starttime, p.stat.utime + p.stat.stime))
                .collect())
        })
        .await?;
        tokio::time::sleep(std::time::Duration::from_secs_f64(interval)).await;
        off_thread(move || {
            let mut usage: Vec<(f64, Proc)> = start
                .into_iter()
                .filter_map(|(pid, started, before)| {
                    let p = Proc::read(pid)?;
                    // The same pid reused by a new process is not the same process.
                    (p.stat.starttime == started)
                        .then_some((p.stat.utime + p.stat.stime - before, p))
                })
                .collect();
            usage.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.stat.pid.cmp(&a.1.stat.pid)));
            let (users, page, b) = (user_names(), page_size(), btime());
            let out: Vec<Value> = usage
                .iter()
                .take(num)
                .map(|(_, p)| {
                    let cmd = if p.cmdline.is_empty() {
                        json!(p.name())
                    } else {
                        json!(p.cmdline)
                    };
                    json!({
                        "cmd": cmd,
                        "user": p.username(&users),
                        "status": status_word(p.stat.state),
                        "pid": p.stat.pid,
                        "create_time": p.create_time(b),
                        "cpu": p.cpu_times(),
                        "mem": p.memory_info(page),
                    })
                })
                .collect();
            Ok(json!(out).into())
        })
        .await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_call, test_ctx, ModFn};

    async fn call(f: ModFn, name: &'static str, arg: Value, kw: Value) -> Result<Value, String> {
        test_call(test_ctx(), f, name, arg, kw).await
    }

    #[test]
    fn stat_lines_with_odd_names() {
        let text = "1234 (my (odd) prog) S 1 1234 1234 34816 1234 4194560 100 0 0 0 \
                    250 50 7 3 20 0 4 0 98765 1000000 200 18446744073709551615 \
                    1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 12 0 0";
        let s = parse_stat(text).unwrap();
        assert_eq!(s.pid, 1234);
        assert_eq!(s.comm, "my (odd) prog");
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.tty_nr, 34816);
        assert_eq!(
            (s.utime, s.stime, s.cutime, s.cstime),
            (2.5, 0.5, 0.07, 0.03)
        );
        assert_eq!(s.num_threads, 4);
        assert_eq!(s.starttime, 98765.0);
        assert_eq!(s.iowait, 0.12);
        assert_eq!(status_word('D'), "disk-sleep");
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn proc_files_small_parsers() {
        assert_eq!(
            parse_btime("cpu 1 2\nbtime 1700000000\nprocesses 5\n"),
            Some(1_700_000_000)
        );
        assert_eq!(count_cpu_list("0-3,6\n"), 5);
        assert_eq!(count_cpu_list("0\n"), 1);
        assert_eq!(
            physical_fstypes("nodev\tsysfs\nnodev\ttmpfs\n\text4\n\txfs\nnodev\tzfs\n"),
            vec!["ext4", "xfs", "zfs"]
        );
        let mounts =
            "/dev/sda1 / ext4 rw,relatime 0 0\ntmpfs /run tmpfs rw 0 0\nnone /x ext4 rw 0 0\n";
        let types = vec!["ext4".to_string()];
        assert_eq!(
            partitions(mounts, Some(&types)),
            vec![
                json!({"device": "/dev/sda1", "mountpoint": "/", "fstype": "ext4", "opts": "rw,relatime"})
            ]
        );
        assert_eq!(partitions(mounts, None).len(), 3);
        assert_eq!(partitions(mounts, None)[2]["device"], "");
        assert_eq!(
            status_ids("Name:\tx\nUid:\t1000\t1001\t1002\t1003\n", "Uid:"),
            Some([1000, 1001, 1002])
        );
    }

    #[tokio::test]
    async fn this_process_as_ps_sees_it() {
        let me = std::process::id() as i64;
        let info = call(proc_info, "ps.proc_info", json!([me]), json!({}))
            .await
            .unwrap();
        assert_eq!(info["pid"], me);
        let uid = nix::unistd::Uid::current().as_raw();
        assert_eq!(info["uids"]["real"], uid);
        assert!(info["username"].is_string());
        assert!(info["create_time"].as_f64().unwrap() > 1.0e9);
        assert!(info["memory_info"]["rss"].as_u64().unwrap() > 0);
        assert!(info["num_threads"].as_i64().unwrap() >= 1);
        let some = call(
            proc_info,
            "ps.proc_info",
            json!([me]),
            json!({"attrs": ["pid", "name"]}),
        )
        .await
        .unwrap();
        assert_eq!(some.as_object().unwrap().len(), 2);
        let gone = call(proc_info, "ps.proc_info", json!([999_999_999]), json!({})).await;
        assert_eq!(
            gone.unwrap_err(),
            "process no longer exists (pid=999999999)"
        );
        let name = info["name"].as_str().unwrap().to_string();
        let found = call(pgrep, "ps.pgrep", json!([name]), json!({}))
            .await
            .unwrap();
        assert!(found.as_array().unwrap().contains(&json!(me)), "{found}");
        let none = call(
            pgrep,
            "ps.pgrep",
            json!(["no-such-process-name-x"]),
            json!({}),
        )
        .await;
        assert_eq!(none.unwrap(), Value::Null);
        let re = call(
            pgrep,
            "ps.pgrep",
            json!(["^no-such$"]),
            json!({"pattern_is_regex": true}),
        );
        assert_eq!(re.await.unwrap(), Value::Null);
        let pids = call(get_pid_list, "ps.get_pid_list", json!([]), json!({}))
            .await
            .unwrap();
        assert!(pids.as_array().unwrap().contains(&json!(me)));
        let n = call(num_cpus, "ps.num_cpus", json!([]), json!({}))
            .await
            .unwrap();
        assert!(n.as_u64().unwrap() >= 1);
        let b = call(boot_time, "ps.boot_time", json!([]), json!({}))
            .await
            .unwrap();
        assert!(b.as_i64().unwrap() > 1_000_000_000);
        let y = call(boot_time, "ps.boot_time", json!(["%Y"]), json!({}))
            .await
            .unwrap();
        assert_eq!(y.as_str().unwrap().len(), 4);
        let parts = call(
            disk_partitions,
            "ps.disk_partitions",
            json!([true]),
            json!({}),
        )
        .await
        .unwrap();
        assert!(parts
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["mountpoint"] == "/"));
    }

    #[tokio::test]
    async fn top_and_pkill_on_a_child() {
        // A duration no other process on this machine has on its command line.
        let arg = format!("29.{}", std::process::id());
        let mut child = std::process::Command::new("sleep")
            .arg(&arg)
            .spawn()
            .unwrap();
        let pid = child.id() as i64;
        let t = call(top, "ps.top", json!([500, 0.2]), json!({}))
            .await
            .unwrap();
        let entry = t
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["pid"] == pid)
            .cloned();
        let entry = entry.expect("the child is listed");
        assert_eq!(entry["cmd"], json!(["sleep", arg]));
        assert!(entry["cpu"]["user"].is_number() && entry["mem"]["rss"].is_number());
        // Full command lines, so only this child matches.
        let pattern = format!("sleep {arg}");
        let killed = call(
            pkill,
            "ps.pkill",
            json!([pattern]),
            json!({"full": true, "signal": 9}),
        )
        .await
        .unwrap();
        assert!(
            killed["killed"].as_array().unwrap().contains(&json!(pid)),
            "{killed}"
        );
        let status = child.wait().unwrap();
        assert!(!status.success());
        assert_eq!(
            call(kill_pid, "ps.kill_pid", json!([pid]), json!({}))
                .await
                .unwrap(),
            false
        );
    }
}
