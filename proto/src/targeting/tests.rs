//! A small fleet with different grains; every case names the exact minions
//! it must select.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

const FLEET: &[&str] = &["web1", "web2", "db12", "lb-1.example.com"];

fn grains_of(id: &str) -> crate::Grains {
    let grains = match id {
        "web1" => json!({
            "os": "Debian",
            "os_family": "Debian",
            "kernel": "Linux",
            "roles": ["web", "cache"],
            "osrelease_info": [12],
            "num_cpus": 4,
            "mem_gb": 7.5,
            "virtual_bool": true,
            "nothing": null,
            "ipv4": ["127.0.0.1", "10.1.2.3"],
            "ip4_interfaces": {"eth0": ["10.1.2.3"]},
            "custom": {"rack": {"row": "a:1"}},
        }),
        "web2" => json!({
            "os": "Ubuntu",
            "os_family": "Debian",
            "kernel": "Linux",
            "roles": ["web"],
            "osrelease_info": [22, 4],
            "num_cpus": 2,
            "virtual_bool": false,
            "boot_time": "12:30:00",
            "ipv4": ["127.0.0.1", "10.1.3.7"],
            "ipv6": ["::1", "2001:db8::10"],
            "custom": {"rack": {"row": "b:2"}},
        }),
        "db12" => json!({
            "os": "Rocky",
            "os_family": "RedHat",
            "kernel": "Linux",
            "roles": ["db"],
            "num_cpus": 16,
            "ipv4": ["192.168.5.12"],
            "ipv6": ["fe80::1"],
            "disks": [{"name": "sda", "size": 100}, {"name": "sdb", "size": 200}],
            "locale_info": {"timezone": "UTC"},
        }),
        _ => json!({}),
    };
    match grains {
        serde_json::Value::Object(map) => map,
        _ => unreachable!(),
    }
}

/// Pillar known for web1 and db12; web2's was never compiled (`None`).
fn pillar_of(id: &str) -> Option<crate::Grains> {
    let pillar = match id {
        "web1" => json!({"role": "web", "users": {"alice": "admin"}}),
        "db12" => json!({"role": "db", "users": {"bob": "dba"}}),
        "lb-1.example.com" => json!({}),
        _ => return None,
    };
    match pillar {
        serde_json::Value::Object(map) => Some(map),
        _ => unreachable!(),
    }
}

/// The minions of the fleet `tgt` selects, in fleet order.
fn selected(tgt_type: TargetType, tgt: &str) -> Vec<&'static str> {
    let expr = TargetExpr::parse(tgt, tgt_type).unwrap_or_else(|e| panic!("{tgt}: {e}"));
    FLEET
        .iter()
        .copied()
        .filter(|id| {
            let grains = grains_of(id);
            let pillar = pillar_of(id);
            let all = expr.matches(&MinionFacts {
                id,
                grains: &grains,
                pillar: pillar.as_ref(),
            });
            // The master matches with only the grains the target reads.
            let keys = expr.grain_keys();
            let some: crate::Grains = grains
                .iter()
                .filter(|(k, _)| keys.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let selected = expr.matches(&MinionFacts {
                id,
                grains: &some,
                pillar: pillar.as_ref(),
            });
            assert_eq!(all, selected, "{tgt} on {id} with only {keys:?}");
            all
        })
        .collect()
}

fn check(tgt_type: TargetType, cases: &[(&str, &[&str])]) {
    for (tgt, want) in cases {
        assert_eq!(selected(tgt_type, tgt), *want, "{tgt_type} {tgt}");
    }
}

fn error_text(tgt_type: TargetType, tgt: &str) -> String {
    match TargetExpr::parse(tgt, tgt_type) {
        Ok(_) => panic!("{tgt_type} {tgt}: parsed but should not"),
        Err(e) => e.to_string(),
    }
}

const ALL: &[&str] = FLEET;
const NONE: &[&str] = &[];

#[test]
fn glob_on_the_id() {
    check(
        TargetType::Glob,
        &[
            ("*", ALL),
            ("web*", &["web1", "web2"]),
            ("web?", &["web1", "web2"]),
            ("web[!1]", &["web2"]),
            ("db[0-9]*", &["db12"]),
            ("*.example.com", &["lb-1.example.com"]),
            ("web1", &["web1"]),
            ("web", NONE),
            ("WEB*", NONE),
        ],
    );
}

