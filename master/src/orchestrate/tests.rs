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
