//! `brine-call` without `--local` talks to the master as `salt-call` does:
//! salt:// files and pillar from the master, the return in its job cache.

use std::process::{Command, Stdio};

use brine_tests::{bin, CliOutput, Cluster};

fn call(c: &Cluster, args: &[&str]) -> CliOutput {
    let out = Command::new(bin("brine-call"))
        .arg("-c")
        .arg(c.minion_root("web1").join("conf"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("running brine-call");
    CliOutput::from(out)
}

fn json(out: &CliOutput) -> serde_json::Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

#[test]
fn brine_call_uses_the_masters_files_and_pillar_and_records_its_return() {
    let srv = tempfile::tempdir().unwrap();
    let files = srv.path().join("salt");
    let pillar = srv.path().join("pillar");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::create_dir_all(&pillar).unwrap();
    std::fs::write(files.join("hello.txt"), "hello from the master\n").unwrap();
    std::fs::write(pillar.join("top.sls"), "base:\n  '*':\n    - data\n").unwrap();
    std::fs::write(pillar.join("data.sls"), "color: blue\n").unwrap();
    let mut c = Cluster::builder()
        .minion("web1", "")
        .master_config(&format!(
            "file_roots:\n  base:\n    - {}\npillar_roots:\n  base:\n    - {}\n",
            files.display(),
            pillar.display()
        ))
        .start();
    c.accept_all();

    // salt:// from the master's file roots.
    let dest = srv.path().join("copy.txt");
    let out = call(
        &c,
        &[
            "--out",
            "json",
            "cp.get_file",
            "salt://hello.txt",
            dest.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{out:?}\n{}", c.logs());
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        "hello from the master\n"
    );
    // The pillar the master compiles for this minion.
    let out = call(&c, &["--out", "json", "pillar.get", "color"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(json(&out)["local"], "blue", "{out:?}");

    // A state run from the master's file roots, templated with its pillar.
    let managed = srv.path().join("managed.txt");
    std::fs::write(
        files.join("copy.sls"),
        format!(
            "{{{{ pillar['color'] }}}}-copy:\n  file.managed:\n    - name: {}\n    - source: salt://hello.txt\n",
            managed.display()
        ),
    )
    .unwrap();
    let out = call(&c, &["--out", "json", "state.apply", "copy"]);
    assert_eq!(out.code, 0, "{out:?}");
    let states = json(&out);
    let (name, result) = states["local"].as_object().unwrap().iter().next().unwrap();
    assert!(name.contains("blue-copy"), "{states}");
    assert_eq!(result["result"], true, "{states}");
    assert_eq!(
        std::fs::read_to_string(&managed).unwrap(),
        "hello from the master\n"
    );

    // The minion's own session was left alone.
    c.wait_answering(&["web1"]);

    // The call is a job of the master's job cache, with its return.
    let out = c.run(&["jobs.list_jobs", "--out", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let jobs = json(&out);
    let (jid, job) = jobs
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, j)| j["Function"] == "pillar.get")
        .unwrap_or_else(|| panic!("no pillar.get job: {jobs}"));
    assert_eq!(job["User"], "brine-call", "{job}");
    assert_eq!(job["Target"], "web1", "{job}");
    assert_eq!(job["Arguments"], serde_json::json!(["color"]), "{job}");
    let out = c.run(&["jobs.lookup_jid", jid, "--out", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(json(&out), serde_json::json!({"web1": "blue"}));

    // Without an accepted key there is no master to talk to: a clear error.
    c.stop_minion("web1");
    let out = c.key(&["-d", "web1", "-y"]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = call(&c, &["test.ping"]);
    assert_ne!(out.code, 0, "{out:?}");
}
