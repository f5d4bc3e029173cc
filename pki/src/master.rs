//! The master's side: its certificate authority, its TLS server certificate
//! and its publication signing key.
//!
//! Files in the master's pki directory:
//!
//! | file              | what                                             | mode |
//! |-------------------|--------------------------------------------------|------|
//! | `ca.crt`          | CA certificate (ECDSA P-256, 20 years)           | 0644 |
//! | `ca.key`          | CA private key, PKCS#8 PEM                       | 0600 |
//! | `master.crt`      | this master's TLS server certificate, SAN `brine-master` | 0644 |
//! | `master.key`      | its private key, PKCS#8 PEM                      | 0600 |
//! | `master_sign.key` | Ed25519 publication signing key, PKCS#8 PEM      | 0600 |
//!
//! Masters that share a CA share `ca.crt` and `ca.key` (carried from one to
//! the other by `brine-key --export-ca` / `--import-ca`, see
//! [`crate::cluster_ca`]); each has its own `master.*` and `master_sign.key`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use crate::fingerprint::sha256_fingerprint;
use crate::sealing::PublicationSealer;
use crate::tls::{provider, SERVER_NAME};
use crate::x509::{self, not_after, parse_cert, signed_by};
use crate::{files, pem, PkiError};

pub(crate) const CA_CERT: &str = "ca.crt";
pub(crate) const CA_KEY: &str = "ca.key";
const MASTER_CERT: &str = "master.crt";
const MASTER_KEY: &str = "master.key";
const SIGN_KEY: &str = "master_sign.key";

const YEAR: Duration = Duration::from_secs(365 * 24 * 3600 + 6 * 3600);
const CA_YEARS: u32 = 20;
const LEAF_YEARS: u32 = 10;
/// A master certificate this close to its end is issued anew on start.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Back-dating of `not_before`, for peers whose clocks run behind.
const BACKDATE: Duration = Duration::from_secs(24 * 3600);

/// The master's keys and certificates, loaded from (or created in) its pki
/// directory. Cheap to share behind an `Arc`; nothing in it changes.
pub struct MasterPki {
    dir: PathBuf,
    ca_der: CertificateDer<'static>,
    ca_pem: String,
    ca_fingerprint: String,
    issuer: Issuer<'static, KeyPair>,
    master_cert: CertificateDer<'static>,
    master_key: PrivatePkcs8KeyDer<'static>,
    signing: Arc<Ed25519KeyPair>,
}

impl fmt::Debug for MasterPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterPki")
            .field("dir", &self.dir)
            .field("ca_fingerprint", &self.ca_fingerprint)
            .finish_non_exhaustive()
    }
}

