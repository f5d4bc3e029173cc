//! `source_hash` as Salt reads it (`file.get_source_sum`,
//! `file.extract_hash`): an expression `type=hex`, a bare hex digest typed by
//! its length, or a hash file whose lines are `hash  filename`.

/// Salt's supported hash types and their hex lengths, in Salt's order.
pub const HASHES: &[(&str, usize)] = &[
    ("sha512", 128),
    ("sha384", 96),
    ("sha256", 64),
    ("sha224", 56),
    ("sha1", 40),
    ("md5", 32),
];

/// A digest to check a source against (`source_sum` in Salt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSum {
    pub hash_type: String,
    /// Lowercase hex.
    pub hsum: String,
}

/// The hash type whose hex digest has `len` characters.
pub fn type_for_len(len: usize) -> Option<&'static str> {
    HASHES.iter().find(|(_, l)| *l == len).map(|(t, _)| *t)
}

fn len_for_type(hash_type: &str) -> Option<usize> {
    HASHES
        .iter()
        .find(|(t, _)| *t == hash_type)
        .map(|(_, l)| *l)
}

/// A running digest of one of Salt's hash types.
enum Hasher {
    Ring(ring::digest::Context),
    Sha224(sha2::Sha224),
    Md5(md5::Md5),
}

impl Hasher {
    /// `None` for an unknown hash type.
    fn new(hash_type: &str) -> Option<Hasher> {
        use ring::digest;
        use sha2::Digest as _;
        let ring = |alg| Some(Hasher::Ring(digest::Context::new(alg)));
        match hash_type {
            "sha512" => ring(&digest::SHA512),
            "sha384" => ring(&digest::SHA384),
            "sha256" => ring(&digest::SHA256),
            "sha224" => Some(Hasher::Sha224(sha2::Sha224::new())),
            // Salt accepts sha1 and md5 for checksums of downloads, not security.
            "sha1" => ring(&digest::SHA1_FOR_LEGACY_USE_ONLY),
            "md5" => Some(Hasher::Md5(md5::Md5::new())),
            _ => None,
        }
    }

    fn update(&mut self, data: &[u8]) {
        use sha2::Digest as _;
        match self {
            Hasher::Ring(c) => c.update(data),
            Hasher::Sha224(h) => h.update(data),
            Hasher::Md5(h) => h.update(data),
        }
    }

    fn finish_hex(self) -> String {
        use sha2::Digest as _;
        let bytes: Vec<u8> = match self {
            Hasher::Ring(c) => c.finish().as_ref().to_vec(),
            Hasher::Sha224(h) => h.finalize().to_vec(),
            Hasher::Md5(h) => h.finalize().to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The lowercase hex digest of `data`; `None` for an unknown hash type.
pub fn digest_hex(hash_type: &str, data: &[u8]) -> Option<String> {
    let mut h = Hasher::new(hash_type)?;
    h.update(data);
    Some(h.finish_hex())
}

/// The lowercase hex digest of a file's content, read in 64 KiB pieces;
/// `Ok(None)` for an unknown hash type.
pub fn file_digest_hex(hash_type: &str, path: &std::path::Path) -> std::io::Result<Option<String>> {
    use std::io::Read;
    let Some(mut h) = Hasher::new(hash_type) else {
        return Ok(None);
    };
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(Some(h.finish_hex()))
}

/// Whether `data` has the digest `sum`.
pub fn matches(sum: &SourceSum, data: &[u8]) -> bool {
    digest_hex(&sum.hash_type, data).is_some_and(|d| d == sum.hsum)
}

/// Salt's error for a `source_hash` it cannot read.
pub fn invalid_format(source_hash: &str) -> String {
    let lengths: Vec<String> = {
        let mut sorted: Vec<_> = HASHES.to_vec();
        sorted.sort_by_key(|(_, l)| *l);
        sorted.iter().map(|(t, l)| format!("{t} ({l})")).collect()
    };
    format!(
        "Source hash {source_hash} format is invalid. The supported formats are: \
         1) a hash, 2) an expression in the format <hash_type>=<hash>, or \
         3) either a path to a local file containing hashes, or a URI of \
         a remote hash file. Supported protocols for remote hash files \
         are: salt, file, http, https, ftp, swift, s3. The hash may also not be of a valid length, the \
         following are supported hash types and lengths: {}.",
        lengths.join(", ")
    )
}

/// What `source_hash` names: an inline digest or a file of digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashSpec {
    Inline(SourceSum),
    /// A URL (`salt://`, `http(s)://`, `file://`) or absolute path.
    File(String),
}

/// Parses an inline `source_hash` or recognises a hash file reference.
/// `Err` carries Salt's wording.
pub fn parse_source_hash(source_hash: &str) -> Result<HashSpec, String> {
    if source_hash.starts_with('/') {
        return Ok(HashSpec::File(source_hash.to_string()));
    }
    match url_scheme(source_hash) {
        Some("salt" | "file" | "http" | "https" | "ftp" | "swift" | "s3") => {
            return Ok(HashSpec::File(source_hash.to_string()))
        }
        Some(_) => return Err(invalid_format(source_hash)),
        None => {}
    }
    let (hash_type, hsum) = match source_hash.split_once('=') {
        Some((t, h)) => (t.trim().to_string(), h.trim().to_string()),
        None => {
            if source_hash.is_empty() || !source_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid_format(source_hash));
            }
            match type_for_len(source_hash.len()) {
                Some(t) => (t.to_string(), source_hash.to_string()),
                None => return Err(invalid_format(source_hash)),
            }
        }
    };
    let Some(expected_len) = len_for_type(&hash_type) else {
        let names: Vec<&str> = HASHES.iter().map(|(t, _)| *t).collect();
        return Err(format!(
            "Invalid hash type '{hash_type}'. Supported hash types are: {}. \
             Either remove the hash type and simply use '{hsum}' as the \
             source_hash, or change the hash type to a supported type.",
            names.join(", ")
        ));
    };
    let Some(actual_type) = type_for_len(hsum.chars().count()) else {
        return Err(invalid_format(source_hash));
    };
    if hsum.len() != expected_len {
        return Err(format!(
            "Invalid length ({}) for hash type '{hash_type}'. Either \
             remove the hash type and simply use '{hsum}' as the \
             source_hash, or change the hash type to '{actual_type}'",
            hsum.len()
        ));
    }
    Ok(HashSpec::Inline(SourceSum {
        hash_type,
        hsum: hsum.to_lowercase(),
    }))
}

