//! Where a browser goes after the provider sends it back: an authorization started from
//! the console (or from a connect link) returns to the page it started on, not to the
//! plain callback page.
//!
//! Owns: the table from an authorization's `state` to that page, in memory, bounded
//! ([`MAX_PENDING`]) and expiring with the authorization itself ([`PENDING_TTL`]). Must
//! not: hold anything but a console path, or let a caller choose an arbitrary target (the
//! paths are the console's own, built by its handlers).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use url::Url;

/// Authorizations waiting for their callback at once.
const MAX_PENDING: usize = 1024;
/// As long as an authorization request lives.
const PENDING_TTL: Duration = Duration::from_secs(15 * 60);

/// `state` of a started authorization -> the console path to return to.
#[derive(Default)]
pub(crate) struct Returns {
    map: Mutex<HashMap<String, (String, Instant)>>,
}

impl Returns {
    /// Remembers that the authorization whose provider URL is `url` returns to `path`.
    pub(crate) fn remember(&self, url: &Url, path: String) {
        let Some(state) = url
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
        else {
            return;
        };
        let now = Instant::now();
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, (_, at)| now.duration_since(*at) < PENDING_TTL);
        if map.len() >= MAX_PENDING
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(state, (path, now));
    }

    /// The path the authorization with `state` returns to, once.
    pub(crate) fn take(&self, state: &str) -> Option<String> {
        let (path, at) = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(state)?;
        (at.elapsed() < PENDING_TTL).then_some(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_return_is_taken_once_by_its_state() {
        let returns = Returns::default();
        let url = Url::parse("https://idp.example/authorize?client_id=a&state=s1").unwrap();
        returns.remember(&url, "/console/connections/c1".into());
        assert_eq!(returns.take("s2"), None);
        assert_eq!(
            returns.take("s1").as_deref(),
            Some("/console/connections/c1")
        );
        assert_eq!(returns.take("s1"), None);
    }
}
