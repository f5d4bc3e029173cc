//! `http.query`: one HTTP request from the minion, Salt's arguments and
//! return dict; the request itself is `brine_states::modules::sys::http`,
//! shared with the states.

use brine_states::modules::sys::http::{self as client, Query};
use serde_json::{Map, Value};

use crate::registry::{as_bool, as_f64, as_str, Args, CallCtx, FunctionSpec, ModError, ModFuture};

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "http.wait_for_successful_query",
        doc: "Query a URL again and again until it answers without an error (no `error` \
              in http.query's return), or until `wait_for` seconds have passed; returns the \
              last http.query return.\n\n\
              - url: the URL.\n\
              - wait_for: seconds to keep trying (default 300).\n\
              - request_interval: seconds between tries (default 1).\n\
              - every other argument: as http.query.",
        cli_example: "brine '*' http.wait_for_successful_query http://somelink.com/ wait_for=160 request_interval=1",
        run: wait_for_successful_query,
    },
    FunctionSpec {
    name: "http.query",
    doc: "Query a URL and return Salt's dict: `body` (the response text) plus what was \
          asked for: `status`, `headers`, `text`, `dict` (decoded); on an HTTP error \
          (status >= 400) {status, error: 'HTTP 404: Not Found', body}; when the server \
          cannot be reached or a timeout expires {error} (and status 0 with status=True).\n\n\
          - url: the URL (http or https).\n\
          - method: GET (default), POST, PUT, DELETE, ...\n\
          - params: a dict added to the query string.\n\
          - data: the request body (a dict is sent form-encoded); data_file: a file to send.\n\
          - header_dict: headers as a dict; header_list: headers as 'Name: value' lines.\n\
          - username, password: HTTP basic authentication.\n\
          - status, headers, text: return the status code, the headers, the body as text.\n\
          - decode: decode the body into `dict`; decode_type: auto (from the Content-Type, \
          default), json, yaml or plain.\n\
          - text_out: also write the body to this file.\n\
          - verify_ssl: check the server's certificate (default True).\n\
          - connect_timeout (or http_connect_timeout): seconds to connect (default 20).\n\
          - timeout (or request_timeout, http_request_timeout): seconds for the whole \
          request (default 3600).",
    cli_example: "brine '*' http.query http://somelink.com/\n\
                  brine '*' http.query http://somelink.com/ method=POST data='<xml>somecontent</xml>' status=True",
    run: query,
    },
];

fn str_pairs(name: &str, v: &Value) -> Result<Vec<(String, String)>, ModError> {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| Ok((k.clone(), as_str(name, v)?)))
            .collect(),
        _ => Err(ModError::BadArguments(format!(
            "argument '{name}' must be a dict"
        ))),
    }
}

/// The first of several keyword names that is given.
fn first_f64(kw: &mut Map<String, Value>, names: &[&str]) -> Result<Option<f64>, ModError> {
    let mut found = None;
    for n in names {
        if let Some(v) = kw.remove(*n).filter(|v| !v.is_null()) {
            found.get_or_insert(as_f64(n, &v)?);
        }
    }
    Ok(found)
}

fn flag(kw: &mut Map<String, Value>, name: &str, default: bool) -> Result<bool, ModError> {
    match kw.remove(name).filter(|v| !v.is_null()) {
        Some(v) => as_bool(name, &v),
        None => Ok(default),
    }
}

fn opt_str(kw: &mut Map<String, Value>, name: &str) -> Result<Option<String>, ModError> {
    kw.remove(name)
        .filter(|v| !v.is_null())
        .map(|v| as_str(name, &v))
        .transpose()
}