#[test]
fn pcre_on_the_id_is_anchored_at_the_start_only() {
    check(
        TargetType::Pcre,
        &[
            ("web", &["web1", "web2"]),
            (r"db\d+", &["db12"]),
            (r"db\d", &["db12"]),
            ("(web|db)1", &["web1", "db12"]),
            (r".*\d$", &["web1", "web2", "db12"]),
            ("example", NONE),
            (r"\d", NONE),
            (r"web1$", &["web1"]),
        ],
    );
}

#[test]
fn list_of_ids() {
    check(
        TargetType::List,
        &[
            ("web1,db12", &["web1", "db12"]),
            (" web1 , db12 ", &["web1", "db12"]),
            ("web1,web1", &["web1"]),
            ("web", NONE),
            ("web*", NONE),
        ],
    );
}

#[test]
fn grain_glob() {
    check(
        TargetType::Grain,
        &[
            ("os:Debian", &["web1"]),
            ("os_family:Debian", &["web1", "web2"]),
            ("os:*u*", &["web2"]),
            ("kernel:Linux", &["web1", "web2", "db12"]),
            ("missing:*", NONE),
            // Case-insensitive, as Salt lowers both sides.
            ("os:debian", &["web1"]),
            ("os:DEB*", &["web1"]),
        ],
    );
}

#[test]
fn grain_lists_match_any_element() {
    check(
        TargetType::Grain,
        &[
            ("roles:web", &["web1", "web2"]),
            ("roles:cache", &["web1"]),
            ("roles:c*", &["web1"]),
            ("osrelease_info:12", &["web1"]),
            ("osrelease_info:4", &["web2"]),
            // Lists of objects: the key path goes on into each element.
            ("disks:name:sdb", &["db12"]),
            // A numeric key indexes the list.
            ("disks:1:name:sdb", &["db12"]),
            ("disks:0:name:sdb", NONE),
            ("osrelease_info:0:22", &["web2"]),
        ],
    );
}

#[test]
fn nested_grains_and_colons_in_values() {
    check(
        TargetType::Grain,
        &[
            ("ip4_interfaces:eth0:10.1.2.3", &["web1"]),
            ("ip4_interfaces:eth0:10.1.*", &["web1"]),
            ("custom:rack:row:a:1", &["web1"]),
            ("custom:rack:row:*:2", &["web2"]),
            ("custom:rack:row:a", NONE),
            ("ipv6:fe80::1", &["db12"]),
            ("ipv6:*::*", &["web2", "db12"]),
            ("boot_time:12:30:*", &["web2"]),
            // An object at the end of the path matches on its keys.
            ("custom:rack", &["web1", "web2"]),
            ("locale_info:time*", &["db12"]),
            ("locale_info:timezone:UTC", &["db12"]),
        ],
    );
}

#[test]
fn scalars_compare_by_their_salt_string_form() {
    check(
        TargetType::Grain,
        &[
            ("virtual_bool:True", &["web1"]),
            ("virtual_bool:False", &["web2"]),
            ("virtual_bool:true", &["web1"]),
            ("nothing:None", &["web1"]),
            ("num_cpus:4", &["web1"]),
            ("num_cpus:1*", &["db12"]),
            ("num_cpus:?", &["web1", "web2"]),
            ("mem_gb:7.5", &["web1"]),
        ],
    );
}

#[test]
fn grain_pcre_searches_the_value() {
    check(
        TargetType::GrainPcre,
        &[
            ("os:^(Debian|Ubuntu)$", &["web1", "web2"]),
            ("os:bunt", NONE),
            ("os:ubu", &["web2"]),
            ("roles:^db$", &["db12"]),
            ("roles:^(web|db)$", &["web1", "web2", "db12"]),
            (r"num_cpus:^\d$", &["web1", "web2"]),
            ("custom:rack:row:^a:", &["web1"]),
            ("virtual_bool:^T", &["web1"]),
            ("os:debian", &["web1"]),
        ],
    );
}

#[test]
fn grain_pcre_drops_nested_readings_that_are_not_regexes() {
    // Read as key `custom:rack:row:(a` and value `1)`, the value does not
    // compile; read as key `custom:rack:row` and value `(a:1)`, it does.
    check(
        TargetType::GrainPcre,
        &[("custom:rack:row:(a:1)", &["web1"])],
    );
}

