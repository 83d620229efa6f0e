//! A route's own answer, made safe to serve from Keyway's origin.
//!
//! A route may choose its status (200 to 599) and a few headers: `content-type`,
//! `cache-control`, `etag`, `last-modified`, `retry-after`, and `x-*` names outside the
//! host's own (`x-keyway-*`, `x-request-id`, `x-content-type-options`) and those a proxy
//! in front of Keyway would obey (`x-accel-*`, `x-sendfile`: serve a file or an internal
//! location). Everything else is dropped and reported: framing (`content-length`,
//! `transfer-encoding`), hop-by-hop headers, cookies, redirects, and any other name. Hyper frames the body itself. Every
//! answer carries `x-content-type-options: nosniff`; one a browser could render as a
//! document (HTML, XML, SVG, no or an unknown type, or a body that starts like markup)
//! also carries `content-security-policy: sandbox`.
//!
//! Owns: the response-header allowlist, the status range of a route answer, and the
//! headers the host adds to it.
//! Must not: let anything the guest chose decide how the response is framed, set a
//! cookie or redirect on Keyway's origin, or report a header's value.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

/// Why a header a route set was not sent. The names are metric label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// `content-length`, `transfer-encoding`: the host frames the body.
    Framing,
    /// `connection`, `keep-alive`, `upgrade`, `te`, `trailer`, proxy headers.
    HopByHop,
    Cookie,
    /// `location`, `refresh`, `content-location`.
    Redirect,
    /// A name the host sets itself.
    Reserved,
    /// An instruction to a proxy in front of the host (`x-accel-*`, `x-sendfile`).
    ProxyControl,
    /// A second value of a header that takes one.
    Duplicate,
    /// Not a valid header name or value.
    Invalid,
    /// Any other name outside the allowlist.
    NotAllowed,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Framing => "framing",
            DropReason::HopByHop => "hop_by_hop",
            DropReason::Cookie => "cookie",
            DropReason::Redirect => "redirect",
            DropReason::Reserved => "reserved",
            DropReason::ProxyControl => "proxy_control",
            DropReason::Duplicate => "duplicate",
            DropReason::Invalid => "invalid",
            DropReason::NotAllowed => "not_allowed",
        }
    }
}

/// One header that was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dropped {
    pub reason: DropReason,
    /// The header's name when it is a well-known one (or `x-keyway-*`), else `other`: a
    /// name the guest made up is not repeated into the logs.
    pub name: &'static str,
}

/// What the host serves for a route's answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub dropped: Vec<Dropped>,
    /// The body was dropped because the status has none (204, 304).
    pub body_dropped: bool,
}

/// A status a route may not answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("status {0} is not a final HTTP status; a route answers 200 to 599")]
pub(crate) struct BadStatus(pub u16);

/// Headers a route may set that take one value.
const SINGLE: &[&str] = &["content-type", "etag", "last-modified", "retry-after"];
const LISTS: &[&str] = &["cache-control"];

/// Well-known names outside the allowlist, with why they are dropped.
const KNOWN: &[(&str, DropReason)] = &[
    ("content-length", DropReason::Framing),
    ("transfer-encoding", DropReason::Framing),
    ("connection", DropReason::HopByHop),
    ("keep-alive", DropReason::HopByHop),
    ("upgrade", DropReason::HopByHop),
    ("te", DropReason::HopByHop),
    ("trailer", DropReason::HopByHop),
    ("proxy-connection", DropReason::HopByHop),
    ("proxy-authenticate", DropReason::HopByHop),
    ("proxy-authorization", DropReason::HopByHop),
    ("set-cookie", DropReason::Cookie),
    ("set-cookie2", DropReason::Cookie),
    ("location", DropReason::Redirect),
    ("refresh", DropReason::Redirect),
    ("content-location", DropReason::Redirect),
    ("x-request-id", DropReason::Reserved),
    ("x-content-type-options", DropReason::Reserved),
    ("x-sendfile", DropReason::ProxyControl),
    ("x-lighttpd-send-file", DropReason::ProxyControl),
    ("content-encoding", DropReason::NotAllowed),
    ("content-range", DropReason::NotAllowed),
    ("content-disposition", DropReason::NotAllowed),
    ("content-security-policy", DropReason::NotAllowed),
    ("access-control-allow-origin", DropReason::NotAllowed),
    ("access-control-allow-credentials", DropReason::NotAllowed),
    ("strict-transport-security", DropReason::NotAllowed),
    ("www-authenticate", DropReason::NotAllowed),
    ("link", DropReason::NotAllowed),
    ("alt-svc", DropReason::NotAllowed),
    ("vary", DropReason::NotAllowed),
    ("date", DropReason::NotAllowed),
    ("server", DropReason::NotAllowed),
    ("expires", DropReason::NotAllowed),
];

