//! URL patterns of queued mock responses: the pattern matches the whole URL, and `*`
//! matches any run of characters (none included), query string and slashes too.
//!
//! This module owns only the matching; it must not know about requests or queues.

/// True when `pattern` matches all of `text`; `*` matches any run of characters.
pub fn matches(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0usize, 0usize);
    // Position of the last `*` seen and the text position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` swallow one more character and retry from there.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn whole_url_and_stars() {
        assert!(matches("https://a.test/x", "https://a.test/x"));
        assert!(!matches("https://a.test/x", "https://a.test/x?y=1"));
        assert!(matches("https://a.test/x?*", "https://a.test/x?y=1"));
        assert!(matches(
            "https://a.test/*/graphql.json",
            "https://a.test/admin/api/2025-07/graphql.json"
        ));
        assert!(matches("*", ""));
        assert!(matches("https://*.test/*", "https://b.a.test/"));
        assert!(!matches("https://*.test/", "https://a.example/"));
        assert!(matches("a*b*c", "aXXbYYbc"));
        assert!(!matches("a*b*c", "aXXbYY"));
    }
}