#[test]
fn ipcidr_v4_and_v6() {
    check(
        TargetType::Ipcidr,
        &[
            ("10.1.0.0/16", &["web1", "web2"]),
            ("10.1.2.0/24", &["web1"]),
            ("10.1.2.3", &["web1"]),
            ("10.1.2.3/32", &["web1"]),
            ("127.0.0.1", &["web1", "web2"]),
            ("0.0.0.0/0", &["web1", "web2", "db12"]),
            ("192.168.0.0/16", &["db12"]),
            ("172.16.0.0/12", NONE),
            // Host bits are dropped.
            ("10.1.2.99/24", &["web1"]),
            ("2001:db8::/32", &["web2"]),
            ("fe80::/10", &["db12"]),
            ("fe80::1", &["db12"]),
            ("::1", &["web2"]),
            ("::/0", &["web2", "db12"]),
            (" 10.1.3.7 ", &["web2"]),
        ],
    );
}

#[test]
fn compound_precedence_is_not_then_and_then_or() {
    check(
        TargetType::Compound,
        &[
            ("web* and G@os:Debian", &["web1"]),
            ("db12 or web* and G@os:Ubuntu", &["web2", "db12"]),
            ("(db12 or web*) and G@os:Ubuntu", &["web2"]),
            ("G@os:Ubuntu and web* or db12", &["web2", "db12"]),
            ("G@os:Ubuntu and (web* or db12)", &["web2"]),
            ("not G@os:Debian and web*", &["web2"]),
            (
                "not (G@os:Debian and web*)",
                &["web2", "db12", "lb-1.example.com"],
            ),
            ("web1 or web2 and db12", &["web1"]),
        ],
    );
}

#[test]
fn compound_not() {
    check(
        TargetType::Compound,
        &[
            ("not web*", &["db12", "lb-1.example.com"]),
            ("not not web1", &["web1"]),
            // Like Salt, `not` after a target means `and not`.
            ("web* not web2", &["web1"]),
            ("G@kernel:Linux not G@roles:web", &["db12"]),
            (
                "not ( G@os:Debian or G@os:Ubuntu )",
                &["db12", "lb-1.example.com"],
            ),
        ],
    );
}

#[test]
fn compound_parentheses_alone_or_stuck_to_words() {
    let want: &[&str] = &["web2", "db12"];
    check(
        TargetType::Compound,
        &[
            ("( web* or db* ) and not G@roles:cache", want),
            ("(web* or db*) and not G@roles:cache", want),
            ("((web* or db*)) and not G@roles:cache", want),
            ("( (web*) or (db*) ) and (not G@roles:cache)", want),
            // A `)` closing a group of the regex stays in the regex.
            ("E@web(1|2) and G@num_cpus:2", &["web2"]),
            ("(E@(web|db)1)", &["web1", "db12"]),
            ("(E@web(1|2) or db*)", &["web1", "web2", "db12"]),
        ],
    );
}

#[test]
fn compound_typed_words() {
    check(
        TargetType::Compound,
        &[
            ("L@web1,db12 or S@10.1.3.0/24", &["web1", "web2", "db12"]),
            ("P@os:^R and S@fe80::/10", &["db12"]),
            (r"E@db\d+ or E@lb", &["db12", "lb-1.example.com"]),
            ("G@custom:rack:row:a:1", &["web1"]),
            // Salt's custom delimiter form.
            ("G;@custom;rack;row;a:1", &["web1"]),
            ("P|@os|^Deb", &["web1"]),
            (
                "G@ip4_interfaces:eth0:10.1.2.3 or G@ipv6:fe80::1",
                &["web1", "db12"],
            ),
            (
                "*.example.com or G@virtual_bool:False",
                &["web2", "lb-1.example.com"],
            ),
        ],
    );
}

