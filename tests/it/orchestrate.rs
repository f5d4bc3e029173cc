//! Orchestration on the master (`brine-run state.orchestrate`): a step
//! applies an SLS on two minions through the master's job path, the next
//! step runs an execution function on them once the first succeeded; a
//! failure on one minion stops what requires it and fails the run.

use std::path::Path;

use brine_tests::Cluster;
use serde_json::{json, Value};

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Step 1 writes `<out>/<id>.txt` on every minion (and fails on the minion
/// the `fail_on` pillar names); step 2 reads both files on every minion.
fn tree(root: &Path) {
    write(
        root,
        "salt/stamp.sls",
        "{{ grains['test_root'] }}/{{ grains['id'] }}.txt:\n  file.managed:\n    \
         - makedirs: True\n    - contents: stamp of {{ grains['id'] }}\n\
         {% if pillar.get('fail_on') == grains['id'] %}\n\
         broken_step:\n  test.fail_without_changes:\n    - name: broken on purpose\n\
         {% endif %}\n",
    );
    write(
        root,
        "salt/orch/deploy.sls",
        "write_stamps:\n  salt.state:\n    - tgt: 'm*'\n    - sls:\n      - stamp\n    \
         - pillar:\n        fail_on: '{{ pillar.get('fail_on', '') }}'\n\n\
         read_stamps:\n  salt.function:\n    - name: cmd.run\n    - tgt: 'm1,m2'\n    \
         - tgt_type: list\n    - arg:\n      - cat {{ pillar['out'] }}/m1.txt {{ pillar['out'] }}/m2.txt\n    \
         - require:\n      - salt: write_stamps\n",
    );
}

fn orch(c: &Cluster, extra: &[&str]) -> (brine_tests::CliOutput, Value) {
    let mut args = vec!["state.orchestrate", "orch.deploy", "--out", "json"];
    args.extend_from_slice(extra);
    let res = c.run(&args);
    let v: Value = serde_json::from_str(&res.stdout)
        .unwrap_or_else(|e| panic!("bad json ({e}): {res:?}\n{}", c.logs()));
    (res, v)
}

fn step<'a>(v: &'a Value, id: &str) -> &'a Value {
    let steps = v["master0_master"]
        .as_object()
        .unwrap_or_else(|| panic!("no orchestration results: {v}"));
    steps
        .iter()
        .find(|(tag, _)| tag.contains(&format!("_|-{id}_|-")))
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no step {id}: {v}"))
}

