//! `pkg.*`: install, remove, upgrade, hold and inspect packages through the
//! host's package manager: apt/dpkg on Debian, dnf (or yum)/rpm on RedHat,
//! chosen by which tools the host has. The logic is shared with the `pkg.*`
//! states (`brine_states::modules::sys::packages`); changes are Salt's
//! `{name: {"old": ..., "new": ...}}` computed from the package list before
//! and after.

use serde_json::{json, Map, Value};

use brine_states::modules::sys::packages::{diff, Installed, Manager};

use crate::registry::{
    as_str, ArgParser, Args, CallCtx, FunctionSpec, ModError, ModFuture, ModOutput,
};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "pkg.file_list",
        doc: "List the files of installed packages (all packages when none is named):\n\
              {\"errors\": [...], \"files\": [...]}.\n\n- *packages: the package names.",
        cli_example: "brine '*' pkg.file_list coreutils",
        run: file_list,
    },
    FunctionSpec {
        name: "pkg.hold",
        doc: "Hold packages at their version (apt: dpkg selection hold; dnf: versionlock):\n\
              {name: {name, changes, result, comment}}.\n\n\
              - name: the package.\n- pkgs: a list of packages instead.",
        cli_example: "brine '*' pkg.hold openssl",
        run: hold,
    },
    FunctionSpec {
        name: "pkg.install",
        doc: "Install packages; returns {name: {\"old\": version, \"new\": version}} for what changed.\n\n\
              - name: the package.\n- version: the exact version of name.\n\
              - pkgs: a list of packages instead, each a name or {name: version}.\n\
              - refresh: update the package lists first (default False).\n\
              - fromrepo: the repository (apt target release, dnf repo id).",
        cli_example: "brine '*' pkg.install curl\nbrine '*' pkg.install pkgs='[\"curl\", {\"jq\": \"1.6-2.1\"}]' refresh=True",
        run: install,
    },
    FunctionSpec {
        name: "pkg.latest_version",
        doc: "Return the version that an install or upgrade would give, '' when the installed one\n\
              is the latest; with several names, {name: version}.\n\n\
              - *names: the packages.\n- refresh: update the package lists first (default True).",
        cli_example: "brine '*' pkg.latest_version curl",
        run: latest_version,
    },
    FunctionSpec {
        name: "pkg.list_pkgs",
        doc: "Return the installed packages: {name: version} (several versions joined with commas).\n\n\
              - versions_as_list: give every version as a list.",
        cli_example: "brine '*' pkg.list_pkgs",
        run: list_pkgs,
    },
    FunctionSpec {
        name: "pkg.list_upgrades",
        doc: "Return the packages that have an upgrade: {name: new version}.\n\n\
              - refresh: update the package lists first (default True).\n\
              - dist_upgrade: count what apt's dist-upgrade would do (default True).",
        cli_example: "brine '*' pkg.list_upgrades",
        run: list_upgrades,
    },
    FunctionSpec {
        name: "pkg.owner",
        doc: "Return the package owning a file, '' when none does; with several paths, {path: package}.\n\n\
              - *paths: the files.",
        cli_example: "brine '*' pkg.owner /usr/bin/ls",
        run: owner,
    },
    FunctionSpec {
        name: "pkg.purge",
        doc: "Remove packages and their configuration files; returns the changes as pkg.install.\n\n\
              - name: the package.\n- pkgs: a list of packages instead.",
        cli_example: "brine '*' pkg.purge nginx",
        run: purge,
    },
    FunctionSpec {
        name: "pkg.refresh_db",
        doc: "Update the package lists. apt: {source: True (fetched), None (unchanged), False (failed)};\n\
              dnf: True.\n\n- failhard: fail when a source could not be fetched.",
        cli_example: "brine '*' pkg.refresh_db",
        run: refresh_db,
    },
    FunctionSpec {
        name: "pkg.remove",
        doc: "Remove packages; returns the changes as pkg.install.\n\n\
              - name: the package.\n- pkgs: a list of packages instead.",
        cli_example: "brine '*' pkg.remove nginx",
        run: remove,
    },
    FunctionSpec {
        name: "pkg.unhold",
        doc: "Release held packages: {name: {name, changes, result, comment}}.\n\n\
              - name: the package.\n- pkgs: a list of packages instead.",
        cli_example: "brine '*' pkg.unhold openssl",
        run: unhold,
    },
    FunctionSpec {
        name: "pkg.upgrade",
        doc: "Upgrade every package; returns the changes as pkg.install.\n\n\
              - refresh: update the package lists first (default True).\n\
              - dist_upgrade: apt's dist-upgrade, which may add or remove packages (default False).",
        cli_example: "brine '*' pkg.upgrade",
        run: upgrade,
    },
    FunctionSpec {
        name: "pkg.version",
        doc: "Return the installed version of a package, or '' when it is not installed;\n\
              with several names, {name: version}.\n\n\
              - *names: the package names.",
        cli_example: "brine '*' pkg.version openssl",
        run: version,
    },
];

