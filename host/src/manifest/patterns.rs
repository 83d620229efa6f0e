//! `permissions.http` URL patterns: parsing and matching.
//!
//! Owns the grammar `scheme://host[:port][/path]` where the host may start with `*.`
//! (subdomains only, never the bare domain) and the path may end with `*` (a prefix).
//! Must not resolve DNS or judge addresses: the HTTP import does that after a match.

use std::fmt;

use url::{Host, Url};

use super::template::is_loopback;

/// One allowed outbound URL pattern.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpPattern {
    source: String,
    scheme: String,
    host: HostPattern,
    port: Option<u16>,
    path: PathPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// Exactly this host (lowercase; IPv6 in brackets as `url` prints it).
    Exact(String),
    /// Any host ending in `.<suffix>` with at least one more label.
    Subdomains(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathPattern {
    Any,
    Exact(String),
    Prefix(String),
}

impl fmt::Debug for HttpPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpPattern({:?})", self.source)
    }
}

impl fmt::Display for HttpPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl HttpPattern {
    /// Parses a pattern; the error says what is wrong with it.
    pub fn parse(source: &str) -> Result<Self, String> {
        if source.trim() != source || source.is_empty() {
            return Err("must not be empty or have surrounding spaces".to_owned());
        }
        if source == "*" || source.contains("://*/") || source.ends_with("://*") {
            return Err("a bare \"*\" would allow every host; name the hosts".to_owned());
        }
        let (scheme, rest) = source
            .split_once("://")
            .ok_or_else(|| "must start with \"https://\"".to_owned())?;
        if scheme != "https" && scheme != "http" {
            return Err(format!(
                "scheme must be https (or http for loopback), not \"{scheme}\""
            ));
        }
        if rest.contains(['?', '#']) {
            return Err("must not contain a query or fragment".to_owned());
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err("must not contain userinfo (\"user@\")".to_owned());
        }
        let (host_text, wildcard) = match authority.strip_prefix("*.") {
            Some(h) => (h, true),
            None => (authority, false),
        };
        if host_text.contains('*') {
            return Err("a wildcard is only allowed as a leading \"*.\" in the host".to_owned());
        }
        if !host_text.is_ascii() {
            return Err(
                "host must be plain ASCII (write internationalized names as xn--)".to_owned(),
            );
        }
        // Let `url` parse host and port.
        let probe = Url::parse(&format!("{scheme}://{host_text}/"))
            .map_err(|e| format!("host is not valid ({e})"))?;
        let host = probe.host().ok_or_else(|| "must name a host".to_owned())?;
        let host_string = match &host {
            Host::Domain(d) => {
                if d.split('.').any(str::is_empty) {
                    return Err("host must not have empty labels".to_owned());
                }
                (*d).to_owned()
            }
            Host::Ipv4(a) => a.to_string(),
            Host::Ipv6(a) => format!("[{a}]"),
        };
        if wildcard {
            if !matches!(host, Host::Domain(_)) {
                return Err("a wildcard cannot be combined with an IP address".to_owned());
            }
            if host_string.split('.').count() < 2 {
                return Err(format!(
                    "\"*.{host_string}\" is too broad; a wildcard needs at least two labels after it"
                ));
            }
        }
        if scheme == "http" && (wildcard || !is_loopback(&host)) {
            return Err(
                "plain http is only allowed for localhost, 127.0.0.1 and [::1]; use https"
                    .to_owned(),
            );
        }
        let path = parse_path(path)?;
        Ok(Self {
            source: source.to_owned(),
            scheme: scheme.to_owned(),
            host: if wildcard {
                HostPattern::Subdomains(host_string)
            } else {
                HostPattern::Exact(host_string)
            },
            port: probe.port(),
            path,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when `url` is allowed by this pattern.
    pub fn matches(&self, url: &Url) -> bool {
        if url.scheme() != self.scheme || !url.username().is_empty() || url.password().is_some() {
            return false;
        }
        let host = match url.host() {
            Some(Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
            Some(Host::Ipv4(a)) => a.to_string(),
            Some(Host::Ipv6(a)) => format!("[{a}]"),
            None => return false,
        };
        let host_ok = match &self.host {
            HostPattern::Exact(h) => &host == h,
            HostPattern::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|head| !head.is_empty() && !head.ends_with('.')),
        };
        if !host_ok || url.port_or_known_default() != self.port.or_else(|| url_default(url)) {
            return false;
        }
        match &self.path {
            PathPattern::Any => true,
            PathPattern::Exact(p) => url.path() == p,
            PathPattern::Prefix(p) => url.path().starts_with(p.as_str()),
        }
    }
}

fn url_default(url: &Url) -> Option<u16> {
    match url.scheme() {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}

fn parse_path(path: &str) -> Result<PathPattern, String> {
    if path.is_empty() || path == "/*" {
        return Ok(PathPattern::Any);
    }
    let (body, prefix) = match path.strip_suffix('*') {
        Some(b) => (b, true),
        None => (path, false),
    };
    if body.contains('*') {
        return Err("a \"*\" in the path is only allowed at the end".to_owned());
    }
    if body.contains(['\\', ' ']) || body.split('/').any(|s| s == ".." || s == ".") {
        return Err("path must not contain spaces, backslashes or dot segments".to_owned());
    }
    Ok(if prefix {
        PathPattern::Prefix(body.to_owned())
    } else {
        PathPattern::Exact(body.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, url: &str) -> bool {
        HttpPattern::parse(pattern)
            .unwrap()
            .matches(&Url::parse(url).unwrap())
    }

    #[test]
    fn wildcard_matches_subdomains_only() {
        let p = "https://*.myshopify.com/*";
        assert!(m(p, "https://acme.myshopify.com/admin/api"));
        assert!(m(p, "https://a.b.myshopify.com/"));
        assert!(m(p, "https://ACME.MyShopify.com/x"));
        assert!(!m(p, "https://myshopify.com/"));
        assert!(!m(p, "https://evilmyshopify.com/"));
        assert!(!m(p, "https://acme.myshopify.com.evil.com/"));
        assert!(!m(p, "http://acme.myshopify.com/"));
        assert!(!m(p, "https://acme.myshopify.com:8443/"));
        assert!(!m(p, "https://user@acme.myshopify.com/"));
    }

    #[test]
    fn ports_and_paths() {
        assert!(m(
            "https://api.example.com",
            "https://api.example.com/any/path?q=1"
        ));
        assert!(m("https://api.example.com", "https://api.example.com:443/"));
        assert!(!m(
            "https://api.example.com",
            "https://api.example.com:444/"
        ));
        assert!(m(
            "https://api.example.com:8443/v1/*",
            "https://api.example.com:8443/v1/orders"
        ));
        assert!(!m(
            "https://api.example.com:8443/v1/*",
            "https://api.example.com/v1/orders"
        ));
        assert!(!m(
            "https://api.example.com/v1/*",
            "https://api.example.com/v2/orders"
        ));
        assert!(!m(
            "https://api.example.com/v1/*",
            "https://api.example.com/v1/../admin"
        ));
        assert!(m(
            "https://api.example.com/v1/me",
            "https://api.example.com/v1/me"
        ));
        assert!(!m(
            "https://api.example.com/v1/me",
            "https://api.example.com/v1/me/x"
        ));
        assert!(m("http://localhost:8080/*", "http://localhost:8080/x"));
        assert!(m("http://[::1]:9/*", "http://[::1]:9/x"));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in [
            "*",
            "https://*",
            "https://*/x",
            "api.example.com",
            "ftp://example.com",
            "https://a.*.example.com",
            "https://*example.com",
            "https://*.com",
            "https://user@example.com",
            "https://example.com/a*b",
            "https://example.com/?q",
            "http://example.com/",
            "http://*.localhost/",
            "https://*.127.0.0.1/",
            "https://example..com/",
            "https://example.com:99999/",
        ] {
            assert!(HttpPattern::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