#[test]
fn orchestration_applies_states_then_runs_a_function_that_requires_them() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let out = dir.path().join("out");
    let c = Cluster::builder()
        .master_config(&format!(
            "file_roots:\n  base:\n    - {}/salt\n",
            dir.path().display()
        ))
        .minion("m1", &format!("test_root: {}", out.display()))
        .minion("m2", &format!("test_root: {}", out.display()))
        .start();
    c.accept_all();
    let pillar = format!(r#"pillar={{"out": "{}"}}"#, out.display());

    // test=True: the minions' states run in test mode, the function not at all
    let (res, v) = orch(&c, &[&pillar, "test=True"]);
    assert_eq!(res.code, 0, "{res:?}\n{}", c.logs());
    assert_eq!(step(&v, "write_stamps")["result"], Value::Null, "{v}");
    assert_eq!(
        step(&v, "read_stamps")["comment"],
        json!("Function cmd.run would be executed on target m1,m2")
    );
    assert!(!out.join("m1.txt").exists());

    // the real run: both steps succeed, in order, each minion's return kept
    let (res, v) = orch(&c, &[&pillar]);
    assert_eq!(res.code, 0, "{res:?}\n{}", c.logs());
    let stamps = step(&v, "write_stamps");
    assert_eq!(stamps["result"], json!(true), "{v}");
    assert_eq!(
        stamps["comment"],
        json!("States ran successfully. Updating m1, m2.")
    );
    assert_eq!(stamps["changes"]["out"], json!("highstate"));
    for id in ["m1", "m2"] {
        let states = stamps["changes"]["ret"][id].as_object().unwrap();
        assert_eq!(states.len(), 1, "{v}");
        assert_eq!(
            std::fs::read_to_string(out.join(format!("{id}.txt"))).unwrap(),
            format!("stamp of {id}\n")
        );
    }
    let read = step(&v, "read_stamps");
    assert_eq!(read["result"], json!(true), "{v}");
    assert_eq!(
        read["comment"],
        json!("Function ran successfully. Function cmd.run ran on m1, m2.")
    );
    assert_eq!(
        read["changes"]["ret"],
        json!({"m1": "stamp of m1\nstamp of m2", "m2": "stamp of m1\nstamp of m2"})
    );
    assert!(stamps["__run_num__"].as_u64() < read["__run_num__"].as_u64());
    // the jobs went through the master's job cache
    let res = c.run(&[
        "jobs.list_jobs",
        "search_function=state.sls",
        "--out",
        "json",
    ]);
    let jobs: Value = serde_json::from_str(&res.stdout).unwrap();
    assert_eq!(jobs.as_object().map(|j| j.len()), Some(2), "{jobs}");

    // highstate output (the default): every step and a summary
    let res = c.run(&["state.orch", "orch.deploy", &pillar]);
    assert_eq!(res.code, 0, "{res:?}");
    assert!(
        res.stdout.starts_with("master0_master:\n"),
        "{}",
        res.stdout
    );
    for text in [
        "ID: write_stamps",
        "Function: salt.state",
        "ID: read_stamps",
        "Function: salt.function",
        "Succeeded: 2",
        "Failed:    0",
    ] {
        assert!(res.stdout.contains(text), "{text} in:\n{}", res.stdout);
    }

    // step 1 fails on m2: step 2 never runs, the run fails, m2 is named
    std::fs::remove_dir_all(&out).unwrap();
    let failing = format!(r#"pillar={{"out": "{}", "fail_on": "m2"}}"#, out.display());
    let (res, v) = orch(&c, &[&failing]);
    assert_eq!(res.code, 1, "{res:?}");
    let stamps = step(&v, "write_stamps");
    assert_eq!(stamps["result"], json!(false), "{v}");
    let comment = stamps["comment"].as_str().unwrap();
    assert_eq!(comment, "Run failed on minions: m2");
    // the failed minion's states are in the step's changes
    let m2 = stamps["changes"]["ret"]["m2"].as_object().unwrap();
    let broken = m2
        .iter()
        .find(|(tag, _)| tag.starts_with("test_|-broken_step_|-"))
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(broken["result"], json!(false));
    let read = step(&v, "read_stamps");
    assert_eq!(read["result"], json!(false), "{v}");
    assert_eq!(read["changes"], json!({}));
    assert!(
        read["comment"]
            .as_str()
            .unwrap()
            .starts_with("One or more requisite failed"),
        "{v}"
    );
    // highstate output: each minion's states nested under the step
    std::fs::remove_dir_all(&out).unwrap();
    let res = c.run(&["state.orch", "orch.deploy", &failing]);
    assert_eq!(res.code, 1, "{res:?}");
    assert!(
        res.stdout.contains("Run failed on minions: m2"),
        "{}",
        res.stdout
    );
    for text in [
        "Failed:    2",
        "Summary for m1",
        "Function: file.managed",
        "Summary for m2",
        "Name: broken on purpose",
    ] {
        assert!(res.stdout.contains(text), "{text} in:\n{}", res.stdout);
    }

    // an SLS that is not there, and the event bus this master lacks
    let (res, v) = {
        let res = c.run(&["state.orch", "orch.nosuch", "--out", "json"]);
        let v: Value = serde_json::from_str(&res.stdout).unwrap();
        (res, v)
    };
    assert_eq!(res.code, 1, "{res:?}");
    assert_eq!(
        v,
        json!({"master0_master": ["No matching sls found for 'orch.nosuch' in env 'base'"]})
    );
    write(
        dir.path(),
        "salt/orch/wait.sls",
        "up:\n  salt.runner:\n    - name: manage.up\n\
         wait:\n  salt.wait_for_event:\n    - name: salt/minion/*/start\n    - id_list: [m1]\n    \
         - require:\n      - salt: up\n\
         nobody:\n  salt.state:\n    - tgt: 'zz*'\n    - sls: stamp\n",
    );
    let res = c.run(&["state.orch", "orch.wait", "--out", "json"]);
    assert_eq!(res.code, 1, "{res:?}");
    let v: Value = serde_json::from_str(&res.stdout).unwrap();
    let up = step(&v, "up");
    assert_eq!(up["result"], json!(true), "{v}");
    assert_eq!(
        up["comment"],
        json!("Runner function 'manage.up' executed.")
    );
    assert_eq!(up["changes"], json!({"return": ["m1", "m2"]}));
    let nobody = step(&v, "nobody");
    assert_eq!(nobody["result"], json!(false), "{v}");
    assert_eq!(nobody["comment"], json!("No minions returned"));
    let wait = step(&v, "wait");
    assert_eq!(wait["result"], json!(false), "{v}");
    assert!(
        wait["comment"].as_str().unwrap().contains("no event bus"),
        "{v}"
    );
}

/// `batch:` on a step: its job runs over the matched minions in a rolling
/// window, a job per start, and every minion's return is judged as one.
#[test]
fn batched_steps_run_the_minions_in_rolling_batches() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let out = dir.path().join("out");
    write(
        dir.path(),
        "salt/orch/batch.sls",
        "stamp_in_pairs:\n  salt.state:\n    - tgt: 'b*'\n    - sls: stamp\n    - batch: 2\n\n\
         time_one_by_one:\n  salt.function:\n    - name: cmd.run\n    - tgt: 'b*'\n    \
         - batch: '34%'\n    - arg:\n      - sleep 1; date +%s%N\n    \
         - kwarg:\n        python_shell: True\n    - require:\n      - salt: stamp_in_pairs\n",
    );
    write(
        dir.path(),
        "salt/orch/failhard.sls",
        "fail_first:\n  salt.function:\n    - name: cmd.run\n    - tgt: 'b*'\n    \
         - batch: 1\n    - failhard: True\n    - arg:\n      - exit 3\n    \
         - kwarg:\n        python_shell: True\n",
    );
    let mut b = Cluster::builder().master_config(&format!(
        "file_roots:\n  base:\n    - {}/salt\n",
        dir.path().display()
    ));
    for id in ["b1", "b2", "b3"] {
        b = b.minion(id, &format!("test_root: {}", out.display()));
    }
    let c = b.start();
    c.accept_all();

    let res = c.run(&["state.orch", "orch.batch", "--out", "json"]);
    assert_eq!(res.code, 0, "{res:?}\n{}", c.logs());
    let v: Value = serde_json::from_str(&res.stdout).unwrap();
    let stamps = step(&v, "stamp_in_pairs");
    assert_eq!(stamps["result"], json!(true), "{v}");
    assert_eq!(
        stamps["comment"],
        json!("States ran successfully. Updating b1, b2, b3.")
    );
    assert!(stamps["warnings"].is_null(), "batch is not ignored: {v}");
    for id in ["b1", "b2", "b3"] {
        assert!(stamps["changes"]["ret"][id].is_object(), "{v}");
        assert!(out.join(format!("{id}.txt")).exists());
    }
    // batch 2 over three minions: a job of two, then a job of one
    let res = c.run(&[
        "jobs.list_jobs",
        "search_function=state.sls",
        "--out",
        "json",
    ]);
    let jobs: Value = serde_json::from_str(&res.stdout).unwrap();
    let mut sizes: Vec<usize> = jobs
        .as_object()
        .unwrap()
        .values()
        .map(|j| j["Target"].as_str().unwrap().split(',').count())
        .collect();
    sizes.sort();
    assert_eq!(sizes, vec![1, 2], "{jobs}");

    // 34% of three is one at a time: three jobs, and no two minions ran
    // their one-second command at once
    let timed = step(&v, "time_one_by_one");
    assert_eq!(timed["result"], json!(true), "{v}");
    assert_eq!(
        timed["comment"],
        json!("Function ran successfully. Function cmd.run ran on b1, b2, b3.")
    );
    let mut ends: Vec<u128> = ["b1", "b2", "b3"]
        .iter()
        .map(|id| {
            timed["changes"]["ret"][id]
                .as_str()
                .unwrap_or_else(|| panic!("{id}: {v}"))
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    ends.sort();
    for pair in ends.windows(2) {
        assert!(
            pair[1] - pair[0] >= 900_000_000,
            "minions overlapped: {ends:?}"
        );
    }
    let res = c.run(&["jobs.list_jobs", "search_function=cmd.run", "--out", "json"]);
    let jobs: Value = serde_json::from_str(&res.stdout).unwrap();
    let targets: Vec<&str> = jobs
        .as_object()
        .unwrap()
        .values()
        .map(|j| j["Target"].as_str().unwrap())
        .collect();
    assert_eq!(targets.len(), 3, "{jobs}");
    assert!(targets.iter().all(|t| !t.contains(',')), "{jobs}");

    // failhard: the first minion fails, no other is started
    let res = c.run(&["state.orch", "orch.failhard", "--out", "json"]);
    assert_eq!(res.code, 1, "{res:?}");
    let v: Value = serde_json::from_str(&res.stdout).unwrap();
    let fail = step(&v, "fail_first");
    assert_eq!(fail["result"], json!(false), "{v}");
    let ran: Vec<&String> = fail["changes"]["ret"].as_object().unwrap().keys().collect();
    assert_eq!(ran.len(), 1, "{v}");
    let comment = fail["comment"].as_str().unwrap();
    assert!(
        comment.starts_with(&format!(
            "Running function cmd.run failed on minions: {}",
            ran[0]
        )),
        "{v}"
    );
    assert!(
        comment.contains("Batch run stopped by failhard; not run on: "),
        "{v}"
    );
    for id in ["b1", "b2", "b3"] {
        assert!(comment.contains(id), "{v}");
    }
}
