//! Salt compatibility of `state.apply`: every case of the shared apply
//! corpus (results of the real Salt 3008.5: `result`, `changes`, `comment`,
//! run order, exit status, the files left on disk) through `brine-call
//! --local state.apply`, run and checked by the corpus's own `run-case.sh`
//! and `compare.py`. Every case must pass; new cases are picked up without
//! code changes. Plus what the corpus cannot show on its own: accumulators
//! feeding a `file.managed` template.

use std::path::{Path, PathBuf};
use std::process::Command;

use brine_tests::bin;

/// The corpus named by `BRINE_CORPUS_APPLY` (the test is ignored unless the
/// build saw it: see `tests/build.rs`; `.ci/run` sets it).
fn corpus_dir() -> PathBuf {
    std::env::var_os("BRINE_CORPUS_APPLY")
        .map(PathBuf::from)
        .filter(|p| p.join("cases").is_dir())
        .expect("BRINE_CORPUS_APPLY names the Salt state.apply corpus (shared/corpus-apply)")
}

/// Runs one case as the corpus README says; `Err` holds the first
/// difference from Salt's result.
fn run_case(corpus: &Path, case: &Path, out: &Path) -> Result<(), String> {
    let run = Command::new("bash")
        .arg(corpus.join("run-case.sh"))
        .arg(bin("brine-call"))
        .arg(case)
        .output()
        .map_err(|e| format!("run-case.sh: {e}"))?;
    if !run.status.success() {
        return Err(format!(
            "run-case.sh failed: {}",
            String::from_utf8_lossy(&run.stderr).trim()
        ));
    }
    std::fs::write(out, &run.stdout).map_err(|e| e.to_string())?;
    let cmp = Command::new("python3")
        .arg(corpus.join("compare.py"))
        .arg("--first-diff")
        .arg(case.join("expected.json"))
        .arg(out)
        .output()
        .map_err(|e| format!("compare.py: {e}"))?;
    if cmp.status.success() {
        Ok(())
    } else {
        let text = String::from_utf8_lossy(&cmp.stdout);
        let diff: Vec<&str> = text.lines().take(3).map(str::trim).collect();
        Err(diff.join(" | "))
    }
}

#[test]
#[cfg_attr(
    not(brine_corpus_apply),
    ignore = "needs the Salt state.apply corpus: set BRINE_CORPUS_APPLY to shared/corpus-apply"
)]
fn apply_corpus_cases() {
    let corpus = corpus_dir();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus.join("cases"))
        .expect("reading cases")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("minion").is_file() && p.join("expected.json").is_file())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no case in {}", corpus.display());
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("actual.json");
    let mut failed = Vec::new();
    for case in &cases {
        if let Err(why) = run_case(&corpus, case, &out) {
            failed.push(format!(
                "{}: {why}",
                case.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    println!(
        "{}/{} state.apply cases pass",
        cases.len() - failed.len(),
        cases.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {} state.apply cases differ from Salt:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

/// `file.accumulated` text reaches the `file.managed` template of its file
/// as `accumulator` (each accumulator's chunks in the order given) through
/// the real `brine-call --local state.apply`; without this corpus too.
#[test]
fn accumulators_reach_managed_templates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |p: &str| {
        let d = tmp.path().join(p);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let (conf, srv, pillar, root) = (dir("conf"), dir("srv"), dir("pillar"), dir("root"));
    std::fs::write(
        conf.join("minion"),
        format!(
            "id: acc\nfile_client: local\nroot_dir: {}\nfile_roots:\n  base:\n    - {}\npillar_roots:\n  base:\n    - {}\n",
            conf.display(),
            srv.display(),
            pillar.display()
        ),
    )
    .unwrap();
    std::fs::write(pillar.join("top.sls"), "base: {}\n").unwrap();
    let target = root.join("animal.txt").display().to_string();
    std::fs::write(
        srv.join("main.sls"),
        format!(
            "animals:\n  file.accumulated:\n    - filename: {target}\n    - text: ' jumps over the lazy dog.'\n    - require_in:\n      - file: animal-file\n\
             more:\n  file.accumulated:\n    - filename: {target}\n    - text: [a, b]\n    - watch_in:\n      - file: animal-file\n\
             animal-file:\n  file.managed:\n    - name: {target}\n    - source: salt://animal.txt\n    - template: jinja\n"
        ),
    )
    .unwrap();
    std::fs::write(
        srv.join("animal.txt"),
        "The quick brown fox{% for a in accumulator['animals'] %}{{ a }}{% endfor %} {{ accumulator['more']|join(',') }}\n",
    )
    .unwrap();
    let out = Command::new(bin("brine-call"))
        .args(["--local", "-c"])
        .arg(&conf)
        .args(["state.apply", "main", "--out", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "The quick brown fox jumps over the lazy dog. a,b\n"
    );
    let ret: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let charged = &ret["local"]["file_|-animals_|-animals_|-accumulated"]["comment"];
    assert_eq!(
        charged,
        &serde_json::json!(format!(
            "Accumulator animals for file {target} was charged by text"
        ))
    );
}
