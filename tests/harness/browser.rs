//! A real browser for tests: Debian's `chromium` driven through
//! `chromedriver` (package `chromium-driver`) over the W3C WebDriver
//! protocol, with a minimal JSON client on `ureq`. chromedriver runs on a
//! free port of 127.0.0.1 with its own temporary directory and is killed
//! by PID on drop; the session's Chromium runs headless with its own
//! profile directory.
//!
//! Where chromedriver or chromium is not installed the tests that need it
//! report themselves skipped, unless `BRINE_BROWSER_REQUIRED` is set (CI
//! as root installs the packages and sets it): then they fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{free_port, Daemon};

/// The W3C name of the "element reference" key in a found element.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_binary(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    for n in names {
        let debian = Path::new("/usr/bin").join(n);
        if debian.exists() {
            return Some(debian);
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.exists())
}

fn required() -> bool {
    std::env::var("BRINE_BROWSER_REQUIRED").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// chromedriver and chromium, or None after printing why `test` is
/// skipped; panics when one is missing and `BRINE_BROWSER_REQUIRED` is set.
pub fn binaries_or_skip(test: &str) -> Option<(PathBuf, PathBuf)> {
    let driver = find_binary("BRINE_CHROMEDRIVER_BIN", &["chromedriver"]);
    let browser = find_binary("BRINE_CHROMIUM_BIN", &["chromium", "chromium-browser"]);
    match (driver, browser) {
        (Some(d), Some(b)) => Some((d, b)),
        _ if required() => panic!(
            "BRINE_BROWSER_REQUIRED is set but chromedriver or chromium was not found \
             (BRINE_CHROMEDRIVER_BIN, BRINE_CHROMIUM_BIN, /usr/bin, PATH)"
        ),
        _ => {
            eprintln!("skipped {test}: chromium/chromedriver are not installed (apt-get install chromium chromium-driver)");
            None
        }
    }
}

/// A WebDriver error answer or no answer at all.
#[derive(Debug)]
pub struct WebDriverError(pub String);

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// chromedriver and one browser session.
pub struct Browser {
    base: String,
    session: String,
    agent: ureq::Agent,
    pub daemon: Daemon,
    _dir: tempfile::TempDir,
}

/// A found element (its WebDriver reference).
#[derive(Clone, Debug)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub fn start(driver: &Path, chromium: &Path) -> Browser {
        let dir = tempfile::tempdir().expect("browser temp dir");
        let port = free_port();
        let mut cmd = Command::new(driver);
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .env("HOME", dir.path());
        let daemon = Daemon::spawn("chromedriver", cmd, dir.path().join("chromedriver.log"));
        let agent = ureq::Agent::config_builder()
            .proxy(None)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        let base = format!("http://127.0.0.1:{port}");
        let mut b = Browser {
            base,
            session: String::new(),
            agent,
            daemon,
            _dir: dir,
        };
        let start = Instant::now();
        loop {
            if let Ok(v) = b.raw("GET", "/status", None) {
                if v["value"]["ready"] == json!(true) {
                    break;
                }
            }
            assert!(
                b.daemon.is_running(),
                "chromedriver exited:\n{}",
                b.daemon.log_text()
            );
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "chromedriver not ready within 30 s:\n{}",
                b.daemon.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = b._dir.path().join("profile");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            // The master's HTTPS certificate is issued by its own CA,
            // which is not in Chromium's store: accept it for this
            // session (the API's own tests check the chain with ureq).
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.display()),
                    "--window-size=1400,1000", "--no-first-run", "--no-default-browser-check",
                ],
            },
        }}});
        let v = b
            .raw("POST", "/session", Some(caps))
            .unwrap_or_else(|e| panic!("new session: {e}\n{}", b.daemon.log_text()));
        b.session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {v}\n{}", b.daemon.log_text()))
            .to_string();
        b
    }

    fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, WebDriverError> {
        let url = format!("{}{path}", self.base);
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, b) => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(b.unwrap_or(json!({})).to_string()),
        };
        let mut resp = resp.map_err(|e| WebDriverError(format!("{method} {path}: {e}")))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| WebDriverError(format!("{method} {path}: {e}")))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| WebDriverError(format!("{method} {path}: {e}: {text}")))?;
        if status != 200 {
            return Err(WebDriverError(format!(
                "{method} {path}: {status} {}: {}",
                v["value"]["error"], v["value"]["message"]
            )));
        }
        Ok(v)
    }

    /// A command of this session: its `value`.
    pub fn cmd(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        self.raw(method, &format!("/session/{}{path}", self.session), body)
            .map(|v| v["value"].clone())
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url})))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The first element `css` selects, if any.
    pub fn find(&self, css: &str) -> Option<Element> {
        let v = self
            .cmd(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .ok()?;
        v[ELEMENT_KEY].as_str().map(|s| Element(s.to_string()))
    }

    /// Waits (bounded) for `css` to select an element.
    pub fn wait_find(&self, css: &str) -> Element {
        let mut found = None;
        self.wait_until(&format!("an element matching '{css}'"), || {
            found = self.find(css);
            found.is_some()
        });
        found.unwrap()
    }

    pub fn click(&self, css: &str) {
        let e = self.wait_find(css);
        self.cmd("POST", &format!("/element/{}/click", e.0), Some(json!({})))
            .unwrap_or_else(|err| panic!("click {css}: {err}"));
    }

    /// Clears the field `css` selects and types `text` into it.
    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.wait_find(css);
        self.cmd("POST", &format!("/element/{}/clear", e.0), Some(json!({})))
            .unwrap_or_else(|err| panic!("clear {css}: {err}"));
        self.cmd(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(json!({"text": text})),
        )
        .unwrap_or_else(|err| panic!("type into {css}: {err}"));
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub fn script(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .unwrap_or_else(|e| panic!("script {script}: {e}"))
    }

    /// The visible text of the first element `css` selects ("" if none).
    pub fn text(&self, css: &str) -> String {
        self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
            json!([css]),
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Polls `cond` until it holds; panics after 30 s with what was awaited
    /// and the page's text (a bound on waiting, not a timing assertion).
    pub fn wait_until(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if cond() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let page = self.text("body");
        panic!("the browser never showed {what}; the page says:\n{page}");
    }

    /// Takes a screenshot of the window into `path` (PNG).
    pub fn screenshot(&self, path: &Path) {
        let v = self
            .cmd("GET", "/screenshot", None)
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        let png = base64_decode(v.as_str().unwrap_or_default()).expect("screenshot is base64");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends Chromium; the Daemon's own drop kills chromedriver by PID.
        if !self.session.is_empty() {
            let _ = self.raw("DELETE", &format!("/session/{}", self.session), None);
        }
    }
}

/// Standard base64 (with padding, no line breaks) as WebDriver sends
/// screenshots; None on a character outside the alphabet.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = text.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(super::base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(super::base64_decode("aGk=").unwrap(), b"hi");
        assert_eq!(super::base64_decode("YWJj").unwrap(), b"abc");
        assert!(super::base64_decode("a!b=").is_none());
    }
}