impl MasterPki {
    /// Loads or creates, in `pki_dir`: `ca.crt`, `ca.key` (0600),
    /// `master.crt`, `master.key` (0600) and `master_sign.key` (Ed25519
    /// PKCS#8, 0600). Missing pieces are created. When `ca.key` exists but
    /// `master.crt` does not (a second master sharing the CA), a master
    /// certificate is issued from the CA; so it is when `master.crt` does not
    /// match `master.key` or the CA, or expires within 30 days.
    ///
    /// `ca.crt` without `ca.key` (or the reverse) is an error: a new CA
    /// would change the fingerprint every minion pinned.
    pub fn load_or_create(pki_dir: &Path, master_id: &str) -> Result<MasterPki, PkiError> {
        files::ensure_dir(pki_dir)?;
        let (ca_der, ca_key) = load_or_create_ca(pki_dir, master_id)?;
        let issuer =
            Issuer::from_ca_cert_der(&ca_der, ca_key).map_err(|source| PkiError::Generate {
                what: "use the CA certificate as issuer",
                source,
            })?;
        let (master_cert, master_key) =
            load_or_create_master_cert(pki_dir, master_id, &ca_der, &issuer)?;
        let signing = load_or_create_signing_key(pki_dir)?;
        Ok(MasterPki {
            dir: pki_dir.to_path_buf(),
            ca_pem: pem::cert_pem(&ca_der),
            ca_fingerprint: sha256_fingerprint(&ca_der),
            ca_der,
            issuer,
            master_cert,
            master_key,
            signing: Arc::new(signing),
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }

    pub(crate) fn ca_cert_der(&self) -> CertificateDer<'static> {
        self.ca_der.clone()
    }

    /// SHA-256 fingerprint of the CA certificate (what minions pin as `master_finger`).
    pub fn ca_fingerprint(&self) -> String {
        self.ca_fingerprint.clone()
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> &[u8] {
        self.ca_der.as_ref()
    }

    /// The 32-byte Ed25519 public key that verifies this master's publications.
    pub fn signing_public_key(&self) -> Vec<u8> {
        self.signing.public_key().as_ref().to_vec()
    }

    /// TLS server configuration for the request port. The master presents
    /// `[master.crt, ca.crt]`. Client certificates are optional (a pending
    /// minion connects without one to send its request), but one that is
    /// presented must chain to the CA, or the handshake fails. TLS 1.3 only.
    pub fn tls_server_config(&self) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        let provider = provider();
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone())?;
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .allow_unauthenticated()
                .build()
                .map_err(|e| PkiError::Tls(e.to_string()))?;
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![self.master_cert.clone(), self.ca_der.clone()],
                PrivateKeyDer::Pkcs8(self.master_key.clone_key()),
            )?;
        Ok(Arc::new(config))
    }

    /// Signs a minion's certificate request (PEM) and returns the
    /// certificate (PEM, 10 years, client authentication only). The
    /// request's self-signature is checked and its CN must be `expected_id`.
    /// Nothing else is taken from the request: not its extensions, not a
    /// CA flag, only the public key.
    pub fn sign_minion_csr(&self, csr_pem: &str, expected_id: &str) -> Result<String, PkiError> {
        let der =
            rustls::pki_types::CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes())
                .map_err(|e| PkiError::BadCsr(format!("not a PEM certificate request: {e}")))?;
        let (info, spki) = x509::inspect_csr_der_with_spki(der.as_ref())?;
        if info.id != expected_id {
            return Err(PkiError::CsrIdMismatch {
                csr_id: info.id,
                expected: expected_id.to_string(),
            });
        }
        let public_key =
            rcgen::SubjectPublicKeyInfo::from_der(&spki).map_err(|source| PkiError::Generate {
                what: "use the requested public key",
                source,
            })?;
        let mut params = leaf_params(expected_id, LEAF_YEARS)?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params
            .signed_by(&public_key, &self.issuer)
            .map_err(|source| PkiError::Generate {
                what: "sign the minion certificate",
                source,
            })?;
        Ok(cert.pem())
    }

    /// The publication sealer, holding (a shared reference to) the signing key.
    pub fn sealer(&self) -> PublicationSealer {
        PublicationSealer::new(self.signing.clone())
    }
}

fn load_or_create_ca(
    dir: &Path,
    master_id: &str,
) -> Result<(CertificateDer<'static>, KeyPair), PkiError> {
    let cert_path = dir.join(CA_CERT);
    let key_path = dir.join(CA_KEY);
    match (files::exists(&cert_path)?, files::exists(&key_path)?) {
        (true, true) => {
            let key = load_key(&key_path)?;
            let der = load_cert(&cert_path, "CA certificate")?;
            let cert = parse_cert(&der).map_err(|e| bad_file(&cert_path, "CA certificate", e))?;
            if cert.public_key().raw != key.subject_public_key_info().as_slice() {
                return Err(PkiError::Inconsistent(format!(
                    "{} does not belong to {}: copy both from the same master",
                    key_path.display(),
                    cert_path.display()
                )));
            }
            Ok((der, key))
        }
        (false, false) => {
            let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|source| {
                PkiError::Generate {
                    what: "generate the CA key",
                    source,
                }
            })?;
            let mut params = CertificateParams::default();
            params.distinguished_name = dn(&format!("Brine CA ({master_id})"));
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            set_validity(&mut params, CA_YEARS);
            params.serial_number = Some(random_serial()?);
            let cert = params
                .self_signed(&key)
                .map_err(|source| PkiError::Generate {
                    what: "create the CA certificate",
                    source,
                })?;
            files::write_secret(&key_path, key.serialize_pem().as_bytes())?;
            files::write_public(&cert_path, cert.pem().as_bytes())?;
            tracing::info!(
                fingerprint = %sha256_fingerprint(cert.der()),
                path = %cert_path.display(),
                "created a new master CA"
            );
            Ok((cert.der().clone(), key))
        }
        (true, false) => Err(PkiError::Inconsistent(format!(
            "{} exists but {} does not: copy both from the master that holds the CA",
            cert_path.display(),
            key_path.display()
        ))),
        (false, true) => Err(PkiError::Inconsistent(format!(
            "{} exists but {} does not: copy both from the master that holds the CA",
            key_path.display(),
            cert_path.display()
        ))),
    }
}

