//! `file.managed` with `http://` sources, against a tiny HTTP server on
//! 127.0.0.1 in a thread of the test (it counts the requests per path).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::testkit::{snapshot, Kit};

const BODY: &str = "hello remote\n";
const SHA: &str = "12543eb212bfaeb4ba048745a032a4d4ad9f61231c89f503ef57228d5af52c8a";
const MD5: &str = "b97d15bddb66d3553affbda0e5ef2f5c";
const OTHER: &str = "deadbeef00000000000000000000000000000000000000000000000000000000";

type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

pub(crate) struct Server {
    base: String,
    files: Files,
    hits: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub(crate) fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let files: Files = Arc::default();
        let hits: Arc<Mutex<Vec<String>>> = Arc::default();
        let mut served = HashMap::new();
        served.insert("/dl/app.conf".to_string(), BODY.as_bytes().to_vec());
        served.insert(
            "/dl/SHA256SUMS".to_string(),
            format!("{OTHER}  other.tar\n{SHA}  app.conf\n").into_bytes(),
        );
        served.insert(
            "/dl/MD5SUMS".to_string(),
            format!("{MD5}  ./dl/app.conf\n").into_bytes(),
        );
        *files.lock().unwrap() = served;
        let (f, h) = (files.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve_one(stream, &f, &h);
            }
        });
        Server { base, files, hits }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET requests for `path` so far.
    pub(crate) fn gets(&self, path: &str) -> usize {
        let want = format!("GET {path}");
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| **h == want)
            .count()
    }

    pub(crate) fn set(&self, path: &str, body: impl AsRef<[u8]>) {
        self.files
            .lock()
            .unwrap()
            .insert(path.to_string(), body.as_ref().to_vec());
    }
}

fn serve_one(stream: TcpStream, files: &Files, hits: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header == "\r\n" || header == "\n" => break,
            Ok(_) => {}
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    hits.lock().unwrap().push(format!("{method} {path}"));
    let body = files.lock().unwrap().get(path).cloned();
    let mut out = &stream;
    let _ = match body {
        Some(body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let mut reply = head.into_bytes();
            if method != "HEAD" {
                reply.extend_from_slice(&body);
            }
            out.write_all(&reply)
        }
        None => out
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
}

fn cached_copy(kit: &Kit, server: &Server) -> std::path::PathBuf {
    let host = server.base.trim_start_matches("http://").replace(':', "");
    kit.tmp
        .path()
        .join("cache/extrn_files/base")
        .join(host)
        .join("dl/app.conf")
}

#[test]
fn downloads_a_verified_source_once_and_then_uses_the_cache() {
    let kit = Kit::new();
    let server = Server::start();
    let name = kit.path("app.conf");
    let args =
        json!({"source": server.url("/dl/app.conf"), "source_hash": format!("sha256={SHA}")});
    let r = kit.run("file.managed", &name, args.clone(), false);
    assert_eq!(r.result, Some(true), "{}", r.comment);
    assert_eq!(r.comment, format!("File {name} updated"));
    assert_eq!(r.changes.get("diff"), Some(&json!("New file")));
    assert_eq!(std::fs::read_to_string(&name).unwrap(), BODY);
    assert_eq!(
        std::fs::read_to_string(cached_copy(&kit, &server)).unwrap(),
        BODY
    );
    assert_eq!(server.gets("/dl/app.conf"), 1);

    // The target matches the hash: nothing fetched, Salt's perms-only path.
    let again = kit.run("file.managed", &name, args.clone(), false);
    assert_eq!(
        again.comment,
        format!("File {name} exists with proper permissions. No changes made.")
    );
    assert!(again.changes.is_empty());
    // The target drifted: the cached copy still matches, so no new request.
    std::fs::write(&name, "local edit\n").unwrap();
    let fixed = kit.run("file.managed", &name, args, false);
    assert_eq!(fixed.result, Some(true), "{}", fixed.comment);
    assert_eq!(std::fs::read_to_string(&name).unwrap(), BODY);
    assert_eq!(server.gets("/dl/app.conf"), 1);
}

#[test]
fn a_hash_mismatch_fails_with_salts_wording_and_leaves_the_target() {
    let kit = Kit::new();
    let server = Server::start();
    let url = server.url("/dl/app.conf");
    let zeros = "0".repeat(32);
    let name = kit.path("new");
    let args = json!({"source": url, "source_hash": format!("md5={zeros}")});
    let r = kit.run("file.managed", &name, args.clone(), false);
    assert_eq!(r.result, Some(false));
    assert_eq!(
        r.comment,
        format!(
            "Specified md5 checksum for {name} ({zeros}) does not match actual checksum ({MD5})"
        )
    );
    assert!(!std::path::Path::new(&name).exists());

    let existing = kit.path("existing");
    std::fs::write(&existing, "old\n").unwrap();
    let r = kit.run("file.managed", &existing, args, false);
    assert_eq!(
        r.comment,
        format!(
            "Specified md5 checksum for {url} ({zeros}) does not match actual checksum ({MD5}). \
             If the 'source_hash' value refers to a remote file with multiple possible matches, \
             then it may be necessary to set 'source_hash_name'."
        )
    );
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "old\n");
}

