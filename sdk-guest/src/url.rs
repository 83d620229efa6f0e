//! Percent-encoding for the pieces a connector puts into a provider URL (query values,
//! path segments). Must not parse or rebuild whole URLs: next-page links a provider
//! sends are followed as given.

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
    use super::encode;

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
