//! `locale.system` and `locale.present`: the system locale set, and a locale
//! generated, as Salt's states of those names, over the shared
//! [`LocaleSettings`] helper.

use serde_json::json;

use crate::ctx::{StateArgs, StateCtx};
use crate::modules::sys::locale::LocaleSettings;
use crate::registry::StateSpec;
use crate::result::StateResult;

pub const STATES: &[StateSpec] = &[
    StateSpec {
        name: "locale.present",
        doc:
            "Ensure that the locale is generated (enabled in /etc/locale.gen, locale-gen run).\n\n\
              name: the locale, e.g. en_US.UTF-8 (or the SUPPORTED line, en_US.UTF-8 UTF-8)",
        run: present,
        mod_watch: None,
    },
    StateSpec {
        name: "locale.system",
        doc: "Ensure that the system locale (LANG) is set.\n\nname: the locale, e.g. en_US.UTF-8",
        run: system,
        mod_watch: None,
    },
];

pub fn system(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    system_with(ctx, args, &LocaleSettings::host())
}

pub fn present(ctx: &StateCtx<'_>, args: &StateArgs) -> StateResult {
    present_with(ctx, args, &LocaleSettings::host())
}

fn system_with(ctx: &StateCtx<'_>, args: &StateArgs, host: &LocaleSettings) -> StateResult {
    let name = args.name.as_str();
    let current = match host.get_locale() {
        Ok(c) => c,
        Err(e) => return StateResult::fail(name, format!("Failed to set system locale: {e}")),
    };
    if current == name {
        return StateResult::ok(name, format!("System locale {name} already set"));
    }
    if ctx.test {
        return StateResult::would(
            name,
            format!("System locale {name} needs to be set"),
            Default::default(),
        );
    }
    match host.set_locale(name) {
        Ok(()) => {
            let mut ret = StateResult::ok(name, format!("Set system locale {name}"));
            ret.changes.insert("locale".into(), json!(name));
            ret
        }
        Err(e) => StateResult::fail(name, format!("Failed to set system locale: {e}")),
    }
}

fn present_with(ctx: &StateCtx<'_>, args: &StateArgs, host: &LocaleSettings) -> StateResult {
    let name = args.name.as_str();
    match host.avail(name) {
        Ok(true) => return StateResult::ok(name, format!("Locale {name} is already present")),
        Ok(false) => {}
        Err(e) => return StateResult::fail(name, format!("Failed to generate locale {name}: {e}")),
    }
    if ctx.test {
        return StateResult::would(
            name,
            format!("Locale {name} needs to be generated"),
            Default::default(),
        );
    }
    match host.gen_locale(name) {
        Ok(()) => {
            let mut ret = StateResult::ok(name, format!("Generated locale {name}"));
            ret.changes.insert("locale".into(), json!(name));
            ret
        }
        Err(e) => {
            tracing::debug!(error = %e, "locale generation failed");
            StateResult::fail(name, format!("Failed to generate locale {name}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::sys::testutil::{args, TestEnv};
    use serde_json::Value;

    fn fake_root() -> tempfile::TempDir {
        let dir = tempfile::TempDir::new().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(etc.join("default")).unwrap();
        std::fs::create_dir_all(dir.path().join("usr/share/i18n")).unwrap();
        std::fs::write(etc.join("debian_version"), "12\n").unwrap();
        std::fs::write(etc.join("default/locale"), "LANG=C.UTF-8\n").unwrap();
        std::fs::write(
            dir.path().join("usr/share/i18n/SUPPORTED"),
            "de_DE.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("locale.gen"),
            "# de_DE.UTF-8 UTF-8\n# en_US.UTF-8 UTF-8\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn system_locale_like_salt() {
        let dir = fake_root();
        let host = LocaleSettings::at(dir.path());
        let env = TestEnv::new(dir.path().into(), dir.path().into());
        let a = args("en_US.UTF-8", json!({}));
        let dry = system_with(&env.ctx(true), &a, &host);
        assert_eq!(
            (dry.result, dry.comment.as_str()),
            (None, "System locale en_US.UTF-8 needs to be set")
        );
        assert_eq!(host.get_locale().unwrap(), "C.UTF-8");
        let done = system_with(&env.ctx(false), &a, &host);
        assert_eq!(done.comment, "Set system locale en_US.UTF-8");
        assert_eq!(
            Value::Object(done.changes),
            json!({"locale": "en_US.UTF-8"})
        );
        let again = system_with(&env.ctx(false), &a, &host);
        assert_eq!(again.comment, "System locale en_US.UTF-8 already set");
        assert!(again.changes.is_empty());
    }

    #[test]
    fn present_generates_like_salt() {
        let dir = fake_root();
        let host = LocaleSettings::at(dir.path());
        let env = TestEnv::new(dir.path().into(), dir.path().into());
        let a = args("de_DE.UTF-8", json!({}));
        let dry = present_with(&env.ctx(true), &a, &host);
        assert_eq!(
            (dry.result, dry.comment.as_str()),
            (None, "Locale de_DE.UTF-8 needs to be generated")
        );
        let done = present_with(&env.ctx(false), &a, &host);
        assert_eq!(done.comment, "Generated locale de_DE.UTF-8");
        assert_eq!(
            Value::Object(done.changes),
            json!({"locale": "de_DE.UTF-8"})
        );
        let again = present_with(&env.ctx(false), &args("de_DE.utf8", json!({})), &host);
        assert_eq!(again.comment, "Locale de_DE.utf8 is already present");
        let bad = present_with(&env.ctx(false), &args("xx_XX.UTF-8", json!({})), &host);
        assert_eq!(
            (bad.result, bad.comment.as_str()),
            (Some(false), "Failed to generate locale xx_XX.UTF-8")
        );
    }
}
