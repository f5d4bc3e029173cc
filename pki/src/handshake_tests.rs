//! Real TLS handshakes between a `MasterPki` server config and `MinionPki`
//! client configs, over an in-memory duplex stream.

use std::io;
use std::sync::Arc;

use brine_proto::MinionMsg;
use rustls::pki_types::ServerName;
use tempfile::TempDir;
use tokio::io::duplex;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::channel::{read_frame, write_frame};
use crate::fingerprint::same;
use crate::{is_ca_mismatch, peer_identity, MasterPki, MinionPki, SERVER_NAME};

struct Master {
    _dir: TempDir,
    pki: MasterPki,
}

fn master(id: &str) -> Master {
    let dir = tempfile::tempdir().unwrap();
    let pki = MasterPki::load_or_create(dir.path(), id).unwrap();
    Master { _dir: dir, pki }
}

fn minion(id: &str) -> (TempDir, MinionPki) {
    let dir = tempfile::tempdir().unwrap();
    let pki = MinionPki::load_or_create(dir.path(), id).unwrap();
    (dir, pki)
}

fn enroll(m: &MasterPki, n: &mut MinionPki, id: &str) {
    let cert = m.sign_minion_csr(&n.csr_pem().unwrap(), id).unwrap();
    n.store_certificate(&cert, &m.ca_pem()).unwrap();
}

type Server = tokio_rustls::server::TlsStream<tokio::io::DuplexStream>;
type Client = tokio_rustls::client::TlsStream<tokio::io::DuplexStream>;

async fn handshake(
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
) -> (io::Result<Server>, io::Result<Client>) {
    let (s, c) = duplex(64 * 1024);
    let name = ServerName::try_from(SERVER_NAME).unwrap();
    tokio::join!(
        TlsAcceptor::from(server).accept(s),
        TlsConnector::from(client).connect(name, c)
    )
}

/// A frame goes through both ways.
async fn talk(server: Server, client: Client) {
    let (mut sr, mut sw) = tokio::io::split(server);
    let (mut cr, mut cw) = tokio::io::split(client);
    write_frame(&mut cw, &MinionMsg::Heartbeat).await.unwrap();
    let got: MinionMsg = read_frame(&mut sr).await.unwrap().unwrap();
    assert_eq!(got, MinionMsg::Heartbeat);
    write_frame(&mut sw, &MinionMsg::GetEpochKey).await.unwrap();
    let got: MinionMsg = read_frame(&mut cr).await.unwrap().unwrap();
    assert_eq!(got, MinionMsg::GetEpochKey);
}

#[tokio::test]
async fn pending_minion_connects_without_a_certificate_and_pins_on_first_use() {
    let m = master("m1");
    let (_d, mut n) = minion("web-01");
    let (config, pin) = n.tls_client_config(None, false).unwrap();
    let (server, client) = handshake(m.pki.tls_server_config().unwrap(), config).await;
    let (server, client) = (server.unwrap(), client.unwrap());
    assert!(server.get_ref().1.peer_certificates().is_none());
    let seen = pin.seen().expect("the TOFU verifier records the CA");
    assert_eq!(seen, m.pki.ca_der());
    talk(server, client).await;

    assert_eq!(n.pin_ca(&seen).unwrap(), m.pki.ca_fingerprint());
    assert_eq!(n.pinned_ca_fingerprint(), Some(m.pki.ca_fingerprint()));
    // Once pinned, the verifier no longer records anything.
    let (config, pin) = n.tls_client_config(None, false).unwrap();
    let (server, client) = handshake(m.pki.tls_server_config().unwrap(), config).await;
    server.unwrap();
    client.unwrap();
    assert_eq!(pin.seen(), None);
}

#[tokio::test]
async fn accepted_minion_is_identified_by_its_certificate() {
    let m = master("m1");
    let (_d, mut n) = minion("web-01");
    enroll(&m.pki, &mut n, "web-01");
    let upper = m.pki.ca_fingerprint().replace(':', "").to_uppercase();
    for finger in [None, Some(m.pki.ca_fingerprint()), Some(upper)] {
        let (config, pin) = n.tls_client_config(finger.as_deref(), true).unwrap();
        let (server, client) = handshake(m.pki.tls_server_config().unwrap(), config).await;
        let (server, client) = (server.unwrap(), client.unwrap());
        assert_eq!(pin.seen(), None, "pinned: nothing to record");
        let certs = server
            .get_ref()
            .1
            .peer_certificates()
            .expect("client certificate");
        let ident = peer_identity(certs[0].as_ref()).unwrap();
        assert_eq!(ident.id, "web-01");
        assert!(same(&ident.fingerprint, &n.fingerprint()));
        talk(server, client).await;
    }
}

