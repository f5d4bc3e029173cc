//! One CA for a cluster of masters. `brine-key --export-ca FILE` writes the
//! CA certificate and its private key, as one PEM bundle, from a master's
//! pki directory; `brine-key --import-ca FILE` checks such a bundle and
//! installs it as `ca.crt` and `ca.key` in another master's pki directory.
//! Masters sharing the CA accept each other's minion certificates, and
//! minions pin one fingerprint (`master_finger`) for all of them.
//!
//! What is *not* shared: each master's TLS server certificate (`master.crt`,
//! `master.key`, issued from the CA on start when missing or issued by
//! another CA) and its publication signing key (`master_sign.key`, which
//! minions receive in the session `Welcome` of that master). Neither is in
//! the bundle: a master that leaks its signing key does not let anyone sign
//! publications as the other masters.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rcgen::{Issuer, KeyPair, PublicKeyData};
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::CertificateDer;

use crate::fingerprint::sha256_fingerprint;
use crate::master::{load_cert, load_key, CA_CERT, CA_KEY};
use crate::x509::parse_cert;
use crate::{files, pem, PkiError};

/// A CA certificate with its private key, checked: the certificate is a CA
/// able to sign certificates, valid now, and the key is its key.
pub struct CaBundle {
    der: CertificateDer<'static>,
    key: KeyPair,
    fingerprint: String,
    subject: String,
    not_after: String,
}

impl fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaBundle")
            .field("subject", &self.subject)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// What [`CaBundle::install`] did to the pki directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Installed {
    /// There was no CA: `ca.crt` and `ca.key` were written.
    New,
    /// The directory already held this CA; nothing was written.
    Unchanged,
    /// Files were replaced; the old ones were renamed to `backups`.
    /// `previous` is the fingerprint of the CA certificate that was there
    /// (the same as the bundle's when only a damaged `ca.key` was replaced).
    Replaced {
        previous: Option<String>,
        backups: Vec<PathBuf>,
    },
}

impl CaBundle {
    /// The CA of the master whose pki directory is `pki_dir`, read with the
    /// checks the master applies (key file 0600, owned by us, in a directory
    /// no one else may write).
    pub fn from_pki_dir(pki_dir: &Path) -> Result<CaBundle, PkiError> {
        let (cert_path, key_path) = (pki_dir.join(CA_CERT), pki_dir.join(CA_KEY));
        if !files::exists(&cert_path)? && !files::exists(&key_path)? {
            return Err(PkiError::NoCa {
                pki_dir: pki_dir.to_path_buf(),
            });
        }
        let key = load_key(&key_path)?;
        let der = load_cert(&cert_path, "CA certificate")?;
        CaBundle::check(der, key, &pki_dir.display().to_string())
    }

    /// Reads a bundle as [`CaBundle::to_pem`] writes it: one `CERTIFICATE`
    /// and one unencrypted PKCS#8 `PRIVATE KEY`, in any order. `origin`
    /// names where the text came from, in errors.
    pub fn parse(text: &str, origin: &str) -> Result<CaBundle, PkiError> {
        let bad = |reason: String| PkiError::BadCaBundle {
            origin: origin.to_string(),
            reason,
        };
        let mut certs = Vec::new();
        let mut keys = Vec::new();
        for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(text.as_bytes()) {
            let (kind, der) = section.map_err(|e| bad(format!("malformed PEM: {e}")))?;
            match kind {
                SectionKind::Certificate => certs.push(der),
                SectionKind::PrivateKey => keys.push(der),
                SectionKind::EcPrivateKey | SectionKind::RsaPrivateKey => {
                    return Err(bad(format!(
                        "its private key is a {} block; convert it to PKCS#8 (openssl pkcs8 -topk8 -nocrypt)",
                        match kind {
                            SectionKind::EcPrivateKey => "SEC1 'EC PRIVATE KEY'",
                            _ => "PKCS#1 'RSA PRIVATE KEY'",
                        }
                    )))
                }
                _ => return Err(bad(format!("unexpected PEM block {kind:?}"))),
            }
        }
        if certs.is_empty() && keys.is_empty() {
            return Err(bad(
                "no PEM certificate or private key found (expected the file `brine-key --export-ca` writes)"
                    .into(),
            ));
        }
        if certs.len() != 1 {
            return Err(bad(format!(
                "it holds {} certificates; expected exactly one, the CA certificate",
                certs.len()
            )));
        }
        if keys.len() != 1 {
            return Err(bad(format!(
                "it holds {} private keys; expected exactly one, the CA's (unencrypted PKCS#8 'PRIVATE KEY')",
                keys.len()
            )));
        }
        let key_der = keys.pop().unwrap_or_default();
        let key = KeyPair::try_from(key_der.as_slice())
            .map_err(|e| bad(format!("its private key cannot be read: {e}")))?;
        let der = CertificateDer::from(certs.pop().unwrap_or_default());
        CaBundle::check(der, key, origin)
    }

