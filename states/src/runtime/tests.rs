//! Runs high data (as `state.show_sls` prints it) and compares with what
//! Salt 3008.5's `state.apply` gave for the same SLS.

use serde_json::{json, Map, Value};

use super::{apply, RunOpts};
use crate::caller::{CallError, ExecCaller};
use crate::ctx::{StateCtx, TemplateRenderer};
use crate::high;
use crate::source::LocalRoots;

pub(super) struct NoCaller;
impl ExecCaller for NoCaller {
    fn call(&self, fun: &str, _: Vec<Value>, _: Map<String, Value>) -> Result<Value, CallError> {
        Err(CallError::Unknown(fun.to_string()))
    }
    fn has(&self, _: &str) -> bool {
        false
    }
}

pub(super) struct Verbatim;
impl TemplateRenderer for Verbatim {
    fn render(
        &self,
        _: &str,
        text: &str,
        _: &str,
        _: &Map<String, Value>,
    ) -> Result<String, String> {
        Ok(text.to_string())
    }
}

/// Runs `f` with a context over an empty file root.
pub(crate) fn with_ctx<T>(test: bool, f: impl FnOnce(&StateCtx<'_>) -> T) -> T {
    let cache = tempfile::TempDir::new().unwrap();
    let grains = Map::new();
    let pillar = json!({});
    let roots = LocalRoots::default();
    let ctx = StateCtx {
        test,
        saltenv: "base".into(),
        grains: &grains,
        pillar: &pillar,
        files: &roots,
        templates: &Verbatim,
        caller: &NoCaller,
        cachedir: cache.path().to_path_buf(),
        cancel: Default::default(),
        run: Default::default(),
    };
    f(&ctx)
}

/// High data of SLS `t` as show_sls gives it: auto `order` appended.
fn sls(states: Value) -> Map<String, Value> {
    let mut high = Map::new();
    let mut auto = 10000;
    for (id, body) in states.as_object().unwrap() {
        let mut body = body.as_object().unwrap().clone();
        for args in body.values_mut() {
            let args = args.as_array_mut().unwrap();
            if !args.iter().any(|a| a.get("order").is_some()) {
                args.push(json!({"order": auto}));
                auto += 1;
            }
        }
        body.insert("__sls__".into(), json!("t"));
        body.insert("__env__".into(), json!("base"));
        high.insert(id.clone(), Value::Object(body));
    }
    high
}

fn run_sls(states: Value, test: bool, failhard: bool) -> Map<String, Value> {
    let high = sls(states);
    with_ctx(test, |ctx| {
        apply(
            &high,
            ctx,
            &RunOpts {
                failhard,
                ..RunOpts::default()
            },
        )
        .unwrap()
    })
}

fn errors_of(states: Value) -> Vec<String> {
    with_ctx(false, |ctx| {
        apply(&sls(states), ctx, &RunOpts::default()).unwrap_err()
    })
}

/// `(tag, run_num, result, comment)` in run order.
fn summary(ret: &Map<String, Value>) -> Vec<(String, u64, Value, String)> {
    let mut out: Vec<_> = ret
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v["__run_num__"].as_u64().unwrap(),
                v["result"].clone(),
                v["comment"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    out.sort_by_key(|e| e.1);
    out
}

#[test]
fn order_requisites_onchanges_watch_and_names_as_salt() {
    let ret = run_sls(
        json!({
            "first": {"cmd": ["run", {"name": "echo hello; echo err >&2"}, {"cwd": "/tmp"}]},
            "z": {"test": ["succeed_without_changes", {"order": 1}]},
            "w": {"cmd": ["wait", {"name": "echo waited"}, {"watch": [{"cmd": "first"}]}]},
            "oc": {"test": ["nop", {"onchanges": ["z"]}]},
            "fail": {"test": ["fail_without_changes"]},
            "after": {"test": ["nop", {"require": ["fail"]}]},
            "ns": {"test": ["nop", {"names": ["n1", {"n2": [{"foo": "bar"}]}]}]},
        }),
        false,
        false,
    );
    let s = summary(&ret);
    let tags: Vec<(&str, u64)> = s.iter().map(|e| (e.0.as_str(), e.1)).collect();
    // run_num 2 is the cmd.wait call whose empty result fires mod_watch
    assert_eq!(
        tags,
        vec![
            ("test_|-z_|-z_|-succeed_without_changes", 0),
            ("cmd_|-first_|-echo hello; echo err >&2_|-run", 1),
            ("cmd_|-w_|-echo waited_|-wait", 3),
            ("test_|-oc_|-oc_|-nop", 4),
            ("test_|-fail_|-fail_|-fail_without_changes", 5),
            ("test_|-after_|-after_|-nop", 6),
            ("test_|-ns_|-n1_|-nop", 7),
            ("test_|-ns_|-n2_|-nop", 8),
        ]
    );
    let first = &ret["cmd_|-first_|-echo hello; echo err >&2_|-run"];
    assert_eq!(first["changes"]["stdout"], "hello");
    assert_eq!(first["changes"]["stderr"], "err");
    assert_eq!(first["changes"]["retcode"], 0);
    assert_eq!(first["comment"], "Command \"echo hello; echo err >&2\" run");
    assert_eq!(
        ret["cmd_|-w_|-echo waited_|-wait"]["changes"]["stdout"],
        "waited"
    );
    assert_eq!(
        ret["test_|-oc_|-oc_|-nop"]["comment"],
        "State was not run because none of the onchanges reqs changed"
    );
    assert_eq!(ret["test_|-oc_|-oc_|-nop"]["__state_ran__"], false);
    assert_eq!(ret["test_|-after_|-after_|-nop"]["result"], false);
    assert_eq!(
        ret["test_|-after_|-after_|-nop"]["comment"],
        "One or more requisite failed: t.fail"
    );
    let z = &ret["test_|-z_|-z_|-succeed_without_changes"];
    assert_eq!(z["__sls__"], "t");
    assert_eq!(z["__id__"], "z");
    assert!(z["duration"].is_f64());
    assert_eq!(z["start_time"].as_str().unwrap().len(), 15);
}

#[test]
fn missing_requisite_is_salts_error() {
    assert_eq!(
        errors_of(json!({
            "a": {"test": ["succeed_with_changes", {"require": [{"file": "nothere"}]}]},
            "b": {"test": ["nop"]},
        })),
        vec!["Referenced state does not exist for requisite [require: (file: nothere)] in state [a] in SLS [t]"]
    );
}

#[test]
fn cycle_is_salts_error() {
    assert_eq!(
        errors_of(json!({
            "a": {"test": ["succeed_with_changes", {"require": ["b"]}]},
            "b": {"test": ["nop", {"require": [{"test": "a"}]}]},
        })),
        vec!["Recursive requisites were found: ({'SLS': 't', 'ID': 'b'}, 'require', {'SLS': 't', 'ID': 'a'}), ({'SLS': 't', 'ID': 'a'}, 'require', {'SLS': 't', 'ID': 'b'})"]
    );
}

#[test]
fn prereq_and_in_forms_order_as_salt() {
    let ret = run_sls(
        json!({
            "svc": {"test": ["succeed_with_changes", {"prereq": [{"cmd": "mk"}]}]},
            "mk": {"cmd": ["run", {"name": "echo make"}]},
            "other": {"test": ["nop", {"require_in": [{"cmd": "mk"}]}, {"watch_in": [{"test": "svc"}]}]},
        }),
        false,
        false,
    );
    let order: Vec<String> = summary(&ret).into_iter().map(|e| e.0).collect();
    assert_eq!(
        order,
        vec![
            "test_|-other_|-other_|-nop",
            "test_|-svc_|-svc_|-succeed_with_changes",
            "cmd_|-mk_|-echo make_|-run"
        ]
    );
    assert_eq!(
        ret["cmd_|-mk_|-echo make_|-run"]["changes"]["stdout"],
        "make"
    );
}

#[test]
fn prereq_without_changes_skips_the_prerequiring_state() {
    let ret = run_sls(
        json!({
            "svc": {"test": ["succeed_with_changes", {"prereq": [{"test": "quiet"}]}]},
            "quiet": {"test": ["succeed_without_changes"]},
        }),
        false,
        false,
    );
    let svc = &ret["test_|-svc_|-svc_|-succeed_with_changes"];
    assert_eq!(svc["comment"], "No changes detected");
    assert_eq!(svc["result"], true);
}

#[test]
fn unless_onlyif_creates_as_salt() {
    let ret = run_sls(
        json!({
            "u1": {"cmd": ["run", {"name": "echo u1"}, {"unless": "true"}]},
            "o1": {"test": ["succeed_with_changes", {"onlyif": ["false"]}]},
            "c1": {"test": ["succeed_with_changes", {"creates": "/tmp"}]},
            "both": {"test": ["succeed_with_changes", {"onlyif": "true"}, {"unless": "true"}]},
            "both2": {"test": ["succeed_with_changes", {"onlyif": "true"}, {"unless": "false"}, {"creates": "/nonexist"}]},
        }),
        false,
        false,
    );
    let u1 = &ret["cmd_|-u1_|-echo u1_|-run"];
    assert_eq!(u1["comment"], "unless condition is true");
    assert_eq!(u1["skip_watch"], true);
    assert_eq!(u1["result"], true);
    assert_eq!(u1["changes"], json!({}));
    assert_eq!(
        ret["test_|-o1_|-o1_|-succeed_with_changes"]["comment"],
        "onlyif condition is false"
    );
    assert_eq!(
        ret["test_|-c1_|-c1_|-succeed_with_changes"]["comment"],
        "/tmp exists"
    );
    assert_eq!(
        ret["test_|-both_|-both_|-succeed_with_changes"]["comment"],
        "onlyif condition is true\nunless condition is true"
    );
    assert_eq!(
        ret["test_|-both2_|-both2_|-succeed_with_changes"]["comment"],
        "Success!"
    );
}

#[test]
fn unknown_function_names_the_nearest() {
    let ret = run_sls(json!({"unk": {"test": ["nopp"]}}), false, false);
    let unk = &ret["test_|-unk_|-unk_|-nopp"];
    assert_eq!(unk["result"], false);
    assert_eq!(
        unk["comment"],
        "State 'test.nopp' was not found in SLS 't'\nReason: 'test.nopp' is not available.\nDid you mean 'test.nop'?\n"
    );
}

#[test]
fn failhard_stops_the_run_but_not_under_test() {
    let states = json!({
        "f1": {"test": ["fail_without_changes", {"failhard": true}]},
        "after": {"test": ["nop"]},
    });
    let ret = run_sls(states.clone(), false, false);
    assert_eq!(ret.len(), 1);
    let ret = run_sls(states, true, false);
    assert_eq!(ret.len(), 2);
    assert_eq!(
        ret["test_|-f1_|-f1_|-fail_without_changes"]["comment"],
        "If we weren't testing, this would be a failure!"
    );
    // the run option
    let ret = run_sls(
        json!({"f": {"test": ["fail_without_changes"]}, "n": {"test": ["nop"]}}),
        false,
        true,
    );
    assert_eq!(ret.len(), 1);
}

#[test]
fn test_mode_reports_would_change_and_runs_nothing() {
    let dir = tempfile::TempDir::new().unwrap();
    let marker = dir.path().join("m");
    let ret = run_sls(
        json!({"mk": {"cmd": ["run", {"name": format!("touch {}", marker.display())}]}}),
        true,
        false,
    );
    let (_, v) = ret.iter().next().unwrap();
    assert_eq!(v["result"], Value::Null);
    assert_eq!(v["changes"]["cmd"], format!("touch {}", marker.display()));
    assert!(!marker.exists());
}

#[test]
fn listen_fires_mod_watch_at_the_end() {
    let ret = run_sls(
        json!({
            "p1": {"test": ["succeed_with_changes"]},
            "l1": {"test": ["nop", {"listen": [{"test": "p1"}]}]},
        }),
        false,
        false,
    );
    let l = &ret["test_|-listener_l1_|-l1_|-mod_watch"];
    assert_eq!(l["comment"], "Watch statement fired.");
    assert_eq!(l["__run_num__"], 2);
    assert_eq!(l["__id__"], "listener_l1");
}

#[test]
fn watch_on_test_state_fires_mod_watch_listing_changes() {
    let ret = run_sls(
        json!({
            "a": {"test": ["succeed_with_changes"]},
            "b": {"test": ["nop", {"watch": ["a"]}]},
        }),
        false,
        false,
    );
    let b = &ret["test_|-b_|-b_|-nop"];
    assert_eq!(b["comment"], "Watch statement fired.");
    assert_eq!(b["changes"]["Requisites with changes"], json!(["test: a"]));
}

#[test]
fn onfail_runs_only_after_a_failure() {
    let ret = run_sls(
        json!({
            "bad": {"test": ["fail_without_changes"]},
            "good": {"test": ["succeed_without_changes"]},
            "rescue": {"test": ["nop", {"onfail": ["bad"]}]},
            "idle": {"test": ["nop", {"onfail": ["good"]}]},
        }),
        false,
        false,
    );
    assert_eq!(ret["test_|-rescue_|-rescue_|-nop"]["comment"], "Success!");
    assert_eq!(
        ret["test_|-idle_|-idle_|-nop"]["comment"],
        "State was not run because onfail req did not change"
    );
}

#[test]
fn requisite_by_sls_and_glob() {
    // `late` requires its own SLS, so itself: Salt reports the cycle
    let errs = errors_of(json!({
        "late": {"test": ["nop", {"require": [{"sls": "t"}]}, {"order": 1}]},
        "u1": {"cmd": ["run", {"name": "true"}]},
    }));
    assert_eq!(
        errs,
        vec!["Recursive requisites were found: ({'SLS': 't', 'ID': 'late'}, 'require', {'SLS': 't', 'ID': 'late'})"]
    );
    let ret = run_sls(
        json!({
            "u1": {"cmd": ["run", {"name": "true"}]},
            "g1": {"test": ["nop", {"require": [{"cmd": "u*"}]}, {"order": 1}]},
        }),
        false,
        false,
    );
    assert_eq!(ret["test_|-g1_|-g1_|-nop"]["__run_num__"], 1);
}

#[test]
fn compile_low_matches_show_low_sls() {
    let high = sls(json!({
        "z": {"test": ["succeed_without_changes", {"order": 1}]},
        "ns": {"test": ["nop", {"names": ["n1", {"n2": [{"foo": "bar"}]}]}]},
    }));
    let chunks = high::compile_low(&high).unwrap();
    assert_eq!(
        Value::Array(chunks.into_iter().map(Value::Object).collect()),
        json!([
            {"state": "test", "name": "z", "__sls__": "t", "__env__": "base", "__id__": "z", "order": 1, "fun": "succeed_without_changes"},
            {"state": "test", "name": "n1", "__sls__": "t", "__env__": "base", "__id__": "ns", "order": 10000.0001, "fun": "nop"},
            {"state": "test", "name": "n2", "__sls__": "t", "__env__": "base", "__id__": "ns", "order": 10000.0002, "foo": "bar", "fun": "nop"},
        ])
    );
}

#[test]
fn verify_high_messages_as_salt() {
    let high = sls(json!({
        "a": {"pkg": ["installed", "removed"]},
        "b": {"file": [{"name": "x"}, {"require": {"file": "y"}}]},
    }));
    assert_eq!(
        high::verify_high(&high),
        vec![
            "Too many functions declared in state 'a' in SLS 't'. Please choose one of the following: installed, removed",
            "The require statement in state 'b' in SLS 't' needs to be formed as a list",
            "No function declared in state 'b' in SLS 't'",
        ]
    );
}

#[test]
fn extend_and_exclude() {
    let mut high = sls(json!({
        "a": {"test": ["nop", {"comment": "one"}]},
        "b": {"test": ["nop"]},
    }));
    high.insert(
        "__extend__".into(),
        json!([{"a": {"test": [{"comment": "two"}], "__sls__": "t", "__env__": "base"}}]),
    );
    high.insert("__exclude__".into(), json!([{"id": "b"}]));
    high::apply_extend_exclude(&mut high).unwrap();
    assert!(!high.contains_key("b"));
    assert_eq!(high["a"]["test"][1], json!({"comment": "two"}));

    let mut bad = sls(json!({"a": {"test": ["nop"]}}));
    bad.insert(
        "__extend__".into(),
        json!([{"zz": {"test": [{"comment": "x"}], "__sls__": "t", "__env__": "base"}}]),
    );
    let errs = high::apply_extend_exclude(&mut bad).unwrap_err();
    assert!(
        errs[0].starts_with("Cannot extend ID 'zz' in 'base:t'. It is not part of the high state.")
    );
}

#[test]
fn cmd_run_in_a_temp_dir_changes_and_fails_like_salt() {
    let dir = tempfile::TempDir::new().unwrap();
    let d = dir.path().display().to_string();
    let ret = run_sls(
        json!({
            "mk": {"cmd": ["run", {"name": "echo data > out; pwd"}, {"cwd": d}, {"creates": format!("{d}/never")}]},
            "bad": {"cmd": ["run", {"name": "exit 3"}]},
            "env": {"cmd": ["run", {"name": "echo $FOO"}, {"env": [{"FOO": "bar"}]}]},
            "nocwd": {"cmd": ["run", {"name": "true"}, {"cwd": format!("{d}/missing")}]},
            "slow": {"cmd": ["run", {"name": "sleep 5"}, {"timeout": 0.2}]},
        }),
        false,
        false,
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out")).unwrap(),
        "data\n"
    );
    let mk = &ret["cmd_|-mk_|-echo data > out; pwd_|-run"];
    assert_eq!(mk["changes"]["stdout"].as_str().unwrap(), d);
    assert!(mk["changes"]["pid"].as_u64().unwrap() > 0);
    let bad = &ret["cmd_|-bad_|-exit 3_|-run"];
    assert_eq!(bad["result"], false);
    assert_eq!(bad["changes"]["retcode"], 3);
    assert_eq!(
        ret["cmd_|-env_|-echo $FOO_|-run"]["changes"]["stdout"],
        "bar"
    );
    assert_eq!(
        ret["cmd_|-nocwd_|-true_|-run"]["comment"],
        format!("Desired working directory \"{d}/missing\" is not available")
    );
    let slow = &ret["cmd_|-slow_|-sleep 5_|-run"];
    assert_eq!(slow["result"], false);
    assert_eq!(slow["changes"]["stdout"], "Timed out after 0.2 seconds");
}

#[test]
fn parallel_states_run_in_threads_and_report_parallel() {
    let ret = run_sls(
        json!({
            "p1": {"cmd": ["run", {"name": "echo p1"}, {"parallel": true}]},
            "p2": {"cmd": ["run", {"name": "echo p2"}, {"parallel": true}]},
            "after": {"test": ["nop", {"require": [{"cmd": "p1"}]}]},
        }),
        false,
        false,
    );
    let p1 = &ret["cmd_|-p1_|-echo p1_|-run"];
    assert_eq!(p1["__parallel__"], true);
    assert_eq!(p1["result"], true);
    assert_eq!(p1["changes"]["stdout"], "p1");
    assert_eq!(ret["test_|-after_|-after_|-nop"]["result"], true);
}

#[test]
fn stateful_command_reports_its_own_changes() {
    let ret = run_sls(
        json!({"s": {"cmd": ["run", {"name": "echo hi; echo \"changed=yes comment='did it'\""}, {"stateful": true}]}}),
        false,
        false,
    );
    let (_, s) = ret.iter().next().unwrap();
    assert_eq!(s["comment"], "did it");
    assert_eq!(s["changes"]["changed"], "yes");
    assert_eq!(s["changes"]["stdout"], "hi");
}

/// Shapes from Salt 3008.5 running the same SLS (`retry` with interval 0).
#[test]
fn retry_reruns_until_the_wanted_result_and_lists_each_attempt() {
    let dir = tempfile::TempDir::new().unwrap();
    let count = dir.path().join("cnt");
    let cmd = format!("echo try >> {}; false", count.display());
    let states = json!({
        "retry_fail": {"cmd": ["run", {"name": cmd}, {"retry": {"attempts": 3, "interval": 0}}]},
        "until_false": {"test": ["fail_without_changes", {"comment": "nope"},
            {"retry": {"until": false, "attempts": 4, "interval": 0}}]},
        "after": {"test": ["succeed_without_changes"]},
    });
    let ret = run_sls(states.clone(), false, false);
    assert_eq!(std::fs::read_to_string(&count).unwrap(), "try\ntry\ntry\n");
    let said = format!("Command \"{cmd}\" run");
    let r = &ret[&format!("cmd_|-retry_fail_|-{cmd}_|-run")];
    assert_eq!(r["result"], false);
    assert_eq!(
        r["comment"],
        format!(
            "Attempt 1: Returned a result of \"False\", with the following comment: \"{said}\"\n\
             Attempt 2: Returned a result of \"False\", with the following comment: \"{said}\"\n\
             {said}"
        )
    );
    // Each attempt took a run number, as in Salt.
    assert_eq!(r["__run_num__"], 2);
    let until = &ret["test_|-until_false_|-until_false_|-fail_without_changes"];
    assert_eq!(
        (until["comment"].as_str(), until["__run_num__"].as_u64()),
        (Some("nope"), Some(3))
    );
    assert_eq!(
        ret["test_|-after_|-after_|-succeed_without_changes"]["__run_num__"],
        4
    );

    std::fs::remove_file(&count).unwrap();
    let dry = run_sls(states, true, false);
    assert!(!count.exists(), "test=True ran the command");
    assert_eq!(
        dry[&format!("cmd_|-retry_fail_|-{cmd}_|-run")]["comment"],
        format!("Command \"{cmd}\" would have been executed  The state would be retried every 0 seconds (with a splay of up to 0 seconds) a maximum of 3 times or until a result of True is returned")
    );
}

#[test]
fn check_cmd_decides_the_result_after_the_state() {
    let ret = run_sls(
        json!({
            "check_ok": {"test": ["succeed_with_changes", {"check_cmd": "true"}]},
            "check_bad": {"test": ["succeed_without_changes", {"check_cmd": ["true", "false"]}]},
        }),
        false,
        false,
    );
    let ok = &ret["test_|-check_ok_|-check_ok_|-succeed_with_changes"];
    assert_eq!(ok["result"], true);
    assert_eq!(ok["comment"], "check_cmd determined the state succeeded");
    assert!(ok["changes"]["testing"].is_object(), "changes are kept");
    let keys: Vec<&str> = ok.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "name",
            "changes",
            "result",
            "comment",
            "__sls__",
            "__id__",
            "__run_num__",
            "start_time",
            "duration"
        ]
    );
    let bad = &ret["test_|-check_bad_|-check_bad_|-succeed_without_changes"];
    assert_eq!(bad["result"], false);
    assert_eq!(bad["comment"], "check_cmd determined the state failed");
}

