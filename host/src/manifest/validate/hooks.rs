//! `connection.oauth.hooks`: the token hooks the host calls (`wit/token-hooks.wit`).
//! Whether the component exports them is checked when it is loaded
//! (`Connector::check_token_hooks`).
//!
//! Owns: turning the raw list into `TokenHook`s, each listed once, for the flow that
//! has a token exchange to shape.
//! Must not: look at the component.

use crate::manifest::connector::OAuthFlow;
use crate::manifest::problems::{Pointer, Problems};
use crate::manifest::raw::{RawOAuth, RawTokenHook};
use crate::types::TokenHook;

pub(super) fn token_hooks(
    o: &RawOAuth,
    flow: OAuthFlow,
    at: &Pointer,
    p: &mut Problems,
) -> Vec<TokenHook> {
    if o.hooks.is_empty() {
        return Vec::new();
    }
    if flow != OAuthFlow::AuthorizationCode {
        p.push(
            at.at("hooks"),
            "hooks apply only to authorization_code (the code exchange and its refreshes)",
        );
        return Vec::new();
    }
    let mut hooks = Vec::new();
    for (i, raw) in o.hooks.iter().enumerate() {
        let hook = match raw {
            RawTokenHook::TokenRequest => TokenHook::TokenRequest,
            RawTokenHook::RefreshRequest => TokenHook::RefreshRequest,
            RawTokenHook::CredentialsFromTokenResponse => TokenHook::CredentialsFromTokenResponse,
        };
        if hooks.contains(&hook) {
            p.push(at.at("hooks").at(i), format!("\"{hook}\" is listed twice"));
            continue;
        }
        hooks.push(hook);
    }
    hooks.sort();
    hooks
}