#[test]
fn pillar_targets_match_the_known_pillar_only() {
    check(
        TargetType::Compound,
        &[
            ("I@role:web or web2", &["web1", "web2"]),
            ("I@role:*", &["web1", "db12"]),
            ("not I@role:*", &["web2", "lb-1.example.com"]),
            ("J@role:^w.*", &["web1"]),
            ("I@users:bob:dba", &["db12"]),
        ],
    );
    check(
        TargetType::Pillar,
        &[("role:d*", &["db12"]), ("users:alice:*", &["web1"])],
    );
    check(
        TargetType::PillarPcre,
        &[("role:(web|db)$", &["web1", "db12"])],
    );
    assert!(
        error_text(TargetType::Compound, "I@role").contains("pillar target 'role' needs key:value")
    );
}

#[test]
fn which_targets_need_grains() {
    let cases: &[(TargetType, &str, bool)] = &[
        (TargetType::Glob, "web*", false),
        (TargetType::Pcre, "web", false),
        (TargetType::List, "web1,web2", false),
        (TargetType::Grain, "os:Debian", true),
        (TargetType::GrainPcre, "os:Deb", true),
        (TargetType::Ipcidr, "10.0.0.0/8", true),
        (TargetType::Compound, "web* or L@db12 or E@lb", false),
        (TargetType::Compound, "web* and not G@os:Debian", true),
        (TargetType::Compound, "web* or (db* and S@10.0.0.0/8)", true),
        (TargetType::Compound, "I@role:web", false),
    ];
    for (tgt_type, tgt, want) in cases {
        let expr = TargetExpr::parse(tgt, *tgt_type).unwrap();
        assert_eq!(expr.needs_grains(), *want, "{tgt_type} {tgt}");
    }
}

#[test]
fn syntax_error_points_at_the_token() {
    let text = error_text(TargetType::Compound, "G@os:Debian and and web*");
    assert_eq!(
        text,
        "invalid compound target 'G@os:Debian and and web*': unexpected 'and' at position 16\n  \
         G@os:Debian and and web*\n                  ^"
    );
    let err = TargetExpr::parse("G@os:Debian and and web*", TargetType::Compound).unwrap_err();
    assert_eq!(
        err,
        TargetError::Invalid {
            tgt_type: TargetType::Compound,
            expr: "G@os:Debian and and web*".to_string(),
            pos: 16,
            problem: Problem::Unexpected("and".to_string()),
        }
    );
}

/// `(expression, message, caret position)` for compound expressions.
#[test]
fn compound_errors() {
    let cases: &[(&str, &str, usize)] = &[
        ("and web*", "unexpected 'and'", 0),
        ("web* or or db*", "unexpected 'or'", 8),
        ("()", "unexpected ')'", 1),
        ("web* and", "missing target after 'and'", 5),
        ("web* and not", "missing target after 'not'", 9),
        ("web* db*", "missing operator before 'db*'", 5),
        ("(web* or db*", "unclosed '('", 0),
        ("web* and (", "unclosed '('", 9),
        ("(web*) db*", "missing operator before 'db*'", 7),
        ("( web* db* )", "missing operator before 'db*'", 7),
        ("web* or db*)", "unmatched ')'", 11),
        ("web* ) or db*", "unmatched ')'", 5),
        (
            "web* or X@foo",
            "unknown target type 'X@' at position 8; expected one of G@, P@, E@, L@, S@, I@, J@, N@",
            8,
        ),
        ("g@os:Debian", "unknown target type 'g@'", 0),
        ("web* or E@", "missing pattern after 'E@'", 8),
        ("web* and E@web(", "invalid regex 'web(': unclosed group", 14),
        ("P@os:Deb[", "invalid regex 'Deb[': unclosed character class", 8),
        ("web* or G@os", "grain target 'os' needs key:value", 8),
        ("G@os:web[9-1]", "invalid glob 'web[9-1]': invalid range; '9' > '1'", 5),
        ("web[9-1]", "invalid glob 'web[9-1]'", 0),
        ("db* or S@10.0.0.0/33", "invalid ip address or cidr '10.0.0.0/33'", 9),
        (
            "N@webs and web*",
            "nodegroup 'webs' must be expanded by the master before matching",
            0,
        ),
    ];
    for (tgt, message, pos) in cases {
        let text = error_text(TargetType::Compound, tgt);
        let first_line = text.lines().next().unwrap();
        assert!(
            first_line.starts_with(&format!("invalid compound target '{tgt}': ")),
            "{tgt}: {text}"
        );
        assert!(first_line.contains(message), "{tgt}: {text}");
        assert!(
            first_line.contains(&format!("at position {pos}")),
            "{tgt}: {text}"
        );
        let caret_line = text.lines().nth(2).unwrap();
        assert_eq!(
            caret_line,
            format!("  {}^", " ".repeat(*pos)),
            "{tgt}: {text}"
        );
    }
}