/// Content types a browser shows as data, never runs as a document.
const INERT_TYPES: &[&str] = &[
    "application/json",
    "application/x-ndjson",
    "application/octet-stream",
    "text/plain",
    "text/csv",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
];

const CSP_SANDBOX: HeaderValue = HeaderValue::from_static("sandbox");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");

fn classify(name: &str) -> Result<bool, (DropReason, &'static str)> {
    if SINGLE.contains(&name) {
        return Ok(true);
    }
    if LISTS.contains(&name) {
        return Ok(false);
    }
    if let Some((known, reason)) = KNOWN.iter().find(|(k, _)| *k == name) {
        return Err((*reason, known));
    }
    if name.starts_with("x-keyway-") {
        return Err((DropReason::Reserved, "x-keyway-*"));
    }
    if name.starts_with("x-accel-") {
        return Err((DropReason::ProxyControl, "x-accel-*"));
    }
    if name.starts_with("x-") {
        return Ok(false);
    }
    Err((DropReason::NotAllowed, "other"))
}

/// Whether a browser could run an answer with this content type and body as a document.
fn renders_as_document(content_type: Option<&HeaderValue>, body: &[u8]) -> bool {
    let inert = media_essence(content_type).is_some_and(|essence| {
        INERT_TYPES.contains(&essence.as_str()) || is_json_essence(&essence)
    });
    !inert || starts_like_markup(body)
}

