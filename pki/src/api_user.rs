//! Client certificates of API users (issue 15): the master's CA issues
//! them, so the API's TLS verifier accepts them, and so it does minions'
//! certificates. What tells the two apart is a marker only this path
//! writes: a SAN URI `urn:brine:api-user:<name>` together with the
//! `clientAuth` extended key usage. Minion certificates are issued by
//! [`MasterPki::sign_minion_csr`], which copies nothing but the public key
//! from a request, so a minion cannot ask for the marker. A URI SAN (not
//! the CN) carries the user because a minion's CN is a name the minion
//! chose: a minion named like an API user must still not pass as one.
//!
//! The private key never leaves the machine that runs `brine-key
//! --gen-api-cert`: it makes the key and a request ([`api_user_request`]);
//! the master signs the request ([`MasterPki::sign_api_user_csr`]).

use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, KeyPair, SanType};
use rustls::pki_types::pem::PemObject;
use x509_parser::extensions::GeneralName;

use crate::master::{dn, leaf_params, MasterPki};
use crate::x509::{self, parse_cert};
use crate::PkiError;

/// The SAN URI prefix naming an API user.
pub const API_USER_URI: &str = "urn:brine:api-user:";
/// Longest validity an API-user certificate may be issued for.
pub const MAX_API_CERT_DAYS: u32 = 3650;

/// An API-user certificate as issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedApiCert {
    /// The certificate, PEM.
    pub pem: String,
    /// Its serial number, lowercase hex without separators.
    pub serial: String,
    /// Unix seconds it stops being valid.
    pub not_after: i64,
}

/// Who an API-user certificate names, read from a verified certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiUserCert {
    pub user: String,
    /// Serial number, lowercase hex (as [`IssuedApiCert::serial`]).
    pub serial: String,
    /// Unix seconds it stops being valid.
    pub not_after: i64,
}

/// A new key (ECDSA P-256) and a certificate request for API user `user`:
/// (key PEM, request PEM).
pub fn api_user_request(user: &str) -> Result<(String, String), PkiError> {
    check_user_name(user)?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|source| {
        PkiError::Generate {
            what: "generate the API user's key",
            source,
        }
    })?;
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(user);
    let csr = params
        .serialize_request(&key)
        .and_then(|r| r.pem())
        .map_err(|source| PkiError::Generate {
            what: "make the API user's certificate request",
            source,
        })?;
    Ok((key.serialize_pem(), csr))
}

/// User names that can be put in a URI and read back unchanged.
fn check_user_name(user: &str) -> Result<(), PkiError> {
    let ok = !user.is_empty()
        && user.len() <= 128
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    match ok {
        true => Ok(()),
        false => Err(PkiError::BadCsr(format!(
            "'{user}' cannot name an API user in a certificate: use letters, digits, '.', '_', '-', '@' (at most 128)"
        ))),
    }
}

impl MasterPki {
    /// Signs API user `user`'s certificate request (PEM): the request's
    /// self-signature is checked and its CN must be `user`; only its public
    /// key is used. The certificate carries the API-user marker and lasts
    /// `days`.
    pub fn sign_api_user_csr(
        &self,
        csr_pem: &str,
        user: &str,
        days: u32,
    ) -> Result<IssuedApiCert, PkiError> {
        check_user_name(user)?;
        if days == 0 || days > MAX_API_CERT_DAYS {
            return Err(PkiError::BadCsr(format!(
                "days must be 1 to {MAX_API_CERT_DAYS}, not {days}"
            )));
        }
        let der =
            rustls::pki_types::CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes())
                .map_err(|e| PkiError::BadCsr(format!("not a PEM certificate request: {e}")))?;
        let (info, spki) = x509::inspect_csr_der_with_spki(der.as_ref())?;
        if info.id != user {
            return Err(PkiError::CsrIdMismatch {
                csr_id: info.id,
                expected: user.to_string(),
            });
        }
        let public_key =
            rcgen::SubjectPublicKeyInfo::from_der(&spki).map_err(|source| PkiError::Generate {
                what: "use the requested public key",
                source,
            })?;
        let mut params = leaf_params(user, 1)?;
        let now = std::time::SystemTime::now();
        params.not_after = (now + std::time::Duration::from_secs(u64::from(days) * 86_400)).into();
        let uri = format!("{API_USER_URI}{user}");
        params.subject_alt_names = vec![SanType::URI(uri.try_into().map_err(|source| {
            PkiError::Generate {
                what: "name the API user",
                source,
            }
        })?)];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params
            .signed_by(&public_key, self.issuer())
            .map_err(|source| PkiError::Generate {
                what: "sign the API user's certificate",
                source,
            })?;
        let parsed = parse_cert(cert.der())?;
        Ok(IssuedApiCert {
            pem: cert.pem(),
            serial: serial_hex(parsed.raw_serial()),
            not_after: x509::not_after(&parsed),
        })
    }
}

