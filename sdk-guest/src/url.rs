//! Percent-encoding for the pieces a connector puts into a provider URL (query values,
//! path segments), and [`Query`], a query string built from pairs. Must not parse or
//! rebuild whole URLs: next-page links a provider sends are followed as given.

use std::fmt::Display;

/// A query string built pair by pair, every name and value percent-encoded with
/// [`encode`] (RFC 3986: a space is `%20`, never `+`). Also the body of a form request:
/// `Body::form(query.as_str())`.
///
/// ```
/// use keyway_sdk::url::Query;
/// let cursor: Option<&str> = Some("a b");
/// let url = Query::new()
///     .push("limit", 100)
///     .push_opt("cursor", cursor)
///     .to_url("https://api.example.com/v1/records");
/// assert_eq!(url, "https://api.example.com/v1/records?limit=100&cursor=a%20b");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    encoded: String,
}

impl Query {
    /// An empty query.
    pub fn new() -> Self {
        Query::default()
    }

    /// Adds `name=value`; a name given twice is sent twice, as many APIs read lists.
    pub fn push(mut self, name: &str, value: impl Display) -> Self {
        if !self.encoded.is_empty() {
            self.encoded.push('&');
        }
        self.encoded.push_str(&encode(name));
        self.encoded.push('=');
        self.encoded.push_str(&encode(&value.to_string()));
        self
    }

    /// Adds `name=value` when there is a value (a cursor on every page but the first).
    pub fn push_opt(self, name: &str, value: Option<impl Display>) -> Self {
        match value {
            Some(v) => self.push(name, v),
            None => self,
        }
    }

    /// The encoded pairs, `a=1&b=2` (empty when none were added).
    pub fn as_str(&self) -> &str {
        &self.encoded
    }

    /// True when no pair was added.
    pub fn is_empty(&self) -> bool {
        self.encoded.is_empty()
    }

    /// `base` with the pairs appended: after `?`, or after `&` when `base` already has a
    /// query; `base` itself when there are none. A fragment in `base` is kept last.
    pub fn to_url(&self, base: &str) -> String {
        if self.encoded.is_empty() {
            return base.to_string();
        }
        let (head, fragment) = match base.split_once('#') {
            Some((h, f)) => (h, Some(f)),
            None => (base, None),
        };
        let joiner = if !head.contains('?') {
            "?"
        } else if head.ends_with('?') || head.ends_with('&') {
            ""
        } else {
            "&"
        };
        let mut url = format!("{head}{joiner}{}", self.encoded);
        if let Some(f) = fragment {
            url.push('#');
            url.push_str(f);
        }
        url
    }
}

/// Percent-encodes `text` for a query value or path segment: every byte but the RFC 3986
/// unreserved characters (`A-Z a-z 0-9 - . _ ~`) becomes `%XX` (uppercase hex), so
/// multi-byte UTF-8 characters are encoded byte by byte.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Query, encode};

    #[test]
    fn a_query_joins_encoded_pairs_onto_any_base() {
        let q = Query::new()
            .push("q", "name = 'a&b'")
            .push("limit", 50)
            .push_opt("cursor", None::<&str>)
            .push("tag", "x")
            .push("tag", "y");
        assert_eq!(
            q.as_str(),
            "q=name%20%3D%20%27a%26b%27&limit=50&tag=x&tag=y"
        );
        assert_eq!(
            q.to_url("https://a.test/v1"),
            format!("https://a.test/v1?{}", q.as_str())
        );
        assert_eq!(
            q.to_url("https://a.test/v1?x=1"),
            format!("https://a.test/v1?x=1&{}", q.as_str())
        );
        assert_eq!(
            q.to_url("https://a.test/v1?"),
            format!("https://a.test/v1?{}", q.as_str())
        );
        assert_eq!(
            Query::new().push("a", 1).to_url("https://a.test/p#top"),
            "https://a.test/p?a=1#top"
        );
        assert_eq!(Query::new().to_url("https://a.test/p"), "https://a.test/p");
        assert!(Query::new().is_empty());
        assert_eq!(Query::new().push("é k", "ü").as_str(), "%C3%A9%20k=%C3%BC");
    }

    #[test]
    fn keeps_unreserved_and_escapes_the_rest() {
        assert_eq!(encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(encode("a b/c+d=e&f"), "a%20b%2Fc%2Bd%3De%26f");
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
        assert_eq!(encode("é"), "%C3%A9");
        assert_eq!(encode(""), "");
    }

    #[test]
    fn escapes_calendar_ids_and_query_text() {
        assert_eq!(
            encode("en.usa#holiday@group.v.calendar.google.com"),
            "en.usa%23holiday%40group.v.calendar.google.com"
        );
        assert_eq!(encode("primary"), "primary");
        assert_eq!(
            encode("select * from Invoice STARTPOSITION 1 MAXRESULTS 100"),
            "select%20%2A%20from%20Invoice%20STARTPOSITION%201%20MAXRESULTS%20100"
        );
    }
}
