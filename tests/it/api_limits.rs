//! The API's connection loop against a client that never finishes its
//! request (slowloris): one address cannot hold more than 64 connections,
//! the server closes a connection whose headers do not arrive in time,
//! and the API answers again once they are gone.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use brine_tests::{free_port, Cluster};

const PER_ADDRESS: usize = 64;

/// Reads until the server closes the connection (or the bounded wait
/// ends): what it sent, and whether it closed.
fn read_to_close(s: &mut TcpStream, within: Duration) -> (String, bool) {
    s.set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (String::from_utf8_lossy(&got).into(), true)
            }
            Err(_) => return (String::from_utf8_lossy(&got).into(), false),
        }
    }
}

#[test]
fn a_client_that_never_finishes_its_headers_is_bounded_and_timed_out() {
    let port = free_port();
    let c = Cluster::builder()
        .master_config(&format!(
            "api_port: {port}\napi_interface: 127.0.0.1\napi_tls: false\n"
        ))
        .start();
    let addr = format!("127.0.0.1:{port}");
    let request = "GET /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    // The API is up.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let (answer, _) = read_to_close(&mut s, Duration::from_secs(30));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}\n{}", c.logs());

    // Every slot this address has, held with headers that never end.
    let mut held: Vec<TcpStream> = (0..PER_ADDRESS)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    // One more from the same address is closed unanswered.
    let mut extra = TcpStream::connect(&addr).unwrap();
    let _ = extra.write_all(request.as_bytes());
    let (answer, closed) = read_to_close(&mut extra, Duration::from_secs(30));
    assert!(closed && answer.is_empty(), "over the limit: {answer:?}");

    // The held ones are closed by the header timeout (10 s), not kept.
    for s in &mut held {
        let (_, closed) = read_to_close(s, Duration::from_secs(60));
        assert!(closed, "a connection with unfinished headers was kept");
    }
    // And the API answers again.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let (answer, _) = read_to_close(&mut s, Duration::from_secs(30));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}\n{}", c.logs());
}
