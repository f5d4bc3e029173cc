//! `config.*`: look a setting up in the minion options, then the grains,
//! then the pillar, then the master options Salt copies into the pillar
//! (`pillar['master']`), then Salt's built-in defaults.
//!
//! Salt resolves `sdb://` URIs in the values it finds; Brine has no sdb and
//! returns such values as they are.

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use super::data::{fnmatchcase, merge as merge_values, traverse, DEFAULT_DELIMITER};
use crate::registry::{as_str, Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "config.dot_vals",
        doc: "Return every option named `<value>.<something>` from the master options in \
              the pillar and the minion options, as {name: value}.\n\n\
              - value: the prefix before the dot.",
        cli_example: "brine '*' config.dot_vals host",
        run: dot_vals,
    },
    FunctionSpec {
        name: "config.get",
        doc: "Return a setting from the minion options, the grains, the pillar or the \
              master options (in that order, first match wins), else Salt's built-in \
              defaults, else the default.\n\n\
              - key: the setting; `a:b:c` walks into nested dicts and lists.\n\
              - default: returned when nothing matches (default '').\n\
              - delimiter: separator of nested keys (default ':').\n\
              - merge: `recurse` or `overwrite`: merge all four sources (options win) \
              and look the key up in the result.\n\
              - omit_opts, omit_grains, omit_pillar, omit_master: skip that source.",
        cli_example: "brine '*' config.get pkg:apache\nbrine '*' config.get lxc.container_profile:centos merge=recurse",
        run: get,
    },
    FunctionSpec {
        name: "config.items",
        doc: "Return every minion option, defaults included.",
        cli_example: "brine '*' config.items",
        run: items,
    },
    FunctionSpec {
        name: "config.merge",
        doc: "Return a top-level setting merged from the minion options, the master options \
              and the pillar: strings are returned at the first match, dicts are merged \
              (earlier sources win), lists concatenated.\n\n\
              - value: the setting.\n\
              - default: returned when nothing matches (default '').\n\
              - omit_opts, omit_master, omit_pillar: skip that source.",
        cli_example: "brine '*' config.merge schedule",
        run: merge,
    },
    FunctionSpec {
        name: "config.option",
        doc: "Return a top-level setting (no nesting) from the minion options, the grains, \
              the pillar, the master options or Salt's built-in defaults, first match wins.\n\n\
              - value: the setting.\n\
              - default: returned when nothing matches (default '', or {} with wildcard).\n\
              - omit_opts, omit_grains, omit_pillar, omit_master: skip that source; \
              omit_all: all of them.\n\
              - wildcard: treat value as a glob and return every match as {name: value}.",
        cli_example: "brine '*' config.option redis.host\nbrine '*' config.option 'foo.*' wildcard=True",
        run: option,
    },
];

/// Salt's `config.DEFAULTS`: what `config.option` and `config.get` fall back to.
fn salt_defaults() -> &'static Value {
    static DEFAULTS: OnceLock<Value> = OnceLock::new();
    DEFAULTS.get_or_init(|| {
        json!({
            "mongo.db": "salt",
            "mongo.password": "",
            "mongo.port": 27017,
            "mongo.user": "",
            "redis.db": "0",
            "redis.host": "salt",
            "redis.port": 6379,
            "test.foo": "unconfigured",
            "ca.cert_base_path": "/etc/pki",
            "solr.cores": [],
            "solr.host": "localhost",
            "solr.port": "8983",
            "solr.baseurl": "/solr",
            "solr.type": "master",
            "solr.request_timeout": null,
            "solr.init_script": "/etc/rc.d/solr",
            "solr.dih.import_options": {"clean": false, "optimize": true, "commit": true, "verbose": false},
            "solr.backup_path": null,
            "solr.num_backups": 1,
            "poudriere.config": "/usr/local/etc/poudriere.conf",
            "poudriere.config_dir": "/usr/local/etc/poudriere.d",
            "ldap.uri": "",
            "ldap.server": "localhost",
            "ldap.port": "389",
            "ldap.tls": false,
            "ldap.no_verify": false,
            "ldap.anonymous": true,
            "ldap.scope": 2,
            "ldap.attrs": null,
            "ldap.binddn": "",
            "ldap.bindpw": "",
            "hosts.file": "/etc/hosts",
            "aliases.file": "/etc/aliases",
            "virt": {"tunnel": false, "images": "/srv/salt-images"},
            "docker.exec_driver": "docker-exec",
            "docker.compare_container_networks": {
                "static": ["Aliases", "Links", "IPAMConfig"],
                "automatic": ["IPAddress", "Gateway", "GlobalIPv6Address", "IPv6Gateway"],
            },
        })
    })
}

