//! An orchestration SLS renders to high data like any SLS (what
//! `state.show_sls` prints), from the master's file server, with the
//! orchestrator's pillar.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

const ORCH: &str = r#"{% set targets = pillar.get('targets', 'web*') %}
deploy_web:
  salt.state:
    - tgt: '{{ targets }}'
    - tgt_type: glob
    - sls:
      - web.config
      - web.service
    - fail_minions:
      - web3

check_web:
  salt.function:
    - name: cmd.run
    - tgt: '{{ targets }}'
    - arg:
      - cat /etc/web.conf
    - kwarg:
        python_shell: False
    - require:
      - salt: deploy_web

up:
  salt.runner:
    - name: manage.up
    - require:
      - salt: check_web
"#;

fn served(dir: &std::path::Path) -> FileServer {
    std::fs::create_dir_all(dir.join("salt/orch")).unwrap();
    std::fs::write(dir.join("salt/orch/deploy.sls"), ORCH).unwrap();
    let roots = BTreeMap::from([("base".to_string(), vec![dir.join("salt")])]);
    FileServer::new(roots, BTreeMap::new())
}

fn show_sls(fs: &FileServer, pillar: &Value, mods: &[&str]) -> Result<Value, Vec<String>> {
    let files = ServedFiles(fs);
    let grains = Map::new();
    let opts = json!({"id": "master0_master", "__role": "master"});
    let mut renderer = pillar_renderer(&files, &grains, &opts, None);
    renderer.pillar = pillar;
    let mods: Vec<String> = mods.iter().map(|m| m.to_string()).collect();
    render_high(&files, &renderer, &mods, "base").map(Value::Object)
}

#[test]
fn orchestration_sls_renders_to_high_data_like_any_sls() {
    let dir = tempfile::tempdir().unwrap();
    let fs = served(dir.path());
    let high = show_sls(&fs, &json!({"targets": "L@web1,web2"}), &["orch.deploy"]).unwrap();
    assert_eq!(
        high,
        json!({
            "deploy_web": {
                "salt": [
                    {"tgt": "L@web1,web2"},
                    {"tgt_type": "glob"},
                    {"sls": ["web.config", "web.service"]},
                    {"fail_minions": ["web3"]},
                    "state",
                    {"order": 10000}
                ],
                "__sls__": "orch.deploy",
                "__env__": "base"
            },
            "check_web": {
                "salt": [
                    {"name": "cmd.run"},
                    {"tgt": "L@web1,web2"},
                    {"arg": ["cat /etc/web.conf"]},
                    {"kwarg": {"python_shell": false}},
                    {"require": [{"salt": "deploy_web"}]},
                    "function",
                    {"order": 10001}
                ],
                "__sls__": "orch.deploy",
                "__env__": "base"
            },
            "up": {
                "salt": [
                    {"name": "manage.up"},
                    {"require": [{"salt": "check_web"}]},
                    "runner",
                    {"order": 10002}
                ],
                "__sls__": "orch.deploy",
                "__env__": "base"
            }
        })
    );
    // the default target when the pillar has none
    let high = show_sls(&fs, &json!({}), &["orch.deploy"]).unwrap();
    assert_eq!(high["deploy_web"]["salt"][0], json!({"tgt": "web*"}));
    // and low data orders the steps by their requisites
    let low = brine_states::high::compile(high.as_object().unwrap()).unwrap();
    let order: Vec<&str> = low.iter().map(|c| c["__id__"].as_str().unwrap()).collect();
    assert_eq!(order, ["deploy_web", "check_web", "up"]);
}

#[test]
fn a_missing_orchestration_sls_is_salts_error() {
    let dir = tempfile::tempdir().unwrap();
    let fs = served(dir.path());
    let errors = show_sls(&fs, &json!({}), &["orch.nosuch"]).unwrap_err();
    assert_eq!(
        errors,
        ["No matching sls found for 'orch.nosuch' in env 'base'"]
    );
}

#[test]
fn mods_are_a_list_or_comma_separated() {
    assert_eq!(split_mods(&json!("a, b.c")), ["a", "b.c"]);
    assert_eq!(split_mods(&json!(["a", "b"])), ["a", "b"]);
}