    fn check(
        der: CertificateDer<'static>,
        key: KeyPair,
        origin: &str,
    ) -> Result<CaBundle, PkiError> {
        let bad = |reason: String| PkiError::BadCaBundle {
            origin: origin.to_string(),
            reason,
        };
        let cert = parse_cert(&der).map_err(|e| bad(format!("its certificate: {e}")))?;
        let subject = cert.subject().to_string();
        if !cert.is_ca() {
            return Err(bad(format!(
                "the certificate ({subject}) is not a CA (no basicConstraints CA:TRUE)"
            )));
        }
        if let Ok(Some(usage)) = cert.key_usage() {
            if !usage.value.key_cert_sign() {
                return Err(bad(format!(
                    "the certificate ({subject}) may not sign certificates (its key usage lacks keyCertSign)"
                )));
            }
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let validity = cert.validity();
        if validity.not_after.timestamp() < now {
            return Err(bad(format!(
                "the CA certificate ({subject}) expired on {}",
                validity.not_after
            )));
        }
        if validity.not_before.timestamp() > now {
            return Err(bad(format!(
                "the CA certificate ({subject}) is not valid before {} (is this machine's clock right?)",
                validity.not_before
            )));
        }
        if cert.subject() == cert.issuer() && cert.verify_signature(None).is_err() {
            return Err(bad(format!(
                "the CA certificate ({subject}) is self-issued but its signature does not verify"
            )));
        }
        if cert.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(bad(format!(
                "the private key does not belong to the CA certificate ({subject})"
            )));
        }
        // The master will sign with it through rcgen: make sure it can.
        let probe = KeyPair::try_from(key.serialized_der())
            .map_err(|e| bad(format!("its private key cannot be used: {e}")))?;
        Issuer::from_ca_cert_der(&der, probe)
            .map_err(|e| bad(format!("the CA cannot be used to sign: {e}")))?;
        let not_after = validity.not_after.to_string();
        Ok(CaBundle {
            fingerprint: sha256_fingerprint(&der),
            der,
            key,
            subject,
            not_after,
        })
    }

    /// SHA-256 fingerprint of the CA certificate: what minions pin as
    /// `master_finger`, the same at every master sharing this CA.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The CA certificate's subject (`CN=Brine CA (master0)`).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// When the CA certificate expires, as x509 prints it.
    pub fn not_after(&self) -> &str {
        &self.not_after
    }

    /// The bundle: the certificate, then the private key (PKCS#8), PEM.
    pub fn to_pem(&self) -> String {
        let mut out = pem::cert_pem(&self.der);
        out.push_str(&self.key.serialize_pem());
        out
    }

    /// Writes the bundle to `path` with mode 0600 from the start. An
    /// existing file is refused ([`PkiError::WouldOverwrite`]) unless
    /// `overwrite`; then it is replaced atomically, by a new 0600 file.
    pub fn write_to(&self, path: &Path, overwrite: bool) -> Result<(), PkiError> {
        if overwrite {
            files::write_secret(path, self.to_pem().as_bytes())
        } else {
            files::write_new_secret(path, self.to_pem().as_bytes())
        }
    }

