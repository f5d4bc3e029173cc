//! A throwaway PostgreSQL server for tests: its own cluster in a temporary
//! directory, listening only on a Unix socket in that directory and on
//! 127.0.0.1 at a free port, stopped and removed on drop.
//!
//! ```no_run
//! let Some(pg) = brine_tests::pg::PgServer::start() else {
//!     return; // PostgreSQL is not installed here (a note was printed)
//! };
//! let url = pg.url(); // postgres://postgres:…@127.0.0.1:PORT/brine
//! ```
//!
//! The binaries (`initdb`, `pg_ctl`, `psql`) come from `BRINE_PG_BIN` when
//! set, else from the newest `/usr/lib/postgresql/<version>/bin` (Debian's
//! place for them, off `PATH`), else from `PATH`. `.ci/run` installs Debian's
//! `postgresql` package and sets `BRINE_PG_REQUIRED=1`, which turns "not
//! installed" into a failure instead of a skipped test.
//!
//! PostgreSQL refuses to run as root: when the tests run as root, `initdb`
//! and `pg_ctl` run as the `postgres` system user (through `runuser`, or
//! `setpriv` where there is no `runuser`), which then owns the directory.
//!
//! Authentication: the superuser is `postgres`; TCP connections need its
//! password (random per server, SCRAM-SHA-256, in [`PgServer::url`]); the
//! socket directory is readable by the server's user only and trusts it.
//! Durability is off (`fsync`, `synchronous_commit`, `full_page_writes`):
//! the data dies with the test anyway.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, CliOutput};

/// The database [`PgServer::start`] creates (besides `postgres`).
pub const DATABASE: &str = "brine";
/// The superuser every server has.
pub const USER: &str = "postgres";

/// A running throwaway PostgreSQL server.
pub struct PgServer {
    /// Holds `data/`, `sock/`, `server.log`; removed on drop, after the stop.
    dir: Option<tempfile::TempDir>,
    bin: PathBuf,
    port: u16,
    password: String,
    /// `Some` when running as root: the account the server runs as.
    run_as: Option<RunAs>,
    stopped: bool,
}

#[derive(Clone, Debug)]
struct RunAs {
    uid: u32,
    gid: u32,
    /// `runuser` or `setpriv`, with its arguments, before the command.
    prefix: Vec<String>,
}

impl std::fmt::Debug for PgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgServer")
            .field("dir", &self.dir())
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Where `initdb`, `pg_ctl` and `psql` are: `BRINE_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin`, else the directory of `initdb` on `PATH`.
pub fn pg_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("BRINE_PG_BIN") {
        let dir = PathBuf::from(dir);
        return dir.join("initdb").exists().then_some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|d| {
        let initdb = d.join("initdb");
        // A symlink to Debian's binary: use its directory, where pg_ctl and
        // postgres of the same version are.
        let real = std::fs::canonicalize(&initdb).ok()?;
        let dir = real.parent()?.to_path_buf();
        dir.join("pg_ctl").exists().then_some(dir)
    })
}

fn required() -> bool {
    std::env::var("BRINE_PG_REQUIRED").is_ok_and(|v| !v.is_empty() && v != "0")
}

impl PgServer {
    /// Starts a server and creates the database [`DATABASE`]. `None` (with a
    /// note on stderr) when PostgreSQL is not installed, unless
    /// `BRINE_PG_REQUIRED` is set; every other failure panics with the
    /// server's log.
    pub fn start() -> Option<PgServer> {
        let Some(bin) = pg_bin_dir() else {
            assert!(
                !required(),
                "BRINE_PG_REQUIRED is set but no PostgreSQL was found (BRINE_PG_BIN, /usr/lib/postgresql/*/bin, PATH)"
            );
            eprintln!(
                "note: PostgreSQL not installed (no initdb in BRINE_PG_BIN, /usr/lib/postgresql/*/bin or PATH); \
                 skipping what needs it (apt-get install postgresql, as .ci/run does)"
            );
            return None;
        };
        Some(PgServer::start_with(bin))
    }

