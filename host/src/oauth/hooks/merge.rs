//! What a refresh through the hooks stores, field by field. The rules:
//!
//! - **access token**: the answer's (a refresh answer without one fails).
//! - **refresh token**: the answer's when it has one (rotation); omitted, the stored one
//!   is kept.
//! - **scope**: the answer's when it has one; omitted, the stored grant is kept.
//! - **token type**: the answer's when it has one; omitted, the stored one is kept.
//! - **expires in**: the answer's; omitted, the token's lifetime is unknown (as for any
//!   provider).
//! - **extras** (settings a hook returns): each one returned replaces its stored value;
//!   one not returned keeps its stored value; none is ever deleted by a refresh.
//!
//! Owns: `merge_refresh` and `merge_extras`, pure functions.
//! Must not: touch the store (the caller writes the result in one transaction).

use std::collections::BTreeMap;

use secrecy::SecretString;

use crate::store::{StoredTokens, TokenWrite};

/// The token write of a refresh answer, with what it omitted taken from `stored`.
pub fn merge_refresh(stored: &StoredTokens, mut fresh: TokenWrite) -> TokenWrite {
    if fresh.refresh_token.is_none() {
        fresh.refresh_token = stored
            .refresh_token
            .as_ref()
            .map(|rt| SecretString::from(secrecy::ExposeSecret::expose_secret(rt).to_string()));
    }
    if fresh.scopes.is_none() {
        fresh.scopes = stored.scopes.clone();
    }
    if fresh.token_type.is_none() {
        fresh.token_type = stored.token_type.clone();
    }
    fresh
}

/// The stored extras with those of a refresh answer laid over them.
pub fn merge_extras(
    stored: &BTreeMap<String, String>,
    fresh: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = stored.clone();
    out.extend(fresh.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn stored() -> StoredTokens {
        StoredTokens {
            access_token: SecretString::from("old-at"),
            refresh_token: Some(SecretString::from("old-rt")),
            token_type: Some("Bearer".into()),
            expires_at: Some(100),
            scopes: Some(vec!["a".into(), "b".into()]),
            obtained_at: 1,
            generation: 3,
        }
    }

    fn fresh() -> TokenWrite {
        TokenWrite {
            access_token: SecretString::from("new-at"),
            refresh_token: None,
            token_type: None,
            expires_at: None,
            scopes: None,
        }
    }

    #[test]
    fn omitted_fields_keep_their_stored_values() {
        let w = merge_refresh(&stored(), fresh());
        assert_eq!(w.access_token.expose_secret(), "new-at");
        assert_eq!(w.refresh_token.unwrap().expose_secret(), "old-rt");
        assert_eq!(w.token_type.as_deref(), Some("Bearer"));
        assert_eq!(w.scopes.unwrap(), vec!["a", "b"]);
        assert_eq!(w.expires_at, None);
    }

    #[test]
    fn given_fields_replace_the_stored_ones() {
        let mut f = fresh();
        f.refresh_token = Some(SecretString::from("new-rt"));
        f.scopes = Some(vec!["c".into()]);
        f.token_type = Some("mac".into());
        f.expires_at = Some(500);
        let w = merge_refresh(&stored(), f);
        assert_eq!(w.refresh_token.unwrap().expose_secret(), "new-rt");
        assert_eq!(w.scopes.unwrap(), vec!["c"]);
        assert_eq!(w.token_type.as_deref(), Some("mac"));
        assert_eq!(w.expires_at, Some(500));
    }

    #[test]
    fn extras_are_laid_over_and_never_deleted() {
        let stored = BTreeMap::from([
            ("tenant".to_string(), "t1".to_string()),
            ("realm".to_string(), "r1".to_string()),
        ]);
        let fresh = BTreeMap::from([("tenant".to_string(), "t2".to_string())]);
        let m = merge_extras(&stored, &fresh);
        assert_eq!(m["tenant"], "t2");
        assert_eq!(m["realm"], "r1");
        assert_eq!(merge_extras(&stored, &BTreeMap::new()), stored);
    }
}
