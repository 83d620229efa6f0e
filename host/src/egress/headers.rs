//! Turning the guest's header list into the headers that go on the wire.
//!
//! Owns [`guest_headers`]: validates names and values, drops hop-by-hop headers (and
//! any header the guest's own `Connection` names), drops `Host` and `Content-Length`
//! (the host sets them from the URL and the body), refuses a header the host injects
//! for this request's auth, and enforces the request header caps. [`host_header`]
//! derives `Host` from the checked URL; the target is never taken from a header.
//!
//! It must not add credentials (that is `inject`).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use url::Url;

use super::error::EgressError;
use super::limits::{EgressLimits, header_bytes};

/// Headers that describe one connection hop and are never forwarded from the guest.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether a header name is one the host controls on the wire.
pub(crate) fn is_host_controlled(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str()) || name == header::HOST || name == header::CONTENT_LENGTH
}

/// Validates the guest's headers and returns those that may be sent.
pub(crate) fn guest_headers(
    raw: &[(String, String)],
    injected: Option<&HeaderName>,
    limits: &EgressLimits,
) -> Result<HeaderMap, EgressError> {
    if raw.len() > limits.max_request_headers {
        return Err(EgressError::too_large(format!(
            "request has {} header fields; the cap is {}",
            raw.len(),
            limits.max_request_headers
        )));
    }
    let mut parsed: Vec<(HeaderName, HeaderValue)> = Vec::with_capacity(raw.len());
    for (index, (name, value)) in raw.iter().enumerate() {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            EgressError::invalid(format!("request header #{index} has an invalid name"))
        })?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            EgressError::invalid(format!(
                "request header `{name}` has an invalid value (control characters or non-ASCII)"
            ))
        })?;
        if injected == Some(&name) {
            return Err(EgressError::invalid(format!(
                "request header `{name}` is set by the host for this request's auth; do not send it"
            )));
        }
        parsed.push((name, value));
    }
    // Headers the guest's own `Connection` header lists are hop-by-hop too.
    let mut named_by_connection: Vec<String> = Vec::new();
    for (name, value) in &parsed {
        if name == header::CONNECTION
            && let Ok(text) = value.to_str()
        {
            named_by_connection.extend(text.split(',').map(|t| t.trim().to_ascii_lowercase()));
        }
    }
    let mut out = HeaderMap::with_capacity(parsed.len());
    for (name, value) in parsed {
        if is_host_controlled(&name) || named_by_connection.iter().any(|n| n == name.as_str()) {
            continue;
        }
        out.append(name, value);
    }
    let bytes = header_bytes(&out);
    if bytes > limits.max_request_header_bytes {
        return Err(EgressError::too_large(format!(
            "request headers total {bytes} bytes; the cap is {}",
            limits.max_request_header_bytes
        )));
    }
    Ok(out)
}

/// The `Host` header value for a checked URL: host, plus the port when not the default.
pub(crate) fn host_header(url: &Url) -> Result<HeaderValue, EgressError> {
    let host = url
        .host_str()
        .ok_or_else(|| EgressError::invalid("url has no host"))?;
    let text = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    HeaderValue::from_str(&text)
        .map_err(|_| EgressError::invalid("url host is not a valid Host header"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::error::EgressErrorCode;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn strips_hop_by_hop_host_and_length() {
        let raw = pairs(&[
            ("Accept", "application/json"),
            ("Host", "evil.example"),
            ("Content-Length", "999"),
            ("Transfer-Encoding", "chunked"),
            ("Connection", "x-drop-me, close"),
            ("X-Drop-Me", "1"),
            ("X-Keep", "2"),
            ("x-keep", "3"),
        ]);
        let h = guest_headers(&raw, None, &EgressLimits::default()).unwrap();
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, vec!["accept", "x-keep"]);
        assert_eq!(h.get_all("x-keep").iter().count(), 2);
    }

    #[test]
    fn refuses_injected_name_any_case() {
        let injected = HeaderName::from_static("authorization");
        let raw = pairs(&[("AUTHORIZATION", "Bearer mine")]);
        let err = guest_headers(&raw, Some(&injected), &EgressLimits::default()).unwrap_err();
        assert_eq!(err.code, EgressErrorCode::InvalidInput);
        // Without injection the guest may send its own Authorization.
        assert!(guest_headers(&raw, None, &EgressLimits::default()).is_ok());
    }

    #[test]
    fn invalid_names_values_and_caps() {
        let l = EgressLimits::default();
        let bad_name = pairs(&[("bad name", "x")]);
        assert_eq!(
            guest_headers(&bad_name, None, &l).unwrap_err().code,
            EgressErrorCode::InvalidInput
        );
        let bad_value = pairs(&[("x-a", "line\r\nInjected: yes")]);
        let err = guest_headers(&bad_value, None, &l).unwrap_err();
        assert_eq!(err.code, EgressErrorCode::InvalidInput);
        assert!(err.message.contains("x-a"));
        let small = EgressLimits {
            max_request_headers: 1,
            ..EgressLimits::default()
        };
        let two = pairs(&[("a", "1"), ("b", "2")]);
        assert_eq!(
            guest_headers(&two, None, &small).unwrap_err().code,
            EgressErrorCode::TooLarge
        );
    }

    #[test]
    fn host_header_from_url() {
        let u = Url::parse("https://api.example.com/x").unwrap();
        assert_eq!(host_header(&u).unwrap(), "api.example.com");
        let u = Url::parse("http://127.0.0.1:8080/x").unwrap();
        assert_eq!(host_header(&u).unwrap(), "127.0.0.1:8080");
        let u = Url::parse("http://[::1]:81/").unwrap();
        assert_eq!(host_header(&u).unwrap(), "[::1]:81");
    }
}
