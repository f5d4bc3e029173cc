//! The minion's side: its own key, the certificate the master issued for it,
//! and the master CA it pins.
//!
//! Files in the minion's pki directory:
//!
//! | file            | what                                               | mode |
//! |-----------------|----------------------------------------------------|------|
//! | `minion.key`    | its ECDSA P-256 private key, PKCS#8 PEM            | 0600 |
//! | `minion.crt`    | the certificate issued by the master, once accepted | 0644 |
//! | `master_ca.crt` | the master CA it trusts (pinned on first use)      | 0644 |

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{CertificateParams, KeyPair, PublicKeyData};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::fingerprint::{is_sha256, normalize, sha256_fingerprint};
use crate::master::dn;
use crate::tls::{provider, CaMismatch, CaPin, MasterVerifier, Pin};
use crate::x509::{parse_cert, signed_by};
use crate::{files, pem, PkiError};

const KEY: &str = "minion.key";
const CERT: &str = "minion.crt";
const MASTER_CA: &str = "master_ca.crt";

/// The minion's key, its certificate once issued, and the pinned master CA.
pub struct MinionPki {
    dir: PathBuf,
    id: String,
    key: KeyPair,
    fingerprint: String,
    cert: Option<CertificateDer<'static>>,
    ca: Option<CertificateDer<'static>>,
}

impl fmt::Debug for MinionPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MinionPki")
            .field("dir", &self.dir)
            .field("id", &self.id)
            .field("fingerprint", &self.fingerprint)
            .field("has_certificate", &self.cert.is_some())
            .field("pinned_ca", &self.pinned_ca_fingerprint())
            .finish_non_exhaustive()
    }
}

