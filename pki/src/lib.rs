//! Brine's trust: the master's certificate authority, minion keys and
//! certificates, the TLS configurations of the request port, sealed
//! publications and the framed channel over TLS.
//!
//! **Invariant:** a minion's identity comes only from its certificate: the
//! CN of its client certificate and the SHA-256 fingerprint of its public key
//! ([`peer_identity`]). Nothing a minion says inside the channel overrides it.
//!
//! **Invariant:** private key files are created with mode 0600 and refused
//! on load when group or others may read or write them ([`files`]).
//!
//! **Boundary:** the wire types (`SealedPublication`, `EpochKey`, `Job`) and
//! the frame codec live in `brine_proto`; this crate only fills and checks them.

pub mod api_user;
pub mod channel;
pub mod cluster_ca;
pub mod files;
pub mod fingerprint;
mod https;
mod master;
mod minion;
mod pem;
pub mod sealing;
mod tls;
mod x509;

#[cfg(test)]
mod handshake_tests;

use std::path::PathBuf;

pub use master::MasterPki;
pub use minion::MinionPki;
pub use sealing::PublicationSealer;
pub use tls::{ca_mismatch, is_ca_mismatch, CaMismatch, CaPin, SERVER_NAME};
pub use x509::{inspect_csr, peer_identity, CsrInfo, PeerIdentity};

/// Everything that can go wrong in this crate outside of the channel and
/// publication opening (see [`channel::ChannelError`], [`sealing::SealError`]).
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "private key file {path} has mode {mode:04o}: it must not be readable or writable by group or others (chmod 600 it)"
    )]
    InsecureKeyFile { path: PathBuf, mode: u32 },
    /// A key file, or a directory holding one, that another user owns or
    /// may write: someone else could have planted or could swap the key.
    #[error("refusing {path}: {problem}; it must be owned by root or by the user running brine (uid {euid}) and not writable by group or others")]
    UntrustedPath {
        path: PathBuf,
        problem: String,
        euid: u32,
    },
    #[error("cannot read {what} from {path}: {reason}")]
    BadFile {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    /// Files of one pki directory that do not belong together.
    #[error("{0}")]
    Inconsistent(String),
    #[error("cannot {what}: {source}")]
    Generate {
        what: &'static str,
        source: rcgen::Error,
    },
    #[error("bad certificate request: {0}")]
    BadCsr(String),
    #[error("certificate request is for '{csr_id}', not '{expected}'")]
    CsrIdMismatch { csr_id: String, expected: String },
    #[error("bad certificate: {0}")]
    BadCertificate(String),
    #[error(transparent)]
    CaMismatch(#[from] CaMismatch),
    #[error("invalid fingerprint '{0}': expected 32 hex pairs")]
    BadFingerprint(String),
    #[error("this minion has no certificate yet")]
    NoCertificate,
    /// A CA bundle (`brine-key --import-ca`) that cannot be used.
    #[error("{origin} is not a usable CA bundle: {reason}")]
    BadCaBundle { origin: String, reason: String },
    /// The master has no CA to export yet.
    #[error("no CA in {pki_dir} (ca.crt and ca.key): start brine-master once to create it, or import one with brine-key --import-ca")]
    NoCa { pki_dir: PathBuf },
    /// Importing would replace the CA this master already has.
    #[error(
        "this master already has a different CA in {pki_dir} (fingerprint {existing}); the bundle's CA is {offered}. \
         Replacing it invalidates every certificate the old CA issued and every minion's pin of it (master_finger). \
         Pass --force to replace it anyway (the old ca.crt and ca.key are kept as backups)"
    )]
    OtherCa {
        pki_dir: PathBuf,
        existing: String,
        offered: String,
    },
    /// A file that would be overwritten without being asked to.
    #[error(
        "{path} already exists: choose another file, remove it, or pass --force to overwrite it"
    )]
    WouldOverwrite { path: PathBuf },
    #[error("tls configuration: {0}")]
    Tls(String),
    #[error("cannot seal the publication: {0}")]
    Seal(String),
}

impl From<rustls::Error> for PkiError {
    fn from(e: rustls::Error) -> Self {
        PkiError::Tls(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn shared_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<crate::MasterPki>();
        check::<crate::MinionPki>();
        check::<crate::PublicationSealer>();
        check::<crate::CaPin>();
        check::<crate::PkiError>();
        check::<crate::channel::ChannelError>();
        check::<crate::sealing::SealError>();
    }
}