    /// Installs this CA as `ca.crt` (0644) and `ca.key` (0600) in a
    /// master's `pki_dir` (created 0700 if missing), after checking that
    /// the directories above it are ones the master will accept keys in.
    ///
    /// A directory already holding this CA is left as it is. One holding
    /// another CA (or a `ca.key` without `ca.crt`) is refused with
    /// [`PkiError::OtherCa`] unless `force`; then the old files are renamed
    /// to `ca.crt.<unix time>.bak` and `ca.key.<unix time>.bak` (keeping
    /// their modes). A `ca.key` that is missing, unreadable or not the key
    /// of a `ca.crt` equal to the bundle's is replaced (with a backup) without
    /// `force`: the CA, and every pin of it, stays the same.
    ///
    /// `master.crt` is left alone: the master issues a new one from the CA
    /// on start when the old one was issued by another CA.
    pub fn install(&self, pki_dir: &Path, force: bool) -> Result<Installed, PkiError> {
        files::ensure_dir(pki_dir)?;
        files::check_key_dir(pki_dir)?;
        let (cert_path, key_path) = (pki_dir.join(CA_CERT), pki_dir.join(CA_KEY));
        let cert_exists = files::exists(&cert_path)?;
        let key_exists = files::exists(&key_path)?;
        if !cert_exists && !key_exists {
            self.write_files(&cert_path, &key_path)?;
            return Ok(Installed::New);
        }
        let previous = if cert_exists {
            Some(
                load_cert(&cert_path, "CA certificate")
                    .map(|der| sha256_fingerprint(&der))
                    .unwrap_or_else(|e| format!("unreadable ({e})")),
            )
        } else {
            None
        };
        let same_cert = previous.as_deref() == Some(self.fingerprint.as_str());
        if !same_cert && !force {
            return Err(PkiError::OtherCa {
                pki_dir: pki_dir.to_path_buf(),
                existing: previous.unwrap_or_else(|| "unknown: ca.key without ca.crt".into()),
                offered: self.fingerprint.clone(),
            });
        }
        let key_matches = key_exists
            && load_key(&key_path)
                .is_ok_and(|k| k.subject_public_key_info() == self.key.subject_public_key_info());
        if same_cert && key_matches {
            return Ok(Installed::Unchanged);
        }
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut backups = Vec::new();
        // The certificate is the same one when only the key is replaced:
        // no backup of it is needed, and rewriting it changes nothing.
        let mut to_back_up = vec![];
        if cert_exists && !same_cert {
            to_back_up.push(&cert_path);
        }
        if key_exists {
            to_back_up.push(&key_path);
        }
        for path in to_back_up {
            let backup = backup_name(path, stamp)?;
            std::fs::rename(path, &backup)
                .map_err(|source| files::io_err("rename to a backup", path, source))?;
            backups.push(backup);
        }
        self.write_files(&cert_path, &key_path)?;
        Ok(Installed::Replaced { previous, backups })
    }

    fn write_files(&self, cert_path: &Path, key_path: &Path) -> Result<(), PkiError> {
        // The key first: a crash in between leaves a key without its
        // certificate, which the master refuses to start with, by name.
        files::write_secret(key_path, self.key.serialize_pem().as_bytes())?;
        files::write_public(cert_path, pem::cert_pem(&self.der).as_bytes())?;
        // Read back as the master will read it on start.
        let key = load_key(key_path)?;
        let der = load_cert(cert_path, "CA certificate")?;
        if key.subject_public_key_info() != self.key.subject_public_key_info()
            || der.as_ref() != self.der.as_ref()
        {
            return Err(PkiError::Inconsistent(format!(
                "{} and {} do not read back as written",
                cert_path.display(),
                key_path.display()
            )));
        }
        Ok(())
    }
}

