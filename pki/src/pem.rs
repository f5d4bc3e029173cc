//! PEM in and out. Decoding uses `rustls::pki_types`; encoding is the few
//! lines of base64 it takes (no crate for it in the workspace).

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::PkiError;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// PEM-encodes `der` under `label` (`CERTIFICATE`, ...), 64 columns, `\n` line ends.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let mut b64 = Vec::with_capacity(der.len().div_ceil(3) * 4);
    for chunk in der.chunks(3) {
        let n = match chunk.len() {
            3 => (chunk[0] as u32) << 16 | (chunk[1] as u32) << 8 | chunk[2] as u32,
            2 => (chunk[0] as u32) << 16 | (chunk[1] as u32) << 8,
            _ => (chunk[0] as u32) << 16,
        };
        b64.push(B64[(n >> 18) as usize & 63]);
        b64.push(B64[(n >> 12) as usize & 63]);
        b64.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        b64.push(if chunk.len() > 2 {
            B64[n as usize & 63]
        } else {
            b'='
        });
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.chunks(64) {
        // Only ASCII from the table above.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

pub(crate) fn cert_pem(der: &[u8]) -> String {
    encode("CERTIFICATE", der)
}

/// The first certificate in `pem`; `what` names it in errors ("CA certificate").
pub(crate) fn parse_cert(
    pem: &str,
    what: &'static str,
) -> Result<CertificateDer<'static>, PkiError> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| PkiError::BadCertificate(format!("{what}: {e}")))
}

/// The first certificate in the file at `path`.
pub(crate) fn parse_cert_file(
    path: &Path,
    text: &str,
    what: &'static str,
) -> Result<CertificateDer<'static>, PkiError> {
    CertificateDer::from_pem_slice(text.as_bytes()).map_err(|e| PkiError::BadFile {
        path: path.to_path_buf(),
        what,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_round_trips_through_the_decoder() {
        for len in 0..70usize {
            let der: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let pem = cert_pem(&der);
            if len == 0 {
                continue;
            }
            let back = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
            assert_eq!(back.as_ref(), &der[..], "len {len}");
            assert!(pem.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
        }
        assert_eq!(
            encode("X", b"Man"),
            "-----BEGIN X-----\nTWFu\n-----END X-----\n"
        );
        assert_eq!(
            encode("X", b"Ma"),
            "-----BEGIN X-----\nTWE=\n-----END X-----\n"
        );
        assert_eq!(
            encode("X", b"M"),
            "-----BEGIN X-----\nTQ==\n-----END X-----\n"
        );
    }
}
