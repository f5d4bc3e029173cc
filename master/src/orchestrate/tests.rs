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