#[test]
fn a_state_return_fails_on_any_failed_state_or_an_error_list() {
    assert!(states_succeeded(
        &json!({"a": {"result": true}, "b": {"result": null}})
    ));
    assert!(!states_succeeded(
        &json!({"a": {"result": true}, "b": {"result": false}})
    ));
    assert!(!states_succeeded(&json!(["Rendering SLS 'base:x' failed"])));
    assert!(!states_succeeded(&json!({})));
}

fn state_return(id: &str, ret: Value) -> JobReturn {
    JobReturn {
        jid: "20261204101500123456".parse().unwrap(),
        id: id.into(),
        fun: "state.sls".into(),
        ret,
        retcode: 0,
        success: true,
        error: None,
        started_ms: 0,
        finished_ms: 0,
    }
}

fn judged(
    returns: Vec<JobReturn>,
    missing: &[&str],
    fail_ok: &[&str],
    allow_fail: usize,
    test: bool,
) -> StateResult {
    let outcome = JobOutcome {
        returns,
        missing: missing
            .iter()
            .map(|id| Missing {
                id: id.to_string(),
                reason: brine_proto::MissingReason::NotConnected,
            })
            .collect(),
    };
    let j = StateJudgement {
        fail_ok: fail_ok.iter().map(|s| s.to_string()).collect(),
        allow_fail,
        expect_minions: true,
        test,
    };
    judge_state(StateResult::new("step"), outcome, &j)
}

fn changed() -> Value {
    json!({"file_|-a_|-/a_|-managed": {"result": true, "changes": {"diff": "New file"}, "comment": "ok"}})
}

fn unchanged() -> Value {
    json!({"file_|-a_|-/a_|-managed": {"result": true, "changes": {}, "comment": "ok"}})
}

fn failed() -> Value {
    json!({"test_|-b_|-b_|-fail_without_changes": {"result": false, "changes": {}, "comment": "Failure!"}})
}

#[test]
fn salt_state_succeeds_when_every_minion_did() {
    let r = judged(
        vec![state_return("b", unchanged()), state_return("a", changed())],
        &[],
        &[],
        0,
        false,
    );
    assert_eq!(r.result, Some(true));
    assert_eq!(
        r.comment,
        "States ran successfully. Updating a. No changes made to b."
    );
    assert_eq!(
        Value::Object(r.changes),
        json!({"out": "highstate", "ret": {"a": changed()}})
    );
    // test=True with changes: None, as Salt
    let r = judged(vec![state_return("a", changed())], &[], &[], 0, true);
    assert_eq!(r.result, None);
}

#[test]
fn salt_state_fails_on_a_failed_or_silent_minion_unless_allowed() {
    let r = judged(
        vec![state_return("a", changed()), state_return("b", failed())],
        &["c"],
        &[],
        0,
        false,
    );
    assert_eq!(r.result, Some(false));
    assert_eq!(r.comment, "Run failed on minions: b, c");
    // every failed minion's return is in the changes, for the outputter
    assert_eq!(
        Value::Object(r.changes),
        json!({"out": "highstate", "ret": {
            "a": changed(),
            "b": failed(),
            "c": "Minion did not return. [not connected]",
        }})
    );
    // fail_minions: b may fail; c still fails the step
    let r = judged(vec![state_return("b", failed())], &["c"], &["b"], 0, false);
    assert_eq!(r.result, Some(false));
    assert_eq!(r.comment, "Run failed on minions: c");
    // allow_fail: one other failure is tolerated, two are not
    let r = judged(
        vec![state_return("a", changed()), state_return("b", failed())],
        &[],
        &[],
        1,
        false,
    );
    assert_eq!(r.result, Some(true), "{}", r.comment);
    assert_eq!(r.comment, "States ran successfully. Updating a.");
    let r = judged(vec![state_return("b", failed())], &["c"], &[], 1, false);
    assert_eq!(r.result, Some(false));
    // a render error (a list) fails the minion; nobody at all fails the step
    let errors = json!(["Rendering SLS 'base:x' failed"]);
    let r = judged(vec![state_return("a", errors.clone())], &[], &[], 0, false);
    assert_eq!(r.result, Some(false));
    assert_eq!(r.changes["ret"]["a"], errors);
    let r = judged(vec![], &[], &[], 0, false);
    assert_eq!(
        (r.result, r.comment.as_str()),
        (Some(false), "No minions returned")
    );
}