#[test]
fn file_managed_checks_new_content_with_its_own_check_cmd() {
    let dir = tempfile::TempDir::new().unwrap();
    let bad = dir.path().join("cc").display().to_string();
    let good = dir.path().join("cc2").display().to_string();
    let ret = run_sls(
        json!({
            "managed_check": {"file": ["managed", {"name": bad}, {"contents": "hello"},
                {"check_cmd": "grep -q nothere"}]},
            "managed_check_ok": {"file": ["managed", {"name": good}, {"contents": "hello"},
                {"check_cmd": "grep -q hello"}, {"file_mode": 600}]},
            "warned": {"file": ["managed", {"name": format!("{good}.w")}, {"contents": "x"},
                {"file_mode": 600}]},
        }),
        false,
        false,
    );
    let r = &ret[&format!("file_|-managed_check_|-{bad}_|-managed")];
    assert_eq!(
        (&r["result"], &r["comment"]),
        (&json!(false), &json!("check_cmd execution failed"))
    );
    assert!(!std::path::Path::new(&bad).exists());
    let r = &ret[&format!("file_|-managed_check_ok_|-{good}_|-managed")];
    assert_eq!(r["result"], true, "{}", r["comment"]);
    assert_eq!(std::fs::read_to_string(&good).unwrap(), "hello\n");
    // Salt resets the result around its check_cmd, dropping the warning.
    assert!(r.get("warnings").is_none());
    let w = &ret[&format!("file_|-warned_|-{good}.w_|-managed")];
    assert_eq!(
        w["warnings"],
        json!(["The 'file_mode' argument will be ignored.  Please use 'mode' instead to set file permissions."])
    );
    let keys: Vec<&str> = w
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .take(5)
        .collect();
    assert_eq!(keys, ["name", "changes", "result", "comment", "warnings"]);
}

