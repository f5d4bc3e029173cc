//! The top file: which SLS each minion gets, per environment (Salt's
//! `HighState.top_matches`). The same code serves `state.highstate` and
//! the pillar top.

use std::collections::BTreeMap;

use brine_proto::targeting::{expand_nodegroup, MinionFacts, NodegroupDef, TargetExpr, TargetType};
use serde_json::{Map, Value};

/// Environment -> SLS names, in top-file order, without duplicates.
pub type TopMatches = Vec<(String, Vec<String>)>;

/// Evaluates merged top data (`{env: {target: [sls..., {match: grain}]}}`)
/// for one minion. `only_env` restricts to one environment (`saltenv=`).
/// Targets this minion cannot evaluate (data, an unknown nodegroup) never
/// match and are reported in the returned warnings; pillar targets match the
/// pillar in `facts` (none when compiling the pillar's own top); nodegroups
/// come from `nodegroups` (the config of whoever evaluates the top file).
pub fn top_matches(
    top: &Map<String, Value>,
    facts: &MinionFacts<'_>,
    only_env: Option<&str>,
    nodegroups: &BTreeMap<String, NodegroupDef>,
) -> (TopMatches, Vec<String>) {
    let mut out: TopMatches = Vec::new();
    let mut warnings = Vec::new();
    for (saltenv, body) in top {
        if only_env.is_some_and(|e| e != saltenv) {
            continue;
        }
        let Value::Object(body) = body else { continue };
        for (target, data) in body {
            let items: Vec<Value> = match data {
                Value::Array(a) => a.clone(),
                Value::String(s) => vec![Value::String(s.clone())],
                _ => continue,
            };
            let mut matcher = "glob".to_string();
            let mut sls = Vec::new();
            for item in &items {
                match item {
                    Value::String(s) => sls.push(s.clone()),
                    Value::Object(m) => {
                        if let Some(Value::String(kind)) = m.get("match") {
                            matcher = kind.clone();
                        }
                    }
                    _ => {}
                }
            }
            let mut target = target.clone();
            let kind = match matcher.as_str() {
                "glob" => TargetType::Glob,
                "pcre" => TargetType::Pcre,
                "list" => TargetType::List,
                "grain" => TargetType::Grain,
                "grain_pcre" => TargetType::GrainPcre,
                "compound" => TargetType::Compound,
                "ipcidr" => TargetType::Ipcidr,
                "pillar" => TargetType::Pillar,
                "pillar_pcre" => TargetType::PillarPcre,
                "nodegroup" => match expand_nodegroup(&target, nodegroups) {
                    Ok(expanded) => {
                        target = expanded;
                        TargetType::Compound
                    }
                    Err(e) => {
                        warnings.push(format!(
                            "top file target '{target}' in env '{saltenv}': {e}"
                        ));
                        continue;
                    }
                },
                other => {
                    warnings.push(format!("top file target '{target}' uses match '{other}', which this minion cannot evaluate"));
                    continue;
                }
            };
            let matched = match TargetExpr::parse(&target, kind) {
                Ok(expr) => expr.matches(facts),
                Err(e) => {
                    warnings.push(format!(
                        "top file target '{target}' in env '{saltenv}': {e}"
                    ));
                    false
                }
            };
            if !matched {
                continue;
            }
            let idx = match out.iter().position(|(e, _)| e == saltenv) {
                Some(i) => i,
                None => {
                    out.push((saltenv.clone(), Vec::new()));
                    out.len() - 1
                }
            };
            for s in sls {
                if !out[idx].1.contains(&s) {
                    out[idx].1.push(s);
                }
            }
        }
    }
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn glob_grain_and_compound_targets() {
        let top = json!({"base": {
            "*": ["common"],
            "web*": ["web", "common"],
            "os:Debian": [{"match": "grain"}, "debian"],
            "G@os:RedHat or db*": [{"match": "compound"}, "never"],
        }});
        let grains = json!({"os": "Debian"}).as_object().unwrap().clone();
        let facts = MinionFacts {
            id: "web1",
            grains: &grains,
            pillar: None,
        };
        let (m, w) = top_matches(top.as_object().unwrap(), &facts, None, &BTreeMap::new());
        assert!(w.is_empty());
        assert_eq!(
            m,
            vec![(
                "base".to_string(),
                vec!["common".into(), "web".into(), "debian".into()]
            )]
        );
    }
}