#[test]
fn salt_function_fails_on_a_non_zero_retcode_and_keeps_every_return() {
    let outcome = |rets: Vec<JobReturn>| JobOutcome {
        returns: rets,
        missing: Vec::new(),
    };
    let mut bad = state_return("b", json!("cat: /x: No such file or directory"));
    bad.retcode = 1;
    let ok = state_return("a", json!("hello"));
    let r = judge_function(
        StateResult::new("cmd.run"),
        "cmd.run",
        outcome(vec![bad.clone(), ok.clone()]),
        &BTreeSet::new(),
        false,
    );
    assert_eq!(r.result, Some(false));
    assert_eq!(
        r.comment,
        "Running function cmd.run failed on minions: b Function cmd.run ran on a, b."
    );
    assert_eq!(
        Value::Object(r.changes),
        json!({"ret": {"a": "hello", "b": "cat: /x: No such file or directory"}})
    );
    // fail_minions covers a False return, not a non-zero retcode (as Salt)
    let quiet = state_return("b", json!(false));
    let only_b = BTreeSet::from(["b".to_string()]);
    let r = judge_function(
        StateResult::new("x"),
        "test.false",
        outcome(vec![quiet.clone(), ok.clone()]),
        &only_b,
        false,
    );
    assert_eq!(r.result, Some(true));
    assert_eq!(
        r.comment,
        "Function ran successfully. Function test.false ran on a, b."
    );
    let r = judge_function(
        StateResult::new("x"),
        "test.false",
        outcome(vec![quiet]),
        &BTreeSet::new(),
        false,
    );
    assert_eq!(r.result, Some(false));
    let r = judge_function(
        StateResult::new("x"),
        "cmd.run",
        outcome(vec![bad]),
        &only_b,
        false,
    );
    assert_eq!(r.result, Some(false));
    let r = judge_function(
        StateResult::new("cmd.run"),
        "cmd.run",
        outcome(vec![]),
        &BTreeSet::new(),
        false,
    );
    assert_eq!(
        (r.result, r.comment.as_str()),
        (Some(false), "No minions responded")
    );
}

mod batch {
    //! `batch:` drives the master's rolling window: a fake job per start
    //! returns each of its minions after that minion's delay.

    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::sync::mpsc::UnboundedSender;

    use super::super::batched::{batch_spec, batch_wait, drive, BatchRun, SubJobEvent};
    use super::*;
    use crate::batch::BatchWindow;