#[test]
fn hash_files_are_searched_for_the_sources_name() {
    let kit = Kit::new();
    let server = Server::start();
    let source = server.url("/dl/app.conf");
    for sums in ["/dl/SHA256SUMS", "/dl/MD5SUMS"] {
        let name = kit.path(&format!("via{}", sums.replace('/', "_")));
        let args = json!({"source": source, "source_hash": server.url(sums)});
        let r = kit.run("file.managed", &name, args, false);
        assert_eq!(r.result, Some(true), "{sums}: {}", r.comment);
        assert_eq!(std::fs::read_to_string(&name).unwrap(), BODY);
    }
    // source_hash_name picks another line: that hash does not match.
    let name = kit.path("named");
    let args = json!({
        "source": source, "source_hash": server.url("/dl/SHA256SUMS"),
        "source_hash_name": "other.tar"
    });
    let r = kit.run("file.managed", &name, args, false);
    assert_eq!(
        r.comment,
        format!(
            "Specified sha256 checksum for {name} ({OTHER}) does not match actual checksum ({SHA})"
        )
    );
    // A hash file served from the file roots works the same way.
    kit.serve("sums/app.sha256", &format!("{SHA} app.conf\n"));
    let name = kit.path("salt-sums");
    let args = json!({"source": source, "source_hash": "salt://sums/app.sha256"});
    let r = kit.run("file.managed", &name, args, false);
    assert_eq!(r.result, Some(true), "{}", r.comment);
    // A hash file that cannot be fetched.
    let r = kit.run(
        "file.managed",
        &kit.path("nosums"),
        json!({"source": source, "source_hash": server.url("/dl/NOSUMS")}),
        false,
    );
    assert_eq!(
        r.comment,
        format!(
            "Unable to manage file: could not fetch {}: HTTP 404: Not Found",
            server.url("/dl/NOSUMS")
        )
    );
}

#[test]
fn remote_sources_need_a_hash_unless_skip_verify() {
    let kit = Kit::new();
    let server = Server::start();
    let url = server.url("/dl/app.conf");
    let name = kit.path("x");
    let r = kit.run("file.managed", &name, json!({"source": url}), false);
    assert_eq!(r.result, Some(false));
    assert_eq!(
        r.comment,
        format!("Unable to manage file: Unable to verify upstream hash of source file {url}, please set source_hash or set skip_verify to True")
    );
    assert_eq!(server.gets("/dl/app.conf"), 0);

    let args = json!({"source": url, "skip_verify": true});
    let r = kit.run("file.managed", &name, args.clone(), false);
    assert_eq!(r.result, Some(true), "{}", r.comment);
    assert_eq!(std::fs::read_to_string(&name).unwrap(), BODY);
    // Salt's skip_verify trap: a cached copy is used as is, even when the
    // server has a new version.
    server.set("/dl/app.conf", "version 2\n");
    std::fs::remove_file(&name).unwrap();
    kit.run("file.managed", &name, args, false);
    assert_eq!(std::fs::read_to_string(&name).unwrap(), BODY);
    assert_eq!(server.gets("/dl/app.conf"), 1);
}