impl MinionPki {
    /// Loads or creates in `pki_dir`: `minion.key` (0600, created on first
    /// start), `minion.crt` if issued, `master_ca.crt` if pinned. A
    /// `minion.crt` that is not for this key or this id, or not issued by
    /// the pinned CA, is ignored (with a warning): the minion asks again.
    pub fn load_or_create(pki_dir: &Path, id: &str) -> Result<MinionPki, PkiError> {
        files::ensure_dir(pki_dir)?;
        let key_path = pki_dir.join(KEY);
        let key = if files::exists(&key_path)? {
            let text = files::read_private(&key_path)?;
            KeyPair::from_pem(&text).map_err(|e| PkiError::BadFile {
                path: key_path.clone(),
                what: "private key",
                reason: e.to_string(),
            })?
        } else {
            let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|source| {
                PkiError::Generate {
                    what: "generate the minion key",
                    source,
                }
            })?;
            files::write_secret(&key_path, key.serialize_pem().as_bytes())?;
            key
        };
        let ca_path = pki_dir.join(MASTER_CA);
        let ca = match files::read_optional(&ca_path)? {
            Some(text) => {
                let der = pem::parse_cert_file(&ca_path, &text, "master CA certificate")?;
                parse_cert(&der).map_err(|e| PkiError::BadFile {
                    path: ca_path.clone(),
                    what: "master CA certificate",
                    reason: e.to_string(),
                })?;
                Some(der)
            }
            None => None,
        };
        let mut pki = MinionPki {
            dir: pki_dir.to_path_buf(),
            id: id.to_string(),
            fingerprint: sha256_fingerprint(&key.subject_public_key_info()),
            key,
            cert: None,
            ca,
        };
        let cert_path = pki_dir.join(CERT);
        if let Some(text) = files::read_optional(&cert_path)? {
            let checked = pem::parse_cert_file(&cert_path, &text, "minion certificate")
                .and_then(|der| pki.check_issued(&der, pki.ca.as_ref()).map(|()| der));
            match checked {
                Ok(der) => pki.cert = Some(der),
                Err(error) => tracing::warn!(
                    path = %cert_path.display(),
                    %error,
                    "ignoring the stored certificate; a new one will be requested"
                ),
            }
        }
        Ok(pki)
    }

    /// A certificate request for this minion's key, CN = its id (PEM).
    pub fn csr_pem(&self) -> Result<String, PkiError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(&self.id);
        params
            .serialize_request(&self.key)
            .and_then(|csr| csr.pem())
            .map_err(|source| PkiError::Generate {
                what: "create the certificate request",
                source,
            })
    }

    /// SHA-256 fingerprint of this minion's public key (SubjectPublicKeyInfo DER).
    pub fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    /// Whether the master issued a certificate that is stored here.
    pub fn has_certificate(&self) -> bool {
        self.cert.is_some()
    }

    /// Stores the certificate the master issued. It must be for this key
    /// and this id and be signed by `ca_pem`. The CA is pinned if nothing is
    /// pinned yet; if another CA is pinned, this is a [`CaMismatch`].
    pub fn store_certificate(&mut self, cert_pem: &str, ca_pem: &str) -> Result<(), PkiError> {
        let ca = pem::parse_cert(ca_pem, "CA certificate")?;
        let cert = pem::parse_cert(cert_pem, "issued certificate")?;
        self.check_issued(&cert, Some(&ca))?;
        self.pin_ca(&ca)?;
        files::write_public(&self.dir.join(CERT), pem::cert_pem(&cert).as_bytes())?;
        self.cert = Some(cert);
        Ok(())
    }

    /// Forgets the certificate (the master deleted or rejected this minion):
    /// the next start sends a request again. The key and the pinned CA stay.
    pub fn clear_certificate(&mut self) -> Result<(), PkiError> {
        files::remove(&self.dir.join(CERT))?;
        self.cert = None;
        Ok(())
    }

    /// TLS client configuration for the master's request port (server name
    /// [`crate::SERVER_NAME`]). With `with_client_cert` false, no client
    /// certificate is presented (the request phase).
    ///
    /// The master's chain must end in the trusted CA: the one whose
    /// fingerprint is `master_finger` when set, else the one recorded in
    /// `master_ca.crt`, else (trust on first use) the CA the master presents,
    /// which the returned [`CaPin`] then holds for the caller to persist with
    /// [`MinionPki::pin_ca`] and log. A mismatch fails the handshake with an
    /// error [`crate::is_ca_mismatch`] recognises.
    pub fn tls_client_config(
        &self,
        master_finger: Option<&str>,
        with_client_cert: bool,
    ) -> Result<(Arc<rustls::ClientConfig>, CaPin), PkiError> {
        let pin = match (master_finger, &self.ca) {
            (Some(fp), _) => {
                if !is_sha256(fp) {
                    return Err(PkiError::BadFingerprint(fp.to_string()));
                }
                Pin::Finger(normalize(fp))
            }
            (None, Some(ca)) => Pin::Ca(ca.clone()),
            (None, None) => Pin::Tofu,
        };
        let seen = CaPin::default();
        let provider = provider();
        let verifier = MasterVerifier {
            pin,
            recorded: self.ca.clone(),
            seen: seen.clone(),
            provider: provider.clone(),
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let config = if with_client_cert {
            let cert = self.cert.clone().ok_or(PkiError::NoCertificate)?;
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()));
            builder.with_client_auth_cert(vec![cert], key)?
        } else {
            builder.with_no_client_auth()
        };
        Ok((Arc::new(config), seen))
    }

    /// Fingerprint of the CA recorded in `master_ca.crt`, if any.
    pub fn pinned_ca_fingerprint(&self) -> Option<String> {
        self.ca.as_ref().map(|c| sha256_fingerprint(c))
    }

    /// Persists the CA seen on first use (writes `master_ca.crt`) and
    /// returns its fingerprint. Pinning the CA already pinned is a no-op;
    /// pinning another is a [`CaMismatch`] (two masters with different CAs
    /// raced through trust on first use: only the first one wins).
    pub fn pin_ca(&mut self, ca_der: &[u8]) -> Result<String, PkiError> {
        let fp = sha256_fingerprint(ca_der);
        if let Some(pinned) = self.pinned_ca_fingerprint() {
            if pinned == fp {
                return Ok(fp);
            }
            return Err(CaMismatch {
                seen: fp,
                expected: pinned,
            }
            .into());
        }
        parse_cert(ca_der)?;
        files::write_public(&self.dir.join(MASTER_CA), pem::cert_pem(ca_der).as_bytes())?;
        self.ca = Some(CertificateDer::from(ca_der.to_vec()));
        Ok(fp)
    }

    /// The certificate and key, for tests that misuse them.
    #[cfg(test)]
    pub(crate) fn cert_and_key(&self) -> Option<(CertificateDer<'static>, PrivateKeyDer<'static>)> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()));
        self.cert.clone().map(|c| (c, key))
    }

    /// Checks that `der` was issued for this key and id, and by `ca` if given.
    fn check_issued(&self, der: &[u8], ca: Option<&CertificateDer<'_>>) -> Result<(), PkiError> {
        let ident = crate::peer_identity(der)?;
        if ident.fingerprint != self.fingerprint {
            return Err(PkiError::BadCertificate(
                "the certificate is not for this minion's key".into(),
            ));
        }
        if ident.id != self.id {
            return Err(PkiError::BadCertificate(format!(
                "the certificate is for '{}', not '{}'",
                ident.id, self.id
            )));
        }
        if let Some(ca) = ca {
            let ca = parse_cert(ca)?;
            if !signed_by(&parse_cert(der)?, &ca) {
                return Err(PkiError::BadCertificate(
                    "the certificate was not issued by the master's CA".into(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::MasterPki;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn key_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = MinionPki::load_or_create(dir.path(), "web-01").unwrap();
        let b = MinionPki::load_or_create(dir.path(), "web-01").unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert!(!a.has_certificate());
        assert_eq!(a.pinned_ca_fingerprint(), None);
        let key = dir.path().join(KEY);
        assert_eq!(mode(&key), 0o600);
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        let err = MinionPki::load_or_create(dir.path(), "web-01").unwrap_err();
        assert!(
            err.to_string().contains(&key.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn store_pin_and_clear() {
        let mdir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let ndir = tempfile::tempdir().unwrap();
        let master = MasterPki::load_or_create(mdir.path(), "m1").unwrap();
        let stranger = MasterPki::load_or_create(other.path(), "m2").unwrap();
        let mut minion = MinionPki::load_or_create(ndir.path(), "web-01").unwrap();
        let csr = minion.csr_pem().unwrap();
        let cert = master.sign_minion_csr(&csr, "web-01").unwrap();

        // Not signed by the CA it comes with.
        let err = minion
            .store_certificate(&cert, &stranger.ca_pem())
            .unwrap_err();
        assert!(matches!(err, PkiError::BadCertificate(_)), "{err}");
        // Another minion's certificate.
        let odir = tempfile::tempdir().unwrap();
        let other_minion = MinionPki::load_or_create(odir.path(), "web-01").unwrap();
        let other_cert = master
            .sign_minion_csr(&other_minion.csr_pem().unwrap(), "web-01")
            .unwrap();
        assert!(minion
            .store_certificate(&other_cert, &master.ca_pem())
            .is_err());
        assert!(!minion.has_certificate());

        minion.store_certificate(&cert, &master.ca_pem()).unwrap();
        assert!(minion.has_certificate());
        assert_eq!(
            minion.pinned_ca_fingerprint(),
            Some(master.ca_fingerprint())
        );

        let reloaded = MinionPki::load_or_create(ndir.path(), "web-01").unwrap();
        assert!(reloaded.has_certificate());
        assert_eq!(
            reloaded.pinned_ca_fingerprint(),
            Some(master.ca_fingerprint())
        );
        // Under another id the stored certificate is not used.
        assert!(!MinionPki::load_or_create(ndir.path(), "web-02")
            .unwrap()
            .has_certificate());

        // Pinning is idempotent and refuses another CA.
        assert_eq!(
            minion.pin_ca(master.ca_der()).unwrap(),
            master.ca_fingerprint()
        );
        let err = minion.pin_ca(stranger.ca_der()).unwrap_err();
        assert!(matches!(err, PkiError::CaMismatch(_)), "{err}");

        minion.clear_certificate().unwrap();
        assert!(!minion.has_certificate());
        assert!(!MinionPki::load_or_create(ndir.path(), "web-01")
            .unwrap()
            .has_certificate());
        let again = MinionPki::load_or_create(ndir.path(), "web-01").unwrap();
        assert_eq!(again.fingerprint(), minion.fingerprint());
        assert_eq!(again.pinned_ca_fingerprint(), Some(master.ca_fingerprint()));
    }

    #[test]
    fn client_config_needs_a_certificate_and_a_sane_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let minion = MinionPki::load_or_create(dir.path(), "web-01").unwrap();
        assert!(matches!(
            minion.tls_client_config(None, true),
            Err(PkiError::NoCertificate)
        ));
        assert!(matches!(
            minion.tls_client_config(Some("ab:cd"), false),
            Err(PkiError::BadFingerprint(_))
        ));
        minion.tls_client_config(None, false).unwrap();
    }
}
