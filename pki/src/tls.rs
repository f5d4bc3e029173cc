//! TLS pieces shared by both sides: the crypto provider, the minion's
//! verifier of the master's certificate (pinned CA or trust on first use),
//! and telling a CA mismatch apart from other handshake failures.

use std::error::Error as StdError;
use std::io;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};

use crate::fingerprint::{normalize, same, sha256_fingerprint};
use crate::PkiError;

/// The name minions use for every master. Trust comes from the CA, not from
/// DNS: every master certificate carries this name as its DNS SAN.
pub const SERVER_NAME: &str = "brine-master";

/// The ring provider, explicitly: no process-wide default is needed.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The master presented a CA other than the pinned one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("master CA fingerprint {seen} does not match the pinned {expected}")]
pub struct CaMismatch {
    pub seen: String,
    pub expected: String,
}

/// Whether a TLS connect error (as tokio-rustls returns it) is a CA
/// fingerprint mismatch rather than a network or protocol failure.
pub fn is_ca_mismatch(err: &io::Error) -> bool {
    ca_mismatch(err).is_some()
}

/// The CA mismatch inside a TLS connect error, if that is what it is.
pub fn ca_mismatch(err: &io::Error) -> Option<&CaMismatch> {
    let inner: &(dyn StdError + Send + Sync + 'static) = err.get_ref()?;
    if let Some(m) = inner.downcast_ref::<CaMismatch>() {
        return Some(m);
    }
    if let Some(PkiError::CaMismatch(m)) = inner.downcast_ref::<PkiError>() {
        return Some(m);
    }
    match inner.downcast_ref::<rustls::Error>() {
        Some(rustls::Error::Other(OtherError(e)))
        | Some(rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(e)))) => {
            e.downcast_ref::<CaMismatch>()
        }
        _ => None,
    }
}

/// Shared handle the trust-on-first-use verifier fills with the DER of the
/// CA it accepted during a handshake. It is filled only in TOFU mode (no
/// `master_finger`, no recorded CA), once the master's certificate verified
/// against that CA; read it after the handshake succeeded, then persist it
/// with [`crate::MinionPki::pin_ca`].
#[derive(Clone, Debug, Default)]
pub struct CaPin(Arc<Mutex<Option<Vec<u8>>>>);

impl CaPin {
    /// The CA DER seen, if the verifier recorded one.
    pub fn seen(&self) -> Option<Vec<u8>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, der: &[u8]) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(der.to_vec());
    }
}

/// What the minion trusts as the master's CA.
#[derive(Debug)]
pub(crate) enum Pin {
    /// `master_finger` from the config (normalized).
    Finger(String),
    /// The CA recorded in `master_ca.crt`.
    Ca(CertificateDer<'static>),
    /// Nothing yet: accept the CA the master presents, and record it.
    Tofu,
}

/// Verifies the master: its chain ends in a CA that matches the pin, and
/// webpki verifies the end-entity certificate against that CA alone
/// (signature, validity, `serverAuth`, the name `brine-master`).
#[derive(Debug)]
pub(crate) struct MasterVerifier {
    pub(crate) pin: Pin,
    /// A CA recorded on disk, used when the master sends no CA in its chain.
    pub(crate) recorded: Option<CertificateDer<'static>>,
    pub(crate) seen: CaPin,
    pub(crate) provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for MasterVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let (ca, rest) = match intermediates.split_last() {
            Some((ca, rest)) => (ca.clone().into_owned(), rest),
            None => match &self.recorded {
                Some(ca) => (ca.clone(), intermediates),
                None => {
                    return Err(rustls::Error::General(
                        "master presented no CA certificate in its chain".into(),
                    ))
                }
            },
        };
        let seen = sha256_fingerprint(&ca);
        let expected = match &self.pin {
            Pin::Finger(fp) => Some(fp.clone()),
            Pin::Ca(pinned) => Some(sha256_fingerprint(pinned)),
            Pin::Tofu => None,
        };
        if let Some(expected) = expected {
            if !same(&seen, &expected) {
                let mismatch = CaMismatch {
                    seen,
                    expected: normalize(&expected),
                };
                // `Error::Other` displays its inner error as is; the
                // certificate variant would print a Debug dump.
                return Err(rustls::Error::Other(OtherError(Arc::new(mismatch))));
            }
        }
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.clone())
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let inner =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        let verified =
            inner.verify_server_cert(end_entity, rest, server_name, ocsp_response, now)?;
        if matches!(self.pin, Pin::Tofu) {
            self.seen.record(&ca);
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
