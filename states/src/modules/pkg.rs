//! `pkg.*` states: packages installed, upgraded, removed or purged through
//! the host's package manager (apt on Debian, dnf/yum on RedHat, chosen from
//! the `os_family` grain). Changes compare the installed versions before and
//! after, as Salt reports them: `{"curl": {"old": "", "new": "7.88.1-10"}}`.

use serde_json::{json, Map, Value};

use crate::ctx::{StateArgs, StateCtx};
use crate::modules::sys::packages::{diff, Installed, Manager};
use crate::modules::sys::{opt_text, scalar_text};
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[
    StateSpec {
        name: "pkg.installed",
        doc: "Ensure that the package is installed, and at the given version if one is given.\n\n\
              name: the package (ignored when pkgs is given)\n\
              version: the exact version wanted\n\
              pkgs: a list of packages, each a name or {name: version}\n\
              refresh: update the package lists first\n\
              fromrepo: the repository (apt target release, dnf repo id)",
        run: installed,
        mod_watch: None,
    },
    StateSpec {
        name: "pkg.latest",
        doc: "Ensure that the package is installed at the latest available version.\n\n\
              name, pkgs, refresh, fromrepo: as pkg.installed",
        run: latest,
        mod_watch: None,
    },
    StateSpec {
        name: "pkg.purged",
        doc: "Ensure that the package is not installed and its configuration is removed.\n\n\
              name, version, pkgs: as pkg.installed",
        run: purged,
        mod_watch: None,
    },
    StateSpec {
        name: "pkg.removed",
        doc: "Ensure that the package is not installed.\n\n\
              name, version, pkgs: as pkg.installed",
        run: removed,
        mod_watch: None,
    },
];

/// Wanted packages in order: name and optional exact version.
type Desired = Vec<(String, Option<String>)>;

fn desired(args: &StateArgs) -> Desired {
    if let Some(Value::Array(items)) = args.get("pkgs") {
        let mut out = Desired::new();
        for item in items {
            match item {
                Value::Object(m) => {
                    for (k, v) in m {
                        let v = (!v.is_null())
                            .then(|| scalar_text(v))
                            .filter(|v| !v.is_empty());
                        out.push((k.clone(), v));
                    }
                }
                other => out.push((scalar_text(other), None)),
            }
        }
        return out;
    }
    vec![(
        args.name.clone(),
        opt_text(args, "version").filter(|v| !v.is_empty()),
    )]
}

/// `name` or `name=version`, as Salt's comments show a wanted package.
fn shown(name: &str, version: &Option<String>) -> String {
    match version {
        None => name.to_string(),
        Some(v) if v.starts_with(['<', '>', '=']) => format!("{name}{v}"),
        Some(v) => format!("{name}={v}"),
    }
}

fn satisfied(installed: &Installed, name: &str, version: &Option<String>) -> bool {
    match (installed.get(name), version) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(have), Some(want)) => {
            let want = want.trim_start_matches('=');
            have.iter().any(|h| h == want)
        }
    }
}

fn manager(ctx: &StateCtx<'_>) -> Result<Manager, String> {
    let family = ctx
        .grains
        .get("os_family")
        .and_then(Value::as_str)
        .unwrap_or("");
    Manager::for_family(family)
}

fn refresh_if_asked(mgr: Manager, args: &StateArgs) -> Result<(), String> {
    if args.bool("refresh", false) {
        mgr.refresh().map_err(|e| {
            format!("An error was encountered while refreshing the package database: {e}")
        })?;
    }
    Ok(())
}

