//! The console's sessions: the admin key exchanged once for a short-lived session cookie,
//! and the checks every console request passes.
//!
//! Owns: the cookie (its name, its attributes: `HttpOnly`, `SameSite=Strict`,
//! `Path=/console`, `Secure` when the public URL is https), the CSRF token of each
//! session (derived from its id, so every replica computes the same one and none is
//! stored), and the same-origin check of every state-changing request. The sign-ins
//! themselves are the store's, through `Services::console_sign_in` and its siblings, so
//! every replica sharing a store knows them.
//! Must not: keep a session id or the admin key in the clear, or log either.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::Url;

use crate::services::{ServiceError, Services};

/// The console's cookie.
pub(super) const COOKIE: &str = "keyway_console";
/// How long a session lasts after login.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(30 * 60);
/// The length of a session id: 256 bits in unpadded base64url.
const ID_LEN: usize = 43;

/// A signed-in request: the CSRF token its forms must carry.
#[derive(Clone)]
pub(super) struct Signed {
    pub csrf: String,
}

/// The CSRF token of the session `id`. A page of another site can read neither: the
/// cookie is `HttpOnly` and never sent cross-site, and the token is a one-way function
/// of it, apart from the digest the store keeps.
fn csrf_of(id: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"keyway console csrf\0");
    hash.update(id.as_bytes());
    URL_SAFE_NO_PAD.encode(hash.finalize())
}

/// A new session; answers its id (for the cookie only).
pub(super) fn open(services: &Services) -> Result<SecretString, ServiceError> {
    services.console_sign_in(SESSION_TTL)
}

/// The session the request's cookie names, if it is live. A store that cannot be read
/// signs nobody in (and says so in the log).
pub(super) fn find(services: &Services, headers: &HeaderMap) -> Option<Signed> {
    let id = cookie(headers)?;
    match services.console_signed_in(&id) {
        Ok(true) => Some(Signed { csrf: csrf_of(&id) }),
        Ok(false) => None,
        Err(e) => {
            tracing::warn!(error = %e, "the console's sign-ins could not be read");
            None
        }
    }
}

/// Ends the session the request's cookie names, on every replica.
pub(super) fn close(services: &Services, headers: &HeaderMap) {
    if let Some(id) = cookie(headers)
        && let Err(e) = services.console_sign_out(&id)
    {
        tracing::warn!(error = %e, "a console sign-in could not be ended");
    }
}

/// The console cookie's value, when the request carries exactly one.
fn cookie(headers: &HeaderMap) -> Option<String> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        for pair in value.to_str().ok()?.split(';') {
            if let Some((name, v)) = pair.trim().split_once('=')
                && name == COOKIE
            {
                if found.is_some() {
                    return None;
                }
                found = Some(v.to_string());
            }
        }
    }
    // Anything but an id this console could have made is nobody's: not looked up.
    found.filter(|id| {
        id.len() == ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The `Set-Cookie` value that holds `id`, or (with `None`) clears the cookie.
pub(super) fn set_cookie(id: Option<&str>, public_url: &Url) -> HeaderValue {
    let secure = if public_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    let text = match id {
        Some(id) => format!(
            "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/console; Max-Age={}{secure}",
            SESSION_TTL.as_secs()
        ),
        None => format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/console; Max-Age=0{secure}"),
    };
    // Only base64url characters and fixed text: always a valid header value.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether `presented` is the session's CSRF token (in constant time).
pub(super) fn csrf_matches(signed: &Signed, presented: &str) -> bool {
    signed.csrf.as_bytes().ct_eq(presented.as_bytes()).into()
}

/// Whether a state-changing request comes from the console's own pages: a browser names
/// the page's origin in `Origin` (and says `Sec-Fetch-Site: same-origin`). A request that
/// names another origin is refused even with a valid cookie and token.
pub(super) fn same_origin(headers: &HeaderMap, public_url: &Url) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        // No browser that sends cookies to a POST omits both headers for a cross-site
        // request; a non-browser caller still needs the cookie and the token.
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let own = public_url.origin().ascii_serialization();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    origin == own || origin == format!("http://{host}") || origin == format!("https://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn only_one_well_formed_console_cookie_names_a_session() {
        let id = "A".repeat(ID_LEN);
        assert_eq!(
            cookie(&with_cookie(&format!("other=1; {COOKIE}={id}"))),
            Some(id.clone())
        );
        // Two console cookies are ambiguous: refused.
        assert_eq!(
            cookie(&with_cookie(&format!("{COOKIE}={id}; {COOKIE}={id}"))),
            None
        );
        // Nothing the console could have made is not looked up.
        for bad in ["guess", &format!("{id}A"), &format!("{}.", &id[1..])] {
            assert_eq!(
                cookie(&with_cookie(&format!("{COOKIE}={bad}"))),
                None,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_session_s_csrf_token_is_its_own_and_not_its_id() {
        let (a, b) = ("a".repeat(ID_LEN), "b".repeat(ID_LEN));
        let signed = Signed { csrf: csrf_of(&a) };
        assert_eq!(csrf_of(&a), csrf_of(&a), "every replica derives the same");
        assert!(csrf_matches(&signed, &csrf_of(&a)));
        assert!(!csrf_matches(&signed, &csrf_of(&b)));
        assert!(!csrf_matches(&signed, &a));
        assert!(!csrf_matches(&signed, "forged"));
        assert!(!csrf_matches(&signed, ""));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_https() {
        let plain = set_cookie(Some("abc"), &Url::parse("http://127.0.0.1:8787/").unwrap());
        let text = plain.to_str().unwrap();
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict"));
        assert!(!text.contains("Secure"));
        let tls = set_cookie(Some("abc"), &Url::parse("https://keyway.example/").unwrap());
        assert!(tls.to_str().unwrap().contains("; Secure"));
    }

    #[test]
    fn another_origin_is_refused() {
        let public = Url::parse("http://127.0.0.1:8787/").unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8787"));
        assert!(same_origin(&h, &public));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8787"),
        );
        assert!(same_origin(&h, &public));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h, &public));
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h, &public));
    }
}
