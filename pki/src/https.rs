//! The HTTPS certificate of the master's API: issued by the master's CA
//! for the names and addresses clients use (`api.crt`, renewed at every
//! start so its names follow the config; `api.key` kept, 0600), or the
//! user's own certificate and key. Clients verify it with `ca.crt`.
//! Client certificates are optional and, when presented, must chain to
//! the CA. TLS 1.2 and 1.3 (browsers, curl), HTTP/1.1.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rcgen::{ExtendedKeyUsagePurpose, KeyPair, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use crate::master::{leaf_params, load_key, MasterPki};
use crate::tls::provider;
use crate::{files, PkiError};

const API_CERT: &str = "api.crt";
const API_KEY: &str = "api.key";
/// An HTTPS certificate lasts two years (browsers refuse longer ones).
const API_YEARS: u32 = 2;

impl MasterPki {
    /// A server configuration for the API, with a certificate from this
    /// master's CA naming `names` and `ips`.
    pub fn https_server_config(
        &self,
        names: &[String],
        ips: &[IpAddr],
    ) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        let key_path = self.dir().join(API_KEY);
        let key = if files::exists(&key_path)? {
            load_key(&key_path)?
        } else {
            let k = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|source| {
                PkiError::Generate {
                    what: "generate the API key",
                    source,
                }
            })?;
            files::write_secret(&key_path, k.serialize_pem().as_bytes())?;
            k
        };
        let cn = names.first().cloned().unwrap_or_else(|| "brine-api".into());
        let mut params = leaf_params(&cn, API_YEARS)?;
        let mut sans = Vec::new();
        for n in names {
            sans.push(SanType::DnsName(n.clone().try_into().map_err(
                |source| PkiError::Generate {
                    what: "name the API certificate",
                    source,
                },
            )?));
        }
        sans.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, self.issuer())
            .map_err(|source| PkiError::Generate {
                what: "issue the API certificate",
                source,
            })?;
        files::write_public(&self.dir().join(API_CERT), cert.pem().as_bytes())?;
        let chain = vec![cert.der().clone(), self.ca_cert_der()];
        self.https_config(chain, PrivateKeyDer::Pkcs8(key.serialize_der().into()))
    }

    /// A server configuration for the API with the user's own certificate
    /// chain and key (PEM files).
    pub fn https_server_config_from(
        &self,
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
            .and_then(|it| it.collect())
            .map_err(|e| PkiError::Tls(format!("{}: {e}", cert_path.display())))?;
        if chain.is_empty() {
            return Err(PkiError::Tls(format!(
                "{}: no certificate in the file",
                cert_path.display()
            )));
        }
        let key = PrivateKeyDer::from_pem_file(key_path)
            .map_err(|e| PkiError::Tls(format!("{}: {e}", key_path.display())))?;
        self.https_config(chain, key)
    }

    fn https_config(
        &self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        let provider = provider();
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_cert_der())?;
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .allow_unauthenticated()
                .build()
                .map_err(|e| PkiError::Tls(e.to_string()))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}
