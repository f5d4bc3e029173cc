//! Honest configuration: publisher_acl for local users other than root,
//! external_auth with another backend than brine refused, every ignored option warned about, the log file's
//! own level.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use brine_tests::{bin, free_port, CliOutput, Cluster};

/// nobody:nogroup on Debian and most others.
const NOBODY: u32 = 65534;

/// Runs `program -c CONF ARGS` as `nobody`, from a copy of the binary the
/// user may execute (the build's own directory may be under /root).
fn as_nobody(c: &Cluster, program: &str, args: &[&str]) -> CliOutput {
    let copy = c.dir.path().join("bin").join(program);
    if !copy.exists() {
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::copy(bin(program), &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // A binary just copied may still be open for writing in a child
    // another test thread forked meanwhile (ETXTBSY): try again.
    let mut tries = 0;
    let out = loop {
        let run = Command::new(&copy)
            .arg("-c")
            .arg(c.master_conf())
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .uid(NOBODY)
            .gid(NOBODY)
            .output();
        match run {
            Err(e) if e.raw_os_error() == Some(libc_etxtbsy()) && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            other => break other.unwrap_or_else(|e| panic!("run {program} as nobody: {e}")),
        }
    };
    CliOutput::from(out)
}

/// Linux's "text file busy".
fn libc_etxtbsy() -> i32 {
    nix::errno::Errno::ETXTBSY as i32
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn publisher_acl_lets_a_local_user_run_what_it_allows_and_no_more() {
    if !is_root() {
        // Switching to another user needs root; CI runs as root.
        eprintln!("skipped: needs root to run the CLI as another user");
        return;
    }
    let c = Cluster::builder()
        .minion("web1", "")
        .minion("db1", "")
        .master_config(
            "publisher_acl:\n  nobody:\n    - test.ping\n    - 'web*':\n      - grains.item\n    \
             - {'@runner': [jobs.list_jobs, 'api_cert.*']}\npublisher_acl_blacklist:\n  modules: [test.echo]\n",
        )
        .start();
    c.accept_all();
    // The cluster's directory is the test's own (0700): let nobody in, as
    // /etc/brine and /var/run/brine are on a real host.
    std::fs::set_permissions(c.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock_dir = c.master_root().join("var/run/brine/master");
    let mode = std::fs::metadata(&sock_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755, "sock_dir opened for ACL users");

    // Allowed: test.ping everywhere, grains.item on web*.
    let out = as_nobody(
        &c,
        "brine",
        &["--out", "json", "--static", "*", "test.ping"],
    );
    assert_eq!(out.code, 0, "{out:?}\n{}", c.logs());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["web1"], true, "{v}");
    assert_eq!(v["db1"], true, "{v}");
    let out = as_nobody(&c, "brine", &["--out", "json", "web1", "grains.item", "id"]);
    assert_eq!(out.code, 0, "{out:?}");

    // Refused: grains.item beyond web*, cmd.run anywhere, runners and keys
    // the ACL does not list.
    let out = as_nobody(&c, "brine", &["*", "grains.item", "id"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains("user 'nobody' may not run 'grains.item' on target '*'"),
        "{out:?}"
    );
    let out = as_nobody(&c, "brine", &["web1", "cmd.run", "id"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("authorization error"), "{out:?}");
    let out = as_nobody(&c, "brine-run", &["jobs.list_jobs"]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = as_nobody(&c, "brine-run", &["manage.status"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains("user 'nobody' may not run the runner 'manage.status'"),
        "{out:?}"
    );
    // Issuing API certificates is key management: `@runner` does not
    // reach it even where it names the function.
    let out = as_nobody(&c, "brine-key", &["--list-api-certs"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("api_cert.list"), "{out:?}");
    let out = as_nobody(&c, "brine-key", &["-L"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("key.list_all"), "{out:?}");

    // The blacklist binds root too; root is otherwise unrestricted.
    let out = c.brine(&["web1", "test.echo", "hi"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("blacklisted"), "{out:?}");
    let (out, v) = c.brine_json(&["db1", "cmd.run", "echo root"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(v["db1"], "root", "{v}");

    // Every refusal is in the master's log with user, target and function.
    let log = c.master.log_text();
    let refusal = log
        .lines()
        .find(|l| l.contains("refused") && l.contains("cmd.run"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{log}"));
    assert!(refusal.contains("WARN"), "{refusal}");
    assert!(refusal.contains("user=nobody"), "{refusal}");
    assert!(refusal.contains("tgt=web1"), "{refusal}");

    // And in the audit log: the denied call with its user and reason, the
    // allowed ones, root's too, with secrets redacted.
    let out = c.brine(&["db1", "test.arg", "db_password=hunter2", "password=hunter2"]);
    assert_eq!(out.code, 0, "{out:?}");
    let audit = |args: &[&str]| -> serde_json::Value {
        let mut a = vec!["--out", "json", "audit.list"];
        a.extend_from_slice(args);
        let out = c.run(&a);
        assert_eq!(out.code, 0, "{out:?}");
        serde_json::from_str(&out.stdout).unwrap()
    };
    let denied = audit(&["--user", "nobody", "--outcome", "denied"]);
    let row = denied
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["fun"] == "cmd.run")
        .unwrap_or_else(|| panic!("the denied cmd.run is audited: {denied}"));
    assert_eq!(row["target"], "web1", "{row}");
    assert_eq!(row["source"], "local", "{row}");
    assert!(row["detail"].as_str().unwrap().contains("nobody"), "{row}");
    let allowed = audit(&["user=nobody", "outcome=allowed", "action=job"]);
    assert!(
        allowed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["fun"] == "test.ping"),
        "{allowed}"
    );
    let root = audit(&["user=root"]);
    let text = root.to_string();
    assert!(text.contains("test.arg"), "{text}");
    assert!(!text.contains("hunter2"), "secrets redacted: {text}");
    assert!(text.contains(r#""db_password":"***""#), "{text}");
}

#[test]
fn without_an_acl_only_the_masters_user_reaches_the_socket() {
    if !is_root() {
        eprintln!("skipped: needs root to run the CLI as another user");
        return;
    }
    let c = Cluster::builder().start();
    std::fs::set_permissions(c.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock_dir = c.master_root().join("var/run/brine/master");
    let mode = std::fs::metadata(&sock_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let out = as_nobody(&c, "brine", &["*", "test.ping"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("cannot reach the master"), "{out:?}");
}

/// A master config written into a fresh directory; returns the config dir.
fn master_dir(root: &Path, extra: &str) -> std::path::PathBuf {
    let conf = root.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("master"),
        format!(
            "id: m\ninterface: 127.0.0.1\npublish_port: {}\nret_port: {}\nroot_dir: {}\n{extra}",
            free_port(),
            free_port(),
            root.display()
        ),
    )
    .unwrap();
    conf
}

#[test]
fn external_auth_with_a_backend_brine_lacks_stops_the_master_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let conf = master_dir(dir.path(), "external_auth:\n  pam:\n    fred: ['.*']\n");
    let out = Command::new(bin("brine-master"))
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("the 'pam' backend is not supported: Brine authenticates API users itself"),
        "{stderr}"
    );
}

#[test]
fn ignored_options_are_warned_about_and_the_log_file_has_its_own_level() {
    let log_file = "master-file.log";
    let mut c = Cluster::builder()
        .minion_with(
            "web1",
            "",
            "startup_states: highstate\nmultiprocessing: true",
        )
        .master_config(&format!(
            "ping_on_rotate: true\ntransport: zeromq\nfrobnicate: 1\n\
             log_file: /{log_file}\nlog_level_logfile: info\n"
        ))
        .start();
    let console = c.master.log_text();
    for line in [
        "ignoring 'ping_on_rotate': not supported yet",
        "ignoring 'transport': no effect",
        "ignoring 'frobnicate': unknown option",
    ] {
        assert_eq!(
            console.matches(line).count(),
            1,
            "{line} once on stderr:\n{console}"
        );
    }
    // stderr at -l debug (the harness's), the file at info.
    let file = std::fs::read_to_string(c.master_root().join(log_file)).unwrap();
    assert!(console.contains("DEBUG"), "{console}");
    assert!(file.contains(" INFO "), "{file}");
    assert!(!file.contains("DEBUG"), "{file}");
    assert!(file.contains("ignoring 'frobnicate'"), "{file}");
    // The minion says the same of its own options.
    let minion = c.minion("web1").log.clone();
    brine_tests::assert_eventually!(
        std::fs::read_to_string(&minion)
            .unwrap_or_default()
            .contains("ignoring 'multiprocessing': no effect"),
        "minion warns about multiprocessing"
    );
    let text = std::fs::read_to_string(&minion).unwrap();
    assert_eq!(
        text.matches("ignoring 'startup_states': not supported yet")
            .count(),
        1,
        "{text}"
    );
}
