//! The console's sessions: the admin key exchanged once for a short-lived session cookie,
//! and the checks every console request passes.
//!
//! Owns: the session table (in memory, digests of session ids only, at most
//! [`MAX_SESSIONS`], each valid for [`SESSION_TTL`] from login), the cookie's attributes
//! (`HttpOnly`, `SameSite=Strict`, `Path=/console`, `Secure` when the public URL is https),
//! the CSRF token of each session, and the same-origin check of every state-changing
//! request. Must not: keep a session id or the admin key in the clear, or log either.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::Url;

/// The console's cookie.
pub(super) const COOKIE: &str = "keyway_console";
/// How long a session lasts after login.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(30 * 60);
/// Sessions kept at once; the oldest goes first.
const MAX_SESSIONS: usize = 256;

struct Session {
    csrf: String,
    expires: Instant,
}

/// Live console sessions, by the SHA-256 of their id.
#[derive(Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

/// A signed-in request: the CSRF token its forms must carry.
#[derive(Clone)]
pub(super) struct Signed {
    pub csrf: String,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// A new session; answers its id (for the cookie only).
    pub(super) fn open(&self) -> String {
        let id = random_token();
        let now = Instant::now();
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(
            digest(&id),
            Session {
                csrf: random_token(),
                expires: now + SESSION_TTL,
            },
        );
        id
    }

    /// The session the request's cookie names, if it is live.
    pub(super) fn find(&self, headers: &HeaderMap) -> Option<Signed> {
        let id = cookie(headers)?;
        let map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let session = map.get(&digest(&id))?;
        (session.expires > Instant::now()).then(|| Signed {
            csrf: session.csrf.clone(),
        })
    }

    /// Ends the session the request's cookie names.
    pub(super) fn close(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers) {
            self.map
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&digest(&id));
        }
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
    found
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
    fn a_session_is_found_by_its_cookie_and_ends_at_logout() {
        let sessions = Sessions::default();
        let id = sessions.open();
        let headers = with_cookie(&format!("other=1; {COOKIE}={id}"));
        let signed = sessions.find(&headers).expect("live");
        assert!(csrf_matches(&signed, &signed.csrf.clone()));
        assert!(!csrf_matches(&signed, "forged"));
        assert!(
            sessions
                .find(&with_cookie(&format!("{COOKIE}=guess")))
                .is_none()
        );
        // Two console cookies are ambiguous: refused.
        assert!(
            sessions
                .find(&with_cookie(&format!("{COOKIE}={id}; {COOKIE}=x")))
                .is_none()
        );
        sessions.close(&headers);
        assert!(sessions.find(&headers).is_none());
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