/// The media type of a `content-type` value, lowercase, without parameters.
pub(super) fn media_essence(content_type: Option<&HeaderValue>) -> Option<String> {
    let text = content_type?.to_str().ok()?;
    Some(
        text.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

/// `application/json` or any `application/*+json`.
pub(super) fn is_json_essence(essence: &str) -> bool {
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The HTML signature test of MIME sniffing, loosely: optional BOM and whitespace, then `<`.
fn starts_like_markup(body: &[u8]) -> bool {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'<')
}

/// Checks a route's status and filters its headers; `body` is only looked at, to decide
/// whether the answer needs the sandbox policy.
pub fn sanitize(
    status: u16,
    headers: Vec<(String, String)>,
    body: &[u8],
) -> Result<Answer, BadStatus> {
    if !(200..=599).contains(&status) {
        return Err(BadStatus(status));
    }
    let status = StatusCode::from_u16(status).map_err(|_| BadStatus(status))?;
    let mut out = HeaderMap::new();
    let mut dropped = Vec::new();
    for (name, value) in headers {
        let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value))
        else {
            dropped.push(Dropped {
                reason: DropReason::Invalid,
                name: "other",
            });
            continue;
        };
        match classify(name.as_str()) {
            Ok(single) if single && out.contains_key(&name) => {
                let known = SINGLE.iter().find(|s| **s == name.as_str());
                dropped.push(Dropped {
                    reason: DropReason::Duplicate,
                    name: known.copied().unwrap_or("other"),
                });
            }
            Ok(_) => {
                out.append(name, value);
            }
            Err((reason, known)) => dropped.push(Dropped {
                reason,
                name: known,
            }),
        }
    }
    let body_dropped =
        matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED) && !body.is_empty();
    if renders_as_document(out.get(header::CONTENT_TYPE), body) {
        out.insert(header::CONTENT_SECURITY_POLICY, CSP_SANDBOX);
    }
    out.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    Ok(Answer {
        status,
        headers: out,
        dropped,
        body_dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_the_allowlist_passes() {
        let a = sanitize(
            200,
            h(&[
                ("Content-Type", "application/json"),
                ("content-type", "text/html"),
                ("cache-control", "no-store"),
                ("etag", "\"v1\""),
                ("x-rate-remaining", "9"),
                ("content-length", "1"),
                ("transfer-encoding", "chunked"),
                ("connection", "close"),
                ("set-cookie", "session=1"),
                ("location", "https://elsewhere.example/"),
                ("x-keyway-invocation-id", "forged"),
                ("x-request-id", "forged"),
                ("x-content-type-options", "sniff"),
                ("X-Accel-Redirect", "/internal/secrets"),
                ("x-sendfile", "/etc/passwd"),
                ("made-up", "1"),
                ("bad name", "1"),
            ]),
            b"{}",
        )
        .unwrap();
        assert_eq!(a.headers["content-type"], "application/json");
        assert_eq!(a.headers["cache-control"], "no-store");
        assert_eq!(a.headers["etag"], "\"v1\"");
        assert_eq!(a.headers["x-rate-remaining"], "9");
        assert_eq!(a.headers["x-content-type-options"], "nosniff");
        assert!(!a.headers.contains_key("content-security-policy"));
        for gone in [
            "content-length",
            "transfer-encoding",
            "connection",
            "set-cookie",
            "location",
            "x-keyway-invocation-id",
            "x-request-id",
            "x-accel-redirect",
            "x-sendfile",
            "made-up",
        ] {
            assert!(!a.headers.contains_key(gone), "{gone}");
        }
        let reasons: Vec<(&str, &str)> = a
            .dropped
            .iter()
            .map(|d| (d.reason.as_str(), d.name))
            .collect();
        assert_eq!(
            reasons,
            vec![
                ("duplicate", "content-type"),
                ("framing", "content-length"),
                ("framing", "transfer-encoding"),
                ("hop_by_hop", "connection"),
                ("cookie", "set-cookie"),
                ("redirect", "location"),
                ("reserved", "x-keyway-*"),
                ("reserved", "x-request-id"),
                ("reserved", "x-content-type-options"),
                ("proxy_control", "x-accel-*"),
                ("proxy_control", "x-sendfile"),
                ("not_allowed", "other"),
                ("invalid", "other"),
            ]
        );
    }

    #[test]
    fn documents_are_sandboxed() {
        let csp = |ct: Option<&str>, body: &[u8]| {
            let headers = ct.map(|c| h(&[("content-type", c)])).unwrap_or_default();
            sanitize(200, headers, body)
                .unwrap()
                .headers
                .get("content-security-policy")
                .map(|v| v.to_str().unwrap_or("").to_string())
        };
        let sandbox = Some("sandbox".to_string());
        assert_eq!(csp(Some("TEXT/HTML; charset=utf-8"), b"hi"), sandbox);
        assert_eq!(csp(Some("application/xhtml+xml"), b"hi"), sandbox);
        assert_eq!(csp(Some("image/svg+xml"), b"hi"), sandbox);
        assert_eq!(csp(None, b"hello"), sandbox);
        assert_eq!(csp(Some("unknown/unknown"), b"hello"), sandbox);
        assert_eq!(csp(Some("text/plain"), b"  <script>x</script>"), sandbox);
        assert_eq!(csp(Some("application/json"), b"{\"a\":1}"), None);
        assert_eq!(csp(Some("application/problem+json"), b"{}"), None);
        assert_eq!(csp(Some("text/plain; charset=utf-8"), b"ok"), None);
    }

    #[test]
    fn statuses_outside_200_to_599_are_refused() {
        for bad in [100, 101, 103, 199, 600, 0] {
            assert_eq!(sanitize(bad, Vec::new(), b"").unwrap_err(), BadStatus(bad));
        }
        for good in [200, 302, 404, 599] {
            assert!(sanitize(good, Vec::new(), b"").is_ok());
        }
        assert!(sanitize(204, Vec::new(), b"body").unwrap().body_dropped);
        assert!(sanitize(304, Vec::new(), b"body").unwrap().body_dropped);
        assert!(!sanitize(200, Vec::new(), b"body").unwrap().body_dropped);
    }
}
