//! Reading certificates and requests: who they name and which key they hold.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateSigningRequestDer;
use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use crate::fingerprint::sha256_fingerprint;
use crate::PkiError;

/// What a certificate request asks for, before anyone signs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrInfo {
    /// The CN: the minion id it claims.
    pub id: String,
    /// SHA-256 fingerprint of its SubjectPublicKeyInfo DER.
    pub fingerprint: String,
}

/// Who is at the other end of a TLS connection, from its certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The CN of the certificate: the minion id.
    pub id: String,
    /// SHA-256 fingerprint of its SubjectPublicKeyInfo DER.
    pub fingerprint: String,
}

/// Reads a certificate request: its CN and public-key fingerprint. The
/// request's self-signature is checked, so the requester holds the key.
pub fn inspect_csr(csr_pem: &str) -> Result<CsrInfo, PkiError> {
    let der = CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes())
        .map_err(|e| PkiError::BadCsr(format!("not a PEM certificate request: {e}")))?;
    inspect_csr_der_with_spki(der.as_ref()).map(|(info, _)| info)
}

/// [`inspect_csr`] on DER, also returning the SubjectPublicKeyInfo DER.
pub(crate) fn inspect_csr_der_with_spki(der: &[u8]) -> Result<(CsrInfo, Vec<u8>), PkiError> {
    let (rest, csr) = X509CertificationRequest::from_der(der)
        .map_err(|e| PkiError::BadCsr(format!("cannot parse: {e}")))?;
    if !rest.is_empty() {
        return Err(PkiError::BadCsr("trailing bytes after the request".into()));
    }
    csr.verify_signature()
        .map_err(|e| PkiError::BadCsr(format!("self-signature does not verify: {e}")))?;
    let info = &csr.certification_request_info;
    let id = common_name(&info.subject).map_err(PkiError::BadCsr)?;
    let spki = info.subject_pki.raw.to_vec();
    Ok((
        CsrInfo {
            id,
            fingerprint: sha256_fingerprint(&spki),
        },
        spki,
    ))
}

/// Reads a peer's end-entity certificate (DER, as rustls hands it over):
/// its CN and public-key fingerprint. Trust is the TLS verifier's job; this
/// only reads.
pub fn peer_identity(cert_der: &[u8]) -> Result<PeerIdentity, PkiError> {
    let cert = parse_cert(cert_der)?;
    Ok(PeerIdentity {
        id: common_name(cert.subject()).map_err(PkiError::BadCertificate)?,
        fingerprint: spki_fingerprint(&cert),
    })
}

pub(crate) fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, PkiError> {
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|e| PkiError::BadCertificate(format!("cannot parse: {e}")))?;
    if !rest.is_empty() {
        return Err(PkiError::BadCertificate(
            "trailing bytes after the certificate".into(),
        ));
    }
    Ok(cert)
}

pub(crate) fn spki_fingerprint(cert: &X509Certificate<'_>) -> String {
    sha256_fingerprint(cert.public_key().raw)
}

/// Whether `cert` carries a signature made by `issuer`'s key.
pub(crate) fn signed_by(cert: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    cert.verify_signature(Some(issuer.public_key())).is_ok()
}

/// Seconds since the epoch at which `cert` stops being valid.
pub(crate) fn not_after(cert: &X509Certificate<'_>) -> i64 {
    cert.validity().not_after.timestamp()
}

/// The single CN of `name`.
fn common_name(name: &X509Name<'_>) -> Result<String, String> {
    let mut cns = name.iter_common_name();
    let cn = cns.next().ok_or("no common name (CN)")?;
    if cns.next().is_some() {
        return Err("more than one common name (CN)".into());
    }
    let cn = cn
        .as_str()
        .map_err(|e| format!("common name is not a string: {e}"))?;
    if cn.is_empty() {
        return Err("empty common name (CN)".into());
    }
    Ok(cn.to_string())
}
