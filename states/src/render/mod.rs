//! Salt's renderers for SLS files and templates: Jinja (on minijinja, made
//! to behave like Salt's Jinja2 environment) then YAML, as the file's `#!`
//! line says.
//!
//! How Python semantics are obtained on minijinja:
//! - maps and lists are shared mutable objects ([`mutable`]), so
//!   `{% do d.update(...) %}` works as in Python;
//! - the source is rewritten before compiling ([`preprocess`]): Salt's
//!   extension tags become plain Jinja, literals become mutable objects and
//!   `%`, `~`, `+` get Python's meaning;
//! - values print as Python's `str()` ([`pyrepr`]);
//! - the `salt` mapping and template loading reach the caller's
//!   [`ExecCaller`] and [`FileSource`] through a channel ([`host`]).

mod context;
mod env;
mod errors;
mod filters;
mod gpg;
mod host;
mod mutable;
mod preprocess;
mod pyformat;
mod pyrepr;
mod salt_object;
#[cfg(test)]
mod tests;

use minijinja::value::Value;
use serde_json::Map;

pub use errors::{JinjaErrorKind, RenderError};

use crate::caller::ExecCaller;
use crate::source::FileSource;
use crate::yaml;

/// What a render sees of the minion.
pub struct RenderEnv<'a> {
    /// `salt://` reads for import/include/import_yaml.
    pub files: &'a dyn FileSource,
    /// The `salt` mapping: `salt['pillar.get'](...)`, `salt.grains.filter_by(...)`.
    pub caller: &'a dyn ExecCaller,
    pub grains: &'a Map<String, serde_json::Value>,
    pub pillar: &'a serde_json::Value,
    /// The minion config as a mapping.
    pub opts: &'a serde_json::Value,
    pub saltenv: &'a str,
}

/// A renderer with a fixed context (files, `salt`, grains, pillar, opts):
/// what the minion renders SLS files and templates with, and the master
/// pillar. It is the compiler's `SlsRenderer`.
pub struct ContextRenderer<'a> {
    pub files: &'a dyn FileSource,
    pub caller: &'a dyn ExecCaller,
    pub grains: &'a Map<String, serde_json::Value>,
    pub pillar: &'a serde_json::Value,
    pub opts: &'a serde_json::Value,
}

/// `file.managed template: jinja` through a [`ContextRenderer`] in one
/// saltenv: the minion's state runs and the master's orchestration both
/// render templates this way.
pub struct ContextTemplates<'a> {
    pub renderer: &'a ContextRenderer<'a>,
    pub saltenv: &'a str,
}

impl crate::TemplateRenderer for ContextTemplates<'_> {
    fn render(
        &self,
        engine: &str,
        text: &str,
        source_path: &str,
        extra: &Map<String, serde_json::Value>,
    ) -> Result<String, String> {
        if !engine.eq_ignore_ascii_case("jinja") {
            return Err(format!(
                "template engine '{engine}' is not supported (jinja is)"
            ));
        }
        let env = self.renderer.env(self.saltenv);
        let path = source_path.strip_prefix("salt://").unwrap_or(source_path);
        render_template(&env, path, text, extra).map_err(|e| e.to_string())
    }
}

impl ContextRenderer<'_> {
    /// The render environment of this context in `saltenv`.
    pub fn env<'s>(&'s self, saltenv: &'s str) -> RenderEnv<'s> {
        RenderEnv {
            files: self.files,
            caller: self.caller,
            grains: self.grains,
            pillar: self.pillar,
            opts: self.opts,
            saltenv,
        }
    }
}

impl crate::compile::SlsRenderer for ContextRenderer<'_> {
    fn render(
        &self,
        saltenv: &str,
        sls: &str,
        path: &str,
        text: &str,
    ) -> Result<crate::yaml::Node, String> {
        render_sls(&self.env(saltenv), sls, path, text).map_err(|e| e.to_string())
    }
}

/// The renderer pipeline of an SLS: its `#!` line, else the `renderer`
/// option, else `jinja|yaml`.
fn pipeline(text: &str, opts: &serde_json::Value) -> Vec<String> {
    let first = text.lines().next().unwrap_or_default();
    let spec = match first.strip_prefix("#!") {
        Some(s) if !s.starts_with('/') => s.trim().to_string(),
        _ => opts
            .get("renderer")
            .and_then(|r| r.as_str())
            .unwrap_or("jinja|yaml")
            .to_string(),
    };
    spec.split('|')
        .map(|p| {
            // a renderer may carry arguments (`jinja -s`); only the name counts
            p.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_lowercase()
        })
        .filter(|p| !p.is_empty())
        .collect()
}

