//! The web console, served by the API function itself at `/console`: three static files
//! compiled into the binary (no bucket, no CDN, nothing to deploy apart; the console and the
//! API share one origin, so no CORS). The page is never cached (it names the assets' version);
//! the assets are cached for a year under that version. The console talks only to the
//! public API with the key a person pastes.

use std::sync::OnceLock;

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};

const INDEX: &str = include_str!("../../../console/index.html");
const APP_JS: &str = include_str!("../../../console/app.js");
const STYLE_CSS: &str = include_str!("../../../console/style.css");

/// Scripts and styles from this origin only; no plugins, no framing of the console; an HTML
/// email is shown in a sandboxed `srcdoc` frame (no scripts), with its inline styles.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    connect-src 'self'; img-src 'self' data:; frame-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// The assets' version: the first 12 hex digits of their SHA-256.
fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            format!("{APP_JS}{STYLE_CSS}").as_bytes(),
        );
        digest.as_ref()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    })
}

fn file(body: String, content_type: &'static str, cache: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The answer to `path` when it is the console's (`/console…`), for `GET` and `HEAD`.
pub fn serve(path: &str) -> Option<Response<Body>> {
    const IMMUTABLE: &str = "public, max-age=31536000, immutable";
    let response = match path {
        "/console" => {
            let mut r = file(
                INDEX.replace("{{version}}", version()),
                "text/html; charset=utf-8",
                "no-cache",
            );
            let headers = r.headers_mut();
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            r
        }
        "/console/app.js" => file(
            APP_JS.to_owned(),
            "text/javascript; charset=utf-8",
            IMMUTABLE,
        ),
        "/console/style.css" => file(STYLE_CSS.to_owned(), "text/css; charset=utf-8", IMMUTABLE),
        // The page's relative links need it without the slash.
        "/console/" => {
            let mut r = Response::new(Body::Empty);
            *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
            r.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("../console"));
            r
        }
        p if p.starts_with("/console/") => {
            let mut r = file("not found".into(), "text/plain; charset=utf-8", "no-cache");
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
        _ => return None,
    };
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(r: &Response<Body>, name: header::HeaderName) -> &str {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[test]
    fn the_page_names_its_assets_version_and_is_locked_down() {
        let page = serve("/console").unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(header(&page, header::CACHE_CONTROL), "no-cache");
        assert!(header(&page, header::CONTENT_SECURITY_POLICY).contains("script-src 'self'"));
        assert!(header(&page, header::CONTENT_SECURITY_POLICY).contains("frame-ancestors 'none'"));
        let html = std::str::from_utf8(page.body().as_ref()).unwrap();
        assert!(html.contains(&format!("console/app.js?v={}", version())));
        assert!(!html.contains("{{version}}"));
        let js = serve("/console/app.js").unwrap();
        assert_eq!(
            header(&js, header::CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );
        assert!(header(&js, header::CONTENT_TYPE).starts_with("text/javascript"));
        assert_eq!(
            serve("/console/").unwrap().status(),
            StatusCode::PERMANENT_REDIRECT
        );
        assert_eq!(
            serve("/console/x.js").unwrap().status(),
            StatusCode::NOT_FOUND
        );
        assert!(serve("/v1/notifications").is_none());
        assert!(serve("/consoles").is_none());
    }

    /// Fast on a slow link: the whole console (page, script, stylesheet, uncompressed) stays
    /// small (the README gives its size).
    #[test]
    fn the_console_weighs_under_64_kib() {
        let weight = INDEX.len() + APP_JS.len() + STYLE_CSS.len();
        assert!(weight < 64 * 1024, "{weight} bytes");
    }
}