/// `file.directory clean` keeps what the file states it requires manage
/// (a file, a whole directory under it), matched by ID or name; its
/// planned changes and its `removed` list (top-most paths only) as Salt's.
#[test]
fn directory_clean_keeps_what_required_states_manage() {
    let tmp = tempfile::TempDir::new().unwrap();
    let root = tmp.path().join("d");
    let r = root.display().to_string();
    for dir in ["sub", "keepdir/inner", "junkdir"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for file in [
        "kept.txt",
        "junk.txt",
        "sub/deep.txt",
        "keepdir/inner/f",
        "junkdir/x",
    ] {
        std::fs::write(root.join(file), "x\n").unwrap();
    }
    let ret = run_sls(
        json!({
            "clean": {"file": ["directory", {"name": r}, {"clean": true},
                {"require": [{"file": "kept"}, {"file": format!("{r}/keepdir")}]}]},
            "kept": {"file": ["managed", {"name": format!("{r}/kept.txt")}, {"contents": "x"}]},
            "kd": {"file": ["directory", {"name": format!("{r}/keepdir")}]},
        }),
        false,
        false,
    );
    let clean = &ret[&format!("file_|-clean_|-{r}_|-directory")];
    assert_eq!(clean["result"], true, "{clean}");
    let mut removed: Vec<String> = clean["changes"]["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    removed.sort();
    let want: Vec<String> = ["junk.txt", "junkdir", "sub"]
        .iter()
        .map(|p| format!("{r}/{p}"))
        .collect();
    assert_eq!(removed, want);
    // the plan lists every path below too
    assert!(clean["changes"][format!("{r}/sub/deep.txt")].is_object());
    assert!(clean["changes"].get(format!("{r}/kept.txt")).is_none());
    assert!(root.join("kept.txt").exists() && root.join("keepdir/inner/f").exists());
    assert!(!root.join("sub").exists() && !root.join("junk.txt").exists());
}

/// The `file` module owns `check_cmd`: file.managed's failing check sets
/// `skip_watch` (a watcher does not fire), and the runtime's own check is
/// not run for other file functions (Salt looks `mod_run_check_cmd` up per
/// module).
#[test]
fn file_check_cmd_failure_skips_watch() {
    let tmp = tempfile::TempDir::new().unwrap();
    let f = tmp.path().join("f.txt").display().to_string();
    let t = tmp.path().join("touched").display().to_string();
    let ret = run_sls(
        json!({
            "m": {"file": ["managed", {"name": f}, {"contents": "hello"}, {"check_cmd": "grep -q goodbye"}]},
            "w": {"cmd": ["wait", {"name": "echo fired"}, {"watch": [{"file": "m"}]}]},
            "touch": {"file": ["touch", {"name": t}, {"check_cmd": "false"}]},
        }),
        false,
        false,
    );
    let m = &ret[&format!("file_|-m_|-{f}_|-managed")];
    assert_eq!(m["result"], false);
    assert_eq!(m["skip_watch"], true);
    assert_eq!(m["comment"], "check_cmd execution failed");
    assert!(!std::path::Path::new(&f).exists());
    let w = &ret["cmd_|-w_|-echo fired_|-wait"];
    assert_eq!(w["comment"], "One or more requisite failed: t.m");
    let touch = &ret[&format!("file_|-touch_|-{t}_|-touch")];
    assert_eq!(touch["result"], true, "{touch}");
}

/// A `require_in` on the kept state counts as the directory's `require`
/// (Salt merges it into the directory's requisites).
#[test]
fn directory_clean_keeps_states_that_require_in_it() {
    let tmp = tempfile::TempDir::new().unwrap();
    let root = tmp.path().join("d");
    let r = root.display().to_string();
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("kept.txt"), "x").unwrap();
    std::fs::write(root.join("junk.txt"), "x").unwrap();
    let ret = run_sls(
        json!({
            "clean": {"file": ["directory", {"name": r}, {"clean": true}]},
            "kept": {"file": ["managed", {"name": format!("{r}/kept.txt")}, {"contents": "x"}, {"require_in": [{"file": "clean"}]}]},
        }),
        false,
        false,
    );
    let clean = &ret[&format!("file_|-clean_|-{r}_|-directory")];
    assert_eq!(
        clean["changes"]["removed"],
        json!([format!("{r}/junk.txt")])
    );
    assert!(root.join("kept.txt").exists());
}

/// A run's own function table (the master's orchestration functions): its
/// functions run with requisites like any state, and a name it has wins
/// over the registry's.
#[test]
fn extra_table_functions_run_under_requisites() {
    use std::sync::{Arc, Mutex};

    use super::{DynStateFn, StateTable};
    use crate::result::StateResult;

    struct Steps(Arc<Mutex<Vec<String>>>);
    impl StateTable for Steps {
        fn lookup(&self, name: &str) -> Option<DynStateFn> {
            let seen = self.0.clone();
            let fail = match name {
                "orch.step" => false,
                "orch.broken" | "test.succeed_without_changes" => true,
                _ => return None,
            };
            Some(Arc::new(move |ctx, args| {
                seen.lock().unwrap().push(args.name.clone());
                if fail {
                    StateResult::fail(&args.name, "step failed")
                } else {
                    let mut r = StateResult::ok(&args.name, format!("ran test={}", ctx.test));
                    r.changes.insert("did".into(), json!(args.name));
                    r
                }
            }))
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let high = sls(json!({
        "one": {"orch": ["step"]},
        "two": {"orch": ["step", {"require": [{"orch": "one"}]}]},
        "bad": {"orch": ["broken"]},
        "after_bad": {"orch": ["step", {"require": [{"orch": "bad"}]}]},
        "overridden": {"test": ["succeed_without_changes"]},
    }));
    let opts = RunOpts {
        extra: Some(Arc::new(Steps(seen.clone()))),
        ..RunOpts::default()
    };
    let ret = with_ctx(false, |ctx| apply(&high, ctx, &opts).unwrap());
    let s = summary(&ret);
    let by_id = |id: &str| {
        s.iter()
            .find(|e| e.0.contains(&format!("_|-{id}_|-")))
            .unwrap()
    };
    assert_eq!(by_id("one").2, json!(true));
    assert_eq!(by_id("one").3, "ran test=false");
    assert_eq!(by_id("two").2, json!(true));
    assert_eq!(by_id("bad").2, json!(false));
    assert_eq!(by_id("after_bad").2, json!(false));
    assert!(
        by_id("after_bad")
            .3
            .starts_with("One or more requisite failed"),
        "{s:?}"
    );
    assert_eq!(by_id("overridden").3, "step failed");
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["one", "two", "bad", "overridden"],
        "after_bad never ran"
    );
    // without the table the orchestration names are unknown states
    let ret = with_ctx(false, |ctx| apply(&high, ctx, &RunOpts::default()).unwrap());
    assert!(summary(&ret)
        .iter()
        .any(|e| e.3.contains("'orch.step' was not found")));
}

/// Records `event.send` calls, as the minion's registry would take them.
type SentEvents = std::sync::Mutex<Vec<(Vec<Value>, Map<String, Value>)>>;

struct EventRecorder(SentEvents, bool);

impl ExecCaller for EventRecorder {
    fn call(
        &self,
        fun: &str,
        args: Vec<Value>,
        kwargs: Map<String, Value>,
    ) -> Result<Value, crate::caller::CallError> {
        assert_eq!(fun, "event.send");
        if !self.1 {
            return Err(crate::caller::CallError::Failed(
                "Event 'x' was not sent: not connected to any master".into(),
            ));
        }
        self.0.lock().unwrap().push((args, kwargs));
        Ok(Value::Bool(true))
    }
    fn has(&self, _: &str) -> bool {
        true
    }
    fn job(&self) -> Option<(String, String)> {
        Some(("20261204123456789012".into(), "web1".into()))
    }
}

fn run_with_caller(states: Value, caller: &dyn ExecCaller) -> Map<String, Value> {
    let high = sls(states);
    let cache = tempfile::TempDir::new().unwrap();
    let (grains, pillar, roots) = (Map::new(), json!({}), LocalRoots::default());
    let ctx = StateCtx {
        test: false,
        saltenv: "base".into(),
        grains: &grains,
        pillar: &pillar,
        files: &roots,
        templates: &Verbatim,
        caller,
        cachedir: cache.path().to_path_buf(),
        cancel: Default::default(),
        run: Default::default(),
    };
    apply(&high, &ctx, &RunOpts::default()).unwrap()
}

#[test]
fn fire_event_sends_the_state_result_through_event_send() {
    let rec = EventRecorder(Default::default(), true);
    let ret = run_with_caller(
        json!({
            "ev": {"test": ["succeed_without_changes", {"fire_event": true}]},
            "named": {"test": ["succeed_without_changes", {"fire_event": "myco/deploy"}]},
            "quiet": {"test": ["succeed_without_changes", {"fire_event": false}]},
        }),
        &rec,
    );
    let sent = rec.0.lock().unwrap().clone();
    let tags: Vec<&str> = sent.iter().map(|(a, _)| a[0].as_str().unwrap()).collect();
    assert_eq!(
        tags,
        [
            "brine/state_result/20261204123456789012/web1/ev",
            "myco/deploy/named"
        ]
    );
    assert_eq!(sent[0].1["data"]["ret"]["result"], json!(true));
    assert!(summary(&ret).iter().all(|e| e.2 == json!(true)));
}

#[test]
fn fire_event_that_cannot_be_sent_fails_the_state_and_says_why() {
    let rec = EventRecorder(Default::default(), false);
    let ret = run_with_caller(
        json!({"ev": {"test": ["succeed_without_changes", {"fire_event": true}]}}),
        &rec,
    );
    let s = summary(&ret);
    assert_eq!(s[0].2, json!(false));
    assert!(s[0].3.starts_with("Success!"), "{}", s[0].3);
    assert!(s[0].3.contains("not connected to any master"), "{}", s[0].3);
}

/// Salt hands `failhard` to the orchestration functions that take it
/// (`salt.state`, `salt.function`: it stops their batch run); other
/// functions never see the runtime's keyword.
#[test]
fn failhard_reaches_only_the_functions_that_take_it() {
    use std::sync::{Arc, Mutex};

    use super::{DynStateFn, StateTable};
    use crate::result::StateResult;

    type Seen = Arc<Mutex<Vec<(String, Option<Value>)>>>;
    struct Saw(Seen);
    impl StateTable for Saw {
        fn lookup(&self, name: &str) -> Option<DynStateFn> {
            if !name.starts_with("salt.") {
                return None;
            }
            let (seen, name) = (self.0.clone(), name.to_string());
            Some(Arc::new(move |_, args| {
                let failhard = args.args.get("failhard").cloned();
                seen.lock().unwrap().push((name.clone(), failhard));
                StateResult::ok(&args.name, "ran")
            }))
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let high = sls(json!({
        "a": {"salt": ["state", {"failhard": true}, {"order": 1}]},
        "b": {"salt": ["function", {"failhard": true}, {"order": 2}]},
        "c": {"salt": ["runner", {"failhard": true}, {"order": 3}]},
    }));
    let opts = RunOpts {
        extra: Some(Arc::new(Saw(seen.clone()))),
        ..RunOpts::default()
    };
    with_ctx(false, |ctx| apply(&high, ctx, &opts).unwrap());
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            ("salt.state".to_string(), Some(json!(true))),
            ("salt.function".to_string(), Some(json!(true))),
            ("salt.runner".to_string(), None),
        ]
    );
}