#[test]
fn test_mode_fetches_to_diff_but_changes_nothing() {
    let kit = Kit::new();
    let server = Server::start();
    let name = kit.path("t.conf");
    std::fs::write(&name, "old\n").unwrap();
    let args = json!({"source": server.url("/dl/app.conf"), "source_hash": SHA});
    let before = snapshot(&kit.root());
    let r = kit.run("file.managed", &name, args.clone(), true);
    assert_eq!(r.result, None, "{}", r.comment);
    assert_eq!(
        r.changes.get("diff"),
        Some(&json!("--- \n+++ \n@@ -1 +1 @@\n-old\n+hello remote\n"))
    );
    assert_eq!(snapshot(&kit.root()), before);
    assert!(!kit.tmp.path().join("cache").exists());
    // Without a hash, test mode reports Salt's message unwrapped.
    let r = kit.run(
        "file.managed",
        &name,
        json!({"source": server.url("/dl/app.conf")}),
        true,
    );
    assert_eq!(r.result, Some(false));
    assert!(r.comment.starts_with("Unable to verify upstream hash"));
}

#[test]
fn fetch_errors_and_source_lists() {
    let kit = Kit::new();
    let server = Server::start();
    let missing = server.url("/dl/nope");
    let r = kit.run(
        "file.managed",
        &kit.path("a"),
        json!({"source": missing, "source_hash": SHA}),
        false,
    );
    assert_eq!(
        r.comment,
        format!("Unable to manage file: Failed to cache {missing}: could not fetch {missing}: HTTP 404: Not Found")
    );
    let dead = "http://127.0.0.1:1/x";
    let r = kit.run(
        "file.managed",
        &kit.path("b"),
        json!({"source": dead, "source_hash": SHA}),
        false,
    );
    assert_eq!(r.result, Some(false));
    assert!(
        r.comment.starts_with(&format!(
            "Unable to manage file: Failed to cache {dead}: could not fetch {dead}: "
        )),
        "{}",
        r.comment
    );

    // The first item that exists wins; an item's own hash goes with it.
    let name = kit.path("listed");
    let args = json!({"source": [
        "/nonexistent/brine-src",
        missing,
        {server.url("/dl/app.conf"): format!("md5={MD5}")},
    ]});
    let r = kit.run("file.managed", &name, args, false);
    assert_eq!(r.result, Some(true), "{}", r.comment);
    assert_eq!(std::fs::read_to_string(&name).unwrap(), BODY);
    let r = kit.run(
        "file.managed",
        &kit.path("none"),
        json!({"source": ["/nonexistent/a", missing], "source_hash": SHA}),
        false,
    );
    assert_eq!(
        r.comment,
        "Unable to manage file: none of the specified sources were found"
    );
}

#[test]
fn bad_source_hashes_are_reported_as_salt_does() {
    let kit = Kit::new();
    let server = Server::start();
    let url = server.url("/dl/app.conf");
    let r = kit.run(
        "file.managed",
        &kit.path("a"),
        json!({"source": url, "source_hash": format!("md5={SHA}")}),
        false,
    );
    assert_eq!(
        r.comment,
        format!("Unable to manage file: Unable to manage file: Invalid length (64) for hash type 'md5'. Either remove the hash type and simply use '{SHA}' as the source_hash, or change the hash type to 'sha256'")
    );
    let r = kit.run(
        "file.managed",
        &kit.path("a"),
        json!({"source": url, "source_hash": format!("md5={SHA}")}),
        true,
    );
    assert!(
        r.comment
            .starts_with("Unable to manage file: Invalid length"),
        "{}",
        r.comment
    );
    // Local sources are checked too when a hash is given.
    let local = kit.tmp.path().join("local.src");
    std::fs::write(&local, BODY).unwrap();
    let r = kit.run(
        "file.managed",
        &kit.path("c"),
        json!({"source": format!("file://{}", local.display()), "source_hash": MD5}),
        false,
    );
    assert_eq!(r.result, Some(true), "{}", r.comment);
    let r = kit.run(
        "file.managed",
        &kit.path("d"),
        json!({"source": local, "source_hash": SHA.replace('1', "2")}),
        false,
    );
    assert_eq!(r.result, Some(false));
    assert!(r.comment.starts_with("Specified sha256 checksum for"));
}
