//! The request id every answer and log line of a request carries: the caller's
//! `x-request-id` when it is short and plain, else a fresh one.
//!
//! Owns: what a caller-given request id may look like.
//! Must not: let caller text into a log span unchecked (a long or odd id could forge or
//! flood log fields).

use axum::extract::Request;
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id taken from a caller.
pub(crate) const MAX_LEN: usize = 64;

/// A caller's request id is kept when it is 1 to 64 characters of `[A-Za-z0-9._:-]`.
pub fn acceptable(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= MAX_LEN
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(b))
}

/// Drops a caller's request id that is not acceptable (or given more than once), so the
/// next layer makes a fresh one.
pub(crate) async fn screen(mut req: Request, next: Next) -> Response {
    let mut given = req.headers().get_all(&REQUEST_ID).iter();
    let keep = match (given.next(), given.next()) {
        (None, _) => true,
        (Some(id), None) => acceptable(id.as_bytes()),
        (Some(_), Some(_)) => false,
    };
    if !keep {
        req.headers_mut().remove(&REQUEST_ID);
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_kept() {
        assert!(acceptable(b"req-abc"));
        assert!(acceptable(b"0f3c2a9e-1b2c-4d5e-8f90-1234567890ab"));
        assert!(acceptable(b"trace:span.1_2"));
        assert!(acceptable(&[b'a'; MAX_LEN]));
        assert!(!acceptable(&[b'a'; MAX_LEN + 1]));
        assert!(!acceptable(b""));
        assert!(!acceptable(b"has space"));
        assert!(!acceptable(b"quote\"level=ERROR"));
        assert!(!acceptable(b"tab\there"));
        assert!(!acceptable("caf\u{e9}".as_bytes()));
    }
}