fn load_or_create_master_cert(
    dir: &Path,
    master_id: &str,
    ca_der: &CertificateDer<'static>,
    issuer: &Issuer<'static, KeyPair>,
) -> Result<(CertificateDer<'static>, PrivatePkcs8KeyDer<'static>), PkiError> {
    let cert_path = dir.join(MASTER_CERT);
    let key_path = dir.join(MASTER_KEY);
    let key = if files::exists(&key_path)? {
        Some(load_key(&key_path)?)
    } else {
        None
    };
    if let (Some(key), true) = (&key, files::exists(&cert_path)?) {
        let der = load_cert(&cert_path, "master certificate")?;
        match master_cert_problem(&der, key, ca_der) {
            None => {
                let pkcs8 = PrivatePkcs8KeyDer::from(key.serialize_der());
                return Ok((der, pkcs8));
            }
            Some(why) => {
                tracing::warn!(path = %cert_path.display(), reason = why, "issuing a new master certificate")
            }
        }
    }
    let key = match key {
        Some(k) => k,
        None => {
            let k = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|source| {
                PkiError::Generate {
                    what: "generate the master key",
                    source,
                }
            })?;
            files::write_secret(&key_path, k.serialize_pem().as_bytes())?;
            k
        }
    };
    let mut params = leaf_params(master_id, LEAF_YEARS)?;
    params.subject_alt_names = vec![rcgen::SanType::DnsName(SERVER_NAME.try_into().map_err(
        |source| PkiError::Generate {
            what: "name the master certificate",
            source,
        },
    )?)];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params
        .signed_by(&key, issuer)
        .map_err(|source| PkiError::Generate {
            what: "issue the master certificate",
            source,
        })?;
    files::write_public(&cert_path, cert.pem().as_bytes())?;
    Ok((
        cert.der().clone(),
        PrivatePkcs8KeyDer::from(key.serialize_der()),
    ))
}

/// Why an existing master certificate cannot be used as is, if it cannot.
fn master_cert_problem(der: &[u8], key: &KeyPair, ca_der: &[u8]) -> Option<&'static str> {
    let Ok(cert) = parse_cert(der) else {
        return Some("unparseable");
    };
    let Ok(ca) = parse_cert(ca_der) else {
        return Some("unparseable CA");
    };
    if cert.public_key().raw != key.subject_public_key_info().as_slice() {
        return Some("master.crt does not match master.key");
    }
    if !signed_by(&cert, &ca) {
        return Some("master.crt was not issued by this CA");
    }
    let renew_at = SystemTime::now() + RENEW_BEFORE;
    let renew_at = renew_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if not_after(&cert) < renew_at {
        return Some("master.crt expires within 30 days");
    }
    None
}

fn load_or_create_signing_key(dir: &Path) -> Result<Ed25519KeyPair, PkiError> {
    let path = dir.join(SIGN_KEY);
    if files::exists(&path)? {
        let text = files::read_private(&path)?;
        let der = PrivatePkcs8KeyDer::from_pem_slice(text.as_bytes())
            .map_err(|e| bad_file(&path, "signing key", e))?;
        return Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.secret_pkcs8_der())
            .map_err(|e| bad_file(&path, "signing key", e));
    }
    let rng = SystemRandom::new();
    let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| {
        PkiError::Inconsistent("cannot generate the signing key: no randomness".into())
    })?;
    files::write_secret(&path, pem::encode("PRIVATE KEY", doc.as_ref()).as_bytes())?;
    Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|e| bad_file(&path, "signing key", e))
}

