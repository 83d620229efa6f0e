//! App connections a test seeds ([`TestRuntimeBuilder::with_app_connection`]): the names
//! checked with the host's rule, and the tokens handed to the invocation context the way
//! the host hands them (`services::live`): only the names the manifest grants, `token` or
//! `inject`, reach the context's `AppTokens`. The doors then do the rest, so an ungranted
//! name is `not_permitted`, a granted one nobody seeded `not_found`, and an inject-only
//! grant is never readable.
//!
//! This module owns turning seeds into token sources. It must not check a grant itself
//! (the doors do) and must not put a token value into an error.
//!
//! [`TestRuntimeBuilder::with_app_connection`]: crate::TestRuntimeBuilder::with_app_connection

use crate::Error;
use crate::oauth::SeededTokens;
use crate::seed::OAuthState;
use keyway_host::egress::{AppTokens, TokenSource};
use keyway_host::manifest::{APP_CONNECTION_NAME_RULE, Permissions, is_app_connection_name};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Every seeded app connection by name, granted or not (for the runtime's counters).
pub(crate) type Seeded = BTreeMap<String, Arc<SeededTokens>>;

/// The token sources of `seeds`, and the part of them the manifest's `permissions`
/// grants, as the invocation context gets it.
pub(crate) fn seed(
    seeds: Vec<(String, OAuthState)>,
    permissions: &Permissions,
) -> Result<(Seeded, AppTokens), Error> {
    let mut seeded = Seeded::new();
    for (name, state) in seeds {
        if !is_app_connection_name(&name) {
            return Err(Error::Setup(format!(
                "app connection name {name:?} must be {APP_CONNECTION_NAME_RULE} (the host's rule)"
            )));
        }
        if seeded.contains_key(&name) {
            return Err(Error::Setup(format!(
                "app connection `{name}` is seeded twice; give each name one OAuthState"
            )));
        }
        let tokens = SeededTokens::app(&name, state).map_err(Error::Setup)?;
        seeded.insert(name, Arc::new(tokens));
    }
    let granted = seeded
        .iter()
        .filter(|(name, _)| {
            permissions.readable_apps.contains(*name) || permissions.injectable_apps.contains(*name)
        })
        .map(|(name, tokens)| (name.clone(), tokens.clone() as Arc<dyn TokenSource>))
        .collect();
    Ok((seeded, granted))
}
