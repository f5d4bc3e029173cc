//! Nodegroups: named targets from the master's configuration, expanded by
//! the master into compound expressions before publishing (minions never see
//! `N@`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::compound::{split_parens, words};
use super::error::TargetError;

/// One entry of the master's `nodegroups`: a compound expression, or a list
/// of minion ids, which Salt reads as `L@a,b,c`.
///
/// ```yaml
/// nodegroups:
///   webs: 'G@role:web and not web9'
///   pair: [web1, db1]
///   all_but_webs: 'not N@webs'
/// ```
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum NodegroupDef {
    Compound(String),
    List(Vec<String>),
}

/// Expands nodegroup `name` into a compound expression, `N@` references
/// inside it included (each becomes `( ... )`).
pub fn expand_nodegroup(
    name: &str,
    nodegroups: &BTreeMap<String, NodegroupDef>,
) -> Result<String, TargetError> {
    Expander {
        nodegroups,
        chain: Vec::new(),
    }
    .expand_group(name)
}

/// Replaces every `N@name` word of a compound expression by `( ... )` holding
/// the nodegroup's expansion. Without `N@` words, `tgt` comes back unchanged.
pub fn expand_nodegroups_in_compound(
    tgt: &str,
    nodegroups: &BTreeMap<String, NodegroupDef>,
) -> Result<String, TargetError> {
    Expander {
        nodegroups,
        chain: Vec::new(),
    }
    .expand_compound(tgt)
}

struct Expander<'a> {
    nodegroups: &'a BTreeMap<String, NodegroupDef>,
    /// The nodegroups being expanded, outermost first: a name seen again is
    /// a cycle.
    chain: Vec<&'a str>,
}

impl<'a> Expander<'a> {
    fn expand_group(&mut self, name: &str) -> Result<String, TargetError> {
        if let Some(first) = self.chain.iter().position(|group| *group == name) {
            let mut chain: Vec<String> =
                self.chain[first..].iter().map(|g| g.to_string()).collect();
            chain.push(name.to_string());
            return Err(TargetError::NodegroupCycle { chain });
        }
        let Some((name, def)) = self.nodegroups.get_key_value(name) else {
            return Err(TargetError::UnknownNodegroup {
                name: name.to_string(),
                referenced_by: self.chain.last().map(|g| g.to_string()),
            });
        };
        let empty = || TargetError::EmptyNodegroup { name: name.clone() };
        match def {
            NodegroupDef::Compound(tgt) => {
                if tgt.trim().is_empty() {
                    return Err(empty());
                }
                self.chain.push(name);
                let expanded = self.expand_compound(tgt);
                self.chain.pop();
                expanded
            }
            NodegroupDef::List(ids) => {
                let ids: Vec<&str> = ids
                    .iter()
                    .map(|id| id.trim())
                    .filter(|id| !id.is_empty())
                    .collect();
                if ids.is_empty() {
                    return Err(empty());
                }
                Ok(format!("L@{}", ids.join(",")))
            }
        }
    }

    fn expand_compound(&mut self, tgt: &str) -> Result<String, TargetError> {
        let mut out = Vec::new();
        let mut expanded_any = false;
        for (_, word) in words(tgt) {
            let (opening, core, closing) = split_parens(word);
            match core.strip_prefix("N@") {
                Some(group) if !group.is_empty() => {
                    let expansion = self.expand_group(group)?;
                    out.push(format!(
                        "{}( {expansion} ){}",
                        "(".repeat(opening),
                        ")".repeat(closing)
                    ));
                    expanded_any = true;
                }
                _ => out.push(word.to_string()),
            }
        }
        Ok(if expanded_any {
            out.join(" ")
        } else {
            tgt.to_string()
        })
    }
}