/// Renders one SLS file (`path` relative to the env root, e.g.
/// `nginx/config.sls` or `nginx/init.sls`; `sls` is `nginx.config` or
/// `nginx`) following its shebang (`#!yaml`, `#!jinja|yaml`; default
/// `jinja|yaml`) into a YAML node.
pub fn render_sls(
    env: &RenderEnv,
    sls: &str,
    path: &str,
    text: &str,
) -> Result<yaml::Node, RenderError> {
    let stages = pipeline(text, env.opts);
    // each stage takes the text, or the data once a data renderer loaded it
    let mut rendered = Rendered::Text(text.to_string());
    for stage in &stages {
        rendered = match (stage.as_str(), rendered) {
            ("jinja", Rendered::Text(t)) => {
                Rendered::Text(render_jinja(env, path, Some(sls), &t, &Map::new())?)
            }
            ("yaml" | "yamlex" | "json", Rendered::Text(t)) => {
                // Salt's "Rendered data from file" at its garbage level
                tracing::trace!("rendered data from file: {path}:\n{t}");
                Rendered::Data(yaml::load(&t).map_err(|e| RenderError::Yaml {
                    file: path.to_string(),
                    message: e.message,
                    line: e.line,
                })?)
            }
            ("gpg", current) => {
                let gpg = gpg::Gpg::from_opts(env.opts).map_err(RenderError::Gpg)?;
                match current {
                    Rendered::Text(t) => {
                        Rendered::Text(gpg.decrypt_text(&t).map_err(RenderError::Gpg)?)
                    }
                    Rendered::Data(n) => {
                        Rendered::Data(gpg.decrypt_node(n).map_err(RenderError::Gpg)?)
                    }
                }
            }
            ("jinja" | "yaml" | "yamlex" | "json", Rendered::Data(_)) => {
                return Err(RenderError::MisplacedRenderer {
                    stage: stage.clone(),
                    pipe: stages.join("|"),
                })
            }
            (other, _) => return Err(RenderError::UnknownRenderer(other.to_string())),
        };
    }
    Ok(match rendered {
        Rendered::Data(node) => node,
        Rendered::Text(t) => yaml::Node::Str(t),
    })
}

/// What a renderer stage hands to the next.
enum Rendered {
    Text(String),
    Data(yaml::Node),
}

/// Renders a Jinja template to text (for `file.managed` `template: jinja`),
/// with `extra` variables (`defaults` overlaid by `context`, plus `sls`
/// when rendering for a state) added to the usual context.
pub fn render_template(
    env: &RenderEnv,
    path: &str,
    text: &str,
    extra: &Map<String, serde_json::Value>,
) -> Result<String, RenderError> {
    let sls = extra.get("sls").and_then(|s| s.as_str());
    render_jinja(env, path, sls, text, extra)
}

/// The Jinja stage. `sls` is `None` for a template outside any SLS.
fn render_jinja(
    env: &RenderEnv,
    path: &str,
    sls: Option<&str>,
    text: &str,
    extra: &Map<String, serde_json::Value>,
) -> Result<String, RenderError> {
    let name = env::join_path(path, "");
    let source = preprocess::preprocess(text, &name);
    let mut json_globals: Vec<(String, serde_json::Value)> = vec![
        (
            "grains".into(),
            serde_json::Value::Object(env.grains.clone()),
        ),
        ("pillar".into(), env.pillar.clone()),
        ("opts".into(), env.opts.clone()),
        ("saltenv".into(), env.saltenv.into()),
    ];
    if let Some(sls) = sls {
        json_globals.push(("sls".into(), sls.into()));
        for (k, v) in context::sls_context(&name, sls) {
            json_globals.push((k.to_string(), v.into()));
        }
    }
    for (k, v) in extra {
        json_globals.push((k.clone(), v.clone()));
    }
    let rendered = host::run_with_host(env.caller, env.files, env.saltenv, |h| {
        let sources: env::Sources = Default::default();
        if let Ok(mut s) = sources.lock() {
            s.insert(name.clone(), source.clone());
        }
        let mut globals: Vec<(String, Value)> = vec![(
            "salt".to_string(),
            Value::from_object(salt_object::SaltFunctions { host: h.clone() }),
        )];
        globals.extend(json_globals.iter().map(|(k, v)| {
            let value = if k == "pillar" {
                mutable::from_pillar_json(v)
            } else {
                mutable::from_json(v)
            };
            (k.clone(), value)
        }));
        let source_of = |n: &str| sources.lock().ok().and_then(|s| s.get(n).cloned());
        let mut jenv = env::build(h, sources.clone(), globals);
        let result = jenv
            .add_template_owned(name.clone(), source.clone())
            .and_then(|_| jenv.get_template(&name))
            .and_then(|t| t.render(minijinja::context! {}));
        result.map_err(|e| errors::from_minijinja(&e, &name, &source_of))
    })
    .map_err(RenderError::Internal)?
    .map_err(|e| e.with_context(text))?;
    // Jinja drops the template's final newline; Salt puts it back
    let mut out = rendered;
    if text.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}