pub(crate) fn load_key(path: &Path) -> Result<KeyPair, PkiError> {
    let text = files::read_private(path)?;
    KeyPair::from_pem(&text).map_err(|e| bad_file(path, "private key", e))
}

pub(crate) fn load_cert(
    path: &Path,
    what: &'static str,
) -> Result<CertificateDer<'static>, PkiError> {
    let text = files::read_optional(path)?.unwrap_or_default();
    pem::parse_cert_file(path, &text, what)
}

fn bad_file(path: &Path, what: &'static str, e: impl fmt::Display) -> PkiError {
    PkiError::BadFile {
        path: path.to_path_buf(),
        what,
        reason: e.to_string(),
    }
}

pub(crate) fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

/// Parameters of an end-entity certificate for `cn`, valid `years`.
pub(crate) fn leaf_params(cn: &str, years: u32) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(cn);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, years);
    params.serial_number = Some(random_serial()?);
    Ok(params)
}

fn set_validity(params: &mut CertificateParams, years: u32) {
    let now = SystemTime::now();
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + YEAR * years).into();
}

/// A random positive 128-bit serial number.
fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PkiError::Inconsistent("cannot draw a serial number: no randomness".into()))?;
    // Positive, and no leading zero byte to strip.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::minion::MinionPki;
    use crate::{inspect_csr, peer_identity};

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn load_or_create_is_stable_and_keys_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = MasterPki::load_or_create(dir.path(), "m1").unwrap();
        let master_crt = fs::read(dir.path().join(MASTER_CERT)).unwrap();
        let b = MasterPki::load_or_create(dir.path(), "m1").unwrap();
        assert_eq!(a.ca_fingerprint(), b.ca_fingerprint());
        assert_eq!(a.signing_public_key(), b.signing_public_key());
        assert_eq!(a.signing_public_key().len(), 32);
        assert_eq!(a.ca_pem(), b.ca_pem());
        // A valid master certificate is kept, not reissued on every start.
        assert_eq!(fs::read(dir.path().join(MASTER_CERT)).unwrap(), master_crt);
        assert!(crate::fingerprint::is_sha256(&a.ca_fingerprint()));
        assert_eq!(a.ca_fingerprint(), sha256_fingerprint(a.ca_der()));
        for key in [CA_KEY, MASTER_KEY, SIGN_KEY] {
            assert_eq!(mode(&dir.path().join(key)), 0o600, "{key}");
        }
    }

    #[test]
    fn a_key_readable_by_others_is_refused() {
        for key in [CA_KEY, MASTER_KEY, SIGN_KEY] {
            let dir = tempfile::tempdir().unwrap();
            MasterPki::load_or_create(dir.path(), "m1").unwrap();
            let path = dir.path().join(key);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            let err = MasterPki::load_or_create(dir.path(), "m1").unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, PkiError::InsecureKeyFile { .. }), "{msg}");
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains("0644"), "{msg}");
        }
    }

    #[test]
    fn a_second_master_shares_the_ca_with_its_own_certificate() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let m1 = MasterPki::load_or_create(one.path(), "m1").unwrap();
        for f in [CA_CERT, CA_KEY] {
            fs::copy(one.path().join(f), two.path().join(f)).unwrap();
        }
        // fs::copy keeps the mode; make it 0600 as an operator would.
        fs::set_permissions(two.path().join(CA_KEY), fs::Permissions::from_mode(0o600)).unwrap();
        let m2 = MasterPki::load_or_create(two.path(), "m2").unwrap();
        assert_eq!(m1.ca_fingerprint(), m2.ca_fingerprint());
        assert_ne!(m1.master_cert, m2.master_cert);
        assert_ne!(m1.signing_public_key(), m2.signing_public_key());
        let ca = parse_cert(m1.ca_der()).unwrap();
        assert!(signed_by(&parse_cert(&m2.master_cert).unwrap(), &ca));
        assert_eq!(mode(&two.path().join(MASTER_KEY)), 0o600);
    }

    #[test]
    fn half_a_ca_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        MasterPki::load_or_create(dir.path(), "m1").unwrap();
        fs::remove_file(dir.path().join(CA_KEY)).unwrap();
        let err = MasterPki::load_or_create(dir.path(), "m1").unwrap_err();
        assert!(err.to_string().contains("ca.key"), "{err}");

        let other = tempfile::tempdir().unwrap();
        MasterPki::load_or_create(other.path(), "m9").unwrap();
        // A CA key that is not the one of ca.crt.
        fs::copy(other.path().join(CA_KEY), dir.path().join(CA_KEY)).unwrap();
        let err = MasterPki::load_or_create(dir.path(), "m1").unwrap_err();
        assert!(matches!(err, PkiError::Inconsistent(_)), "{err}");
    }

    #[test]
    fn master_certificate_from_another_ca_is_reissued() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let m = MasterPki::load_or_create(dir.path(), "m1").unwrap();
        MasterPki::load_or_create(other.path(), "m1").unwrap();
        fs::copy(other.path().join(MASTER_CERT), dir.path().join(MASTER_CERT)).unwrap();
        fs::copy(other.path().join(MASTER_KEY), dir.path().join(MASTER_KEY)).unwrap();
        let again = MasterPki::load_or_create(dir.path(), "m1").unwrap();
        assert_eq!(again.ca_fingerprint(), m.ca_fingerprint());
        let ca = parse_cert(again.ca_der()).unwrap();
        assert!(signed_by(&parse_cert(&again.master_cert).unwrap(), &ca));
    }

    #[test]
    fn csr_inspect_sign_and_identify() {
        let mdir = tempfile::tempdir().unwrap();
        let ndir = tempfile::tempdir().unwrap();
        let master = MasterPki::load_or_create(mdir.path(), "m1").unwrap();
        let minion = MinionPki::load_or_create(ndir.path(), "web-01").unwrap();
        let csr = minion.csr_pem().unwrap();

        let info = inspect_csr(&csr).unwrap();
        assert_eq!(info.id, "web-01");
        assert_eq!(info.fingerprint, minion.fingerprint());

        let err = master.sign_minion_csr(&csr, "web-02").unwrap_err();
        assert!(matches!(err, PkiError::CsrIdMismatch { .. }), "{err}");
        assert!(err.to_string().contains("web-01"), "{err}");

        let cert_pem = master.sign_minion_csr(&csr, "web-01").unwrap();
        let der = pem::parse_cert(&cert_pem, "certificate").unwrap();
        let ident = peer_identity(&der).unwrap();
        assert_eq!(ident.id, "web-01");
        assert_eq!(ident.fingerprint, minion.fingerprint());

        let cert = parse_cert(&der).unwrap();
        assert!(signed_by(&cert, &parse_cert(master.ca_der()).unwrap()));
        assert!(!cert.is_ca());
        let years = (not_after(&cert) - cert.validity().not_before.timestamp()) / (365 * 86400);
        assert_eq!(years, 10);
        let ca = parse_cert(master.ca_der()).unwrap();
        let years = (not_after(&ca) - ca.validity().not_before.timestamp()) / (365 * 86400);
        assert_eq!(years, 20);
    }

    #[test]
    fn bad_requests_are_errors_not_panics() {
        let mdir = tempfile::tempdir().unwrap();
        let master = MasterPki::load_or_create(mdir.path(), "m1").unwrap();
        for junk in [
            "",
            "hello",
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        ] {
            assert!(matches!(inspect_csr(junk), Err(PkiError::BadCsr(_))));
            assert!(master.sign_minion_csr(junk, "x").is_err());
        }
        // A request whose signature was made by another key.
        let ndir = tempfile::tempdir().unwrap();
        let minion = MinionPki::load_or_create(ndir.path(), "web-01").unwrap();
        let csr = minion.csr_pem().unwrap();
        let mut der =
            rustls::pki_types::CertificateSigningRequestDer::from_pem_slice(csr.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec();
        let last = der.len() - 5;
        der[last] ^= 0x01;
        let tampered = pem::encode("CERTIFICATE REQUEST", &der);
        let err = inspect_csr(&tampered).unwrap_err();
        assert!(matches!(err, PkiError::BadCsr(_)), "{err}");
        assert!(master.sign_minion_csr(&tampered, "web-01").is_err());
        assert!(peer_identity(b"garbage").is_err());
    }
}
