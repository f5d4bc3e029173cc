//! Salt's `salt.utils.http.query`: one HTTP request and Salt's return dict
//! (`status`, `headers`, `text`, `dict`, `error`, `body`), shared by the
//! `http.query` execution function and any state that needs a request.

use std::time::Duration;

use serde_json::{Map, Value};

/// Salt's `http_connect_timeout` default (seconds).
pub const DEFAULT_CONNECT_TIMEOUT: f64 = 20.0;
/// Salt's `http_request_timeout` default (seconds).
pub const DEFAULT_REQUEST_TIMEOUT: f64 = 3600.0;
/// The most body text kept (ureq's default limit is 10 MB).
const BODY_LIMIT: u64 = 64 * 1024 * 1024;

/// One request, as `http.query` takes it.
#[derive(Debug, Clone)]
pub struct Query {
    pub url: String,
    pub method: String,
    /// Added to the URL's query string.
    pub params: Vec<(String, String)>,
    pub data: Option<String>,
    pub headers: Vec<(String, String)>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Return the status code.
    pub status: bool,
    /// Return the response headers.
    pub headers_out: bool,
    /// Return the body as `text`.
    pub text: bool,
    /// Decode the body into `dict` (json / yaml; `plain` gives `text`).
    pub decode: bool,
    /// `auto` (from the Content-Type), `json`, `yaml`, `plain`.
    pub decode_type: String,
    pub connect_timeout: f64,
    pub request_timeout: f64,
    pub verify_ssl: bool,
}

impl Query {
    pub fn new(url: impl Into<String>) -> Query {
        Query {
            url: url.into(),
            method: "GET".into(),
            params: Vec::new(),
            data: None,
            headers: Vec::new(),
            username: None,
            password: None,
            status: false,
            headers_out: false,
            text: false,
            decode: false,
            decode_type: "auto".into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            verify_ssl: true,
        }
    }
}

