//! `api_users` and `token_expire` from the master config.
//!
//! ```yaml
//! api_users:
//!   alice:
//!     password_hash: '$argon2id$v=19$m=19456,t=2,p=1$...'   # brine-master --hash-password
//!     groups: [ops]                    # for `ops%` entries of publisher_acl
//!     areas: [inventory, jobs, events] # what the API lets her read
//!   root-bot:
//!     password_hash: '...'
//!     admin: true                      # keys and every area
//! token_expire: 43200                  # seconds a login token lasts (Salt's key)
//! ```

use std::collections::{BTreeMap, BTreeSet};

use brine_proto::conf::{ConfError, RawConfig};

/// What the API lets a user read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Area {
    Inventory,
    Jobs,
    Keys,
    Events,
    Audit,
}

impl Area {
    pub const ALL: [Area; 5] = [
        Area::Inventory,
        Area::Jobs,
        Area::Keys,
        Area::Events,
        Area::Audit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Area::Inventory => "inventory",
            Area::Jobs => "jobs",
            Area::Keys => "keys",
            Area::Events => "events",
            Area::Audit => "audit",
        }
    }

    pub fn parse(s: &str) -> Option<Area> {
        Area::ALL.into_iter().find(|a| a.name() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiUser {
    pub name: String,
    pub password_hash: Option<String>,
    pub groups: Vec<String>,
    pub areas: BTreeSet<Area>,
    pub admin: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    pub users: BTreeMap<String, ApiUser>,
    /// How long a login token lasts (`token_expire`, seconds; Salt's 12 h).
    pub token_expire_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            users: BTreeMap::new(),
            token_expire_secs: 43_200,
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    #[serde(default)]
    password_hash: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    areas: Vec<String>,
    #[serde(default)]
    admin: bool,
}

fn bad(raw: &RawConfig, key: &str, message: String) -> ConfError {
    ConfError::BadValue {
        file: raw.file().to_string(),
        key: key.into(),
        message,
    }
}

/// Reads `api_users` and `token_expire`.
pub fn from_raw(raw: &mut RawConfig) -> Result<AuthConfig, ConfError> {
    let token_expire_secs = raw.get::<u64>("token_expire")?.unwrap_or(43_200).max(60);
    let users_yaml: BTreeMap<String, serde_yaml::Value> = raw.get("api_users")?.unwrap_or_default();
    let mut users = BTreeMap::new();
    for (name, v) in users_yaml {
        let u: RawUser = serde_yaml::from_value(v)
            .map_err(|e| bad(raw, "api_users", format!("user '{name}': {e}")))?;
        if let Some(h) = &u.password_hash {
            super::password::check_format(h).map_err(|e| {
                bad(
                    raw,
                    "api_users",
                    format!("user '{name}': password_hash: {e}"),
                )
            })?;
        }
        let mut areas = BTreeSet::new();
        for a in &u.areas {
            let area = Area::parse(a).ok_or_else(|| {
                let names: Vec<&str> = Area::ALL.iter().map(|a| a.name()).collect();
                bad(
                    raw,
                    "api_users",
                    format!(
                        "user '{name}': unknown area '{a}' (areas: {})",
                        names.join(", ")
                    ),
                )
            })?;
            areas.insert(area);
        }
        users.insert(
            name.clone(),
            ApiUser {
                name,
                password_hash: u.password_hash,
                groups: u.groups,
                areas,
                admin: u.admin,
            },
        );
    }
    Ok(AuthConfig {
        users,
        token_expire_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AuthConfig, ConfError> {
        from_raw(&mut RawConfig::parse("master", text).unwrap())
    }

    #[test]
    fn users_areas_and_expiry() {
        let h = crate::auth::password::hash("pw").unwrap();
        let c = parse(&format!(
            "api_users:\n  alice:\n    password_hash: '{h}'\n    groups: [ops]\n    areas: [inventory, events]\n  bob:\n    admin: true\ntoken_expire: 600\n"
        ))
        .unwrap();
        assert_eq!(c.token_expire_secs, 600);
        let alice = &c.users["alice"];
        assert_eq!(alice.groups, ["ops"]);
        assert!(alice.areas.contains(&Area::Events) && !alice.areas.contains(&Area::Keys));
        assert!(c.users["bob"].admin);
        assert_eq!(parse("").unwrap(), AuthConfig::default());
        let e = parse("api_users:\n  carol:\n    password_hash: plain\n").unwrap_err();
        assert!(e.to_string().contains("--hash-password"), "{e}");
        let e = parse("api_users:\n  carol:\n    areas: [secrets]\n").unwrap_err();
        assert!(e.to_string().contains("unknown area 'secrets'"), "{e}");
        let e = parse("api_users:\n  carol:\n    pasword_hash: x\n").unwrap_err();
        assert!(e.to_string().contains("pasword_hash"), "{e}");
    }
}
