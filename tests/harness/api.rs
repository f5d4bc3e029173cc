//! What the HTTP API's tests share: a password hash made by the master
//! binary, and an HTTPS client that trusts only the master's CA.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::bin;

/// `echo PASSWORD | brine-master --hash-password`, for `api_users`.
pub fn hash_password(password: &str) -> String {
    let mut child = Command::new(bin("brine-master"))
        .arg("--hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// An HTTPS client trusting only `ca_pem`, presenting `client` (a PEM
/// certificate and key) when given; every status is an answer, not an
/// error, and no proxy from the environment is used.
pub fn https_agent(ca_pem: &[u8], client: Option<(&[u8], &[u8])>) -> ureq::Agent {
    use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};
    let ca = Certificate::from_pem(ca_pem).unwrap().to_owned();
    let mut tls =
        TlsConfig::builder().root_certs(RootCerts::Specific(std::sync::Arc::new(vec![ca])));
    if let Some((cert, key)) = client {
        let cert = Certificate::from_pem(cert).unwrap().to_owned();
        let key = PrivateKey::from_pem(key).unwrap().to_owned();
        tls = tls.client_cert(Some(ClientCert::new_with_certs(&[cert], key)));
    }
    ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .tls_config(tls.build())
        .build()
        .into()
}