/// The scheme of `url` as Python's `urlparse` sees it, if any.
pub fn url_scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// The first hash-looking token of a line: a run of ASCII letters and digits
/// that is all hex and 32 to 128 long (Salt's regex with look-arounds).
/// A line whose first such token has no hash type's length has no hash.
fn line_hash(line: &str) -> Option<SourceSum> {
    let token = line
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|t| (32..=128).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_hexdigit()))?;
    let hash_type = type_for_len(token.len())?;
    Some(SourceSum {
        hash_type: hash_type.to_string(),
        hsum: token.to_string(),
    })
}

/// Whether `line` names `wanted`: it ends with it after one of `separators`,
/// or starts with it followed by whitespace.
fn line_names(line: &str, ends_with: &str, starts_with: &str, separators: &str) -> bool {
    if !ends_with.is_empty() && line.ends_with(ends_with) {
        let before = line[..line.len() - ends_with.len()].chars().next_back();
        return before.is_some_and(|c| separators.contains(c) || c.is_whitespace());
    }
    !starts_with.is_empty()
        && line
            .strip_prefix(starts_with)
            .and_then(|rest| rest.chars().next())
            .is_some_and(char::is_whitespace)
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Salt's `file.extract_hash`: the hash on the line naming
/// `source_hash_name`, else the managed file's name, else the source's
/// basename; else the first hash in the file; `None` when there is none.
pub fn extract_hash(
    text: &str,
    file_name: &str,
    source: &str,
    source_hash_name: Option<&str>,
) -> Option<SourceSum> {
    let source_path = source
        .split_once("://")
        .map(|(_, rest)| {
            let rest = rest.split(['?', '#']).next().unwrap_or(rest);
            match rest.split_once('/') {
                Some((_, path)) => format!("/{path}"),
                None => rest.to_string(),
            }
        })
        .unwrap_or_else(|| source.to_string());
    let source_base = basename(&source_path);
    let file_base = basename(file_name);
    let filename_separators = "\\/*";
    let mut partial = None;
    let mut found: [Option<SourceSum>; 3] = [None, None, None];
    for raw in text.lines() {
        let line = raw.trim();
        let Some(matched) = line_hash(line) else {
            continue;
        };
        partial.get_or_insert_with(|| matched.clone());
        if let Some(name) = source_hash_name.filter(|n| !n.is_empty()) {
            if line_names(line, name, name, "") {
                found[0].get_or_insert_with(|| matched.clone());
            }
        }
        if !file_name.is_empty() && line_names(line, file_base, file_name, filename_separators) {
            found[1].get_or_insert_with(|| matched.clone());
        }
        if !source.is_empty() && line_names(line, source_base, source, filename_separators) {
            found[2].get_or_insert_with(|| matched.clone());
        }
    }
    let best = found.into_iter().flatten().next().or(partial)?;
    Some(SourceSum {
        hsum: best.hsum.to_lowercase(),
        ..best
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "12543eb212bfaeb4ba048745a032a4d4ad9f61231c89f503ef57228d5af52c8a";

    #[test]
    fn digests_of_every_supported_type() {
        assert_eq!(
            digest_hex("md5", b"hello remote\n").unwrap(),
            "b97d15bddb66d3553affbda0e5ef2f5c"
        );
        assert_eq!(digest_hex("sha256", b"hello remote\n").unwrap(), SHA);
        assert_eq!(
            digest_hex("sha224", b"").unwrap(),
            "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f"
        );
        assert_eq!(
            digest_hex("sha1", b"").unwrap(),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert_eq!(digest_hex("sha384", b"").unwrap().len(), 96);
        assert_eq!(digest_hex("sha512", b"").unwrap().len(), 128);
        assert_eq!(digest_hex("crc32", b""), None);
    }

    #[test]
    fn inline_hashes_are_typed_by_name_or_length() {
        let sum = |t: &str, h: &str| {
            HashSpec::Inline(SourceSum {
                hash_type: t.into(),
                hsum: h.into(),
            })
        };
        assert_eq!(
            parse_source_hash(&format!("sha256={SHA}")),
            Ok(sum("sha256", SHA))
        );
        assert_eq!(
            parse_source_hash("B97D15BDDB66D3553AFFBDA0E5EF2F5C"),
            Ok(sum("md5", "b97d15bddb66d3553affbda0e5ef2f5c"))
        );
        assert_eq!(
            parse_source_hash("salt://sums.txt"),
            Ok(HashSpec::File("salt://sums.txt".into()))
        );
        assert_eq!(
            parse_source_hash("/srv/sums"),
            Ok(HashSpec::File("/srv/sums".into()))
        );
    }

    #[test]
    fn bad_inline_hashes_get_salts_wording() {
        let err = parse_source_hash("nothex").unwrap_err();
        assert!(err.starts_with(
            "Source hash nothex format is invalid. The supported formats are: 1) a hash,"
        ));
        assert!(err.ends_with(
            "md5 (32), sha1 (40), sha224 (56), sha256 (64), sha384 (96), sha512 (128)."
        ));
        assert_eq!(
            parse_source_hash(&format!("sha999={SHA}")).unwrap_err(),
            format!("Invalid hash type 'sha999'. Supported hash types are: sha512, sha384, sha256, sha224, sha1, md5. Either remove the hash type and simply use '{SHA}' as the source_hash, or change the hash type to a supported type.")
        );
        assert_eq!(
            parse_source_hash(&format!("md5={SHA}")).unwrap_err(),
            format!("Invalid length (64) for hash type 'md5'. Either remove the hash type and simply use '{SHA}' as the source_hash, or change the hash type to 'sha256'")
        );
        assert!(parse_source_hash("foo://x").is_err());
    }

    #[test]
    fn hash_files_pick_the_line_naming_the_file() {
        let other = "deadbeef".repeat(8);
        let text = format!("{other}  other.tar\n{SHA}  app.conf\n");
        let source = "http://h/dl/app.conf";
        let got = extract_hash(&text, "/etc/app.conf", source, None).unwrap();
        assert_eq!(got.hsum, SHA);
        // source_hash_name wins over the file names.
        let got = extract_hash(&text, "/etc/app.conf", source, Some("other.tar")).unwrap();
        assert_eq!(got.hsum, other);
        // Nothing named: the first hash in the file.
        let got = extract_hash(&text, "/etc/x", "http://h/y", None).unwrap();
        assert_eq!(got.hsum, other);
        // BSD style and `*name` (binary mode) lines.
        let bsd = format!("SHA256 (app.conf) = {SHA}\n");
        assert_eq!(
            extract_hash(&bsd, "/x", source, None).unwrap().hash_type,
            "sha256"
        );
        let star = format!("{other} *x\n{SHA} *app.conf\n");
        assert_eq!(extract_hash(&star, "/y", source, None).unwrap().hsum, SHA);
        assert_eq!(extract_hash("no hashes here\n", "/x", source, None), None);
    }
}