/// Runs `f` with the host's package manager on a blocking thread.
async fn blocking<F>(f: F) -> Result<ModOutput, ModError>
where
    F: FnOnce(Manager) -> Result<Value, String> + Send + 'static,
{
    tokio::task::spawn_blocking(move || f(Manager::detect()?))
        .await
        .map_err(|e| ModError::Failed(e.to_string()))?
        .map(Into::into)
        .map_err(ModError::Failed)
}

/// Positional names (Salt's `*names`) as text.
fn names(a: &mut ArgParser, what: &str) -> Result<Vec<String>, ModError> {
    a.rest(0).iter().map(|v| as_str(what, v)).collect()
}

/// One name or several: Salt returns the bare value for one.
fn one_or_map(names: &[String], values: Vec<Value>) -> Value {
    if names.len() == 1 {
        values.into_iter().next().unwrap_or(Value::Null)
    } else {
        Value::Object(names.iter().cloned().zip(values).collect::<Map<_, _>>())
    }
}

fn joined(installed: &Installed, name: &str) -> String {
    installed.get(name).map(|v| v.join(",")).unwrap_or_default()
}

fn version(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let names = names(&mut a, "names")?;
        a.ignore(&["refresh", "versions_as_list"]);
        a.finish()?;
        blocking(move |mgr| {
            let installed = mgr.list(false)?;
            let values = names.iter().map(|n| json!(joined(&installed, n))).collect();
            Ok(one_or_map(&names, values))
        })
        .await
    })
}

fn list_pkgs(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let as_list = a.opt_bool("versions_as_list", 0)?.unwrap_or(false);
        a.ignore(&["removed", "purge_desired", "refresh"]);
        a.finish()?;
        blocking(move |mgr| {
            let installed = mgr.list(false)?;
            Ok(Value::Object(
                installed
                    .into_iter()
                    .map(|(n, v)| {
                        let value = if as_list {
                            json!(v)
                        } else {
                            json!(v.join(","))
                        };
                        (n, value)
                    })
                    .collect(),
            ))
        })
        .await
    })
}

fn refresh_first(mgr: Manager, refresh: bool) -> Result<(), String> {
    if refresh {
        mgr.refresh()?;
    }
    Ok(())
}

fn latest_version(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let names = names(&mut a, "names")?;
        let refresh = a.kw_bool("refresh")?.unwrap_or(true);
        a.ignore(&["fromrepo", "show_installed", "cache_valid_time"]);
        a.finish()?;
        if names.is_empty() {
            return Ok(json!("").into());
        }
        blocking(move |mgr| {
            refresh_first(mgr, refresh)?;
            let installed = mgr.list(false)?;
            let values = names
                .iter()
                .map(|n| {
                    let candidate = mgr.candidate(n).unwrap_or_default();
                    let current = installed.get(n).and_then(|v| v.last()).cloned();
                    // Salt: '' when the installed version is the latest
                    if current.as_deref() == Some(candidate.as_str()) {
                        json!("")
                    } else {
                        json!(candidate)
                    }
                })
                .collect();
            Ok(one_or_map(&names, values))
        })
        .await
    })
}

