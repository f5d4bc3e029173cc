//! The Salt mine through real processes: one minion's `mine_functions`
//! reach the master once it connects, another minion reads them in a
//! rendered template (`salt['mine.get'](...)`, glob and compound), the
//! master's `mine_get` ACL and a function's `allow_tgt` decide who reads
//! what, `mine.delete` removes data and `mine_max_bytes` bounds it.

use std::path::Path;

use brine_tests::masters::run_json;
use brine_tests::{assert_eventually, Cluster};
use serde_json::{json, Value};

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn mine_data_of_one_minion_appears_in_anothers_template_within_the_acls() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    write(
        dir.path(),
        "salt/peers.sls",
        "peers:\n  file.managed:\n    - name: {{ grains['test_root'] }}/peers.conf\n    \
         - source: salt://peers.conf.j2\n    - template: jinja\n    - makedirs: True\n",
    );
    write(
        dir.path(),
        "salt/peers.conf.j2",
        "echo={{ salt['mine.get']('mine-a', 'test.echo')['mine-a'] }}\n\
         db={{ salt['mine.get']('G@role:db', 'test.echo', tgt_type='compound')['mine-a'] }}\n\
         count={{ salt['mine.get']('*', 'test.echo') | length }}\n",
    );
    let c = Cluster::builder()
        .master_config(&format!(
            "file_roots:\n  base:\n    - {d}/salt\nmine_max_bytes: 4096\n\
             mine_get:\n  'mine-b':\n    - 'test\\.echo'\n    - 'secret'\n  'mine-c':\n    - '.*'\n",
            d = dir.path().display()
        ))
        .minion_with(
            "mine-a",
            "role: db",
            "mine_functions:\n  test.echo: [hello]\n  network.ip_addrs: []\n  \
             secret:\n    mine_function: test.echo\n    text: classified\n    \
             allow_tgt: mine-c\n    allow_tgt_type: glob\n",
        )
        .minion(
            "mine-b",
            &format!("role: web\ntest_root: {}/b", out.display()),
        )
        .minion("mine-c", "role: web")
        .start();
    c.accept_all();

    // A sends its mine once connected; the master's runner reads it
    // (neither ACL applies to the master itself).
    let runner_get = |tgt: &str, fun: &str| -> Value {
        let res = c.run(&["mine.get", tgt, fun, "--out", "json"]);
        assert_eq!(res.code, 0, "{res:?}");
        serde_json::from_str(&res.stdout).unwrap_or_else(|e| panic!("{e}: {res:?}"))
    };
    assert_eventually!(
        runner_get("*", "test.echo") == json!({"mine-a": "hello"}),
        "mine-a's mine data stored\n{}",
        c.logs()
    );
    assert!(
        runner_get("mine-a", "network.ip_addrs")["mine-a"].is_array(),
        "{}",
        c.logs()
    );
    assert_eq!(
        runner_get("mine-a", "secret"),
        json!({"mine-a": "classified"})
    );
    let (_, v) = c.brine_json(&["mine-a", "mine.valid"]);
    assert_eq!(
        v["mine-a"],
        json!({"test.echo": ["hello"], "network.ip_addrs": [],
               "secret": {"test.echo": [{"text": "classified"}]}}),
    );

    // B renders a template reading A's data through the master.
    let (res, v) = c.brine_json(&["mine-b", "state.apply", "peers"]);
    assert_eq!(res.code, 0, "{res:?}\n{v}\n{}", c.logs());
    assert_eq!(
        std::fs::read_to_string(out.join("b/peers.conf")).unwrap(),
        "echo=hello\ndb=hello\ncount=1\n"
    );

    // mine_get: B may read test.echo, not network.ip_addrs (an empty
    // answer, as Salt's); C may read everything.
    let get = |who: &str, args: &[&str]| -> Value {
        let mut a = vec![who, "mine.get"];
        a.extend_from_slice(args);
        let (res, v) = c.brine_json(&a);
        assert_eq!(res.code, 0, "{res:?}");
        v[who].clone()
    };
    assert_eq!(
        get("mine-b", &["mine-a", "test.echo"]),
        json!({"mine-a": "hello"})
    );
    assert_eq!(get("mine-b", &["mine-a", "network.ip_addrs"]), json!({}));
    assert!(get("mine-c", &["mine-a", "network.ip_addrs"])["mine-a"].is_array());
    // allow_tgt: mine_get lets B read `secret`, but A restricted it to C.
    assert_eq!(get("mine-b", &["mine-a", "secret"]), json!({}));
    assert_eq!(
        get("mine-c", &["mine-a", "secret"]),
        json!({"mine-a": "classified"})
    );
    // Several functions at once: {function: {minion: data}}.
    assert_eq!(
        get("mine-c", &["mine-a", "test.echo,secret"]),
        json!({"test.echo": {"mine-a": "hello"}, "secret": {"mine-a": "classified"}})
    );

    // mine.send: one function now, under an alias.
    let (res, v) = c.brine_json(&[
        "mine-b",
        "mine.send",
        "greeting",
        "mine_function=test.echo",
        "text=hi",
    ]);
    assert_eq!((res.code, &v["mine-b"]), (0, &json!(true)), "{res:?}");
    assert_eq!(runner_get("mine-b", "greeting"), json!({"mine-b": "hi"}));

    // mine_max_bytes: a send that would pass the bound is refused, clearly,
    // and what was stored stays.
    let big = format!("text={}", "x".repeat(5000));
    let (res, v) = c.brine_json(&[
        "mine-b",
        "mine.send",
        "big",
        "mine_function=test.echo",
        &big,
    ]);
    assert_ne!(res.code, 0, "{res:?}");
    assert!(v["mine-b"].to_string().contains("mine_max_bytes"), "{v}");
    assert_eq!(runner_get("mine-b", "big"), json!({}));
    assert_eq!(runner_get("mine-b", "greeting"), json!({"mine-b": "hi"}));

    // mine.delete and mine.flush remove the minion's data.
    let (res, v) = c.brine_json(&["mine-a", "mine.delete", "test.echo"]);
    assert_eq!((res.code, &v["mine-a"]), (0, &json!(true)), "{res:?}");
    assert_eq!(runner_get("*", "test.echo"), json!({}));
    assert_eq!(
        runner_get("mine-a", "secret"),
        json!({"mine-a": "classified"})
    );
    let (res, _) = c.brine_json(&["mine-a", "mine.flush"]);
    assert_eq!(res.code, 0, "{res:?}");
    assert_eq!(runner_get("mine-a", "secret"), json!({}));

    // mine.update sends the configured functions again.
    let (res, v) = c.brine_json(&["mine-a", "mine.update"]);
    assert_eq!((res.code, &v["mine-a"]), (0, &json!(true)), "{res:?}");
    assert_eq!(runner_get("*", "test.echo"), json!({"mine-a": "hello"}));

    // Deleting a minion's key deletes its mine data: accepted again, it
    // has none (it sent `greeting` by hand; its mine_functions are empty).
    let res = c.key(&["-d", "mine-b", "-y"]);
    assert_eq!(res.code, 0, "{res:?}");
    c.accept(&["mine-b"]);
    assert_eq!(runner_get("*", "greeting"), json!({}));
}

