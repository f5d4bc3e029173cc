//! Users and groups as `/etc/passwd`, `/etc/group` and `/etc/shadow` say,
//! in the shape of Salt's `user.info` and `group.info`.

use serde_json::{json, Map, Value};

const PASSWD: &str = "/etc/passwd";
const GROUP: &str = "/etc/group";
const SHADOW: &str = "/etc/shadow";

/// One `/etc/passwd` entry plus its group memberships.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInfo {
    pub name: String,
    pub passwd: String,
    pub uid: u32,
    pub gid: u32,
    /// The five GECOS fields: fullname, roomnumber, workphone, homephone, other.
    pub gecos: [String; 5],
    pub home: String,
    pub shell: String,
    /// Every group the user is in, its primary group included, sorted.
    pub groups: Vec<String>,
}

impl UserInfo {
    pub fn fullname(&self) -> &str {
        &self.gecos[0]
    }

    /// Salt's `user.info` dictionary.
    pub fn to_json(&self) -> Map<String, Value> {
        let v = json!({
            "gid": self.gid,
            "groups": self.groups,
            "home": self.home,
            "name": self.name,
            "passwd": self.passwd,
            "shell": self.shell,
            "uid": self.uid,
            "fullname": self.gecos[0],
            "roomnumber": self.gecos[1],
            "workphone": self.gecos[2],
            "homephone": self.gecos[3],
            "other": self.gecos[4],
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

/// One `/etc/group` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupInfo {
    pub name: String,
    pub passwd: String,
    pub gid: u32,
    pub members: Vec<String>,
}

impl GroupInfo {
    /// Salt's `group.info` dictionary.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("passwd".into(), json!(self.passwd));
        m.insert("gid".into(), json!(self.gid));
        m.insert("members".into(), json!(self.members));
        m
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Parses `/etc/group` text.
pub fn parse_groups(text: &str) -> Vec<GroupInfo> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(GroupInfo {
                name: f[0].to_string(),
                passwd: f[1].to_string(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// Parses one `/etc/passwd` line (without group memberships).
fn parse_passwd_line(line: &str) -> Option<UserInfo> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 7 {
        return None;
    }
    let mut gecos: [String; 5] = Default::default();
    for (slot, part) in gecos.iter_mut().zip(f[4].splitn(5, ',')) {
        *slot = part.to_string();
    }
    Some(UserInfo {
        name: f[0].to_string(),
        passwd: f[1].to_string(),
        uid: f[2].parse().ok()?,
        gid: f[3].parse().ok()?,
        gecos,
        home: f[5].to_string(),
        shell: f[6].to_string(),
        groups: Vec::new(),
    })
}

/// A user from `passwd` and `group` texts.
pub fn parse_user(passwd: &str, group: &str, name: &str) -> Option<UserInfo> {
    let mut user = passwd
        .lines()
        .filter_map(parse_passwd_line)
        .find(|u| u.name == name)?;
    let groups = parse_groups(group);
    let mut names: Vec<String> = groups
        .iter()
        .filter(|g| g.gid == user.gid || g.members.iter().any(|m| m == name))
        .map(|g| g.name.clone())
        .collect();
    names.sort();
    names.dedup();
    user.groups = names;
    Some(user)
}

pub fn user_info(name: &str) -> Option<UserInfo> {
    parse_user(&read(PASSWD), &read(GROUP), name)
}

pub fn all_groups() -> Vec<GroupInfo> {
    parse_groups(&read(GROUP))
}

pub fn group_info(name: &str) -> Option<GroupInfo> {
    all_groups().into_iter().find(|g| g.name == name)
}

/// A group's gid from its name or a number given as text.
pub fn group_to_gid(group: &str) -> Option<u32> {
    group_info(group)
        .map(|g| g.gid)
        .or_else(|| group.parse().ok())
}

pub fn gid_to_group(gid: u32) -> Option<String> {
    all_groups()
        .into_iter()
        .find(|g| g.gid == gid)
        .map(|g| g.name)
}

/// The password hash field of `/etc/shadow` for `name`.
pub fn shadow_hash(name: &str) -> Option<String> {
    read(SHADOW).lines().find_map(|line| {
        let mut f = line.split(':');
        (f.next() == Some(name)).then(|| f.next().unwrap_or("").to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD_TEXT: &str = "root:x:0:0:root:/root:/bin/bash\n\
        alice:x:1000:1000:Alice A,12,555,,x:/home/alice:/bin/zsh\n";
    const GROUP_TEXT: &str = "root:x:0:\nalice:x:1000:\nwheel:x:10:alice,bob\nadm:x:4:bob\n";

    #[test]
    fn user_info_has_salts_keys_and_sorted_groups() {
        let u = parse_user(PASSWD_TEXT, GROUP_TEXT, "alice").unwrap();
        assert_eq!(u.groups, vec!["alice", "wheel"]);
        assert_eq!(u.fullname(), "Alice A");
        let j = u.to_json();
        assert_eq!(j["roomnumber"], "12");
        assert_eq!(j["homephone"], "");
        assert_eq!(j["other"], "x");
        assert_eq!(j["uid"], 1000);
        assert!(parse_user(PASSWD_TEXT, GROUP_TEXT, "nobody").is_none());
    }

    #[test]
    fn groups_parse_members() {
        let g = parse_groups(GROUP_TEXT);
        assert_eq!(g[2].members, vec!["alice", "bob"]);
        assert!(g[0].members.is_empty());
    }
}