/// `name`/`pkgs`/`version` as (name, optional version) targets, in order.
fn targets(
    a: &mut ArgParser,
    with_version: bool,
) -> Result<Vec<(String, Option<String>)>, ModError> {
    let name = a.opt_str("name", 0)?;
    let pkgs = a.kw("pkgs");
    let version = if with_version {
        a.kw_str("version")?
    } else {
        None
    };
    if a.kw("sources").is_some() {
        return Err(a.bad("sources= (local package files) is not supported"));
    }
    let mut out = Vec::new();
    match pkgs {
        Some(Value::Array(items)) => {
            for item in items {
                match item {
                    Value::Object(m) => {
                        for (k, v) in m {
                            let v = (!v.is_null())
                                .then(|| as_str("pkgs", &v))
                                .transpose()?
                                .filter(|v| !v.is_empty());
                            out.push((k, v));
                        }
                    }
                    other => out.push((as_str("pkgs", &other)?, None)),
                }
            }
        }
        Some(Value::String(s)) => {
            // a JSON or comma-separated list typed on the command line
            match serde_json::from_str::<Value>(&s) {
                Ok(Value::Array(items)) => {
                    for i in items {
                        out.push((as_str("pkgs", &i)?, None));
                    }
                }
                _ => out.extend(s.split(',').map(|p| (p.trim().to_string(), None))),
            }
        }
        Some(other) => return Err(a.bad(format_args!("pkgs must be a list, not {other}"))),
        None => {
            if let Some(n) = name {
                out.extend(
                    n.split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(|p| (p.to_string(), version.clone().filter(|v| !v.is_empty()))),
                );
            }
        }
    }
    Ok(out)
}

/// Salt's `pkg.install` takes `**kwargs` and so swallows `test=True` and
/// installs anyway; an operator who typed it wanted a preview, so Brine
/// refuses instead and names the state that previews.
fn refuse_test_mode(a: &mut ArgParser, fun: &str, state: &str) -> Result<(), ModError> {
    match a.kw("test") {
        Some(Value::Bool(false)) | None => Ok(()),
        Some(_) => Err(ModError::BadArguments(format!(
            "{fun} has no dry run and would change the host: test=True refused; preview with the {state} state (state.single {state} NAME test=True)"
        ))),
    }
}

fn install(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        refuse_test_mode(&mut a, "pkg.install", "pkg.installed")?;
        let wanted = targets(&mut a, true)?;
        let refresh = a.opt_bool("refresh", 1)?.unwrap_or(false);
        let fromrepo = a.opt_str("fromrepo", 2)?;
        a.ignore(&[
            "skip_verify",
            "debconf",
            "reinstall",
            "downloadonly",
            "force_yes",
            "install_recommends",
            "cache_valid_time",
        ]);
        a.rest_kwargs();
        a.finish()?;
        if wanted.is_empty() {
            return Ok(json!({}).into());
        }
        blocking(move |mgr| {
            refresh_first(mgr, refresh)?;
            let before = mgr.list(false)?;
            let error = mgr.install(&wanted, fromrepo.as_deref()).err();
            let after = mgr.list(false)?;
            let changes = diff(&before, &after);
            match error {
                Some(e) => Err(format!("Problem encountered installing package(s): {e}")),
                None => Ok(Value::Object(changes)),
            }
        })
        .await
    })
}

fn uninstall(args: Args, purge: bool) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let (fun, state) = if purge {
            ("pkg.purge", "pkg.purged")
        } else {
            ("pkg.remove", "pkg.removed")
        };
        refuse_test_mode(&mut a, fun, state)?;
        let wanted = targets(&mut a, false)?;
        a.rest_kwargs();
        a.finish()?;
        blocking(move |mgr| {
            let before = mgr.list(false)?;
            let leftovers = if purge {
                mgr.list(true)?
            } else {
                Installed::new()
            };
            let mut names: Vec<String> = wanted
                .into_iter()
                .map(|(n, _)| n)
                .filter(|n| before.contains_key(n) || leftovers.contains_key(n))
                .collect();
            names.dedup();
            if names.is_empty() {
                return Ok(json!({}));
            }
            let error = mgr.remove(&names, purge).err();
            let after = mgr.list(false)?;
            let changes = diff(&before, &after);
            match error {
                Some(e) => Err(format!("Problem encountered removing package(s): {e}")),
                None => Ok(Value::Object(changes)),
            }
        })
        .await
    })
}

