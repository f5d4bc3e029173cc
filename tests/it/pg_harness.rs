//! The PostgreSQL test server of the harness (`tests/harness/pg.rs`): two
//! start at once (tests run in parallel), each answers over TCP with its
//! password and only there, and each is gone, directory and all, after drop.

use brine_tests::pg::{PgServer, DATABASE};

#[test]
fn two_throwaway_servers_answer_at_once_and_vanish_on_drop() {
    // Started from two threads at once, as parallel tests do.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(PgServer::start);
        let b = s.spawn(PgServer::start);
        (a.join().expect("start a"), b.join().expect("start b"))
    });
    let (Some(a), Some(b)) = (a, b) else {
        eprintln!("note: PostgreSQL is not installed; pg_harness skipped");
        return;
    };
    assert_ne!(a.port(), b.port());
    assert_ne!(a.dir(), b.dir());
    for pg in [&a, &b] {
        let out = pg.psql("select 1");
        assert_eq!(out.code, 0, "{out:?}\n{}", pg.log_text());
        assert_eq!(out.stdout.trim(), "1", "{out:?}");
        let url = pg.url();
        assert!(
            url.starts_with("postgres://postgres:")
                && url.ends_with(&format!("@127.0.0.1:{}/{DATABASE}", pg.port())),
            "{url}"
        );
        // The database the URL names is there, and writable.
        let out = pg.psql("create table t (x int); insert into t values (41); select x + 1 from t");
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.stdout.trim(), "42", "{out:?}");
        // Listening on the socket in its own directory and on 127.0.0.1 only.
        assert!(pg
            .socket_dir()
            .join(format!(".s.PGSQL.{}", pg.port()))
            .exists());
        let listen = pg.psql("show listen_addresses");
        assert_eq!(listen.stdout.trim(), "127.0.0.1", "{listen:?}");
    }
    // The servers are separate: what is created in one is not in the other.
    assert_eq!(a.psql("create table only_a (x int)").code, 0);
    let out = b.psql("select count(*) from only_a");
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("only_a"), "{out:?}");

    // TCP needs the password.
    let out = std::process::Command::new(a.bin_dir().join("psql"))
        .args(["-X", "-w", "-h", "127.0.0.1", "-p", &a.port().to_string()])
        .args(["-U", "postgres", "-d", DATABASE, "-c", "select 1"])
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", "/dev/null")
        .output()
        .expect("psql");
    assert!(!out.status.success(), "connected without the password");

    let (dir, port) = (a.dir().to_path_buf(), a.port());
    drop(a);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still listening on {port}"
    );
    // b is unaffected by a's end.
    assert_eq!(b.psql("select 1").stdout.trim(), "1");
}
