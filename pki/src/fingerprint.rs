//! SHA-256 fingerprints as operators read them: `ab:cd:…`, 32 lowercase hex
//! pairs. Comparisons ignore case and colons, so `AB:CD…` and `abcd…` match.

use ring::digest::{digest, SHA256};

/// SHA-256 of `der`, as colon-separated lowercase hex pairs.
pub fn sha256_fingerprint(der: &[u8]) -> String {
    let d = digest(&SHA256, der);
    let mut out = String::with_capacity(d.as_ref().len() * 3);
    for (i, b) in d.as_ref().iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The canonical form of a fingerprint typed by a human: lowercase hex pairs
/// separated by colons. Colons and whitespace in the input are ignored.
/// Input that is not hex is lowercased and paired all the same; it will
/// simply not be [`same`] as any real fingerprint.
pub fn normalize(fp: &str) -> String {
    let bare = bare(fp);
    let mut out = String::with_capacity(bare.len() * 3 / 2);
    for (i, c) in bare.chars().enumerate() {
        if i > 0 && i % 2 == 0 {
            out.push(':');
        }
        out.push(c);
    }
    out
}

/// Whether two fingerprints are the same, ignoring case, colons and
/// whitespace. Two empty fingerprints are never the same.
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (bare(a), bare(b));
    !a.is_empty() && a == b
}

/// Whether `fp` is a well-formed SHA-256 fingerprint (32 hex pairs, any case,
/// colons optional).
pub fn is_sha256(fp: &str) -> bool {
    let b = bare(fp);
    b.len() == 64 && b.chars().all(|c| c.is_ascii_hexdigit())
}

fn bare(fp: &str) -> String {
    fp.chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_compare() {
        let fp = sha256_fingerprint(b"abc");
        assert_eq!(
            fp,
            "ba:78:16:bf:8f:01:cf:ea:41:41:40:de:5d:ae:22:23:b0:03:61:a3:96:17:7a:9c:b4:10:ff:61:f2:00:15:ad"
        );
        assert!(is_sha256(&fp));
        let upper_bare = fp.replace(':', "").to_uppercase();
        assert!(same(&fp, &upper_bare));
        assert!(same(&upper_bare, &fp));
        assert_eq!(normalize(&upper_bare), fp);
        assert_eq!(normalize(&fp), fp);
        assert!(!same(&fp, &sha256_fingerprint(b"abd")));
        assert!(!same("", ""));
        assert!(!is_sha256("ab:cd"));
        assert!(!is_sha256(&fp.replace('b', "g")));
    }
}
