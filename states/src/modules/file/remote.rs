//! `http://` and `https://` sources: the one place the states crate does
//! network IO. Downloads are kept where Salt keeps them
//! (`<cachedir>/extrn_files/<saltenv>/<host>/<path>`) and reused while they
//! still match `source_hash`.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use super::hashes::{self, SourceSum};

/// Long enough for a slow mirror, short enough that a dead host does not
/// hang a state run (Salt's `http_connect_timeout` is 20 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// A stalled transfer fails after this long without data.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Sources are held in memory to diff and hash them.
const MAX_BODY: u64 = 1 << 30;

/// Why a URL could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("could not fetch {url}: HTTP {status}: {reason}")]
    Status {
        url: String,
        status: u16,
        reason: String,
    },
    #[error("could not fetch {url}: {source}")]
    Transport { url: String, source: ureq::Error },
    #[error("could not fetch {url}: unsupported scheme (only http and https are)")]
    Scheme { url: String },
}

/// `http://` or `https://`.
pub fn is_http(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Schemes Salt fetches remotely; only http(s) are implemented.
pub fn is_remote(url: &str) -> bool {
    matches!(
        hashes::url_scheme(url)
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("http" | "https" | "ftp" | "swift" | "s3")
    )
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(READ_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into()
}

fn check_scheme(url: &str) -> Result<(), FetchError> {
    if is_http(url) {
        Ok(())
    } else {
        Err(FetchError::Scheme {
            url: url.to_string(),
        })
    }
}

/// The body of `url` (GET, redirects followed); any status but 2xx is an error.
pub fn get(url: &str) -> Result<Vec<u8>, FetchError> {
    check_scheme(url)?;
    let transport = |source| FetchError::Transport {
        url: url.to_string(),
        source,
    };
    let mut response = agent().get(url).call().map_err(transport)?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status {
            url: url.to_string(),
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_string(),
        });
    }
    response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(transport)
}

/// Whether `url` answers a HEAD request without an error status (how Salt's
/// `file.source_list` checks remote items of a source list).
pub fn exists(url: &str) -> bool {
    is_http(url)
        && agent()
            .head(url)
            .call()
            .is_ok_and(|r| r.status().as_u16() < 400)
}

/// Salt's `_extrn_path`: where a download of `url` is cached. `None` when the
/// URL's path would lead outside the cache.
pub fn cache_path(cachedir: &Path, saltenv: &str, url: &str) -> Option<PathBuf> {
    let (_, rest) = url.split_once("://")?;
    let rest = rest.split('#').next().unwrap_or(rest);
    let (authority, path_query) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let host = host.replace(':', "");
    let file_name = match path_query.split_once('?') {
        Some((path, query)) => format!("{path}-{query}"),
        None => path_query.to_string(),
    };
    let mut out = cachedir.join("extrn_files").join(saltenv).join(host);
    for component in Path::new(&file_name).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

/// Where the bytes of a remote source came from (for callers that report it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Cache,
    Download,
}

/// The bytes of remote `url`: the cached copy when it matches `expected` (or
/// any cached copy when verification is skipped, as Salt does), else a fresh
/// download, cached when `store` is set (never under `test=True`). Checking
/// the download against `expected` is the caller's: Salt caches first and
/// reports a mismatch after, and the next run downloads again.
pub fn fetch_cached(
    cachedir: &Path,
    saltenv: &str,
    url: &str,
    expected: Option<&SourceSum>,
    skip_verify: bool,
    store: bool,
) -> Result<(Vec<u8>, Origin), FetchError> {
    let cached = cache_path(cachedir, saltenv, url);
    if let Some(data) = cached.as_deref().and_then(|p| std::fs::read(p).ok()) {
        let fresh = skip_verify || expected.is_some_and(|sum| hashes::matches(sum, &data));
        if fresh {
            tracing::debug!(url, "cached copy matches source_hash, not downloading");
            return Ok((data, Origin::Cache));
        }
    }
    let data = get(url)?;
    if let (true, Some(path)) = (store, cached) {
        if let Err(error) = write_cache(&path, &data) {
            tracing::warn!(url, error = %error, "could not cache download");
        }
    }
    Ok((data, Origin::Download))
}

fn write_cache(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let partial = path.with_extension("part");
    std::fs::write(&partial, data)?;
    std::fs::rename(&partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_paths_follow_salts_layout() {
        let c = Path::new("/c");
        assert_eq!(
            cache_path(c, "base", "http://127.0.0.1:8080/dl/app.conf"),
            Some(PathBuf::from(
                "/c/extrn_files/base/127.0.0.18080/dl/app.conf"
            ))
        );
        assert_eq!(
            cache_path(c, "dev", "https://u:p@example.com/a?x=1"),
            Some(PathBuf::from("/c/extrn_files/dev/example.com/a-x=1"))
        );
        assert_eq!(cache_path(c, "base", "http://h/../../etc/passwd"), None);
    }

    #[test]
    fn only_http_is_fetched() {
        assert!(is_http("HTTPS://example.com/x"));
        assert!(!is_http("ftp://example.com/x"));
        assert!(is_remote("ftp://example.com/x"));
        assert!(!is_remote("salt://x"));
        let err = get("ftp://127.0.0.1/x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "could not fetch ftp://127.0.0.1/x: unsupported scheme (only http and https are)"
        );
    }
}
