//! URL checks that run before anything else touches an outbound request.
//!
//! Owns [`UrlPolicy`] (the seam the manifest's `permissions.http` patterns implement)
//! and [`check_url`], which turns the guest's raw URL string into a parsed [`Url`] only
//! if the scheme is http or https, there is no userinfo, and the policy allows it.
//!
//! It must not resolve names or look at addresses (that is `addr`/`resolve`), and it
//! must not echo the full URL in errors: only its origin, which carries no path or
//! query where a secret could hide.

use url::Url;

use super::error::EgressError;

/// Decides whether a URL is inside a connector's outbound allowlist.
pub trait UrlPolicy: Send + Sync {
    /// Whether `url` (already parsed, http or https, without userinfo) may be called.
    fn allows(&self, url: &Url) -> bool;
}

/// Adapts a closure to [`UrlPolicy`], mostly for tests and simple hosts.
pub struct FnPolicy<F>(pub F);

impl<F> UrlPolicy for FnPolicy<F>
where
    F: Fn(&Url) -> bool + Send + Sync,
{
    fn allows(&self, url: &Url) -> bool {
        (self.0)(url)
    }
}

/// The origin of `url` as `scheme://host[:port]`, safe to put in messages.
pub fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Parses and checks the guest's URL. `max_len` caps the raw string length.
pub(crate) fn check_url(
    raw: &str,
    policy: &dyn UrlPolicy,
    max_len: usize,
) -> Result<Url, EgressError> {
    if raw.len() > max_len {
        return Err(EgressError::invalid(format!(
            "url is {} bytes long; the limit is {max_len}",
            raw.len()
        )));
    }
    let mut url = Url::parse(raw)
        .map_err(|err| EgressError::invalid(format!("url is not a valid absolute URL: {err}")))?;
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(EgressError::denied(format!(
                "url scheme `{other}` is not allowed; only http and https"
            )));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EgressError::denied(format!(
            "url for {} carries userinfo (`user@` or `user:password@`), which is never allowed",
            origin_of(&url)
        )));
    }
    if url.host().is_none() {
        return Err(EgressError::invalid("url has no host"));
    }
    // A fragment is never sent on the wire; drop it so policy and records see what goes out.
    url.set_fragment(None);
    if !policy.allows(&url) {
        return Err(EgressError::denied(format!(
            "{} is not in the connector's permissions.http allowlist",
            origin_of(&url)
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::error::EgressErrorCode;

    /// Exact host or `*.suffix` (subdomains only), like the manifest's patterns.
    fn hosts(patterns: &'static [&'static str]) -> FnPolicy<impl Fn(&Url) -> bool + Send + Sync> {
        FnPolicy(move |url: &Url| {
            let Some(host) = url.host_str() else {
                return false;
            };
            patterns.iter().any(|p| match p.strip_prefix("*.") {
                Some(suffix) => host
                    .strip_suffix(suffix)
                    .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
                None => host == *p,
            })
        })
    }

    fn code(raw: &str, policy: &dyn UrlPolicy) -> EgressErrorCode {
        match check_url(raw, policy, 8192) {
            Ok(_) => panic!("{raw} should be refused"),
            Err(e) => e.code,
        }
    }

    #[test]
    fn allowlist_hit_and_miss() {
        let p = hosts(&["api.example.com"]);
        let url = check_url("https://api.example.com/v1/orders?x=1#frag", &p, 8192).unwrap();
        assert_eq!(url.as_str(), "https://api.example.com/v1/orders?x=1");
        let err = check_url("https://evil.example.net/steal?token=abc", &p, 8192).unwrap_err();
        assert_eq!(err.code, EgressErrorCode::Denied);
        assert!(
            err.message.contains("https://evil.example.net"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("steal"), "{}", err.message);
    }

    #[test]
    fn wildcard_matches_subdomains_not_apex() {
        let p = hosts(&["*.x.com"]);
        assert!(check_url("https://a.x.com/", &p, 8192).is_ok());
        assert!(check_url("https://b.a.x.com/", &p, 8192).is_ok());
        assert_eq!(code("https://x.com/", &p), EgressErrorCode::Denied);
        assert_eq!(code("https://evilx.com/", &p), EgressErrorCode::Denied);
    }

    #[test]
    fn userinfo_and_at_tricks() {
        let p = hosts(&["allowed.com"]);
        assert_eq!(
            code("https://allowed.com@evil.com/", &p),
            EgressErrorCode::Denied
        );
        assert_eq!(
            code("https://user:pw@allowed.com/", &p),
            EgressErrorCode::Denied
        );
        assert_eq!(
            code("https://evil.com\\@allowed.com/", &p),
            EgressErrorCode::Denied
        );
        assert_eq!(
            code("https://evil.com#@allowed.com/", &p),
            EgressErrorCode::Denied
        );
        assert_eq!(
            code("https://evil.com?@allowed.com/", &p),
            EgressErrorCode::Denied
        );
    }

    #[test]
    fn scheme_and_shape() {
        let p = hosts(&["allowed.com"]);
        assert_eq!(code("ftp://allowed.com/", &p), EgressErrorCode::Denied);
        assert_eq!(code("file:///etc/passwd", &p), EgressErrorCode::Denied);
        assert_eq!(code("/relative", &p), EgressErrorCode::InvalidInput);
        assert_eq!(code("not a url", &p), EgressErrorCode::InvalidInput);
        let long = format!("https://allowed.com/{}", "a".repeat(9000));
        assert_eq!(code(&long, &p), EgressErrorCode::InvalidInput);
    }
}