/// Builds the request from Salt's keyword arguments.
fn build(url: String, mut kw: Map<String, Value>) -> Result<(Query, Option<String>), ModError> {
    let mut q = Query::new(url);
    if let Some(m) = opt_str(&mut kw, "method")? {
        q.method = m;
    }
    if let Some(p) = kw.remove("params").filter(|v| !v.is_null()) {
        q.params = str_pairs("params", &p)?;
    }
    q.data = match kw.remove("data").filter(|v| !v.is_null()) {
        Some(Value::Object(m)) => Some(client::urlencode(&str_pairs("data", &Value::Object(m))?)),
        Some(v) => Some(as_str("data", &v)?),
        None => None,
    };
    if let Some(file) = opt_str(&mut kw, "data_file")? {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| ModError::Failed(format!("Unable to read data_file {file}: {e}")))?;
        q.data = Some(text);
    }
    if let Some(h) = kw.remove("header_dict").filter(|v| !v.is_null()) {
        q.headers = str_pairs("header_dict", &h)?;
    }
    if let Some(list) = kw.remove("header_list").filter(|v| !v.is_null()) {
        let Value::Array(items) = list else {
            return Err(ModError::BadArguments(
                "argument 'header_list' must be a list".into(),
            ));
        };
        for item in items {
            let line = as_str("header_list", &item)?;
            if let Some((k, v)) = line.split_once(':') {
                q.headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    q.username = opt_str(&mut kw, "username")?;
    q.password = opt_str(&mut kw, "password")?;
    q.status = flag(&mut kw, "status", false)?;
    q.headers_out = flag(&mut kw, "headers", false)?;
    q.text = flag(&mut kw, "text", false)?;
    q.decode = flag(&mut kw, "decode", false)?;
    if let Some(t) = opt_str(&mut kw, "decode_type")? {
        q.decode_type = t;
    }
    q.verify_ssl = flag(&mut kw, "verify_ssl", true)?;
    if let Some(t) = first_f64(&mut kw, &["connect_timeout", "http_connect_timeout"])? {
        q.connect_timeout = t;
    }
    if let Some(t) = first_f64(
        &mut kw,
        &["timeout", "request_timeout", "http_request_timeout"],
    )? {
        q.request_timeout = t;
    }
    let text_out = opt_str(&mut kw, "text_out")?;
    // Salt's query takes many more options (cookies, agents, backends...);
    // refuse the ones Brine does not act on rather than ignore them.
    if let Some(k) = kw.keys().next() {
        return Err(ModError::BadArguments(format!(
            "http.query() got an unexpected keyword argument '{k}'"
        )));
    }
    Ok((q, text_out))
}

fn query(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let url = a.take_str("url", 0)?;
        let kw = a.rest_kwargs();
        a.finish()?;
        let (q, text_out) = build(url, kw)?;
        let ret = tokio::task::spawn_blocking(move || client::query(&q))
            .await
            .map_err(|e| ModError::Failed(e.to_string()))?;
        if let (Some(path), Some(Value::String(body))) = (text_out, ret.get("body")) {
            std::fs::write(&path, body)
                .map_err(|e| ModError::Failed(format!("Unable to write text_out {path}: {e}")))?;
        }
        Ok(Value::Object(ret).into())
    })
}

fn wait_for_successful_query(_ctx: CallCtx, args: Args) -> ModFuture {
    Box::pin(async move {
        let mut a = args.parser();
        let url = a.take_str("url", 0)?;
        let wait_for = a.opt_f64("wait_for", 1)?.unwrap_or(300.0);
        let interval = a.kw_f64("request_interval")?.unwrap_or(1.0);
        let kw = a.rest_kwargs();
        a.finish()?;
        let (q, _) = build(url, kw)?;
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_secs_f64(wait_for.max(0.0));
        loop {
            let q1 = q.clone();
            let ret = tokio::task::spawn_blocking(move || client::query(&q1))
                .await
                .map_err(|e| ModError::Failed(e.to_string()))?;
            if !ret.contains_key("error") || std::time::Instant::now() >= deadline {
                return Ok(Value::Object(ret).into());
            }
            tokio::time::sleep(std::time::Duration::from_secs_f64(interval.max(0.0))).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{test_call, test_ctx};
    use serde_json::json;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn query_a_loopback_server() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/p", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap();
            s.write_all(b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
                .unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        let v = test_call(
            test_ctx(),
            query,
            "http.query",
            json!([url]),
            json!({"method": "PUT", "data": "x", "status": true, "text": true,
                   "header_dict": {"X-A": "1"}, "timeout": 5, "connect_timeout": 2}),
        )
        .await
        .unwrap();
        assert_eq!(v, json!({"status": 201, "text": "hello", "body": "hello"}));
        let req = h.join().unwrap();
        assert!(req.starts_with("PUT /p HTTP/1.1"), "{req}");
        assert!(req.to_ascii_lowercase().contains("x-a: 1"), "{req}");
    }

    #[tokio::test]
    async fn unknown_options_are_refused() {
        let e = test_call(
            test_ctx(),
            query,
            "http.query",
            json!(["http://127.0.0.1:1/"]),
            json!({"cookies": true}),
        )
        .await
        .unwrap_err();
        assert!(e.contains("unexpected keyword argument 'cookies'"), "{e}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waits_until_the_server_answers() {
        // A port with nothing listening yet; the server comes up later.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/");
        let h = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                .unwrap();
        });
        let v = test_call(
            test_ctx(),
            wait_for_successful_query,
            "http.wait_for_successful_query",
            json!([url]),
            json!({"wait_for": 10, "request_interval": 0.1, "status": true}),
        )
        .await
        .unwrap();
        assert_eq!(v, json!({"status": 200, "body": "ok"}));
        h.join().unwrap();
        // Nothing ever answers: the last error once wait_for has passed.
        let v = test_call(
            test_ctx(),
            wait_for_successful_query,
            "http.wait_for_successful_query",
            json!([format!("http://127.0.0.1:{port}/")]),
            json!({"wait_for": 0.3, "request_interval": 0.1}),
        )
        .await
        .unwrap();
        assert!(v.get("error").is_some(), "{v}");
    }
}