/// Two masters sharing one PostgreSQL store: a minion's mine, sent to both,
/// is one row both read; a minion connected to the other master only reads
/// it; a delete through either is gone for both.
#[test]
fn the_masters_of_a_cluster_share_the_mine_through_postgres() {
    use brine_tests::pg::PgServer;
    let Some(pg) = PgServer::start() else {
        eprintln!("note: PostgreSQL is not installed; skipped");
        return;
    };
    let store = format!("store: {}", pg.url());
    let mut c = Cluster::builder().master_config(&store).start();
    let mut b = c.cluster_master("master1", "127.0.0.2", &store);
    b.start();
    c.add_minion_of(
        "m1",
        &["127.0.0.1", "127.0.0.2"],
        "mine_functions:\n  test.echo: [hello]\n",
    );
    c.add_minion_of("m2", &["127.0.0.2"], "");
    assert_eventually!(
        c.keys_in("minions_pre").len() == 2,
        "two pending keys: {:?}",
        c.keys_in("minions_pre")
    );
    c.accept(&["m1", "m2"]);
    let (master0, master1) = (c.master_conf(), b.conf());
    assert_eventually!(
        run_json(&master0, &["mine.get", "*", "test.echo"]) == json!({"m1": "hello"}),
        "m1's mine on master0\n{}",
        c.logs()
    );
    assert_eq!(
        run_json(&master1, &["mine.get", "*", "test.echo"]),
        json!({"m1": "hello"})
    );
    // m2 asks master1, its only master.
    let (res, v) = c.brine_json(&["m2", "mine.get", "m1", "test.echo"]);
    assert_eq!(res.code, 0, "{res:?}");
    assert_eq!(v["m2"], json!({"m1": "hello"}));
    let (res, v) = c.brine_json(&["m1", "mine.delete", "test.echo"]);
    assert_eq!((res.code, &v["m1"]), (0, &json!(true)), "{res:?}");
    for conf in [&master0, &master1] {
        assert_eq!(run_json(conf, &["mine.get", "*", "test.echo"]), json!({}));
    }
}
