//! `sysctl.*`: kernel parameters read and set through `/proc/sys` and
//! persisted in a sysctl config file, as Salt's `linux_sysctl`. Shared with
//! the `sysctl.present` state (`brine_states::modules::sys::sysctl`).

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use brine_states::modules::sys::sysctl::{
    assign as set_running, configured, default_config as config_path, get as running,
    persist as persist_value, proc_path, show_running, PROC_SYS,
};

use crate::registry::{as_str, Args, CallCtx, FunctionSpec, ModError, ModFuture, ModOutput};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "sysctl.assign",
        doc: "Set a kernel parameter now (not persisted); returns {name: value} as read back.\n\n\
              - name: the parameter, e.g. net.ipv4.ip_forward.\n- value: the value.",
        cli_example: "brine '*' sysctl.assign net.ipv4.ip_forward 1",
        run: assign,
    },
    FunctionSpec {
        name: "sysctl.default_config",
        doc: "Return the file sysctl.persist writes by default (/etc/sysctl.d/99-salt.conf under\n\
              systemd, else /etc/sysctl.conf).",
        cli_example: "brine '*' sysctl.default_config",
        run: default_config,
    },
    FunctionSpec {
        name: "sysctl.get",
        doc: "Return the running value of a kernel parameter.\n\n- name: the parameter.",
        cli_example: "brine '*' sysctl.get net.core.somaxconn",
        run: get,
    },
    FunctionSpec {
        name: "sysctl.persist",
        doc: "Set a kernel parameter now and in the config file; returns 'Updated' or 'Already set'.\n\n\
              - name: the parameter.\n- value: the value.\n\
              - config: the file (default: sysctl.default_config).",
        cli_example: "brine '*' sysctl.persist net.ipv4.ip_forward 1",
        run: persist,
    },
    FunctionSpec {
        name: "sysctl.show",
        doc: "Return every running kernel parameter as {name: value}; with config_file, the\n\
              settings in that file instead.\n\n- config_file: a sysctl config file.",
        cli_example: "brine '*' sysctl.show\nbrine '*' sysctl.show config_file=/etc/sysctl.conf",
        run: show,
    },
];

async fn blocking<F>(f: F) -> Result<ModOutput, ModError>
where
    F: FnOnce() -> Result<Value, String> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ModError::Failed(e.to_string()))?
        .map(Into::into)
        .map_err(ModError::Failed)
}

/// `sysctl.get` against a `/proc/sys` root: sysctl's own message when the
/// parameter does not exist.
fn get_at(proc_sys: &Path, name: &str) -> Result<Value, String> {
    running(proc_sys, name).map(Value::String).ok_or_else(|| {
        format!(
            "sysctl: cannot stat {}: No such file or directory",
            proc_path(Path::new(PROC_SYS), name).display()
        )
    })
}

fn get(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        a.finish()?;
        blocking(move || get_at(Path::new(PROC_SYS), &name)).await
    })
}

/// Salt's `sysctl.assign`: the value set and read back, `{name: value}`.
fn assign_at(proc_sys: &Path, name: &str, value: &str) -> Result<Value, String> {
    set_running(proc_sys, name, value)?;
    let now = running(proc_sys, name).unwrap_or_default();
    // the kernel prints several values separated by tabs; Salt shows sysctl's spaces
    let now = now.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok(json!({ name: now }))
}

fn value_arg(v: &Value) -> Result<String, ModError> {
    match v {
        Value::Array(items) => Ok(items
            .iter()
            .map(|i| as_str("value", i))
            .collect::<Result<Vec<_>, _>>()?
            .join(" ")),
        other => as_str("value", other),
    }
}

fn assign(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let value = value_arg(&a.take("value", 1)?)?;
        a.finish()?;
        blocking(move || assign_at(Path::new(PROC_SYS), &name, &value)).await
    })
}

fn persist(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        let value = value_arg(&a.take("value", 1)?)?;
        let config = a.opt_str("config", 2)?.map(PathBuf::from);
        a.finish()?;
        blocking(move || {
            let config = config.unwrap_or_else(config_path);
            persist_value(Path::new(PROC_SYS), &name, &value, &config)
                .map(|p| Value::String(p.salt_text().to_string()))
        })
        .await
    })
}

fn show(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let config = a
            .opt("config_file", 0)?
            .filter(|v| *v != Value::Bool(false));
        a.finish()?;
        let config = config.map(|v| as_str("config_file", &v)).transpose()?;
        blocking(move || {
            let pairs = match config {
                Some(file) => configured(Path::new(&file))
                    .ok_or_else(|| format!("Could not read from file: {file}"))?,
                None => show_running()?,
            };
            Ok(Value::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect::<Map<_, _>>(),
            ))
        })
        .await
    })
}

fn default_config(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        Ok(Value::String(config_path().display().to_string()).into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_call, test_ctx};

    #[test]
    fn get_and_assign_in_a_fake_proc_sys() {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::create_dir_all(dir.path().join("net/ipv4")).unwrap();
        std::fs::write(
            dir.path().join("net/ipv4/tcp_rmem"),
            "4096\t87380\t6291456\n",
        )
        .unwrap();
        assert_eq!(
            get_at(dir.path(), "net.ipv4.tcp_rmem").unwrap(),
            json!("4096\t87380\t6291456")
        );
        assert_eq!(
            get_at(dir.path(), "no.such").unwrap_err(),
            "sysctl: cannot stat /proc/sys/no/such: No such file or directory"
        );
        assert_eq!(
            assign_at(dir.path(), "net.ipv4.tcp_rmem", "4096 1 2").unwrap(),
            json!({"net.ipv4.tcp_rmem": "4096 1 2"})
        );
        assert_eq!(
            assign_at(dir.path(), "no.such", "1").unwrap_err(),
            "sysctl no.such does not exist"
        );
        assert_eq!(value_arg(&json!(["4096", 1, 2])).unwrap(), "4096 1 2");
    }

    #[tokio::test]
    async fn show_reads_a_config_file_and_the_running_kernel() {
        let dir = tempfile::TempDir::new().unwrap();
        let conf = dir.path().join("s.conf");
        std::fs::write(&conf, "# c\nvm.swappiness = 10\n").unwrap();
        let got = test_call(
            test_ctx(),
            show,
            "sysctl.show",
            json!([]),
            json!({"config_file": conf.to_string_lossy()}),
        )
        .await
        .unwrap();
        assert_eq!(got, json!({"vm.swappiness": "10"}));
        let running = test_call(test_ctx(), show, "sysctl.show", json!([]), json!({}))
            .await
            .unwrap();
        assert!(
            running.get("kernel.ostype").is_some_and(|v| v == "Linux"),
            "sysctl -a lacks kernel.ostype"
        );
        let got = test_call(
            test_ctx(),
            super::get,
            "sysctl.get",
            json!(["kernel.ostype"]),
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(got, json!("Linux"));
    }
}
