//! Users and groups as `/etc/passwd`, `/etc/group` and `/etc/shadow` say,
//! in the shape of Salt's `user.info` and `group.info`.

use serde_json::{json, Map, Value};

use super::run::Cmd;

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

/// Every user in `/etc/passwd` order, with memberships (Salt's `user.getent`).
pub fn all_users() -> Vec<UserInfo> {
    let (passwd, group) = (read(PASSWD), read(GROUP));
    passwd
        .lines()
        .filter_map(parse_passwd_line)
        .filter_map(|u| parse_user(&passwd, &group, &u.name))
        .collect()
}

/// What `useradd` is asked for (Salt's `user.add` arguments).
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub uid: Option<u32>,
    /// A group name or number.
    pub gid: Option<String>,
    pub home: Option<String>,
    pub shell: Option<String>,
    /// Supplementary groups.
    pub groups: Vec<String>,
    pub fullname: Option<String>,
    pub createhome: bool,
    pub system: bool,
    /// `false`: `-o`, a uid another user already has is accepted.
    pub unique: bool,
    /// `Some(true)`: `-U`, `Some(false)`: `-N`, `None`: login.defs decides.
    pub usergroup: Option<bool>,
    /// `-l`: do not add the user to lastlog and faillog.
    pub nologinit: bool,
}

/// Runs `useradd` for `name`; the error is the tool's message.
pub fn useradd(name: &str, u: &NewUser) -> Result<(), String> {
    let mut cmd = Cmd::new("useradd");
    if let Some(shell) = &u.shell {
        cmd = cmd.args(["-s", shell]);
    }
    if let Some(uid) = u.uid {
        cmd = cmd.args(["-u".to_string(), uid.to_string()]);
    }
    if let Some(gid) = &u.gid {
        cmd = cmd.args(["-g", gid]);
    } else if u.usergroup == Some(true) {
        cmd = cmd.arg("-U");
    }
    if u.usergroup == Some(false) {
        cmd = cmd.arg("-N");
    }
    cmd = cmd.arg(if u.createhome { "-m" } else { "-M" });
    if u.nologinit {
        cmd = cmd.arg("-l");
    }
    if let Some(home) = &u.home {
        cmd = cmd.args(["-d", home]);
    }
    if !u.unique {
        cmd = cmd.arg("-o");
    }
    if u.system {
        cmd = cmd.arg("-r");
    }
    if !u.groups.is_empty() {
        cmd = cmd.args(["-G".to_string(), u.groups.join(",")]);
    }
    if let Some(fullname) = u.fullname.as_ref().filter(|f| !f.is_empty()) {
        cmd = cmd.args(["-c", fullname]);
    }
    cmd.arg(name).run_ok().map(drop)
}

/// Runs `usermod <args> name`.
pub fn usermod(name: &str, args: &[&str]) -> Result<(), String> {
    Cmd::new("usermod")
        .args(args.iter().copied())
        .arg(name)
        .run_ok()
        .map(drop)
}

/// Runs `userdel [-r] [-f] name`. Like Salt, exit status 12 on Debian (the
/// mail spool was missing, yet the user is gone) counts as success.
pub fn userdel(name: &str, remove: bool, force: bool) -> Result<(), String> {
    let mut cmd = Cmd::new("userdel");
    if remove {
        cmd = cmd.arg("-r");
    }
    if force {
        cmd = cmd.arg("-f");
    }
    let cmd = cmd.arg(name);
    let out = cmd.run()?;
    let spool = out.stderr.contains("var/mail") || out.stderr.contains("var/spool/mail");
    if out.success() || (out.code == Some(12) && spool) {
        Ok(())
    } else {
        Err(format!("{} failed: {}", cmd.display(), out.error_text()))
    }
}

/// The GECOS field from its five parts, trailing empty ones dropped
/// (Salt's `_build_gecos`).
pub fn build_gecos(gecos: &[String; 5]) -> String {
    gecos.join(",").trim_end_matches(',').to_string()
}

/// Runs `groupadd [-g gid] [-r] [-o] name`.
pub fn groupadd(
    name: &str,
    gid: Option<u32>,
    system: bool,
    non_unique: bool,
) -> Result<(), String> {
    let mut cmd = Cmd::new("groupadd");
    if let Some(gid) = gid {
        cmd = cmd.arg("-g").arg(gid.to_string());
    }
    if system {
        cmd = cmd.arg("-r");
    }
    if non_unique {
        cmd = cmd.arg("-o");
    }
    cmd.arg(name).run_ok().map(drop)
}

pub fn groupdel(name: &str) -> Result<(), String> {
    Cmd::new("groupdel").arg(name).run_ok().map(drop)
}

/// Runs `groupmod -g gid [-o] name`.
pub fn groupmod_gid(name: &str, gid: &str, non_unique: bool) -> Result<(), String> {
    let mut cmd = Cmd::new("groupmod").args(["-g", gid]);
    if non_unique {
        cmd = cmd.arg("-o");
    }
    cmd.arg(name).run_ok().map(drop)
}

/// `gpasswd -a user group`.
pub fn group_add_member(group: &str, user: &str) -> Result<(), String> {
    Cmd::new("gpasswd")
        .args(["-a", user, group])
        .run_ok()
        .map(drop)
}

/// `gpasswd -d user group`.
pub fn group_del_member(group: &str, user: &str) -> Result<(), String> {
    Cmd::new("gpasswd")
        .args(["-d", user, group])
        .run_ok()
        .map(drop)
}

/// `gpasswd -M a,b,c group`: the member list replaced as a whole.
pub fn group_set_members(group: &str, members: &[String]) -> Result<(), String> {
    Cmd::new("gpasswd")
        .args(["-M", &members.join(","), group])
        .run_ok()
        .map(drop)
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