fn serial_hex(raw: &[u8]) -> String {
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// Normalizes a serial as a person may type it (`AB:CD`, `0xabcd`, `abcd`).
pub fn normalize_serial(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    let hex: String = s
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (!hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(hex)
}

/// The API user a client certificate (DER, already verified by the TLS
/// layer against the CA) names: `None` unless it carries the marker (a
/// minion's certificate, or any other), an error if it cannot be read.
pub fn api_user_of(cert_der: &[u8]) -> Result<Option<ApiUserCert>, PkiError> {
    let cert = parse_cert(cert_der)?;
    let client_auth = matches!(cert.extended_key_usage(), Ok(Some(eku)) if eku.value.client_auth);
    if !client_auth {
        return Ok(None);
    }
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Ok(None);
    };
    let mut users = san.value.general_names.iter().filter_map(|n| match n {
        GeneralName::URI(u) => u.strip_prefix(API_USER_URI),
        _ => None,
    });
    let (Some(user), None) = (users.next(), users.next()) else {
        // None, or more than one: neither is what this CA issues.
        return Ok(None);
    };
    if check_user_name(user).is_err() {
        return Ok(None);
    }
    Ok(Some(ApiUserCert {
        user: user.to_string(),
        serial: serial_hex(cert.raw_serial()),
        not_after: x509::not_after(&cert),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minion::MinionPki;

    fn master() -> (tempfile::TempDir, MasterPki) {
        let dir = tempfile::tempdir().unwrap();
        let pki = MasterPki::load_or_create(&dir.path().join("pki"), "m0").unwrap();
        (dir, pki)
    }

    fn der_of(pem: &str) -> Vec<u8> {
        rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    #[test]
    fn an_issued_api_cert_names_its_user_and_serial() {
        let (_d, pki) = master();
        let (_key, csr) = api_user_request("alice").unwrap();
        let issued = pki.sign_api_user_csr(&csr, "alice", 30).unwrap();
        let seen = api_user_of(&der_of(&issued.pem)).unwrap().unwrap();
        assert_eq!(seen.user, "alice");
        assert_eq!(seen.serial, issued.serial);
        assert_eq!(seen.not_after, issued.not_after);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(issued.not_after > now + 29 * 86_400 && issued.not_after <= now + 30 * 86_400);
    }

    #[test]
    fn a_request_for_another_user_or_bad_days_is_refused() {
        let (_d, pki) = master();
        let (_key, csr) = api_user_request("alice").unwrap();
        assert!(matches!(
            pki.sign_api_user_csr(&csr, "root", 30),
            Err(PkiError::CsrIdMismatch { .. })
        ));
        assert!(pki.sign_api_user_csr(&csr, "alice", 0).is_err());
        assert!(pki
            .sign_api_user_csr(&csr, "alice", MAX_API_CERT_DAYS + 1)
            .is_err());
        assert!(api_user_request("a b/c").is_err());
    }

    /// A minion asking, in its request, for the API-user SAN and clientAuth
    /// gets a certificate without the SAN: it never passes as a user.
    #[test]
    fn a_minion_csr_asking_for_the_marker_does_not_get_it() {
        let (_d, pki) = master();
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = dn("alice");
        params.subject_alt_names = vec![SanType::URI(
            format!("{API_USER_URI}alice").try_into().unwrap(),
        )];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let csr = params.serialize_request(&key).unwrap().pem().unwrap();
        let cert = pki.sign_minion_csr(&csr, "alice").unwrap();
        assert_eq!(api_user_of(&der_of(&cert)).unwrap(), None);
        let parsed_der = der_of(&cert);
        let parsed = parse_cert(&parsed_der).unwrap();
        assert!(matches!(parsed.subject_alternative_name(), Ok(None)));
    }

    #[test]
    fn a_minions_own_certificate_is_not_a_user() {
        let (dir, pki) = master();
        let minion = MinionPki::load_or_create(&dir.path().join("mpki"), "web1").unwrap();
        let cert = pki
            .sign_minion_csr(&minion.csr_pem().unwrap(), "web1")
            .unwrap();
        assert_eq!(api_user_of(&der_of(&cert)).unwrap(), None);
    }

    #[test]
    fn serials_are_normalized() {
        assert_eq!(normalize_serial("AB:cd:01"), Some("abcd01".into()));
        assert_eq!(normalize_serial("0xABCD"), Some("abcd".into()));
        assert_eq!(normalize_serial("alice"), None);
        assert_eq!(normalize_serial(""), None);
    }
}
