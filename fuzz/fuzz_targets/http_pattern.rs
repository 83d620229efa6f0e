//! `permissions.http` patterns (`HttpPattern::parse`) and matching (`matches`) against
//! URLs a hostile connector may ask for.
//!
//! Input: the pattern on the first line, the URL on the second (parsed with `url`).
//!
//! Checks, besides "no panic": a pattern that parses parses again from its own text to
//! the same pattern; when it matches a URL, the URL has the pattern's scheme and port and
//! no userinfo, its host is the pattern's host (or, for `*.x.y`, a subdomain of `x.y` and
//! never `x.y` itself), and its path is the pattern's path exactly, or starts with the
//! pattern's prefix when the path ends in `*`; adding userinfo to, or changing the scheme
//! of, a matching URL makes it not match; the bare domain of a `*.x.y` pattern never
//! matches.
#![no_main]

use keyway_host::manifest::HttpPattern;
use libfuzzer_sys::fuzz_target;
use url::Url;

/// What the pattern's text says, read independently of `HttpPattern`.
struct Expect {
    scheme: String,
    wildcard: bool,
    /// The host as the URL parser normalizes it (for `*.x.y`, `x.y`).
    host: String,
    port: Option<u16>,
    /// The text of the port, `:8443`, or empty.
    port_text: String,
    path: String,
}

fn expect(source: &str) -> Expect {
    let (scheme, rest) = source
        .split_once("://")
        .expect("a parsed pattern has a scheme");
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (host_text, wildcard) = match authority.strip_prefix("*.") {
        Some(h) => (h, true),
        None => (authority, false),
    };
    let probe = Url::parse(&format!("{scheme}://{host_text}/")).expect("the host parses");
    let port = probe.port_or_known_default();
    Expect {
        scheme: scheme.to_owned(),
        wildcard,
        host: probe.host_str().expect("a host").to_owned(),
        port,
        port_text: probe.port().map(|p| format!(":{p}")).unwrap_or_default(),
        path: path.to_owned(),
    }
}

fn check_match(pattern: &HttpPattern, e: &Expect, url: &Url) {
    assert_eq!(url.scheme(), e.scheme, "same scheme");
    assert!(
        url.username().is_empty() && url.password().is_none(),
        "no userinfo"
    );
    assert_eq!(url.port_or_known_default(), e.port, "same port");
    let host = url
        .host_str()
        .expect("a host")
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if e.wildcard {
        assert_ne!(host, e.host, "`*.x.y` never matches `x.y`");
        assert!(host.ends_with(&format!(".{}", e.host)), "a subdomain");
    } else {
        assert_eq!(host, e.host, "the exact host");
    }
    match e.path.as_str() {
        "" | "/*" => {}
        p => match p.strip_suffix('*') {
            Some(prefix) => assert!(url.path().starts_with(prefix), "under the prefix"),
            None => assert_eq!(url.path(), p, "the exact path"),
        },
    }
    let mut with_user = url.clone();
    if with_user.set_username("user").is_ok() {
        assert!(!pattern.matches(&with_user), "userinfo never matches");
    }
    let mut with_password = url.clone();
    if with_password.set_password(Some("pw")).is_ok() {
        assert!(!pattern.matches(&with_password), "userinfo never matches");
    }
    let mut other_scheme = url.clone();
    let flipped = if url.scheme() == "https" {
        "http"
    } else {
        "https"
    };
    if other_scheme.set_scheme(flipped).is_ok() {
        assert!(
            !pattern.matches(&other_scheme),
            "another scheme never matches"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (pattern_text, url_text) = match text.split_once('\n') {
        Some((p, rest)) => (p, rest.split('\n').next().unwrap_or("")),
        None => (text.as_ref(), ""),
    };
    let Ok(pattern) = HttpPattern::parse(pattern_text) else {
        return;
    };
    assert_eq!(pattern.as_str(), pattern_text);
    assert_eq!(
        HttpPattern::parse(pattern.as_str()).as_ref(),
        Ok(&pattern),
        "the text parses to the same pattern"
    );
    let e = expect(pattern.as_str());
    assert!(e.scheme == "https" || e.scheme == "http");
    if e.wildcard {
        for bare in [&e.host, &format!("{}.", e.host)] {
            let path = if e.path.is_empty() {
                "/"
            } else {
                e.path.trim_end_matches('*')
            };
            if let Ok(url) = Url::parse(&format!("{}://{bare}{}{path}", e.scheme, e.port_text)) {
                assert!(!pattern.matches(&url), "`*.x.y` never matches `x.y`");
            }
        }
    }
    if let Ok(url) = Url::parse(url_text)
        && pattern.matches(&url)
    {
        check_match(&pattern, &e, &url);
    }
});
