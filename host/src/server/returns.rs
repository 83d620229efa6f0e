//! The way back from the provider: an authorization started from the console or a connect
//! link returns to the page it started on, whichever replica receives the callback.
//!
//! Owns: remembering that page when the authorization starts and taking it once at the
//! callback, through the store (`Services::remember_return`, `take_return`), and
//! refusing to send a browser anywhere but the console's or the connect links' own pages.
//! Must not: fail an authorization because its way back could not be kept.

use url::Url;

use super::AppState;

impl AppState {
    /// Remembers that the authorization whose provider URL is `url` returns to `path` (a
    /// page of this server's own), in the store, for whichever replica gets the callback.
    /// A store that cannot keep it costs only the way back (the plain callback page), so
    /// the authorization goes on and the log says why.
    pub(crate) fn remember_return(&self, url: &Url, path: &str) {
        if let Err(e) = self.services.remember_return(url, path) {
            tracing::warn!(error = %e, "the page an authorization returns to could not be stored");
        }
    }

    /// The page the authorization with `state` returns to, once: only ever one of the
    /// console's or the connect links' own.
    pub(crate) fn take_return(&self, state: &str) -> Option<String> {
        match self.services.take_return(state) {
            Ok(path) => path.filter(|p| p.starts_with("/console/") || p.starts_with("/connect/")),
            Err(e) => {
                tracing::warn!(error = %e, "the page an authorization returns to could not be read");
                None
            }
        }
    }
}