/// Percent-encodes for a query string or form body.
pub fn urlencode(pairs: &[(String, String)]) -> String {
    fn enc(s: &str) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn secs(s: f64) -> Option<Duration> {
    (s > 0.0 && s.is_finite()).then(|| Duration::from_secs_f64(s))
}

/// Runs the request. Never an `Err`: failures are Salt's return dict with
/// `error` (and `status`/`body` when the server answered), as Salt gives.
pub fn query(q: &Query) -> Map<String, Value> {
    let mut ret = Map::new();
    let mut tls = ureq::tls::TlsConfig::builder();
    if !q.verify_ssl {
        tls = tls.disable_verification(true);
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(secs(q.connect_timeout))
        .timeout_global(secs(q.request_timeout))
        .http_status_as_error(false)
        .tls_config(tls.build())
        .build()
        .into();
    let mut url = q.url.clone();
    if !q.params.is_empty() {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&urlencode(&q.params));
    }
    let mut req = ureq::http::Request::builder()
        .method(q.method.to_ascii_uppercase().as_str())
        .uri(&url);
    for (k, v) in &q.headers {
        req = req.header(k, v);
    }
    if let Some(user) = &q.username {
        let pass = q.password.as_deref().unwrap_or("");
        req = req.header(
            "Authorization",
            format!("Basic {}", base64(format!("{user}:{pass}").as_bytes())),
        );
    }
    let body = q.data.clone().unwrap_or_default().into_bytes();
    let req = match req.body(body) {
        Ok(r) => r,
        Err(e) => {
            ret.insert("error".into(), Value::String(e.to_string()));
            return ret;
        }
    };
    let mut resp = match agent.run(req) {
        Ok(r) => r,
        Err(e) => {
            // No answer (refused, timed out, bad name): Salt's status 0.
            if q.status {
                ret.insert("status".into(), Value::from(0));
            }
            ret.insert("error".into(), Value::String(transport_error(&e)));
            return ret;
        }
    };
    let code = resp.status().as_u16();
    let mut headers = Map::new();
    for (k, v) in resp.headers() {
        headers.insert(
            k.as_str().to_string(),
            Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
        );
    }
    let text = match resp
        .body_mut()
        .with_config()
        .limit(BODY_LIMIT)
        .read_to_string()
    {
        Ok(t) => t,
        Err(e) => {
            ret.insert("status".into(), Value::from(code));
            ret.insert("error".into(), Value::String(transport_error(&e)));
            return ret;
        }
    };
    if code >= 400 {
        // Salt (tornado's HTTPError): status, error text and the body.
        let reason = resp.status().canonical_reason().unwrap_or("Unknown");
        ret.insert("status".into(), Value::from(code));
        ret.insert(
            "error".into(),
            Value::String(format!("HTTP {code}: {reason}")),
        );
        ret.insert("body".into(), Value::String(text));
        return ret;
    }
    if q.status {
        ret.insert("status".into(), Value::from(code));
    }
    if q.headers_out {
        ret.insert("headers".into(), Value::Object(headers.clone()));
    }
    let mut want_text = q.text;
    if q.decode {
        let kind = if q.decode_type == "auto" {
            let ct = headers
                .get("content-type")
                .and_then(Value::as_str)
                .unwrap_or("application/json")
                .to_ascii_lowercase();
            if ct.contains("xml") {
                "xml"
            } else if ct.contains("json") {
                "json"
            } else if ct.contains("yaml") {
                "yaml"
            } else {
                "plain"
            }
        } else {
            q.decode_type.as_str()
        };
        match kind {
            "json" => match serde_json::from_str::<Value>(&text) {
                Ok(v) => {
                    ret.insert("dict".into(), v);
                }
                Err(e) => {
                    ret.insert(
                        "error".into(),
                        Value::String(format!("Unable to decode JSON: {e}")),
                    );
                }
            },
            "yaml" => match crate::yaml::load(&text) {
                Ok(node) => {
                    ret.insert("dict".into(), node.to_json());
                }
                Err(e) => {
                    ret.insert(
                        "error".into(),
                        Value::String(format!("Unable to decode YAML: {e}")),
                    );
                }
            },
            "plain" => want_text = true,
            "xml" => {
                ret.insert(
                    "error".into(),
                    Value::String(
                        "decode_type xml is not supported by Brine; use text=True".into(),
                    ),
                );
            }
            other => {
                ret.insert(
                    "error".into(),
                    Value::String(format!(
                        "Invalid decode_type specified. Valid decode types are: json, xml, yaml, plain (got {other})"
                    )),
                );
            }
        }
    }
    if want_text {
        ret.insert("text".into(), Value::String(text.clone()));
    }
    // Salt also returns the response body itself under `body`.
    ret.insert("body".into(), Value::String(text));
    ret
}

/// A transport failure in words a user can act on.
fn transport_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(which) => format!("Timeout: {which:?} timed out"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// Serves one connection with `reply` after `delay`; hands back the
    /// request it read.
    fn serve_once(
        reply: &'static str,
        delay: Duration,
    ) -> (String, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head, then Content-Length bytes of body.
            loop {
                let n = s.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if req.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            std::thread::sleep(delay);
            let _ = s.write_all(reply.as_bytes());
            String::from_utf8_lossy(&req).into_owned()
        });
        (url, h)
    }

    #[test]
    fn get_with_status_text_and_json_decode() {
        let (url, h) = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{\"a\": 1}\n",
            Duration::ZERO,
        );
        let mut q = Query::new(format!("{url}/x"));
        q.params = vec![("q".into(), "a b".into())];
        q.status = true;
        q.text = true;
        q.decode = true;
        q.headers = vec![("X-Token".into(), "t".into())];
        let ret = query(&q);
        assert_eq!(ret["status"], 200);
        assert_eq!(ret["text"], "{\"a\": 1}\n");
        assert_eq!(ret["dict"], serde_json::json!({"a": 1}));
        let req = h.join().unwrap();
        assert!(req.starts_with("GET /x?q=a+b HTTP/1.1"), "{req}");
        assert!(req.to_ascii_lowercase().contains("x-token: t"), "{req}");
    }

    #[test]
    fn post_sends_data_and_errors_carry_status_and_body() {
        let (url, h) = serve_once(
            "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope",
            Duration::ZERO,
        );
        let mut q = Query::new(url);
        q.method = "post".into();
        q.data = Some("k=v".into());
        q.username = Some("u".into());
        q.password = Some("p".into());
        let ret = query(&q);
        assert_eq!(ret["status"], 404);
        assert_eq!(ret["error"], "HTTP 404: Not Found");
        assert_eq!(ret["body"], "nope");
        let req = h.join().unwrap();
        assert!(req.starts_with("POST / HTTP/1.1"), "{req}");
        assert!(req.ends_with("\r\n\r\nk=v"), "{req}");
        assert!(req.contains("Basic dTpw"), "{req}");
    }

    #[test]
    fn a_slow_server_hits_the_request_timeout() {
        let (url, h) = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            Duration::from_millis(1500),
        );
        let mut q = Query::new(url);
        q.status = true;
        q.request_timeout = 0.3;
        let started = std::time::Instant::now();
        let ret = query(&q);
        assert!(started.elapsed() < Duration::from_millis(1200));
        assert_eq!(ret["status"], 0);
        assert!(
            ret["error"].as_str().unwrap().contains("Timeout"),
            "{ret:?}"
        );
        let _ = h.join();
    }

    #[test]
    fn a_refused_connection_is_an_error_not_a_panic() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut q = Query::new(format!("http://127.0.0.1:{port}/"));
        q.status = true;
        q.connect_timeout = 1.0;
        let ret = query(&q);
        assert_eq!(ret["status"], 0);
        assert!(ret.contains_key("error"));
    }

    #[test]
    fn base64_and_urlencode() {
        assert_eq!(base64(b"u:p"), "dTpw");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(urlencode(&[("a&b".into(), "c/d".into())]), "a%26b=c%2Fd");
    }
}
