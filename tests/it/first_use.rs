//! First use, as a new user meets Brine: every row of README's exit-code
//! table is what the binaries do; a config directory that is not one, an
//! unknown flag or log level is a usage error (64) for every binary; logs
//! are plain text off a terminal, say each error once, and `-l debug` shows
//! every Brine crate.

use std::process::{Command, Stdio};

use brine_tests::{bin, CliOutput, Cluster};

/// The codes README.md's "Exit codes of `brine`" table lists.
fn readme_codes() -> Vec<i32> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let table = readme
        .split("### Exit codes of `brine`")
        .nth(1)
        .expect("the exit-code table");
    table
        .lines()
        .skip_while(|l| !l.starts_with("| code"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .next()
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect()
}

fn run(name: &str, args: &[&str]) -> CliOutput {
    Command::new(bin(name))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .into()
}

#[test]
fn every_exit_code_in_the_readme_is_what_brine_does() {
    let mut c = Cluster::builder()
        .minion("web1", "")
        .minion("web2", "")
        .start();
    c.accept_all();
    c.stop_minion("web2");
    let empty = tempfile::tempdir().unwrap();
    let empty_s = empty.path().display().to_string();
    let codes = readme_codes();
    assert!(codes.len() >= 7, "{codes:?}");
    for code in codes {
        let cases: Vec<CliOutput> = match code {
            0 => vec![c.brine(&["web1", "test.ping"])],
            // A bad target expression; a master that is not there.
            1 => vec![
                c.brine(&["-E", "web(", "test.ping"]),
                run("brine", &["-c", &empty_s, "*", "test.ping"]),
            ],
            2 => vec![c.brine(&["nosuch", "test.ping"])],
            11 => vec![c.brine(&["web1", "cmd.run", "exit 3"])],
            20 => vec![c.brine(&["-t", "2", "*", "test.ping"])],
            // Needs a full disk under the master: run by
            // attack_returns::a_full_disk_on_the_master_loses_no_return_and_the_cli_says_so.
            21 => continue,
            64 => vec![
                c.brine(&["--bogus", "*", "test.ping"]),
                c.brine(&["*"]),
                c.brine(&["--out", "nosuch", "*", "test.ping"]),
                c.brine(&["-l", "bogus", "*", "test.ping"]),
                run("brine", &["-c", "/nonexistent/brine", "*", "test.ping"]),
            ],
            other => panic!("README documents exit code {other}, which no case here checks"),
        };
        for out in cases {
            assert_eq!(out.code, code, "README says {code}: {out:?}");
        }
    }
}

#[test]
fn a_config_directory_that_is_not_one_is_a_usage_error_for_every_binary() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let file_s = file.path().display().to_string();
    let cases: [(&str, &[&str]); 6] = [
        ("brine", &["*", "test.ping"]),
        ("brine-key", &["-L"]),
        ("brine-run", &["manage.status"]),
        ("brine-call", &["--local", "test.ping"]),
        ("brine-master", &[]),
        ("brine-minion", &[]),
    ];
    for (name, args) in cases {
        for dir in ["/nonexistent/brine", file_s.as_str()] {
            let mut a = vec!["-c", dir];
            a.extend_from_slice(args);
            let out = run(name, &a);
            assert_eq!(out.code, 64, "{name} -c {dir}: {out:?}");
            assert!(out.stderr.contains(dir), "{name} names {dir}: {out:?}");
        }
    }
    let out = run("brine-master", &["-l", "bogus"]);
    assert_eq!(out.code, 64, "{out:?}");
    assert!(out.stderr.contains("unknown log level 'bogus'"), "{out:?}");
}

#[test]
fn logs_are_plain_off_a_terminal_and_errors_are_said_once() {
    let c = Cluster::builder().start();
    // A second master on the same ports: it cannot bind.
    let out = run("brine-master", &["-c", c.master_conf().to_str().unwrap()]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        !out.stderr.contains('\u{1b}'),
        "colour codes in a pipe: {out:?}"
    );
    let bind_lines = out
        .stderr
        .lines()
        .filter(|l| l.contains("cannot bind"))
        .count();
    assert_eq!(bind_lines, 1, "the error once: {}", out.stderr);
    // The harness's master logs to a file: no colour there either.
    assert!(!c.master.log_text().contains('\u{1b}'));
    // -l debug shows the states crate's logs too.
    let roots = tempfile::tempdir().unwrap();
    std::fs::write(roots.path().join("t.sls"), "hello:\n  test.nop: []\n").unwrap();
    let out = run(
        "brine-call",
        &[
            "-c",
            c.master_conf().to_str().unwrap(),
            "--local",
            "-l",
            "debug",
            "--file-root",
            roots.path().to_str().unwrap(),
            "state.apply",
            "t",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("brine_states"), "{}", out.stderr);
}