#[test]
fn errors_of_the_plain_types() {
    let cases: &[(TargetType, &str, &str)] = &[
        (
            TargetType::Pcre,
            "db(",
            "invalid pcre target 'db(': invalid regex 'db(': unclosed group at position 2\n  db(\n    ^",
        ),
        // Unbalanced on its own, even though `\A(?:a)|(b)` would compile.
        (
            TargetType::Pcre,
            "a)|(b",
            "invalid pcre target 'a)|(b': invalid regex 'a)|(b': unopened group at position 1\n  a)|(b\n   ^",
        ),
        (
            TargetType::Grain,
            "os",
            "invalid grain target 'os': grain target 'os' needs key:value at position 0\n  os\n  ^",
        ),
        (
            TargetType::GrainPcre,
            "os:(Deb",
            "invalid grain_pcre target 'os:(Deb': invalid regex '(Deb': unclosed group at position 3\n  os:(Deb\n     ^",
        ),
        (
            TargetType::Ipcidr,
            "10.0.0.300",
            "invalid ipcidr target '10.0.0.300': invalid ip address or cidr '10.0.0.300' at position 0\n  10.0.0.300\n  ^",
        ),
        (
            TargetType::Glob,
            "web[9-1]",
            "invalid glob target 'web[9-1]': invalid glob 'web[9-1]': invalid range; '9' > '1' at position 0\n  web[9-1]\n  ^",
        ),
    ];
    for (tgt_type, tgt, want) in cases {
        assert_eq!(error_text(*tgt_type, tgt), *want);
    }
}

#[test]
fn empty_expressions() {
    for tgt_type in [
        TargetType::Glob,
        TargetType::List,
        TargetType::Grain,
        TargetType::Compound,
    ] {
        for tgt in ["", "   "] {
            let err = TargetExpr::parse(tgt, tgt_type).unwrap_err();
            assert_eq!(err, TargetError::Empty);
            assert_eq!(err.to_string(), "empty target expression");
        }
    }
}

#[test]
fn positions_count_characters_not_bytes() {
    let err = TargetExpr::parse("wéb* and and x", TargetType::Compound).unwrap_err();
    let TargetError::Invalid { pos, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(*pos, 9);
    assert!(
        err.to_string()
            .ends_with("\n  wéb* and and x\n           ^"),
        "{err}"
    );
}

#[test]
fn deep_nesting_is_refused() {
    let deep = format!("{}web*{}", "(".repeat(500), ")".repeat(500));
    let text = error_text(TargetType::Compound, &deep);
    assert!(text.contains("nested deeper than 128 levels"), "{text}");
    let nots = format!("{}web*", "not ".repeat(500));
    assert!(error_text(TargetType::Compound, &nots).contains("nested deeper"));
    let fine = format!("{}web1{}", "(".repeat(100), ")".repeat(100));
    assert_eq!(selected(TargetType::Compound, &fine), ["web1"]);
}

#[test]
fn nodegroup_type_must_be_expanded_first() {
    let err = TargetExpr::parse("webs", TargetType::Nodegroup).unwrap_err();
    assert_eq!(
        err.to_string(),
        "nodegroup 'webs' must be expanded by the master before matching"
    );
}

#[test]
fn target_type_names_are_salts_and_the_wire_names() {
    let all = [
        TargetType::Glob,
        TargetType::Pcre,
        TargetType::List,
        TargetType::Grain,
        TargetType::GrainPcre,
        TargetType::Compound,
        TargetType::Ipcidr,
        TargetType::Nodegroup,
    ];
    for tgt_type in all {
        assert_eq!(tgt_type.as_str().parse::<TargetType>(), Ok(tgt_type));
        assert_eq!(
            serde_json::to_value(tgt_type).unwrap(),
            serde_json::Value::String(tgt_type.as_str().to_string())
        );
    }
    assert_eq!(TargetType::GrainPcre.as_str(), "grain_pcre");
    let err = "pillars".parse::<TargetType>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown target type 'pillars'; expected one of glob, pcre, list, grain, grain_pcre, compound, ipcidr, nodegroup, pillar, pillar_pcre"
    );
}