    fn start_with(bin: PathBuf) -> PgServer {
        let dir = tempfile::Builder::new()
            .prefix("brine-pg-")
            .tempdir()
            .expect("tempdir for PostgreSQL");
        let run_as = if nix::unistd::geteuid().is_root() {
            Some(postgres_account())
        } else {
            None
        };
        let mut pg = PgServer {
            dir: Some(dir),
            bin,
            port: 0,
            password: random_hex(16),
            run_as,
            stopped: true,
        };
        pg.init();
        // The port is free when chosen, but another process (or another
        // test's server) may take it before the server binds: try again.
        for attempt in 1..=5 {
            pg.port = free_port();
            pg.write_settings();
            let Err(pg_ctl) = pg.pg_ctl_start() else {
                break;
            };
            let log = pg.log_text();
            assert!(
                attempt < 5 && log.contains("could not bind"),
                "PostgreSQL did not start (port {}): {pg_ctl}\n--- server.log ---\n{log}",
                pg.port
            );
        }
        pg.stopped = false;
        let out = pg.psql_socket("postgres", &format!("CREATE DATABASE {DATABASE}"));
        assert_eq!(out.code, 0, "create database: {out:?}\n{}", pg.log_text());
        pg
    }

    /// The temporary directory holding `data/`, `sock/` and `server.log`.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("PgServer dir").path()
    }

    /// The directory of the server's Unix socket (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> PathBuf {
        self.dir().join("sock")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir().join("data")
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the PostgreSQL binaries in use.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// The superuser's password (TCP connections need it).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// `postgres://postgres:PASSWORD@127.0.0.1:PORT/brine`, for tokio-postgres.
    pub fn url(&self) -> String {
        self.url_for(DATABASE)
    }

    /// The URL of another database of this server.
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgres://{USER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// Runs `psql -c SQL` against [`DATABASE`] over TCP, as a client of the
    /// URL would connect; tuples only, unaligned (`select 1` prints `1`).
    pub fn psql(&self, sql: &str) -> CliOutput {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", USER, "-d", DATABASE, "-c", sql])
            .env("PGPASSWORD", &self.password)
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        CliOutput::from(out)
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir().join("server.log")).unwrap_or_default()
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`, then SIGKILL
    /// to the postmaster if it is still there). Also done on drop.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let pid = self.postmaster_pid();
        let data = self.data_dir();
        let _ = self
            .as_server_user(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "-t", "10", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(pid) = pid {
            let pid = nix::unistd::Pid::from_raw(pid);
            let start = Instant::now();
            while nix::sys::signal::kill(pid, None).is_ok() {
                if start.elapsed() > Duration::from_secs(5) {
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn postmaster_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// `initdb` with the superuser `postgres` and its password.
    fn init(&self) {
        let dir = self.dir().to_path_buf();
        std::fs::create_dir(self.socket_dir()).expect("socket dir");
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, format!("{}\n", self.password)).expect("pwfile");
        if let Some(run_as) = &self.run_as {
            for p in [&dir, &self.socket_dir(), &pwfile] {
                std::os::unix::fs::chown(p, Some(run_as.uid), Some(run_as.gid))
                    .unwrap_or_else(|e| panic!("chown {} to postgres: {e}", p.display()));
            }
        }
        let out = self
            .as_server_user(&self.bin.join("initdb"))
            .arg("-D")
            .arg(self.data_dir())
            .args(["-U", USER, "-E", "UTF8", "--no-locale", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdin(Stdio::null())
            .output()
            .expect("run initdb");
        let _ = std::fs::remove_file(&pwfile);
        assert!(
            out.status.success(),
            "initdb failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Settings written to `postgresql.auto.conf` (read last, so they win):
    /// where to listen, no durability, small memory (several servers run at once).
    fn write_settings(&self) {
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{sock}'\n\
             unix_socket_permissions = 0700\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
             shared_buffers = 16MB\nmax_connections = 100\nmax_wal_size = 256MB\n\
             logging_collector = off\nlog_min_messages = warning\n",
            port = self.port,
            sock = self.socket_dir().display(),
        );
        let path = self.data_dir().join("postgresql.auto.conf");
        std::fs::write(&path, conf).expect("postgresql.auto.conf");
        if let Some(run_as) = &self.run_as {
            std::os::unix::fs::chown(&path, Some(run_as.uid), Some(run_as.gid))
                .expect("chown postgresql.auto.conf");
        }
    }

    /// `pg_ctl start -w`: Ok once the server accepts connections, else
    /// what pg_ctl said.
    fn pg_ctl_start(&self) -> Result<(), String> {
        let log = self.dir().join("server.log");
        if let Some(run_as) = &self.run_as {
            // The server's user writes the log.
            let _ = std::fs::File::create(&log);
            let _ = std::os::unix::fs::chown(&log, Some(run_as.uid), Some(run_as.gid));
        }
        // pg_ctl's own output goes to a file, not a pipe: the server it
        // starts inherits its descriptors, and a pipe would stay open.
        let out_path = self.dir().join("pg_ctl.out");
        let out = std::fs::File::create(&out_path).expect("pg_ctl.out");
        let err = out.try_clone().expect("pg_ctl.out");
        let status = self
            .as_server_user(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "start"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .expect("run pg_ctl");
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl start: {status}: {}",
                std::fs::read_to_string(&out_path)
                    .unwrap_or_default()
                    .trim()
            ))
        }
    }

    /// `psql -c SQL` over the Unix socket as the superuser (trusted there).
    fn psql_socket(&self, database: &str, sql: &str) -> CliOutput {
        let out = self
            .as_server_user(&self.bin.join("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
            .arg("-h")
            .arg(self.socket_dir())
            .args(["-p", &self.port.to_string(), "-U", USER, "-d", database])
            .args(["-c", sql])
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        CliOutput::from(out)
    }

    /// `program` run as the server's user, from the server's directory (a
    /// working directory the `postgres` user may not enter makes initdb warn).
    fn as_server_user(&self, program: &Path) -> Command {
        let mut cmd = match &self.run_as {
            Some(run_as) => {
                let mut c = Command::new(&run_as.prefix[0]);
                c.args(&run_as.prefix[1..]).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.current_dir(self.dir());
        // Settings of the caller's environment must not point the tools elsewhere.
        for var in [
            "PGDATA",
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGPASSWORD",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("LC_ALL", "C");
        cmd
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
        // Only now may the directory go.
        drop(self.dir.take());
    }
}

/// The `postgres` system account and how to run a program as it.
fn postgres_account() -> RunAs {
    let user = nix::unistd::User::from_name(USER)
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            panic!("running as root, PostgreSQL needs the '{USER}' system user (Debian's postgresql package creates it)")
        });
    let find = |name: &str| {
        ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(name))
            .find(|p| p.exists())
    };
    let prefix = if let Some(runuser) = find("runuser") {
        vec![
            runuser.display().to_string(),
            "-u".into(),
            USER.into(),
            "--".into(),
        ]
    } else if let Some(setpriv) = find("setpriv") {
        vec![
            setpriv.display().to_string(),
            format!("--reuid={}", user.uid.as_raw()),
            format!("--regid={}", user.gid.as_raw()),
            "--init-groups".into(),
            "--".into(),
        ]
    } else {
        panic!("running as root, PostgreSQL must run as '{USER}', but neither runuser nor setpriv was found");
    };
    RunAs {
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        prefix,
    }
}

/// `n` random bytes from the kernel, as hex.
fn random_hex(n: usize) -> String {
    use std::io::Read;
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