#[tokio::test]
async fn second_master_sharing_the_ca_accepts_the_same_minion() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    let m1 = MasterPki::load_or_create(one.path(), "m1").unwrap();
    for f in ["ca.crt", "ca.key"] {
        std::fs::copy(one.path().join(f), two.path().join(f)).unwrap();
    }
    let m2 = MasterPki::load_or_create(two.path(), "m2").unwrap();
    let (_d, mut n) = minion("web-01");
    enroll(&m1, &mut n, "web-01");
    let (config, _) = n.tls_client_config(None, true).unwrap();
    let (server, client) = handshake(m2.tls_server_config().unwrap(), config).await;
    let (server, client) = (server.unwrap(), client.unwrap());
    let certs = server.get_ref().1.peer_certificates().unwrap();
    assert_eq!(peer_identity(certs[0].as_ref()).unwrap().id, "web-01");
    talk(server, client).await;
}

#[tokio::test]
async fn minion_pinned_to_another_ca_refuses_the_master() {
    let m = master("m1");
    let other = master("evil");
    let (_d, mut n) = minion("web-01");

    // Pinned by configuration.
    let (config, pin) = n
        .tls_client_config(Some(&other.pki.ca_fingerprint()), false)
        .unwrap();
    let (server, client) = handshake(m.pki.tls_server_config().unwrap(), config).await;
    assert!(server.is_err());
    let err = client.unwrap_err();
    assert!(is_ca_mismatch(&err), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "master CA fingerprint {} does not match the pinned {}",
            m.pki.ca_fingerprint(),
            other.pki.ca_fingerprint()
        )),
        "{msg}"
    );
    assert_eq!(pin.seen(), None);

    // Pinned by a first use of another master.
    n.pin_ca(other.pki.ca_der()).unwrap();
    let (config, _) = n.tls_client_config(None, false).unwrap();
    let (_, client) = handshake(m.pki.tls_server_config().unwrap(), config).await;
    let err = client.unwrap_err();
    assert!(is_ca_mismatch(&err), "{err}");

    // Other failures are not CA mismatches.
    assert!(!is_ca_mismatch(&io::Error::other("connection refused")));
    assert!(!is_ca_mismatch(&io::ErrorKind::UnexpectedEof.into()));
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_refused() {
    let m = master("m1");
    let other = master("other");
    let (_d, mut n) = minion("web-01");
    enroll(&other.pki, &mut n, "web-01");
    // The minion trusts m1 (by fingerprint) but holds a certificate from another CA.
    let (config, _) = n
        .tls_client_config(Some(&m.pki.ca_fingerprint()), true)
        .unwrap();
    let (server, client) = handshake(m.pki.tls_server_config().unwrap(), config).await;
    let err = server.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    // TLS 1.3: the client may finish first and learn of the refusal on its
    // next read.
    if let Ok(client) = client {
        let (mut cr, _cw) = tokio::io::split(client);
        assert!(read_frame::<MinionMsg, _>(&mut cr).await.is_err());
    }
}

#[tokio::test]
async fn a_minion_certificate_cannot_pose_as_a_master() {
    let m = master("m1");
    let (_d, mut rogue) = minion("brine-master");
    enroll(&m.pki, &mut rogue, "brine-master");
    let (cert, key) = rogue.cert_and_key().unwrap();
    let server = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert, m.pki.ca_der().to_vec().into()], key)
        .unwrap();
    let (_d2, mut victim) = minion("web-01");
    victim.pin_ca(m.pki.ca_der()).unwrap();
    let (config, _) = victim.tls_client_config(None, false).unwrap();
    let (_, client) = handshake(Arc::new(server), config).await;
    let err = client.unwrap_err();
    assert!(!is_ca_mismatch(&err), "{err}");
}