fn nodegroups() -> BTreeMap<String, NodegroupDef> {
    serde_yaml::from_str(
        "
webs: 'G@roles:web'
pair: [web1, db12]
notweb: 'not N@webs'
glued: '(N@webs and not N@pair)'
deep: 'N@notweb or N@pair'
loop_a: 'web* or N@loop_b'
loop_b: 'N@loop_c'
loop_c: 'db* and N@loop_a'
itself: 'N@itself'
enters_loop: 'N@loop_b'
dangling: 'web* or N@nosuch'
empty_list: []
blank: ' '
",
    )
    .unwrap()
}

fn selected_by_group(name: &str) -> Vec<&'static str> {
    selected(
        TargetType::Compound,
        &expand_nodegroup(name, &nodegroups()).unwrap(),
    )
}

#[test]
fn nodegroup_expansion() {
    let groups = nodegroups();
    let cases: &[(&str, &str)] = &[
        ("webs", "G@roles:web"),
        ("pair", "L@web1,db12"),
        ("notweb", "not ( G@roles:web )"),
        ("glued", "(( G@roles:web ) and not ( L@web1,db12 ))"),
        ("deep", "( not ( G@roles:web ) ) or ( L@web1,db12 )"),
    ];
    for (name, want) in cases {
        assert_eq!(expand_nodegroup(name, &groups).unwrap(), *want, "{name}");
    }
    assert_eq!(selected_by_group("webs"), ["web1", "web2"]);
    assert_eq!(selected_by_group("pair"), ["web1", "db12"]);
    assert_eq!(selected_by_group("notweb"), ["db12", "lb-1.example.com"]);
    assert_eq!(selected_by_group("glued"), ["web2"]);
    assert_eq!(
        selected_by_group("deep"),
        ["web1", "db12", "lb-1.example.com"]
    );
}

#[test]
fn nodegroups_inside_compounds() {
    let groups = nodegroups();
    let expanded = expand_nodegroups_in_compound("N@webs and G@os:Debian", &groups).unwrap();
    assert_eq!(expanded, "( G@roles:web ) and G@os:Debian");
    assert_eq!(selected(TargetType::Compound, &expanded), ["web1"]);
    let expanded = expand_nodegroups_in_compound("not (N@pair)", &groups).unwrap();
    assert_eq!(expanded, "not (( L@web1,db12 ))");
    assert_eq!(
        selected(TargetType::Compound, &expanded),
        ["web2", "lb-1.example.com"]
    );
    // Without N@, the expression is left exactly as typed.
    let plain = "web*   and\tnot db*";
    assert_eq!(
        expand_nodegroups_in_compound(plain, &groups).unwrap(),
        plain
    );
}

#[test]
fn nodegroup_cycles_and_unknown_names() {
    let groups = nodegroups();
    let cases: &[(&str, &str)] = &[
        (
            "loop_a",
            "nodegroup cycle: loop_a -> loop_b -> loop_c -> loop_a",
        ),
        (
            "enters_loop",
            "nodegroup cycle: loop_b -> loop_c -> loop_a -> loop_b",
        ),
        ("itself", "nodegroup cycle: itself -> itself"),
        ("nosuch", "unknown nodegroup 'nosuch'"),
        (
            "dangling",
            "unknown nodegroup 'nosuch' referenced by nodegroup 'dangling'",
        ),
        ("empty_list", "nodegroup 'empty_list' is empty"),
        ("blank", "nodegroup 'blank' is empty"),
    ];
    for (name, want) in cases {
        assert_eq!(
            expand_nodegroup(name, &groups).unwrap_err().to_string(),
            *want,
            "{name}"
        );
    }
    let err = expand_nodegroups_in_compound("web* or N@loop_c", &groups).unwrap_err();
    assert_eq!(
        err,
        TargetError::NodegroupCycle {
            chain: ["loop_c", "loop_a", "loop_b", "loop_c"]
                .map(String::from)
                .to_vec()
        }
    );
    let err = expand_nodegroups_in_compound("N@nosuch", &groups).unwrap_err();
    assert_eq!(err.to_string(), "unknown nodegroup 'nosuch'");
}
