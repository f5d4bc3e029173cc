//! The system modules through `brine-call --local`: the mount, ssh_auth and
//! ssh_known_hosts states from an SLS, then the execution functions reading
//! back what they wrote, all on files in a temp dir (`config=`, and the
//! minion option `hosts.file` for host.present and hosts.*), so the machine
//! is left alone.

use std::process::{Command, Stdio};

use serde_json::Value;

use brine_tests::{bin, CliOutput};

const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

fn call(conf: &std::path::Path, roots: &std::path::Path, args: &[&str]) -> Value {
    let out: CliOutput = Command::new(bin("brine-call"))
        .arg("-c")
        .arg(conf)
        .args(["--local", "--out", "json", "--file-root"])
        .arg(roots)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .into();
    assert_eq!(out.code, 0, "{out:?}");
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    v["local"].clone()
}

#[test]
fn system_states_and_functions_on_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let conf = dir.path().join("conf");
    let roots = dir.path().join("srv");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::create_dir_all(&roots).unwrap();
    std::fs::write(conf.join("minion"), format!("hosts.file: {d}/hosts\n")).unwrap();
    std::fs::write(dir.path().join("fstab"), "").unwrap();
    std::fs::write(
        roots.join("keys.pub"),
        format!("ssh-ed25519 {KEY} ops@example\n"),
    )
    .unwrap();
    std::fs::write(
        roots.join("sys.sls"),
        format!(
            "fstab_entry:\n  mount.mounted:\n    - name: {d}/mnt\n    - device: tmpfs\n    - fstype: tmpfs\n\
             \x20   - mkmnt: True\n    - mount: False\n    - opts: size=1m\n    - config: {d}/fstab\n\
             root_key:\n  ssh_auth.present:\n    - user: root\n    - source: salt://keys.pub\n\
             \x20   - config: {d}/authorized_keys\n\
             known:\n  ssh_known_hosts.present:\n    - name: git.example\n    - key: {KEY}\n\
             \x20   - enc: ssh-ed25519\n    - hash_known_hosts: False\n    - config: {d}/known_hosts\n\
             db.example:\n  host.present:\n    - ip: 10.9.8.7\n"
        ),
    )
    .unwrap();

    let first = call(&conf, &roots, &["state.apply", "sys"]);
    let states = first.as_object().expect("state results");
    assert_eq!(states.len(), 4, "{first:#}");
    for (id, r) in states {
        assert_eq!(r["result"], true, "{id}: {r:#}");
        assert!(!r["changes"].as_object().unwrap().is_empty(), "{id}: {r:#}");
    }
    let hosts_text = std::fs::read_to_string(dir.path().join("hosts")).unwrap();
    assert_eq!(
        hosts_text, "10.9.8.7\t\tdb.example\n",
        "host.present wrote hosts.file"
    );
    let second = call(&conf, &roots, &["state.apply", "sys"]);
    for (id, r) in second.as_object().unwrap() {
        assert_eq!(r["result"], true, "{id}: {r:#}");
        assert_eq!(r["changes"], serde_json::json!({}), "{id}: {r:#}");
    }

    let fstab = call(
        &conf,
        &roots,
        &["mount.fstab", &format!("config={d}/fstab")],
    );
    assert_eq!(
        fstab[format!("{d}/mnt")]["opts"],
        serde_json::json!(["size=1m"])
    );
    let keys = call(
        &conf,
        &roots,
        &[
            "ssh.auth_keys",
            "root",
            &format!("config={d}/authorized_keys"),
        ],
    );
    assert_eq!(keys[KEY]["comment"], "ops@example");
    let known = call(
        &conf,
        &roots,
        &[
            "ssh.check_known_host",
            "hostname=git.example",
            &format!("key={KEY}"),
            &format!("config={d}/known_hosts"),
        ],
    );
    assert_eq!(known, "exists");

    // host.present and hosts.* edit the file the minion config names.
    assert_eq!(
        call(&conf, &roots, &["hosts.add_host", "10.9.8.7", "db.example"]),
        true
    );
    assert_eq!(
        call(&conf, &roots, &["hosts.get_ip", "db.example"]),
        "10.9.8.7"
    );
    let text = std::fs::read_to_string(dir.path().join("hosts")).unwrap();
    assert_eq!(text, "10.9.8.7\t\tdb.example\n");
}