/// The four places a setting is looked up, as Salt's `__opts__`,
/// `__grains__`, `__pillar__` and `__pillar__['master']`.
struct Sources {
    opts: Value,
    grains: Value,
    pillar: Value,
    master: Value,
}

impl Sources {
    async fn of(ctx: &CallCtx) -> Sources {
        let held = ctx.pillar().await;
        let grains = Value::Object((*ctx.grains.snapshot()).clone());
        let mut opts = ctx.config.as_opts();
        if let Value::Object(m) = &mut opts {
            // A running Salt minion keeps its grains and pillar in its opts too.
            m.insert("grains".into(), grains.clone());
            m.insert("pillar".into(), (*held).clone());
        }
        let pillar = match &*held {
            p @ Value::Object(_) => p.clone(),
            _ => json!({}),
        };
        let master = match pillar.get("master") {
            Some(m @ Value::Object(_)) => m.clone(),
            _ => json!({}),
        };
        Sources {
            opts,
            grains,
            pillar,
            master,
        }
    }
}

/// The `omit_*` switches, in Salt's parameter names.
#[derive(Default)]
struct Omit {
    opts: bool,
    grains: bool,
    pillar: bool,
    master: bool,
}

impl Sources {
    /// Where `config.get`/`config.option` look, first match wins: options,
    /// grains, pillar, the pillar's `master` key, Salt's defaults; each
    /// with whether `omit` leaves it out.
    fn lookup_order<'a>(&'a self, omit: &Omit) -> [(bool, &'a Value); 5] {
        [
            (omit.opts, &self.opts),
            (omit.grains, &self.grains),
            (omit.pillar, &self.pillar),
            (omit.master, &self.master),
            (false, salt_defaults()),
        ]
    }
}

fn get(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let key = as_str("key", &a.take("key", 0)?)?;
        let default = a.opt("default", 1)?.unwrap_or_else(|| json!(""));
        let delim = match a.opt_str("delimiter", 2)? {
            Some(d) if d.is_empty() => return Err(a.bad("delimiter must not be empty")),
            Some(d) => d,
            None => DEFAULT_DELIMITER.to_string(),
        };
        let merge = a.opt_str("merge", 3)?;
        let omit = Omit {
            opts: a.opt_bool("omit_opts", 4)?.unwrap_or(false),
            pillar: a.opt_bool("omit_pillar", 5)?.unwrap_or(false),
            master: a.opt_bool("omit_master", 6)?.unwrap_or(false),
            grains: a.opt_bool("omit_grains", 7)?.unwrap_or(false),
        };
        a.finish()?;
        let src = Sources::of(&ctx).await;
        let Some(strategy) = merge else {
            for (skip, data) in src.lookup_order(&omit) {
                if skip {
                    continue;
                }
                if let Some(v) = traverse(data, &key, &delim) {
                    return Ok(v.clone().into());
                }
            }
            return Ok(default.into());
        };
        let strategy = if strategy == "recurse" || strategy == "overwrite" {
            strategy
        } else {
            tracing::warn!(strategy = %strategy, "unsupported merge strategy, falling back to recurse");
            "recurse".to_string()
        };
        // Salt merges every source (omit_* ignored), lowest priority first.
        let mut data = salt_defaults().clone();
        for source in [&src.master, &src.pillar, &src.grains, &src.opts] {
            data = merge_values(&data, source, &strategy, "yaml", false)
                .map_err(|e| ModError::Failed(e.to_string()))?;
        }
        Ok(traverse(&data, &key, &delim)
            .cloned()
            .unwrap_or(default)
            .into())
    })
}

