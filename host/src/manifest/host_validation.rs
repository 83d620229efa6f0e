//! `hostValidation`: the rule a setting must pass before it may sit in a URL host.
//!
//! Owns the normalizers (`lowercaseHost`, `shopifyShopDomain`) and the checks after them:
//! no userinfo, port, path, IP literal, empty label or non-ASCII character, and the host
//! must end with the rule's suffix on a label boundary. Must not expand templates:
//! `settings.rs` calls this and keeps the normalized host for expansion.

use std::fmt;

use thiserror::Error;

/// How a raw setting is cleaned before the host checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalizer {
    /// Trim, lowercase, drop one trailing dot. Punycode labels are refused.
    LowercaseHost,
    /// As `LowercaseHost`, and also drop an `https://` prefix and a trailing `/`; a bare
    /// shop name (one label) gets the suffix appended; exactly one label before the suffix.
    ShopifyShopDomain,
}

impl Normalizer {
    pub fn name(self) -> &'static str {
        match self {
            Normalizer::LowercaseHost => "lowercaseHost",
            Normalizer::ShopifyShopDomain => "shopifyShopDomain",
        }
    }
}

/// A validated rule: the suffix is lowercase ASCII, starts with `.` and has whole labels.
#[derive(Clone, PartialEq, Eq)]
pub struct HostRule {
    suffix: String,
    normalize: Normalizer,
}

impl fmt::Debug for HostRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostRule({} {})", self.normalize.name(), self.suffix)
    }
}

/// Why a value is not an acceptable host. Messages name the rule, not the value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum HostError {
    #[error("is empty")]
    Empty,
    #[error("must be a host name, not a URL")]
    Url,
    #[error("must not contain userinfo (\"@\")")]
    Userinfo,
    #[error("must not contain a port")]
    Port,
    #[error("must not contain a path, query or fragment")]
    Path,
    #[error("must be a host name, not an IP address")]
    IpLiteral,
    #[error("must not contain empty labels")]
    EmptyLabel,
    #[error("must contain only ASCII letters, digits, hyphens and dots")]
    BadCharacter,
    #[error("has a label that is too long or starts or ends with a hyphen")]
    BadLabel,
    #[error("must end with \"{0}\" (a subdomain of it, not the domain itself)")]
    Suffix(String),
    #[error("must be exactly one label followed by \"{0}\"")]
    ShopLabels(String),
    #[error("must not contain punycode (\"xn--\") labels, which can imitate other hosts")]
    Punycode,
    #[error("is not a host name a URL parser accepts unchanged")]
    NotCanonical,
}

impl HostRule {
    /// Builds a rule; the error says what is wrong with the suffix.
    pub fn new(suffix: &str, normalize: Normalizer) -> Result<Self, String> {
        let Some(body) = suffix.strip_prefix('.') else {
            return Err(format!(
                "suffix \"{suffix}\" must start with \".\" so it matches on a label boundary"
            ));
        };
        if suffix != suffix.to_ascii_lowercase() {
            return Err(format!("suffix \"{suffix}\" must be lowercase"));
        }
        match check_labels(body) {
            Ok(()) if body.contains('.') => {}
            Ok(()) => {
                return Err(format!(
                    "suffix \"{suffix}\" is too broad; it needs at least two labels"
                ));
            }
            Err(e) => return Err(format!("suffix \"{suffix}\" {e}")),
        }
        if looks_like_ip(body) {
            return Err(format!(
                "suffix \"{suffix}\" must be a domain, not an IP address"
            ));
        }
        Ok(Self {
            suffix: suffix.to_owned(),
            normalize,
        })
    }

    pub fn suffix(&self) -> &str {
        &self.suffix
    }

    pub fn normalizer(&self) -> Normalizer {
        self.normalize
    }

    /// Normalizes `input` and checks it; the result is safe to place in a URL host.
    pub(crate) fn apply(&self, input: &str) -> Result<String, HostError> {
        let mut s = input.trim().to_owned();
        if !s.is_ascii() {
            // Look-alikes (Cyrillic letters, fullwidth dots) never reach IDNA mapping.
            return Err(HostError::BadCharacter);
        }
        s.make_ascii_lowercase();
        if self.normalize == Normalizer::ShopifyShopDomain {
            if let Some(rest) = s.strip_prefix("https://") {
                s = rest.to_owned();
            }
            if let Some(rest) = s.strip_suffix('/') {
                s = rest.to_owned();
            }
        }
        if let Some(rest) = s.strip_suffix('.') {
            s = rest.to_owned();
        }
        if s.is_empty() {
            return Err(HostError::Empty);
        }
        if s.contains("://") {
            return Err(HostError::Url);
        }
        if s.contains('@') {
            return Err(HostError::Userinfo);
        }
        if s.contains(['/', '\\', '?', '#']) {
            return Err(HostError::Path);
        }
        if s.starts_with('[') || s.contains(':') {
            return Err(if s.starts_with('[') || s.matches(':').count() > 1 {
                HostError::IpLiteral
            } else {
                HostError::Port
            });
        }
        if self.normalize == Normalizer::ShopifyShopDomain && !s.contains('.') {
            s.push_str(&self.suffix);
        }
        check_labels(&s)?;
        if s.split('.').any(|l| l.starts_with("xn--")) {
            return Err(HostError::Punycode);
        }
        if looks_like_ip(&s) {
            return Err(HostError::IpLiteral);
        }
        let head = s
            .strip_suffix(self.suffix.as_str())
            .filter(|h| !h.is_empty())
            .ok_or_else(|| HostError::Suffix(self.suffix.clone()))?;
        if self.normalize == Normalizer::ShopifyShopDomain && head.contains('.') {
            return Err(HostError::ShopLabels(self.suffix.clone()));
        }
        // The URL parser must see exactly this host (it rejects, for example, broken
        // punycode labels such as "xn--"), so expansion never changes or fails on it.
        match url::Host::parse(&s) {
            Ok(url::Host::Domain(d)) if d == s => Ok(s),
            _ => Err(HostError::NotCanonical),
        }
    }
}