pub fn installed(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let mgr = match manager(ctx) {
        Ok(m) => m,
        Err(e) => return StateResult::fail(name, e),
    };
    let want = desired(args);
    let before = match mgr.list(false) {
        Ok(l) => l,
        Err(e) => return StateResult::fail(name, e),
    };
    if args.get("pkgs").is_none() {
        let version = &want[0].1;
        if satisfied(&before, name, version) {
            return StateResult::ok(
                name,
                match version {
                    Some(v) => format!("Version {v} of package '{name}' is already installed"),
                    None => format!("Package {name} is already installed"),
                },
            );
        }
    }
    let targets: Desired = want
        .iter()
        .filter(|(n, v)| !satisfied(&before, n, v))
        .cloned()
        .collect();
    if targets.is_empty() {
        let with_version = want.iter().any(|(_, v)| v.is_some());
        return StateResult::ok(
            name,
            format!(
                "All specified packages are already installed{}",
                if with_version {
                    " and are at the desired version"
                } else {
                    ""
                }
            ),
        );
    }
    // The lists must be fresh before asking what would be installed.
    if !ctx.test {
        if let Err(e) = refresh_if_asked(mgr, args) {
            return StateResult::fail(name, e);
        }
    }
    if ctx.test {
        let mut changes = Map::new();
        for (n, v) in &targets {
            let new = v
                .clone()
                .or_else(|| mgr.candidate(n))
                .unwrap_or_else(|| "installed".into());
            let old = before.get(n).map(|v| v.join(",")).unwrap_or_default();
            changes.insert(n.clone(), json!({"new": new, "old": old}));
        }
        let summary: Vec<&str> = targets.iter().map(|(n, _)| n.as_str()).collect();
        return StateResult::would(
            name,
            format!(
                "The following packages would be installed/updated: {}",
                summary.join(", ")
            ),
            changes,
        );
    }
    let fromrepo = opt_text(args, "fromrepo");
    let install_error = mgr.install(&targets, fromrepo.as_deref()).err();
    let after = match mgr.list(false) {
        Ok(l) => l,
        Err(e) => return StateResult::fail(name, e),
    };
    let changes = diff(&before, &after);
    let (modified, failed): (Desired, Desired) = targets
        .iter()
        .cloned()
        .partition(|(n, v)| satisfied(&after, n, v));
    let not_modified: Desired = want
        .iter()
        .filter(|w| !targets.contains(w))
        .cloned()
        .collect();
    let mut comment = Vec::new();
    if !modified.is_empty() {
        let summary = modified
            .iter()
            .map(|(n, v)| shown(n, v))
            .collect::<Vec<_>>()
            .join(", ");
        // Salt measures the joined text, not the count.
        if summary.len() < 20 {
            comment.push(format!(
                "The following packages were installed/updated: {summary}"
            ));
        } else {
            let many = modified.len() > 1;
            comment.push(format!(
                "{} targeted package{} {} installed/updated.",
                modified.len(),
                if many { "s" } else { "" },
                if many { "were" } else { "was" }
            ));
        }
    }
    if !not_modified.is_empty() {
        let summary = not_modified
            .iter()
            .map(|(n, v)| shown(n, v))
            .collect::<Vec<_>>()
            .join(", ");
        if not_modified.len() <= 20 {
            comment.push(format!(
                "The following packages were already installed: {summary}"
            ));
        } else {
            let many = not_modified.len() > 1;
            comment.push(format!(
                "{} targeted package{} {} already installed",
                not_modified.len(),
                if many { "s" } else { "" },
                if many { "were" } else { "was" }
            ));
        }
    }
    let mut ret = StateResult::new(name);
    if !failed.is_empty() {
        let summary = failed
            .iter()
            .map(|(n, v)| shown(n, v))
            .collect::<Vec<_>>()
            .join(", ");
        comment.insert(
            0,
            format!("The following packages failed to install/update: {summary}"),
        );
        if let Some(e) = install_error {
            comment.push(e);
        }
        ret.result = Some(false);
    }
    ret.comment = comment.join("\n");
    ret.changes = changes;
    ret
}

