//! The `http` door's `send-api`: a route's relative request to the connector's API
//! (`connection.api`), bound to one connection, and how its path is resolved.
//!
//! Owns: [`ApiBase`] (the base URL as this connection's settings fill it, the default
//! headers and credential) and [`resolve_api_path`], which keeps every request under the
//! base.
//! Must not: send anything: the resolved request goes through [`super::Egress::send`]
//! like any other, allowlist and injection rules included.

use url::Url;

use super::Auth;

/// Longest path a route may hand over.
const MAX_PATH: usize = 8 * 1024;

/// A connection's `connection.api`: the base URL, or why it could not be filled for this
/// connection (a setting it names is missing), the default headers (lowercase names) and
/// the default credential.
#[derive(Debug, Clone)]
pub struct ApiBase {
    pub base: Result<Url, String>,
    pub headers: Vec<(String, String)>,
    pub auth: Auth,
}

/// `base` with `path` (`/orders?limit=2`) appended to its path. Refused, with a reason
/// that completes "the API path ...", when `path` does not start with one `/`, holds a
/// backslash, a fragment or a control character, or has a `.` or `..` segment (plain or
/// percent-encoded), so a route cannot climb out of the base.
pub fn resolve_api_path(base: &Url, path: &str) -> Result<Url, String> {
    if path.len() > MAX_PATH {
        return Err(format!("is longer than {MAX_PATH} bytes"));
    }
    if !path.starts_with('/') || path.starts_with("//") {
        return Err("must start with a single `/` (it is relative to the API's base URL)".into());
    }
    if path.contains('\\') || path.contains('#') || path.chars().any(|c| c.is_control()) {
        return Err("must not contain a backslash, a fragment or a control character".into());
    }
    let (segments, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    if segments.split('/').any(is_dot_segment) {
        return Err(
            "must not have a `.` or `..` segment: it stays under the API's base URL".into(),
        );
    }
    let mut url = base.clone();
    let joined = format!("{}{segments}", base.path().trim_end_matches('/'));
    url.set_path(&joined);
    url.set_query(query);
    // What the URL parser made of it must still be under the base.
    if !url.path().starts_with(base.path().trim_end_matches('/')) {
        return Err("leaves the API's base URL".into());
    }
    Ok(url)
}

fn is_dot_segment(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase().replace("%2e", ".");
    lower == "." || lower == ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://acme.example.test/api/v2").unwrap()
    }

    #[test]
    fn a_path_is_appended_to_the_base_with_its_query() {
        let cases = [
            ("/orders", "https://acme.example.test/api/v2/orders"),
            (
                "/orders?limit=2&cursor=a%20b",
                "https://acme.example.test/api/v2/orders?limit=2&cursor=a%20b",
            ),
            ("/", "https://acme.example.test/api/v2/"),
            ("/a/b%2Fc", "https://acme.example.test/api/v2/a/b%2Fc"),
            ("/orders/..x", "https://acme.example.test/api/v2/orders/..x"),
        ];
        for (path, want) in cases {
            assert_eq!(
                resolve_api_path(&base(), path).unwrap().as_str(),
                want,
                "{path}"
            );
        }
        let root = Url::parse("https://acme.example.test/").unwrap();
        assert_eq!(
            resolve_api_path(&root, "/x").unwrap().as_str(),
            "https://acme.example.test/x"
        );
    }

    #[test]
    fn a_path_cannot_leave_the_base() {
        for path in [
            "orders",
            "//evil.test/x",
            "/../admin",
            "/orders/../../admin",
            "/%2e%2e/admin",
            "/%2E%2e/admin",
            "/./x",
            "/x/.",
            "/a\\..\\b",
            "/a#frag",
            "/a\nb",
            "https://evil.test/",
            "",
        ] {
            assert!(
                resolve_api_path(&base(), path).is_err(),
                "{path:?} was accepted"
            );
        }
        assert!(resolve_api_path(&base(), &format!("/{}", "a".repeat(MAX_PATH))).is_err());
    }
}