fn remove(_ctx: CallCtx, args: Args) -> ModFuture {
    uninstall(args, false)
}

fn purge(_ctx: CallCtx, args: Args) -> ModFuture {
    uninstall(args, true)
}

fn upgrade(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let refresh = a.opt_bool("refresh", 0)?.unwrap_or(true);
        let dist = a.opt_bool("dist_upgrade", 1)?.unwrap_or(false);
        a.ignore(&["cache_valid_time", "download_only", "force_conf_new"]);
        a.finish()?;
        blocking(move |mgr| {
            refresh_first(mgr, refresh)?;
            let before = mgr.list(false)?;
            let out = mgr.upgrade_cmd(dist).run()?;
            let after = mgr.list(false)?;
            let changes = diff(&before, &after);
            if out.success() {
                Ok(Value::Object(changes))
            } else {
                Err(format!(
                    "Problem encountered upgrading packages: {}",
                    out.error_text()
                ))
            }
        })
        .await
    })
}

fn list_upgrades(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let refresh = a.opt_bool("refresh", 0)?.unwrap_or(true);
        let dist = a.opt_bool("dist_upgrade", 1)?.unwrap_or(true);
        a.ignore(&["cache_valid_time"]);
        a.finish()?;
        blocking(move |mgr| {
            refresh_first(mgr, refresh)?;
            Ok(json!(mgr.list_upgrades(dist)?))
        })
        .await
    })
}

fn refresh_db(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        a.opt("cache_valid_time", 0)?;
        let failhard = a.opt_bool("failhard", 1)?.unwrap_or(false);
        a.finish()?;
        blocking(move |mgr| {
            let report = mgr.refresh_report()?;
            if failhard {
                if let Value::Object(m) = &report {
                    let failed: Vec<&str> = m
                        .iter()
                        .filter(|(_, v)| **v == Value::Bool(false))
                        .map(|(k, _)| k.as_str())
                        .collect();
                    if !failed.is_empty() {
                        return Err(format!("Error getting repos: {}", failed.join(", ")));
                    }
                }
            }
            Ok(report)
        })
        .await
    })
}

/// Salt's `hold`/`unhold` result for each package.
fn set_hold(args: Args, hold: bool) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.opt_str("name", 0)?;
        let pkgs = a.kw("pkgs");
        a.ignore(&["sources"]);
        a.rest_kwargs();
        let names: Vec<String> = match (name, pkgs) {
            (_, Some(p)) => crate::registry::as_str_list("pkgs", &p)?
                .into_iter()
                .collect(),
            (Some(n), None) => vec![n],
            (None, None) => {
                return Err(ModError::BadArguments(
                    "One of name, pkgs, or sources must be specified.".to_string(),
                ))
            }
        };
        a.finish()?;
        blocking(move |mgr| {
            let mut out = Map::new();
            for n in names {
                let (state_word, done_word) = if hold {
                    ("held", "is now being held")
                } else {
                    ("not held", "is no longer being held")
                };
                let mut ret = json!({"name": n, "changes": {}, "result": false, "comment": ""});
                match mgr.held(&n)? {
                    None => ret["comment"] = json!(format!("Package {n} does not have a state.")),
                    Some(h) if h == hold => {
                        ret["result"] = json!(true);
                        ret["comment"] = json!(if hold {
                            format!("Package {n} is already set to be held.")
                        } else {
                            format!("Package {n} is already set not to be held.")
                        });
                    }
                    Some(_) => match mgr.set_hold(&n, hold) {
                        Ok(()) => {
                            let (old, new) = if hold {
                                ("install", "hold")
                            } else {
                                ("hold", "install")
                            };
                            ret["changes"] = json!({"old": old, "new": new});
                            ret["result"] = json!(true);
                            ret["comment"] = json!(format!("Package {n} {done_word}."));
                        }
                        Err(e) => {
                            ret["comment"] =
                                json!(format!("Failed to set package {n} {state_word}: {e}"));
                        }
                    },
                }
                out.insert(n, ret);
            }
            Ok(Value::Object(out))
        })
        .await
    })
}