fn option(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let value = a.take_str("value", 0)?;
        let default = a.opt("default", 1)?;
        let mut omit = Omit {
            opts: a.opt_bool("omit_opts", 2)?.unwrap_or(false),
            grains: a.opt_bool("omit_grains", 3)?.unwrap_or(false),
            pillar: a.opt_bool("omit_pillar", 4)?.unwrap_or(false),
            master: a.opt_bool("omit_master", 5)?.unwrap_or(false),
        };
        if a.opt_bool("omit_all", 6)?.unwrap_or(false) {
            omit = Omit {
                opts: true,
                grains: true,
                pillar: true,
                master: true,
            };
        }
        let wildcard = a.opt_bool("wildcard", 7)?.unwrap_or(false);
        a.finish()?;
        let default = default.unwrap_or_else(|| if wildcard { json!({}) } else { json!("") });
        let src = Sources::of(&ctx).await;
        if !wildcard {
            for (skip, data) in src.lookup_order(&omit) {
                if let (false, Some(v)) = (skip, data.get(&value)) {
                    return Ok(v.clone().into());
                }
            }
            return Ok(default.into());
        }
        // Lowest priority first, so that the minion options win.
        let mut found = Map::new();
        for (skip, data) in [
            (omit.master, &src.master),
            (omit.pillar, &src.pillar),
            (omit.grains, &src.grains),
            (omit.opts, &src.opts),
        ] {
            if let (false, Value::Object(m)) = (skip, data) {
                for (k, v) in m {
                    if fnmatchcase(k, &value) {
                        found.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        if let Value::Object(m) = salt_defaults() {
            for (k, v) in m {
                if fnmatchcase(k, &value) && !found.contains_key(k) {
                    found.insert(k.clone(), v.clone());
                }
            }
        }
        if found.is_empty() {
            return Ok(default.into());
        }
        Ok(Value::Object(found).into())
    })
}

fn merge(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let value = a.take_str("value", 0)?;
        let default = a.opt("default", 1)?.unwrap_or_else(|| json!(""));
        let omit_opts = a.opt_bool("omit_opts", 2)?.unwrap_or(false);
        let omit_master = a.opt_bool("omit_master", 3)?.unwrap_or(false);
        let omit_pillar = a.opt_bool("omit_pillar", 4)?.unwrap_or(false);
        a.finish()?;
        let src = Sources::of(&ctx).await;
        let mut ret: Option<Value> = None;
        for (skip, data) in [
            (omit_opts, &src.opts),
            (omit_master, &src.master),
            (omit_pillar, &src.pillar),
        ] {
            let Some(tmp) = data.get(&value).filter(|_| !skip) else {
                continue;
            };
            ret = match ret {
                None => {
                    if tmp.is_string() {
                        return Ok(tmp.clone().into());
                    }
                    Some(tmp.clone())
                }
                // `tmp.update(ret)`: the earlier source wins, shallowly.
                Some(Value::Object(r)) if tmp.is_object() => {
                    let mut merged = tmp.as_object().cloned().unwrap_or_default();
                    merged.extend(r);
                    Some(Value::Object(merged))
                }
                Some(Value::Array(mut r)) if tmp.is_array() => {
                    r.extend(tmp.as_array().cloned().unwrap_or_default());
                    Some(Value::Array(r))
                }
                other => other,
            };
        }
        if ret.is_none() {
            ret = salt_defaults().get(&value).cloned();
        }
        Ok(ret.unwrap_or(default).into())
    })
}

fn items(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        Ok(Sources::of(&ctx).await.opts.into())
    })
}

