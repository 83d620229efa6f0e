//! One token exchange through the hooks: the request (the hook's, checked and filled, or
//! the standard one), sent through the host's own HTTP path, and the answer (read through
//! the hook from a scrubbed copy, or through the manifest's token paths).
//!
//! A hook that fails, loops, traps or answers what the host refuses ends the exchange
//! with `Failure::Refused` naming the connector and the hook: nothing of it is stored,
//! and it is not retried (the same hook would answer the same).
//!
//! Owns: `exchange` and `Grant`.
//! Must not: store anything (callers do), or retry.

use std::collections::BTreeMap;

use secrecy::SecretString;
use url::Url;

use super::TokenHooks;
use super::credentials::{Hooked, read_credentials};
use super::fill::{Secrets, fill_request};
use super::scrub::scrub_answer;
use crate::oauth::classify::{Failure, classify_response, classify_transport};
use crate::oauth::client;
use crate::oauth::http::{OAuthHttp, RawResponse};
use crate::oauth::provider::{ProviderConfig, TokenResponseError};
use crate::runtime::{HookContext, HookGrant};
use crate::store::ClientCredentials;
use crate::types::TokenHook;

/// The grant being exchanged, with what only the host may fill in.
pub(crate) enum Grant<'a> {
    Code {
        code: &'a str,
        verifier: Option<&'a SecretString>,
        redirect_uri: &'a Url,
        scopes: &'a [String],
    },
    Refresh {
        refresh_token: &'a SecretString,
        scopes: &'a [String],
    },
}

fn refused(connector: &str, hook: TokenHook, what: impl std::fmt::Display) -> Failure {
    Failure::Refused {
        reason: format!("connector `{connector}`: token hook `{hook}`: {what}"),
    }
}

/// Runs one exchange of `grant` with `hooks`.
pub(crate) async fn exchange(
    http: &OAuthHttp,
    p: &ProviderConfig,
    hooks: &TokenHooks,
    creds: &ClientCredentials,
    grant: Grant<'_>,
) -> Result<Hooked, Failure> {
    let connector = hooks.connector.as_str();
    let (hook_grant, request_hook, scopes) = match &grant {
        Grant::Code { scopes, .. } => (
            HookGrant::AuthorizationCode,
            TokenHook::TokenRequest,
            *scopes,
        ),
        Grant::Refresh { scopes, .. } => (HookGrant::Refresh, TokenHook::RefreshRequest, *scopes),
    };
    let runner = |hook: TokenHook| {
        hooks
            .runner
            .as_ref()
            .ok_or_else(|| refused(connector, hook, "the connector's component is not loaded"))
    };
    let secrets = Secrets {
        client_id: creds.client_id.clone(),
        client_secret: creds.client_secret.clone(),
        code: match &grant {
            Grant::Code { code, .. } => Some(SecretString::from(code.to_string())),
            Grant::Refresh { .. } => None,
        },
        code_verifier: match &grant {
            Grant::Code { verifier, .. } => verifier.cloned(),
            Grant::Refresh { .. } => None,
        },
        redirect_uri: match &grant {
            Grant::Code { redirect_uri, .. } => Some(redirect_uri.to_string()),
            Grant::Refresh { .. } => None,
        },
        refresh_token: match &grant {
            Grant::Refresh { refresh_token, .. } => Some((*refresh_token).clone()),
            Grant::Code { .. } => None,
        },
    };

    let mut redact = secrets.secret_values();
    let raw: RawResponse = if hooks.uses(request_hook) {
        let ctx = HookContext {
            token_url: p.token_url.to_string(),
            settings: hooks.settings.clone(),
            scopes: scopes.to_vec(),
        };
        let req = runner(request_hook)?
            .request(hook_grant, &ctx, &redact)
            .await
            .map_err(|e| Failure::Refused {
                reason: e.to_string(),
            })?;
        let filled = fill_request(&req, &p.token_url, &secrets).map_err(|e| {
            refused(
                connector,
                request_hook,
                format!("the host refuses its request: {e}"),
            )
        })?;
        let (raw, _) = http
            .send(filled.method, &filled.url, filled.headers, filled.body)
            .await
            .map_err(|e| classify_transport(&e))?;
        raw
    } else {
        match &grant {
            Grant::Code {
                code,
                verifier,
                redirect_uri,
                ..
            } => client::exchange_code_raw(http, p, creds, code, *verifier, redirect_uri).await?,
            Grant::Refresh { refresh_token, .. } => {
                client::refresh_raw(http, p, creds, refresh_token).await?
            }
        }
    };

    let hook = TokenHook::CredentialsFromTokenResponse;
    if !hooks.uses(hook) || !(200..300).contains(&raw.status) {
        // Errors are classified the standard way; a 2xx is read through the token paths.
        let tokens = classify_response(p, &raw)?;
        return Ok(Hooked {
            tokens,
            extras: BTreeMap::new(),
        });
    }
    let secret_values = secrets.secret_values();
    redact.extend(answer_tokens(p, &raw.body));
    let scrubbed = scrub_answer(&raw.body, &p.token_paths, &secret_values)
        .map_err(|_| Failure::Malformed(TokenResponseError::NotJson))?;
    let reading = runner(hook)?
        .credentials(hook_grant, raw.status, &scrubbed, &redact)
        .await
        .map_err(|e| Failure::Refused {
            reason: e.to_string(),
        })?;
    let hooked = read_credentials(
        p,
        &raw.body,
        &reading,
        &hooks.extras_allowed,
        &secret_values,
    )
    .map_err(|e| {
        refused(
            connector,
            hook,
            format!("its reading of the answer is refused: {e}"),
        )
    })?;
    // The scrubber masks what looks like a token; should a token it read have been shown
    // anyway, nothing of this answer is stored.
    if shown_token(&hooked, &scrubbed) {
        return Err(refused(
            connector,
            hook,
            "a token it named was not masked in the answer it was shown; declare its path in \
             `token.accessTokenPath` or `token.refreshTokenPath`",
        ));
    }
    Ok(hooked)
}

/// Whether a token of `hooked` appears in the text a hook was shown.
fn shown_token(hooked: &Hooked, shown: &str) -> bool {
    use secrecy::ExposeSecret;
    let t = &hooked.tokens;
    std::iter::once(&t.access_token)
        .chain(t.refresh_token.iter())
        .chain(t.id_token.iter())
        .map(|s| s.expose_secret())
        .filter(|s| s.len() >= crate::redact::MIN_SECRET_LEN)
        .any(|s| shown.contains(s))
}

/// The tokens of an answer where the host knows to look: the manifest's token paths and
/// the `id_token`.
fn answer_tokens(p: &ProviderConfig, body: &[u8]) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    [&p.token_paths.access_token, &p.token_paths.refresh_token]
        .into_iter()
        .map(String::as_str)
        .chain(["id_token"])
        .filter_map(|path| crate::oauth::provider::lookup(&value, path))
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}
