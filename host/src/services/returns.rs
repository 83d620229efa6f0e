//! Where a browser goes after the provider: an authorization started from the console or
//! a connect link returns to the page it started on, whichever replica receives the
//! provider's callback (the store keeps the page by the authorization's state).
//!
//! Owns: finding the state in the authorization URL, and the return's lifetime (the
//! authorization state's own).
//! Must not: take a target from a request: the paths are built by the console's and the
//! connect link's handlers.

use url::Url;

use super::{ServiceResult, Services};
use crate::oauth::authorize::STATE_TTL;
use crate::store::now_unix;

impl Services {
    /// Remembers that the authorization whose provider URL is `authorization_url` returns
    /// to `path`, for as long as the authorization may come back. A URL without a
    /// `state` remembers nothing.
    pub fn remember_return(&self, authorization_url: &Url, path: &str) -> ServiceResult<()> {
        let Some(state) = authorization_url
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
        else {
            return Ok(());
        };
        let now = now_unix();
        let ttl = i64::try_from(STATE_TTL.as_secs()).unwrap_or(i64::MAX / 2);
        Ok(self
            .store
            .remember_authorization_return(&state, path, now, now.saturating_add(ttl))?)
    }

    /// The page the authorization with `state` returns to, once.
    pub fn take_return(&self, state: &str) -> ServiceResult<Option<String>> {
        Ok(self.store.take_authorization_return(state, now_unix())?)
    }
}
