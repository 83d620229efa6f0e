//! The host's shared vocabulary: small types that several layers speak, kept at the
//! bottom so that no module has to import a higher one to name them.
//!
//! Owns [`Method`] (the five HTTP methods of the WIT contract, shared by route tables,
//! manifests and outbound requests), [`BoxFuture`] (the boxed future of the `dyn`
//! seams) the rule for connection names ([`is_connection_name`]) and the names of the token
//! hooks ([`TokenHook`]), which the store,
//! the manifest's `permissions.connections` and the test runtime all enforce. Must not: import any other module of the crate, or grow behaviour beyond
//! spelling and conversion; a type that needs a layer's logic belongs to that layer.

use std::future::Future;
use std::pin::Pin;

/// The rule for a connection's name (of either kind), as messages state it.
pub const CONNECTION_NAME_RULE: &str =
    "1-63 lowercase letters, digits and hyphens, not starting or ending with a hyphen";

/// Whether `name` follows [`CONNECTION_NAME_RULE`].
pub fn is_connection_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A boxed, sendable future, so the seams stay usable as `dyn` trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An HTTP method a route can be declared with or a guest can send (mirrors the WIT
/// `method` enum; the runtime converts to and from the generated type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Parses `GET`, `post`, ... (case-insensitive).
    pub fn parse(text: &str) -> Option<Method> {
        match text.to_ascii_uppercase().as_str() {
            "GET" => Some(Method::Get),
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "PATCH" => Some(Method::Patch),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }

    pub(crate) fn to_http(self) -> http::Method {
        match self {
            Method::Get => http::Method::GET,
            Method::Post => http::Method::POST,
            Method::Put => http::Method::PUT,
            Method::Patch => http::Method::PATCH,
            Method::Delete => http::Method::DELETE,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Authorization request parameters the host sets itself: no manifest, catalog entry or
/// extra parameter may set them.
pub const RESERVED_AUTHORIZE_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
    "nonce",
];

/// Whether `key` follows the key rule of connectors and catalog providers: 1 to 64 bytes
/// of lowercase letters and digits in words joined by single hyphens.
pub fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key.split('-').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// The token hooks a manifest may name (`connection.oauth.hooks`) and a component may
/// export (`wit/token-hooks.wit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenHook {
    TokenRequest,
    RefreshRequest,
    CredentialsFromTokenResponse,
}

impl TokenHook {
    /// The manifest's name of the hook.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenHook::TokenRequest => "tokenRequest",
            TokenHook::RefreshRequest => "refreshRequest",
            TokenHook::CredentialsFromTokenResponse => "credentialsFromTokenResponse",
        }
    }
}

impl std::fmt::Display for TokenHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Method;

    #[test]
    fn parse_is_case_insensitive_and_round_trips() {
        for m in [
            Method::Get,
            Method::Post,
            Method::Put,
            Method::Patch,
            Method::Delete,
        ] {
            assert_eq!(Method::parse(m.as_str()), Some(m));
            assert_eq!(Method::parse(&m.as_str().to_ascii_lowercase()), Some(m));
            assert_eq!(m.to_http().as_str(), m.as_str());
        }
        assert_eq!(Method::parse("HEAD"), None);
    }
}
