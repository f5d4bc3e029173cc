//! `user.*`: local accounts from `/etc/passwd` and `/etc/group`, read-only
//! (formulas call `salt['user.info'](name).get('home')` while rendering).

use serde_json::{json, Map, Value};

use crate::registry::{Args, CallCtx, FunctionSpec, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "user.info",
        doc:
            "Return a user's account: {name, passwd, uid, gid, home, shell, fullname, roomnumber,\n\
              workphone, homephone, other, groups}; {} when there is no such user.\n\n\
              - name: the user name.",
        cli_example: "brine '*' user.info root",
        run: info,
    },
    FunctionSpec {
        name: "user.list_groups",
        doc:
            "Return the sorted names of the groups a user belongs to (primary group included).\n\n\
              - name: the user name.",
        cli_example: "brine '*' user.list_groups root",
        run: list_groups,
    },
    FunctionSpec {
        name: "user.list_users",
        doc: "Return the sorted names of all local users.",
        cli_example: "brine '*' user.list_users",
        run: list_users,
    },
];

const PASSWD: &str = "/etc/passwd";
const GROUP: &str = "/etc/group";

/// One `/etc/passwd` entry.
struct Account<'a> {
    name: &'a str,
    passwd: &'a str,
    uid: i64,
    gid: i64,
    gecos: &'a str,
    home: &'a str,
    shell: &'a str,
}

fn accounts(passwd: &str) -> impl Iterator<Item = Account<'_>> {
    passwd.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || line.starts_with('#') {
            return None;
        }
        Some(Account {
            name: f[0],
            passwd: f[1],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            gecos: f[4],
            home: f[5],
            shell: f[6],
        })
    })
}

/// The groups `name` is in: its primary group and every group listing it.
fn groups_of(group: &str, name: &str, gid: i64) -> Vec<String> {
    let mut out: Vec<String> = group
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            let member = f[3].split(',').any(|m| m == name);
            let primary = f[2].parse::<i64>().ok() == Some(gid);
            (member || primary).then(|| f[0].to_string())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Salt's `user.info` from the two files' text.
pub fn info_from(passwd: &str, group: &str, name: &str) -> Value {
    let Some(a) = accounts(passwd).find(|a| a.name == name) else {
        return Value::Object(Map::new());
    };
    // GECOS: full name, room number, work phone, home phone, other
    let mut gecos = a.gecos.splitn(5, ',');
    let mut field = || gecos.next().unwrap_or("").to_string();
    json!({
        "name": a.name,
        "passwd": a.passwd,
        "uid": a.uid,
        "gid": a.gid,
        "fullname": field(),
        "roomnumber": field(),
        "workphone": field(),
        "homephone": field(),
        "other": field(),
        "home": a.home,
        "shell": a.shell,
        "groups": groups_of(group, a.name, a.gid),
    })
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn info(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        a.finish()?;
        Ok(info_from(&read(PASSWD), &read(GROUP), &name).into())
    })
}

fn list_groups(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let name = a.take_str("name", 0)?;
        a.finish()?;
        let passwd = read(PASSWD);
        let gid = accounts(&passwd).find(|a| a.name == name).map(|a| a.gid);
        let groups = gid.map_or_else(Vec::new, |gid| groups_of(&read(GROUP), &name, gid));
        Ok(json!(groups).into())
    })
}

fn list_users(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        args.parser().finish()?;
        let passwd = read(PASSWD);
        let mut names: Vec<&str> = accounts(&passwd).map(|a| a.name).collect();
        names.sort_unstable();
        Ok(json!(names).into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD_TEXT: &str = "root:x:0:0:root:/root:/bin/bash\n\
                               joe:x:1000:1000:Joe Q,12,555,556,x:/home/joe:/bin/zsh\n";
    const GROUP_TEXT: &str = "root:x:0:\njoe:x:1000:\nadm:x:4:joe,ann\nwheel:x:10:root\n";

    #[test]
    fn info_reads_passwd_gecos_and_groups() {
        assert_eq!(
            info_from(PASSWD_TEXT, GROUP_TEXT, "joe"),
            json!({
                "name": "joe", "passwd": "x", "uid": 1000, "gid": 1000,
                "fullname": "Joe Q", "roomnumber": "12", "workphone": "555",
                "homephone": "556", "other": "x", "home": "/home/joe",
                "shell": "/bin/zsh", "groups": ["adm", "joe"]
            })
        );
        assert_eq!(
            info_from(PASSWD_TEXT, GROUP_TEXT, "root")["fullname"],
            "root"
        );
        assert_eq!(info_from(PASSWD_TEXT, GROUP_TEXT, "nobody"), json!({}));
    }
}
