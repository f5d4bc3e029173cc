//! Salt-compatible target expressions: which minions a job is for.
//!
//! One parser for master and minion alike. The master parses a target to
//! know which minions to expect; each minion parses the published target and
//! decides for itself whether it matches. Nodegroups are the exception: only
//! the master knows them, so it expands them ([`expand_nodegroup`],
//! [`expand_nodegroups_in_compound`]) before publishing.
//!
//! | type         | CLI  | example                         | matches against        |
//! |--------------|------|---------------------------------|------------------------|
//! | `glob`       |      | `web*`                          | minion id              |
//! | `pcre`       | `-E` | `web\d+` (anchored at the start) | minion id             |
//! | `list`       | `-L` | `web1, db12`                    | minion id              |
//! | `grain`      | `-G` | `os:Debian`, `roles:web`        | grains, glob value     |
//! | `grain_pcre` | `-P` | `os:Deb\|Ubu`                   | grains, regex value    |
//! | `ipcidr`     | `-S` | `10.0.0.0/8`, `fe80::1`         | grains `ipv4`, `ipv6`  |
//! | `pillar`     | `-I` | `role:web`, `users:alice:*`     | pillar, glob value     |
//! | `pillar_pcre`| `-J` | `role:web\d+`                   | pillar, regex value    |
//! | `compound`   | `-C` | `G@os:Debian and not web2`      | all of the above       |
//! | `nodegroup`  | `-N` | `webs`                          | expanded by the master |
//!
//! In compounds, `G@`, `P@`, `E@`, `L@`, `S@` prefix a word with its type and
//! a bare word is a glob on the id; `I@` and `J@` match the pillar. The
//! pillar is the minion's own; the master matches against the pillar it last
//! compiled for each minion (Salt's pillar cache), and a minion whose pillar
//! it has not compiled yet does not match.
//!
//! **Boundary:** [`TargetType`] is on the wire (`Job::tgt_type`), and so is
//! the syntax: master and minions of different versions must agree on it.

mod compound;
mod error;
mod glob;
mod grain;
mod matcher;
mod nodegroup;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use error::{Problem, TargetError};
pub use nodegroup::{expand_nodegroup, expand_nodegroups_in_compound, NodegroupDef};

use compound::Node;
use matcher::Matcher;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    Glob,
    Pcre,
    List,
    Grain,
    GrainPcre,
    Compound,
    Ipcidr,
    Nodegroup,
    Pillar,
    PillarPcre,
}

impl TargetType {
    /// Salt's `tgt_type` name, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Glob => "glob",
            TargetType::Pcre => "pcre",
            TargetType::List => "list",
            TargetType::Grain => "grain",
            TargetType::GrainPcre => "grain_pcre",
            TargetType::Compound => "compound",
            TargetType::Ipcidr => "ipcidr",
            TargetType::Nodegroup => "nodegroup",
            TargetType::Pillar => "pillar",
            TargetType::PillarPcre => "pillar_pcre",
        }
    }
}

impl fmt::Display for TargetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TargetType {
    type Err = TargetError;

    /// Reads Salt's `tgt_type` names: `glob`, `pcre`, `list`, `grain`,
    /// `grain_pcre`, `compound`, `ipcidr`, `nodegroup`, `pillar`, `pillar_pcre`.
    fn from_str(name: &str) -> Result<TargetType, TargetError> {
        Ok(match name {
            "glob" => TargetType::Glob,
            "pcre" => TargetType::Pcre,
            "list" => TargetType::List,
            "grain" => TargetType::Grain,
            "grain_pcre" => TargetType::GrainPcre,
            "compound" => TargetType::Compound,
            "ipcidr" => TargetType::Ipcidr,
            "nodegroup" => TargetType::Nodegroup,
            "pillar" => TargetType::Pillar,
            "pillar_pcre" => TargetType::PillarPcre,
            _ => return Err(TargetError::UnknownTargetType(name.to_string())),
        })
    }
}

/// What a target is matched against: one minion's id, grains and pillar.
#[derive(Clone, Copy, Debug)]
pub struct MinionFacts<'a> {
    pub id: &'a str,
    pub grains: &'a crate::Grains,
    /// `None` when the pillar is not known (not compiled yet): pillar
    /// targets do not match.
    pub pillar: Option<&'a crate::Grains>,
}

/// A parsed target with its globs and regexes compiled, ready to be matched
/// against many minions.
#[derive(Clone, Debug)]
pub struct TargetExpr {
    root: Node,
}

impl TargetExpr {
    /// Parses `tgt` of type `tgt_type`. `Nodegroup` is an error here: the
    /// master expands nodegroups first.
    pub fn parse(tgt: &str, tgt_type: TargetType) -> Result<TargetExpr, TargetError> {
        if tgt.trim().is_empty() {
            return Err(TargetError::Empty);
        }
        let root = match tgt_type {
            TargetType::Glob => Matcher::glob(tgt, 0).map(Node::Target),
            TargetType::Pcre => Matcher::pcre(tgt, 0).map(Node::Target),
            TargetType::List => Ok(Node::Target(Matcher::list(tgt))),
            TargetType::Grain => Matcher::grain(tgt, 0, ':', false).map(Node::Target),
            TargetType::GrainPcre => Matcher::grain(tgt, 0, ':', true).map(Node::Target),
            TargetType::Ipcidr => Matcher::ipcidr(tgt, 0).map(Node::Target),
            TargetType::Pillar => Matcher::pillar(tgt, 0, ':', false).map(Node::Target),
            TargetType::PillarPcre => Matcher::pillar(tgt, 0, ':', true).map(Node::Target),
            TargetType::Compound => compound::parse(tgt),
            TargetType::Nodegroup => {
                return Err(TargetError::NodegroupNotExpanded {
                    name: tgt.to_string(),
                })
            }
        }
        .map_err(|spanned| spanned.into_error(tgt_type, tgt))?;
        Ok(TargetExpr { root })
    }

    /// Whether the minion described by `facts` is targeted.
    pub fn matches(&self, facts: &MinionFacts<'_>) -> bool {
        self.root.matches(facts)
    }

    /// True if the expression can only be decided with grains (`G@`, `P@`,
    /// `S@` anywhere in it): the id alone is not enough.
    pub fn needs_grains(&self) -> bool {
        self.root.needs_grains()
    }

    /// The top-level grains matching reads (empty: the id is enough). A
    /// minion's facts need hold only these for [`TargetExpr::matches`] to
    /// give the same answer as with all of its grains.
    pub fn grain_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        self.root.grain_keys(&mut keys);
        keys.sort();
        keys.dedup();
        keys
    }
}