    /// Per minion: how long it runs, its retcode, or `None` for silent.
    type Script = HashMap<&'static str, (u64, Option<i32>)>;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("m{i}")).collect()
    }

    /// Runs `drive` with fake jobs; also gives the order minions returned.
    async fn run(
        window: BatchWindow,
        failhard: bool,
        script: Script,
    ) -> (Result<BatchRun, String>, Vec<String>) {
        let order = Arc::new(Mutex::new(Vec::new()));
        let seen = order.clone();
        let start = move |group: Vec<String>, tx: UnboundedSender<SubJobEvent>| {
            let script = script.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut missing = Vec::new();
                let mut tasks = Vec::new();
                for id in group.clone() {
                    let (ms, retcode) = script[id.as_str()];
                    let Some(retcode) = retcode else {
                        missing.push(Missing {
                            id,
                            reason: brine_proto::MissingReason::TimedOut,
                        });
                        continue;
                    };
                    let (tx, seen) = (tx.clone(), seen.clone());
                    tasks.push(tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        seen.lock().unwrap().push(id.clone());
                        let mut ret = state_return(&id, json!(true));
                        ret.retcode = retcode;
                        let _ = tx.send(SubJobEvent::Return(Box::new(ret)));
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
                let _ = tx.send(SubJobEvent::Done {
                    ids: group,
                    missing,
                });
            });
        };
        let run = drive(window, failhard, start).await;
        let order = order.lock().unwrap().clone();
        (run, order)
    }

    fn returned_ids(run: &BatchRun) -> Vec<String> {
        let mut ids: Vec<String> = run.outcome.returns.iter().map(|r| r.id.clone()).collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn a_returning_minion_frees_its_slot_for_the_next() {
        // m1 is slow: m2 starts when m0 returns, before m1 has
        let script = Script::from([
            ("m0", (10, Some(0))),
            ("m1", (300, Some(0))),
            ("m2", (10, Some(0))),
        ]);
        let (run, order) = run(BatchWindow::new(ids(3), 2, Duration::ZERO), false, script).await;
        let run = run.unwrap();
        assert_eq!(run.jobs, vec![vec!["m0", "m1"], vec!["m2"]]);
        assert_eq!(
            order,
            vec!["m0", "m2", "m1"],
            "a rolling window, not batch by batch"
        );
        assert_eq!(returned_ids(&run), ids(3));
        assert!(run.outcome.missing.is_empty() && run.not_run.is_empty());
    }

    #[tokio::test]
    async fn batch_one_runs_the_minions_one_after_another() {
        let script = Script::from([
            ("m0", (5, Some(0))),
            ("m1", (5, Some(1))),
            ("m2", (5, None)),
        ]);
        let (run, order) = run(BatchWindow::new(ids(3), 1, Duration::ZERO), false, script).await;
        let run = run.unwrap();
        assert_eq!(run.jobs, vec![vec!["m0"], vec!["m1"], vec!["m2"]]);
        assert_eq!(order, vec!["m0", "m1"]);
        // a failure does not stop the run without failhard; the silent
        // minion is missing, as in an unbatched job
        assert_eq!(returned_ids(&run), vec!["m0", "m1"]);
        assert_eq!(run.outcome.missing.len(), 1);
        assert_eq!(run.outcome.missing[0].id, "m2");
    }

    #[tokio::test]
    async fn failhard_starts_no_minion_after_a_failure() {
        let script = Script::from([
            ("m0", (5, Some(0))),
            ("m1", (5, Some(2))),
            ("m2", (5, Some(0))),
            ("m3", (5, Some(0))),
        ]);
        let (run, _) = run(BatchWindow::new(ids(4), 1, Duration::ZERO), true, script).await;
        let run = run.unwrap();
        assert_eq!(run.jobs, vec![vec!["m0"], vec!["m1"]]);
        assert_eq!(run.not_run, vec!["m2", "m3"]);
        assert_eq!(returned_ids(&run), vec!["m0", "m1"]);
        // the step judges what ran and names what did not
        let judged = judge_function(
            StateResult::new("step"),
            "cmd.run",
            run.outcome,
            &BTreeSet::new(),
            false,
        );
        let ret = note_not_run(&run.not_run, judged);
        assert_eq!(ret.result, Some(false));
        assert!(
            ret.comment.contains("failed on minions: m1"),
            "{}",
            ret.comment
        );
        assert!(
            ret.comment
                .ends_with("Batch run stopped by failhard; not run on: m2, m3."),
            "{}",
            ret.comment
        );
    }

    #[tokio::test]
    async fn batch_wait_delays_the_next_start() {
        let script = Script::from([("m0", (1, Some(0))), ("m1", (1, Some(0)))]);
        let began = std::time::Instant::now();
        let (run, _) = run(
            BatchWindow::new(ids(2), 1, Duration::from_millis(300)),
            false,
            script,
        )
        .await;
        assert_eq!(returned_ids(&run.unwrap()), ids(2));
        assert!(began.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn a_job_the_master_refuses_fails_the_step() {
        let start = |_: Vec<String>, tx: UnboundedSender<SubJobEvent>| {
            let _ = tx.send(SubJobEvent::Error("cannot record the job".into()));
        };
        let err = drive(BatchWindow::new(ids(2), 1, Duration::ZERO), false, start)
            .await
            .unwrap_err();
        assert_eq!(err, "cannot record the job");
    }

    #[test]
    fn batch_and_batch_wait_as_salt_takes_them() {
        assert_eq!(batch_spec(&json!(2)), "2");
        assert_eq!(batch_spec(&json!("25%")), "25%");
        assert_eq!(
            crate::batch::batch_size(&batch_spec(&json!("25%")), 8),
            Ok(2)
        );
        assert!(crate::batch::batch_size(&batch_spec(&json!("none")), 8).is_err());
        assert_eq!(batch_wait(None), Ok(Duration::ZERO));
        assert_eq!(
            batch_wait(Some(&json!(1.5))),
            Ok(Duration::from_millis(1500))
        );
        assert_eq!(batch_wait(Some(&json!("2"))), Ok(Duration::from_secs(2)));
        assert!(batch_wait(Some(&json!("soon"))).is_err());
        assert!(batch_wait(Some(&json!(-1))).is_err());
    }
}