pub fn latest(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    let name = args.name.as_str();
    let mgr = match manager(ctx) {
        Ok(m) => m,
        Err(e) => return StateResult::fail(name, e),
    };
    let names: Vec<String> = desired(args).into_iter().map(|(n, _)| n).collect();
    let several = args.get("pkgs").is_some();
    if !ctx.test {
        if let Err(e) = refresh_if_asked(mgr, args) {
            return StateResult::fail(name, e);
        }
    }
    let before = match mgr.list(false) {
        Ok(l) => l,
        Err(e) => return StateResult::fail(name, e),
    };
    let current = |n: &str| before.get(n).and_then(|v| v.last().cloned());
    let mut targets: Vec<(String, String)> = Vec::new();
    let mut problems = Vec::new();
    for n in &names {
        match mgr.candidate(n) {
            Some(avail) if current(n).as_deref() != Some(avail.as_str()) => {
                targets.push((n.clone(), avail))
            }
            Some(_) => {}
            None if current(n).is_some() => {}
            None => problems.push(format!("No information found for '{n}'.")),
        }
    }
    if !problems.is_empty() {
        return StateResult::fail(name, problems.join(" "));
    }
    if targets.is_empty() {
        let comment = if names.len() > 10 {
            format!("All {} packages are up-to-date.", names.len())
        } else if names.len() > 1 {
            let mut sorted = names.clone();
            sorted.sort();
            format!("All packages are up-to-date ({}).", sorted.join(", "))
        } else {
            format!("Package {} is already up-to-date", names[0])
        };
        return StateResult::ok(name, comment);
    }
    let mut target_names: Vec<&str> = targets.iter().map(|(n, _)| n.as_str()).collect();
    target_names.sort();
    let mut up_to_date: Vec<&String> = if several {
        names
            .iter()
            .filter(|n| !target_names.contains(&n.as_str()))
            .collect()
    } else {
        Vec::new()
    };
    up_to_date.sort();
    if ctx.test {
        let mut comments = vec![format!(
            "The following packages would be installed/upgraded: {}",
            target_names.join(", ")
        )];
        if !up_to_date.is_empty() {
            if up_to_date.len() <= 10 {
                let list: Vec<String> = up_to_date
                    .iter()
                    .map(|n| format!("{n} ({})", current(n).unwrap_or_default()))
                    .collect();
                comments.push(format!(
                    "The following packages are already up-to-date: {}",
                    list.join(", ")
                ));
            } else {
                comments.push(format!(
                    "{} packages are already up-to-date",
                    up_to_date.len()
                ));
            }
        }
        let mut changes = Map::new();
        for (n, avail) in &targets {
            changes.insert(
                n.clone(),
                json!({"new": avail, "old": current(n).unwrap_or_default()}),
            );
        }
        return StateResult::would(name, comments.join("\n"), changes);
    }
    let fromrepo = opt_text(args, "fromrepo");
    let wanted: Desired = targets.iter().map(|(n, _)| (n.clone(), None)).collect();
    if let Err(e) = mgr.install(&wanted, fromrepo.as_deref()) {
        tracing::debug!(error = %e, "package install failed");
    }
    let after = match mgr.list(false) {
        Ok(l) => l,
        Err(e) => return StateResult::fail(name, e),
    };
    let changes = diff(&before, &after);
    let mut ret = StateResult::new(name);
    if changes.is_empty() {
        let mut comment = if targets.len() > 10 {
            format!(
                "{} targeted packages failed to update. See debug log for details.",
                targets.len()
            )
        } else if targets.len() > 1 {
            format!(
                "The following targeted packages failed to update. See debug log for details: ({}).",
                target_names.join(", ")
            )
        } else {
            format!("Package {} failed to update.", target_names[0])
        };
        if !up_to_date.is_empty() {
            let list: Vec<&str> = up_to_date.iter().map(|s| s.as_str()).collect();
            comment += &format!(
                " The following packages were already up-to-date: {}",
                list.join(", ")
            );
        }
        return StateResult::fail(name, comment);
    }
    let failed: Vec<&str> = targets
        .iter()
        .filter(|(n, avail)| {
            changes
                .get(n)
                .and_then(|c| c.get("new"))
                .and_then(Value::as_str)
                .is_none_or(|new| !new.split(',').any(|v| v == avail))
        })
        .map(|(n, _)| n.as_str())
        .collect();
    let successful: Vec<&str> = target_names
        .iter()
        .copied()
        .filter(|n| !failed.contains(n))
        .collect();
    let mut comments = Vec::new();
    if !failed.is_empty() {
        comments.push(format!(
            "The following packages failed to update: {}",
            failed.join(", ")
        ));
        ret.result = Some(false);
    }
    if !successful.is_empty() {
        comments.push(format!(
            "The following packages were successfully installed/upgraded: {}",
            successful.join(", ")
        ));
    }
    if !up_to_date.is_empty() {
        if up_to_date.len() <= 10 {
            let list: Vec<&str> = up_to_date.iter().map(|s| s.as_str()).collect();
            comments.push(format!(
                "The following packages were already up-to-date: {}",
                list.join(", ")
            ));
        } else {
            comments.push(format!(
                "{} packages were already up-to-date ",
                up_to_date.len()
            ));
        }
    }
    ret.comment = comments.join(" ");
    ret.changes = changes;
    ret
}

