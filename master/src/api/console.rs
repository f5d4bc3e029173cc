//! The web console (issue 15): static files compiled into the binary and
//! served from the API's port. They need no authentication: every data
//! call they make goes to the JSON API with the login token, which the
//! page keeps in `sessionStorage` and sends as `Authorization: Bearer`
//! (never a cookie, so no endpoint can be driven by another site's form).
//! There is no build step: the files under `master/console/` are what
//! the browser runs.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

/// The console's files: name, Content-Type, bytes.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../console/index.html"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../console/style.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/api.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/dom.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/charts.js"),
    ),
    (
        "pages.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/pages.js"),
    ),
    (
        "jobs.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/jobs.js"),
    ),
];

/// Only the console's own files, no inline script or style, no framing:
/// an injected string can neither run nor load anything. `connect-src
/// 'self'` is what lets the page call the API on the same origin.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

/// `GET /`: the console.
pub async fn root() -> Redirect {
    Redirect::to("/console/")
}

/// `GET /console/`: the page.
pub async fn index() -> Response {
    file_response("index.html")
}

/// `GET /console/{file}`: one of the console's files.
pub async fn file(Path(name): Path<String>) -> Response {
    file_response(&name)
}

fn file_response(name: &str) -> Response {
    let Some((_, mime, body)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return super::ApiError::not_found(format!("no console file '{name}'")).into_response();
    };
    let mut resp = (StatusCode::OK, *body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    // The files change with the binary: always revalidate.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_are_served_with_their_type_and_strict_headers() {
        let resp = file(Path("app.js".to_string())).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let h = resp.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert_eq!(h[header::CACHE_CONTROL], "no-cache");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert!(h[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .starts_with("default-src 'self'"));
        let index = index().await;
        assert_eq!(
            index.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(
            file(Path("../Cargo.toml".into())).await.status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn the_page_has_no_inline_script_and_no_external_url() {
        for (name, _, body) in FILES {
            // The SVG namespace is a name, not something fetched.
            let body = body.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !body.contains("http://") && !body.contains("https://"),
                "{name}"
            );
            if name.ends_with(".html") {
                // Every <script> loads a file of ours; none has a body.
                for part in body.split("<script").skip(1) {
                    assert!(part.contains("src=\"/console/"), "{name}: {part}");
                    let after = part.split_once('>').map(|x| x.1).unwrap_or("");
                    assert!(after.trim_start().starts_with("</script>"), "{name}");
                }
                // No inline handler (` onclick=` and the like).
                for (i, _) in body.match_indices(" on") {
                    let rest = &body[i + 3..];
                    let word: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
                    assert!(
                        !rest[word.len()..].starts_with('='),
                        "{name}: inline handler"
                    );
                }
            }
        }
    }
}