fn check_labels(host: &str) -> Result<(), HostError> {
    for label in host.split('.') {
        if label.is_empty() {
            return Err(HostError::EmptyLabel);
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(HostError::BadCharacter);
        }
        if label.len() > 63 || label.starts_with('-') || label.ends_with('-') {
            return Err(HostError::BadLabel);
        }
    }
    if host.len() > 253 {
        return Err(HostError::BadLabel);
    }
    Ok(())
}

/// A name whose last label is all digits (or hex with 0x) is read as IPv4 by URL parsers.
fn looks_like_ip(host: &str) -> bool {
    let last = host.rsplit('.').next().unwrap_or(host);
    !last.is_empty()
        && (last.bytes().all(|b| b.is_ascii_digit())
            || last
                .strip_prefix("0x")
                .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> HostRule {
        HostRule::new(".myshopify.com", Normalizer::ShopifyShopDomain).unwrap()
    }

    fn generic() -> HostRule {
        HostRule::new(".example.com", Normalizer::LowercaseHost).unwrap()
    }

    #[test]
    fn shopify_normalizes_what_people_paste() {
        let r = shop();
        assert_eq!(r.apply("acme.myshopify.com").unwrap(), "acme.myshopify.com");
        assert_eq!(
            r.apply("  ACME.MyShopify.com  ").unwrap(),
            "acme.myshopify.com"
        );
        assert_eq!(
            r.apply("https://acme.myshopify.com/").unwrap(),
            "acme.myshopify.com"
        );
        assert_eq!(
            r.apply("acme.myshopify.com.").unwrap(),
            "acme.myshopify.com"
        );
        assert_eq!(r.apply("acme").unwrap(), "acme.myshopify.com");
    }

    #[test]
    fn shopify_rejects_attacks() {
        let r = shop();
        let cases = [
            ("evil.com/.myshopify.com", HostError::Path),
            (
                "a.myshopify.com.evil.com",
                HostError::Suffix(".myshopify.com".into()),
            ),
            ("myshopify.com", HostError::Suffix(".myshopify.com".into())),
            (".myshopify.com", HostError::EmptyLabel),
            ("evil.com@acme.myshopify.com", HostError::Userinfo),
            ("acme.myshopify.com:8443", HostError::Port),
            ("acme.myshopify.com/admin", HostError::Path),
            ("acme.myshopify.com?x=1", HostError::Path),
            ("acme.myshopify.com#x", HostError::Path),
            ("evil.com\\.myshopify.com", HostError::Path),
            ("a..myshopify.com", HostError::EmptyLabel),
            ("acme.myshоpify.com", HostError::BadCharacter), // Cyrillic o
            ("acme．myshopify.com", HostError::BadCharacter), // fullwidth dot
            (
                "a.b.myshopify.com",
                HostError::ShopLabels(".myshopify.com".into()),
            ),
            ("http://acme.myshopify.com", HostError::Url),
            ("", HostError::Empty),
            ("   ", HostError::Empty),
            ("127.0.0.1", HostError::IpLiteral),
            ("[::1]", HostError::IpLiteral),
            ("acme_shop.myshopify.com", HostError::BadCharacter),
            ("-acme.myshopify.com", HostError::BadLabel),
            ("acme\n.myshopify.com", HostError::BadCharacter),
            (
                "evilmyshopify.com",
                HostError::Suffix(".myshopify.com".into()),
            ),
            ("xn--80ak6aa92e.myshopify.com", HostError::Punycode),
            ("acme.xn--zz.myshopify.com", HostError::Punycode),
            ("xn--zz-.myshopify.com", HostError::BadLabel),
        ];
        for (input, want) in cases {
            assert_eq!(r.apply(input), Err(want), "{input:?}");
        }
    }

    #[test]
    fn generic_rule_keeps_depth_but_not_urls() {
        let r = generic();
        assert_eq!(r.apply("EU.api.Example.com").unwrap(), "eu.api.example.com");
        assert_eq!(r.apply("https://eu.example.com"), Err(HostError::Url));
        assert_eq!(r.apply("eu.example.com/"), Err(HostError::Path));
        assert_eq!(
            r.apply("example.com"),
            Err(HostError::Suffix(".example.com".into()))
        );
        assert_eq!(r.apply("eu"), Err(HostError::Suffix(".example.com".into())));
        assert_eq!(
            r.apply("1.2.3.4.example.com").unwrap(),
            "1.2.3.4.example.com"
        );
    }

    #[test]
    fn suffixes_are_checked() {
        assert!(HostRule::new("myshopify.com", Normalizer::LowercaseHost).is_err());
        assert!(HostRule::new(".com", Normalizer::LowercaseHost).is_err());
        assert!(HostRule::new(".MyShopify.com", Normalizer::LowercaseHost).is_err());
        assert!(HostRule::new(".my..shop.com", Normalizer::LowercaseHost).is_err());
        assert!(HostRule::new(".0.0.1", Normalizer::LowercaseHost).is_err());
    }
}