/// `path.<stamp>.bak`, or with `.1`, `.2`... added when that exists.
fn backup_name(path: &Path, stamp: u64) -> Result<PathBuf, PkiError> {
    let base = format!("{}.{stamp}.bak", path.display());
    let mut candidate = PathBuf::from(&base);
    let mut n = 0;
    while files::exists(&candidate)? {
        n += 1;
        candidate = PathBuf::from(format!("{base}.{n}"));
    }
    Ok(candidate)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::{MasterPki, MinionPki};

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn export_then_import_gives_the_same_ca_and_certificates_valid_at_both() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let m1 = MasterPki::load_or_create(one.path(), "m1").unwrap();
        let bundle = CaBundle::from_pki_dir(one.path()).unwrap();
        assert_eq!(bundle.fingerprint(), m1.ca_fingerprint());
        assert!(bundle.subject().contains("Brine CA (m1)"), "{bundle:?}");

        let file = one.path().join("export.pem");
        bundle.write_to(&file, false).unwrap();
        assert_eq!(mode(&file), 0o600);
        let err = bundle.write_to(&file, false).unwrap_err();
        assert!(matches!(err, PkiError::WouldOverwrite { .. }), "{err}");
        assert!(err.to_string().contains("--force"), "{err}");
        bundle.write_to(&file, true).unwrap();
        assert_eq!(mode(&file), 0o600);

        let text = files::read_secret_file(&file).unwrap();
        let read = CaBundle::parse(&text, "export.pem").unwrap();
        let pki2 = two.path().join("pki/master");
        assert_eq!(read.install(&pki2, false).unwrap(), Installed::New);
        assert_eq!(mode(&pki2.join(CA_KEY)), 0o600);
        assert_eq!(mode(&pki2), 0o700);
        assert_eq!(read.install(&pki2, false).unwrap(), Installed::Unchanged);

        let m2 = MasterPki::load_or_create(&pki2, "m2").unwrap();
        assert_eq!(m2.ca_fingerprint(), m1.ca_fingerprint());
        assert_ne!(m2.signing_public_key(), m1.signing_public_key());
        // A minion certificate from one is a certificate of the CA of both.
        let ndir = tempfile::tempdir().unwrap();
        let mut minion = MinionPki::load_or_create(ndir.path(), "web1").unwrap();
        let cert = m1
            .sign_minion_csr(&minion.csr_pem().unwrap(), "web1")
            .unwrap();
        minion.store_certificate(&cert, &m2.ca_pem()).unwrap();
        assert!(minion.has_certificate());
    }

    #[test]
    fn another_ca_is_refused_unless_forced_and_then_backed_up() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let m1 = MasterPki::load_or_create(one.path(), "m1").unwrap();
        let m2 = MasterPki::load_or_create(two.path(), "m2").unwrap();
        let bundle = CaBundle::from_pki_dir(one.path()).unwrap();
        let old_key = fs::read(two.path().join(CA_KEY)).unwrap();

        let err = bundle.install(two.path(), false).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, PkiError::OtherCa { .. }), "{msg}");
        assert!(msg.contains(&m2.ca_fingerprint()), "{msg}");
        assert!(msg.contains(&m1.ca_fingerprint()), "{msg}");
        assert!(msg.contains("--force"), "{msg}");
        // Nothing was touched.
        assert_eq!(fs::read(two.path().join(CA_KEY)).unwrap(), old_key);

        let done = bundle.install(two.path(), true).unwrap();
        let Installed::Replaced { previous, backups } = done else {
            panic!("{done:?}")
        };
        assert_eq!(previous.as_deref(), Some(m2.ca_fingerprint().as_str()));
        assert_eq!(backups.len(), 2);
        let key_backup = backups
            .iter()
            .find(|b| b.to_string_lossy().contains("ca.key."));
        let key_backup = key_backup.expect("a backup of ca.key");
        assert_eq!(fs::read(key_backup).unwrap(), old_key);
        assert_eq!(mode(key_backup), 0o600);
        // The master now runs on the imported CA, with a new master.crt.
        let again = MasterPki::load_or_create(two.path(), "m2").unwrap();
        assert_eq!(again.ca_fingerprint(), m1.ca_fingerprint());
        assert_eq!(again.signing_public_key(), m2.signing_public_key());
    }

    #[test]
    fn a_damaged_key_of_the_same_ca_is_repaired_without_force() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        MasterPki::load_or_create(one.path(), "m1").unwrap();
        let bundle = CaBundle::from_pki_dir(one.path()).unwrap();
        bundle.install(two.path(), false).unwrap();
        fs::write(two.path().join(CA_KEY), "junk").unwrap();
        let done = bundle.install(two.path(), false).unwrap();
        assert!(
            matches!(&done, Installed::Replaced { backups, .. } if backups.len() == 1),
            "{done:?}"
        );
        MasterPki::load_or_create(two.path(), "m2").unwrap();
    }

    #[test]
    fn bad_bundles_are_named_errors() {
        let one = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let m1 = MasterPki::load_or_create(one.path(), "m1").unwrap();
        MasterPki::load_or_create(other.path(), "m9").unwrap();
        let good = CaBundle::from_pki_dir(one.path()).unwrap().to_pem();
        let other_key = fs::read_to_string(other.path().join(CA_KEY)).unwrap();
        let master_crt = fs::read_to_string(one.path().join("master.crt")).unwrap();
        let master_key = fs::read_to_string(one.path().join("master.key")).unwrap();
        let cert_only = m1.ca_pem();
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "no PEM certificate"),
            ("hello\n".into(), "no PEM certificate"),
            (
                "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".into(),
                "malformed PEM",
            ),
            (cert_only.clone(), "0 private keys"),
            (format!("{cert_only}{other_key}"), "does not belong"),
            (format!("{master_crt}{master_key}"), "not a CA"),
            (format!("{good}{cert_only}"), "2 certificates"),
            (
                format!("{cert_only}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
                "cannot be read",
            ),
            (
                format!("{cert_only}-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"),
                "PKCS#8",
            ),
        ];
        for (text, want) in cases {
            let err = CaBundle::parse(&text, "b.pem").unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, PkiError::BadCaBundle { .. }), "{msg}");
            assert!(msg.starts_with("b.pem is not a usable CA bundle"), "{msg}");
            assert!(msg.contains(want), "want '{want}' in: {msg}");
        }
        CaBundle::parse(&good, "b.pem").unwrap();
    }

    #[test]
    fn export_without_a_ca_and_a_shared_bundle_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = CaBundle::from_pki_dir(dir.path()).unwrap_err();
        assert!(matches!(err, PkiError::NoCa { .. }), "{err}");

        MasterPki::load_or_create(dir.path(), "m1").unwrap();
        let file = dir.path().join("b.pem");
        CaBundle::from_pki_dir(dir.path())
            .unwrap()
            .write_to(&file, false)
            .unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let err = files::read_secret_file(&file).unwrap_err();
        assert!(matches!(err, PkiError::InsecureKeyFile { .. }), "{err}");
    }
}
