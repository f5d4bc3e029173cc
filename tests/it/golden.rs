//! Salt compatibility, measured: every golden case of the shared corpus
//! (rendered by the real Salt 3008.5) through `brine-call --local
//! state.show_sls`, checked by the corpus's own `run-case.sh` and
//! `compare.py`; and every formula SLS rendered with its pillar example.
//!
//! New cases are picked up without code changes. The test fails when fewer
//! cases pass than the level recorded in `tests/data/golden-pass-level`
//! (raise it as compatibility grows).

use std::path::{Path, PathBuf};
use std::process::Command;

use brine_tests::bin;

/// The corpus named by `BRINE_CORPUS` (these tests are ignored unless the
/// build saw it: see `tests/build.rs`; `.ci/run` sets it).
fn corpus_dir() -> PathBuf {
    std::env::var_os("BRINE_CORPUS")
        .map(PathBuf::from)
        .filter(|p| p.join("cases").is_dir())
        .expect("BRINE_CORPUS names the Salt golden corpus (shared/corpus)")
}

fn pass_level() -> usize {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/golden-pass-level");
    std::fs::read_to_string(&p)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Runs one case the way the corpus README says; true when it passes.
fn run_case(corpus: &Path, case: &Path, out: &Path) -> Result<(), String> {
    let run = Command::new("bash")
        .arg(corpus.join("run-case.sh"))
        .arg(bin("brine-call"))
        .arg(case)
        .output()
        .map_err(|e| format!("run-case.sh: {e}"))?;
    std::fs::write(out, &run.stdout).map_err(|e| e.to_string())?;
    let expected = case.join("expected.json");
    let mut cmp = Command::new("python3");
    cmp.arg(corpus.join("compare.py"));
    let want_error = !expected.is_file();
    if want_error {
        if run.status.success() {
            return Err("expected an error, brine-call succeeded".into());
        }
        cmp.arg("--error").arg(case.join("expected-error.txt"));
    } else {
        if !run.status.success() {
            let stdout = String::from_utf8_lossy(&run.stdout);
            let stderr = String::from_utf8_lossy(&run.stderr);
            return Err(format!(
                "brine-call failed: {} {}",
                first_line(&stdout),
                first_line(&stderr)
            ));
        }
        cmp.arg(&expected);
    }
    cmp.arg(out);
    let c = cmp.output().map_err(|e| format!("compare.py: {e}"))?;
    if c.status.success() {
        Ok(())
    } else {
        Err(first_line(&String::from_utf8_lossy(&c.stdout)).to_string())
    }
}

fn first_line(s: &str) -> &str {
    let s = s.trim();
    let line = s.lines().next().unwrap_or("");
    &line[..line.len().min(300)]
}

#[test]
#[cfg_attr(
    not(brine_corpus),
    ignore = "needs the Salt golden corpus: set BRINE_CORPUS to shared/corpus"
)]
fn golden_corpus_cases() {
    let corpus = corpus_dir();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus.join("cases"))
        .expect("reading cases")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("minion").is_file())
        .collect();
    cases.sort();
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
    let passed = cases.len() - failed.len();
    for f in &failed {
        println!("FAIL {f}");
    }
    println!("{passed}/{} golden cases pass", cases.len());
    let level = pass_level();
    assert!(
        passed >= level,
        "{passed}/{} golden cases pass, below the recorded level {level} (tests/data/golden-pass-level)",
        cases.len()
    );
}

/// Renders every SLS of every formula (`state.show_sls`) with the
/// formula's pillar example; prints how many render and why the rest do not.
#[test]
#[cfg_attr(
    not(brine_corpus),
    ignore = "needs the Salt golden corpus: set BRINE_CORPUS to shared/corpus"
)]
fn formulas_render() {
    let corpus = corpus_dir();
    let mut formulas: Vec<PathBuf> = std::fs::read_dir(corpus.join("formulas"))
        .expect("reading formulas")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("states").is_dir())
        .collect();
    formulas.sort();
    let grains =
        std::fs::read_to_string(corpus.join("grains/debian12.yaml")).expect("debian12 grains");
    let (mut ok, mut total) = (0usize, 0usize);
    let mut reasons = Vec::new();
    for f in &formulas {
        let states = f.join("states");
        let pillar = f.join("pillar");
        let conf = tempfile::tempdir().unwrap();
        let mut minion = format!(
            "id: deb12.example.com\nfile_client: local\nroot_dir: {:?}\nfile_roots:\n  base:\n    - {:?}\npillar_roots:\n  base:\n    - {:?}\ngrains:\n",
            conf.path().display().to_string(),
            states.display().to_string(),
            pillar.display().to_string()
        );
        for line in grains.lines() {
            minion.push_str("  ");
            minion.push_str(line);
            minion.push('\n');
        }
        std::fs::write(conf.path().join("minion"), minion).unwrap();
        for sls in sls_names(&states) {
            total += 1;
            let run = Command::new(bin("brine-call"))
                .args(["--local", "-c"])
                .arg(conf.path())
                .args(["state.show_sls", &sls, "--out", "json"])
                .output()
                .expect("running brine-call");
            if run.status.success() {
                ok += 1;
            } else {
                let why = String::from_utf8_lossy(&run.stdout);
                let why = if why.trim().is_empty() {
                    String::from_utf8_lossy(&run.stderr).into_owned()
                } else {
                    why.into_owned()
                };
                reasons.push(format!("{}: {}", sls, first_line(&why.replace('\n', " "))));
            }
        }
    }
    for r in &reasons {
        println!("NOT RENDERED {r}");
    }
    println!("{ok}/{total} formula SLS files render");
    assert!(total > 0, "no formula SLS found");
}

/// Every SLS name under a state tree (`a/b.sls` -> `a.b`, `a/init.sls` -> `a`).
fn sls_names(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if let Some(rel) = p.strip_prefix(root).ok().and_then(|r| r.to_str()) {
                if let Some(stem) = rel.strip_suffix(".sls") {
                    if stem == "top" {
                        continue;
                    }
                    out.push(stem.strip_suffix("/init").unwrap_or(stem).replace('/', "."));
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out.dedup();
    out
}