pub fn removed(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    uninstall(ctx, args, false)
}

pub fn purged(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    uninstall(ctx, args, true)
}

/// Salt's `_uninstall` for `remove` and `purge`.
fn uninstall(ctx: &StateCtx<'_>, args: &StateArgs, purge: bool) -> StateResult {
    let name = args.name.as_str();
    let action = if purge { "purge" } else { "remove" };
    let mgr = match manager(ctx) {
        Ok(m) => m,
        Err(e) => return StateResult::fail(name, e),
    };
    let want = desired(args);
    let (before, leftovers) = match (
        mgr.list(false),
        if purge {
            mgr.list(true)
        } else {
            Ok(Installed::new())
        },
    ) {
        (Ok(b), Ok(l)) => (b, l),
        (Err(e), _) | (_, Err(e)) => {
            return StateResult::fail(
                name,
                format!("An error was encountered while checking targets: {e}"),
            )
        }
    };
    let mut targets: Vec<String> = want
        .iter()
        .filter(|(n, v)| satisfied(&before, n, v) || (purge && leftovers.contains_key(n)))
        .map(|(n, _)| n.clone())
        .collect();
    targets.sort();
    targets.dedup();
    if targets.is_empty() {
        return StateResult::ok(
            name,
            format!(
                "None of the targeted packages are installed{}",
                if purge { " or partially installed" } else { "" }
            ),
        );
    }
    if ctx.test {
        let changes = targets
            .iter()
            .map(|t| (t.clone(), json!({"new": format!("{action}d"), "old": ""})))
            .collect();
        return StateResult::would(
            name,
            format!(
                "The following packages will be {action}d: {}.",
                targets.join(", ")
            ),
            changes,
        );
    }
    let error = mgr.remove(&targets, purge).err();
    let (after, after_leftovers) = match (
        mgr.list(false),
        if purge {
            mgr.list(true)
        } else {
            Ok(Installed::new())
        },
    ) {
        (Ok(a), Ok(l)) => (a, l),
        (Err(e), _) | (_, Err(e)) => return StateResult::fail(name, e),
    };
    let mut changes = diff(&before, &after);
    if purge {
        for (n, _) in &want {
            if leftovers.contains_key(n)
                && !after_leftovers.contains_key(n)
                && !changes.contains_key(n)
            {
                changes.insert(n.clone(), json!({"old": "", "new": ""}));
            }
        }
    }
    let mut failed: Vec<String> = want
        .iter()
        .filter(|(n, _)| after.contains_key(n) || (purge && after_leftovers.contains_key(n)))
        .map(|(n, _)| n.clone())
        .collect();
    failed.sort();
    failed.dedup();
    if !failed.is_empty() {
        if let Some(e) = error {
            tracing::debug!(error = %e, "package removal failed");
        }
        let mut ret = StateResult::fail(
            name,
            format!(
                "The following packages failed to {action}: {}.",
                failed.join(", ")
            ),
        );
        ret.changes = changes;
        return ret;
    }
    let mut not_installed: Vec<&str> = want
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !targets.iter().any(|t| t == n))
        .collect();
    not_installed.sort();
    let comment = if not_installed.is_empty() {
        format!("All targeted packages were {action}d.")
    } else {
        format!(
            "The following packages were not installed: {} The following packages were {action}d: {}.",
            not_installed.join(", "),
            targets.join(", ")
        )
    };
    let mut ret = StateResult::ok(name, comment);
    ret.changes = changes;
    ret
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sys::run::Cmd;
    use crate::modules::sys::testutil::{args, system_tests_enabled, TestEnv};

    #[test]
    fn desired_reads_names_and_versions() {
        let a = args(
            "x",
            json!({"pkgs": ["curl", {"vim": "2:9.0"}, {"jq": 1.6}]}),
        );
        assert_eq!(
            desired(&a),
            vec![
                ("curl".to_string(), None),
                ("vim".to_string(), Some("2:9.0".to_string())),
                ("jq".to_string(), Some("1.6".to_string()))
            ]
        );
        assert_eq!(
            desired(&args("curl", json!({"version": "7"}))),
            vec![("curl".to_string(), Some("7".to_string()))]
        );
        assert_eq!(shown("a", &Some(">=1".into())), "a>=1");
        assert_eq!(shown("a", &Some("1".into())), "a=1");
    }

    #[test]
    fn unknown_os_family_fails_cleanly() {
        let mut env = TestEnv::new("/nonexistent".into(), std::env::temp_dir());
        env.grains.insert("os_family".into(), json!("Plan9"));
        let r = installed(&env.ctx(false), &args("curl", json!({})));
        assert_eq!(r.result, Some(false));
        assert!(r
            .comment
            .contains("no package manager for os_family 'Plan9'"));
    }

    /// Purges the test package unless it was installed before the test.
    struct PackageGuard(&'static str);

    impl Drop for PackageGuard {
        fn drop(&mut self) {
            let _ = Cmd::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["-q", "-y", "purge", self.0])
                .run();
        }
    }

    #[test]
    fn real_apt_install_and_remove() {
        if !system_tests_enabled("real_apt_install_and_remove") {
            return;
        }
        let env = TestEnv::new("/nonexistent".into(), std::env::temp_dir());
        if env.grains["os_family"] != "Debian" {
            println!("real_apt_install_and_remove: skipped, not a Debian host");
            return;
        }
        let pkg = "hello";
        if Manager::Apt.list(false).unwrap().contains_key(pkg) {
            println!("real_apt_install_and_remove: skipped, {pkg} was already installed");
            return;
        }
        let _guard = PackageGuard(pkg);
        Manager::Apt.refresh().unwrap();
        let candidate = Manager::Apt
            .candidate(pkg)
            .expect("hello has a candidate version");

        let dry = installed(&env.ctx(true), &args(pkg, json!({})));
        assert_eq!(dry.result, None);
        assert_eq!(
            dry.comment,
            "The following packages would be installed/updated: hello"
        );
        assert_eq!(
            Value::Object(dry.changes),
            json!({pkg: {"new": candidate, "old": ""}})
        );
        assert!(
            !Manager::Apt.list(false).unwrap().contains_key(pkg),
            "dry run installed"
        );

        let done = installed(&env.ctx(false), &args(pkg, json!({"refresh": true})));
        assert_eq!(done.result, Some(true), "{}", done.comment);
        assert_eq!(
            done.comment,
            "The following packages were installed/updated: hello"
        );
        assert_eq!(done.changes[pkg], json!({"old": "", "new": candidate}));

        let again = installed(&env.ctx(false), &args(pkg, json!({})));
        assert_eq!(again.comment, "Package hello is already installed");
        let version = installed(&env.ctx(false), &args(pkg, json!({"version": candidate})));
        assert_eq!(
            version.comment,
            format!("Version {candidate} of package 'hello' is already installed")
        );
        let up = latest(&env.ctx(false), &args(pkg, json!({})));
        assert_eq!(up.comment, "Package hello is already up-to-date");

        let dry = removed(&env.ctx(true), &args(pkg, json!({})));
        assert_eq!(
            dry.comment,
            "The following packages will be removed: hello."
        );
        let gone = removed(&env.ctx(false), &args(pkg, json!({})));
        assert_eq!(gone.result, Some(true), "{}", gone.comment);
        assert_eq!(gone.comment, "All targeted packages were removed.");
        assert_eq!(gone.changes[pkg], json!({"old": candidate, "new": ""}));
        let none = removed(&env.ctx(false), &args(pkg, json!({})));
        assert_eq!(none.comment, "None of the targeted packages are installed");
    }
}