fn dot_vals(ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let value = a.take_str("value", 0)?;
        a.finish()?;
        let src = Sources::of(&ctx).await;
        let prefix = format!("{value}.");
        let mut out = Map::new();
        for data in [&src.master, &src.opts] {
            if let Value::Object(m) = data {
                for (k, v) in m {
                    if k.starts_with(&prefix) {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        Ok(Value::Object(out).into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MinionConfig;
    use crate::registry::{test_ctx_with, ModFn};
    use std::sync::Arc;

    async fn run(f: ModFn, name: &'static str, arg: Value, kwarg: Value) -> Result<Value, String> {
        let raw = brine_proto::conf::RawConfig::parse(
            "minion",
            "id: m1\nmycustom: hello\nnested_opt:\n  a: {b: 1}\nredis.host: myredis\n",
        )
        .unwrap();
        let config = MinionConfig::from_raw(std::path::Path::new("/etc/brine"), raw).unwrap();
        let grains = json!({"os": "Debian", "mycustom": "fromgrains", "pkg": {"g": 1}});
        let mut ctx = test_ctx_with(grains.as_object().unwrap().clone());
        ctx.config = Arc::new(config);
        ctx.fixed_pillar = Some(Arc::new(json!({
            "nested_opt": {"a": {"c": 2}},
            "mycustom": "frompillar",
            "pkg": {"apache": "httpd"},
            "users": ["a", "b"],
            "master": {"masteropt": 1, "redis.db": "5"},
        })));
        crate::registry::test_call(ctx, f, name, arg, kwarg).await
    }

    #[tokio::test]
    async fn get_looks_in_salts_order() {
        let g = |arg: Value, kw: Value| run(get, "config.get", arg, kw);
        assert_eq!(
            g(json!(["mycustom"]), json!({})).await,
            Ok(json!("hello")),
            "opts first"
        );
        assert_eq!(
            g(json!(["mycustom"]), json!({"omit_opts": true})).await,
            Ok(json!("fromgrains"))
        );
        assert_eq!(
            g(
                json!(["mycustom"]),
                json!({"omit_opts": true, "omit_grains": true})
            )
            .await,
            Ok(json!("frompillar"))
        );
        assert_eq!(g(json!(["id"]), json!({})).await, Ok(json!("m1")));
        assert_eq!(
            g(json!(["nested_opt:a:c"]), json!({})).await,
            Ok(json!(2)),
            "opts lack c: pillar has it"
        );
        assert_eq!(
            g(json!(["pkg:apache"]), json!({})).await,
            Ok(json!("httpd"))
        );
        assert_eq!(g(json!(["users:1"]), json!({})).await, Ok(json!("b")));
        assert_eq!(g(json!(["masteropt"]), json!({})).await, Ok(json!(1)));
        assert_eq!(
            g(json!(["virt:images"]), json!({})).await,
            Ok(json!("/srv/salt-images"))
        );
        assert_eq!(
            g(json!(["nope", "dflt"]), json!({})).await,
            Ok(json!("dflt"))
        );
        assert_eq!(g(json!(["nope"]), json!({})).await, Ok(json!("")));
        assert_eq!(
            g(json!(["nested_opt"]), json!({"merge": "recurse"})).await,
            Ok(json!({"a": {"c": 2, "b": 1}}))
        );
        assert_eq!(
            g(json!(["nested_opt"]), json!({"merge": "overwrite"})).await,
            Ok(json!({"a": {"b": 1}}))
        );
        assert_eq!(
            g(json!([]), json!({})).await,
            Err("config.get() missing 1 required positional argument: 'key'".into())
        );
    }

    #[tokio::test]
    async fn option_merge_items_dot_vals() {
        assert_eq!(
            run(option, "config.option", json!(["redis.host"]), json!({})).await,
            Ok(json!("myredis"))
        );
        assert_eq!(
            run(option, "config.option", json!(["redis.port"]), json!({})).await,
            Ok(json!(6379))
        );
        assert_eq!(
            run(
                option,
                "config.option",
                json!(["redis.host"]),
                json!({"omit_all": true})
            )
            .await,
            Ok(json!("salt"))
        );
        assert_eq!(
            run(option, "config.option", json!(["pkg:apache"]), json!({})).await,
            Ok(json!(""))
        );
        assert_eq!(
            run(
                option,
                "config.option",
                json!(["redis.*"]),
                json!({"wildcard": true})
            )
            .await,
            Ok(json!({"redis.db": "5", "redis.host": "myredis", "redis.port": 6379}))
        );
        assert_eq!(
            run(
                option,
                "config.option",
                json!(["zzz*"]),
                json!({"wildcard": true})
            )
            .await,
            Ok(json!({}))
        );
        assert_eq!(
            run(merge, "config.merge", json!(["nested_opt"]), json!({})).await,
            Ok(json!({"a": {"b": 1}})),
            "shallow: the options' 'a' replaces the pillar's"
        );
        assert_eq!(
            run(merge, "config.merge", json!(["mycustom"]), json!({})).await,
            Ok(json!("hello"))
        );
        let all = run(items, "config.items", json!([]), json!({}))
            .await
            .unwrap();
        assert_eq!(all["id"], json!("m1"));
        assert_eq!(all["mycustom"], json!("hello"));
        assert_eq!(all["grains"]["os"], json!("Debian"));
        assert_eq!(
            run(dot_vals, "config.dot_vals", json!(["redis"]), json!({})).await,
            Ok(json!({"redis.db": "5", "redis.host": "myredis"}))
        );
    }
}