fn hold(_ctx: CallCtx, args: Args) -> ModFuture {
    set_hold(args, true)
}

fn unhold(_ctx: CallCtx, args: Args) -> ModFuture {
    set_hold(args, false)
}

fn owner(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let paths = names(&mut a, "paths")?;
        a.finish()?;
        if paths.is_empty() {
            return Ok(json!("").into());
        }
        blocking(move |mgr| {
            let values = paths
                .iter()
                .map(|p| mgr.owner(p).map(Value::String))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(one_or_map(&paths, values))
        })
        .await
    })
}

fn file_list(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let packages = names(&mut a, "packages")?;
        a.finish()?;
        blocking(move |mgr| mgr.file_list(&packages)).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_call, test_ctx, with_fun, ModFn};

    async fn parse_targets(
        arg: Value,
        kwarg: Value,
    ) -> Result<Vec<(String, Option<String>)>, ModError> {
        with_fun("pkg.install", async move {
            let mut a = Args::new(
                arg.as_array().cloned().unwrap_or_default(),
                kwarg.as_object().cloned().unwrap_or_default(),
            )
            .parser();
            let t = targets(&mut a, true)?;
            a.rest_kwargs();
            a.finish()?;
            Ok(t)
        })
        .await
    }

    #[tokio::test]
    async fn targets_read_name_version_and_pkgs() {
        assert_eq!(
            parse_targets(json!(["sl"]), json!({"version": "5.02-1"}))
                .await
                .unwrap(),
            vec![("sl".to_string(), Some("5.02-1".to_string()))]
        );
        assert_eq!(
            parse_targets(json!([]), json!({"pkgs": ["a", {"b": "1.0"}]}))
                .await
                .unwrap(),
            vec![
                ("a".to_string(), None),
                ("b".to_string(), Some("1.0".to_string()))
            ]
        );
        assert_eq!(
            parse_targets(json!([]), json!({"pkgs": "[\"a\", \"b\"]"}))
                .await
                .unwrap(),
            vec![("a".to_string(), None), ("b".to_string(), None)]
        );
        assert!(parse_targets(json!([]), json!({"sources": []}))
            .await
            .is_err());
        assert_eq!(one_or_map(&["a".into()], vec![json!("1")]), json!("1"));
        assert_eq!(
            one_or_map(&["a".into(), "b".into()], vec![json!("1"), json!("")]),
            json!({"a": "1", "b": ""})
        );
    }

    #[tokio::test]
    async fn hold_needs_a_target() {
        let err = test_call(test_ctx(), hold, "pkg.hold", json!([]), json!({}))
            .await
            .unwrap_err();
        assert_eq!(err, "One of name, pkgs, or sources must be specified.");
    }

    /// `test=True` on a function that changes the host is refused before
    /// anything runs (Salt would install anyway).
    #[tokio::test]
    async fn test_mode_is_refused_not_swallowed() {
        for (f, name) in [
            (install as ModFn, "pkg.install"),
            (remove, "pkg.remove"),
            (purge, "pkg.purge"),
        ] {
            let err = test_call(
                test_ctx(),
                f,
                name,
                json!(["no-such-package-brine"]),
                json!({"test": true}),
            )
            .await
            .unwrap_err();
            assert!(err.contains("test=True refused"), "{name}: {err}");
        }
    }

    async fn call(f: ModFn, name: &'static str, arg: Value, kwarg: Value) -> Value {
        test_call(test_ctx(), f, name, arg, kwarg)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Purges the test package when the test ends, whatever happened.
    struct Purge(&'static str);

    impl Drop for Purge {
        fn drop(&mut self) {
            let _ = Manager::Apt.remove(&[self.0.to_string()], true);
        }
    }

    /// A real small package installed, inspected, held and removed through
    /// apt/dpkg (BRINE_SYSTEM_TESTS=1, Debian hosts).
    #[tokio::test]
    async fn real_apt_package_cycle() {
        if std::env::var("BRINE_SYSTEM_TESTS").ok().as_deref() != Some("1") {
            println!("real_apt_package_cycle: skipped, set BRINE_SYSTEM_TESTS=1 to run it");
            return;
        }
        if Manager::detect() != Ok(Manager::Apt) {
            println!("real_apt_package_cycle: skipped, not an apt host");
            return;
        }
        let pkg = "sl";
        let listed = call(list_pkgs, "pkg.list_pkgs", json!([]), json!({})).await;
        assert!(listed
            .get("dpkg")
            .is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty())));
        if listed.get(pkg).is_some() {
            println!("real_apt_package_cycle: skipped, {pkg} was already installed");
            return;
        }
        let _guard = Purge(pkg);
        let refreshed = call(refresh_db, "pkg.refresh_db", json!([]), json!({})).await;
        assert!(
            refreshed.as_object().is_some_and(|m| !m.is_empty()),
            "{refreshed}"
        );
        let latest = call(
            latest_version,
            "pkg.latest_version",
            json!([pkg]),
            json!({"refresh": false}),
        )
        .await;
        let latest = latest.as_str().unwrap().to_string();
        assert!(!latest.is_empty());
        assert_eq!(
            call(version, "pkg.version", json!([pkg]), json!({})).await,
            json!("")
        );

        let installed = call(install, "pkg.install", json!([pkg]), json!({})).await;
        assert_eq!(
            installed[pkg],
            json!({"old": "", "new": latest}),
            "{installed}"
        );
        assert_eq!(
            call(version, "pkg.version", json!([pkg]), json!({})).await,
            json!(latest)
        );
        assert_eq!(
            call(
                version,
                "pkg.version",
                json!([pkg, "brine-no-such-pkg"]),
                json!({})
            )
            .await,
            json!({pkg: latest, "brine-no-such-pkg": ""})
        );
        assert_eq!(
            call(
                latest_version,
                "pkg.latest_version",
                json!([pkg]),
                json!({"refresh": false})
            )
            .await,
            json!("")
        );
        assert_eq!(
            call(install, "pkg.install", json!([pkg]), json!({})).await,
            json!({})
        );
        assert_eq!(
            call(owner, "pkg.owner", json!(["/usr/games/sl"]), json!({})).await,
            json!(pkg)
        );
        assert_eq!(
            call(owner, "pkg.owner", json!(["/brine/none"]), json!({})).await,
            json!("")
        );
        let files = call(
            file_list,
            "pkg.file_list",
            json!([pkg, "brine-no-such-pkg"]),
            json!({}),
        )
        .await;
        assert!(
            files["files"]
                .as_array()
                .unwrap()
                .contains(&json!("/usr/games/sl")),
            "{files}"
        );
        assert_eq!(files["errors"].as_array().unwrap().len(), 1);

        let held = call(hold, "pkg.hold", json!([pkg]), json!({})).await;
        assert_eq!(
            held[pkg]["comment"],
            format!("Package {pkg} is now being held.")
        );
        assert_eq!(
            held[pkg]["changes"],
            json!({"old": "install", "new": "hold"})
        );
        let again = call(hold, "pkg.hold", json!([pkg]), json!({})).await;
        assert_eq!(
            again[pkg]["comment"],
            format!("Package {pkg} is already set to be held.")
        );
        let released = call(unhold, "pkg.unhold", json!([]), json!({"pkgs": [pkg]})).await;
        assert_eq!(
            released[pkg]["comment"],
            format!("Package {pkg} is no longer being held.")
        );

        let removed = call(remove, "pkg.remove", json!([pkg]), json!({})).await;
        assert_eq!(removed[pkg], json!({"old": latest, "new": ""}), "{removed}");
        assert_eq!(
            call(remove, "pkg.remove", json!([pkg]), json!({})).await,
            json!({})
        );
        let err = test_call(
            test_ctx(),
            install,
            "pkg.install",
            json!(["brine-no-such-pkg"]),
            json!({}),
        )
        .await
        .unwrap_err();
        assert!(
            err.starts_with("Problem encountered installing package(s): "),
            "{err}"
        );
        assert!(err.contains("Unable to locate package"), "{err}");
    }
}
