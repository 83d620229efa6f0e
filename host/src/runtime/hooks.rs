//! Calls of a connector's token hooks (`wit/token-hooks.wit`): each in a fresh instance
//! with the context of no connection (every door refuses: no settings, secrets, grants,
//! egress or tokens), a short deadline and a small memory limit, in one of the instance
//! slots kept for hooks (so a refresh that routes holding every route slot wait for can
//! still run its hook). What the guest answers
//! comes back as plain host types; checking it is `oauth::hooks`'s job.
//!
//! Owns: the hook calls and the mapping between WIT and host types.
//! Must not: fill placeholders, send anything or read a secret (it is handed none).

use std::time::Duration;

use super::bindings::hooks::guest;
use super::error::InvokeError;
use super::invoke::InvocationMeta;
use super::loader::LoadedComponent;
use crate::context::ConnectionContext;
use crate::types::{Method, TokenHook};

/// A token hook's deadline: it shapes one request, it does not talk to anyone.
pub const HOOK_DEADLINE: Duration = Duration::from_secs(2);
/// A token hook's memory limit (or the runtime's, when that is lower).
pub const HOOK_MEMORY_LIMIT: usize = 16 << 20;

/// Which exchange a hook works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookGrant {
    AuthorizationCode,
    Refresh,
}

/// What a request hook may read: nothing secret.
#[derive(Debug, Clone, Default)]
pub struct HookContext {
    pub token_url: String,
    pub settings: Vec<(String, String)>,
    pub scopes: Vec<String>,
}

/// A request body as a hook describes it, placeholders unfilled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookBody {
    None,
    Form(Vec<(String, String)>),
    Json(String),
}

/// A token request as a hook describes it, placeholders unfilled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: HookBody,
}

/// Where a credential field is read: a path into the real answer, or a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookValue {
    Path(String),
    Value(String),
}

/// How a hook says to read an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookCredentials {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<HookValue>,
    pub scope: Option<HookValue>,
    pub token_type: Option<HookValue>,
    pub extras: Vec<(String, HookValue)>,
}

/// A hook that did not give an answer the host can use. Messages name the connector and
/// the hook; none carries a secret (the hook was given none).
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("connector `{connector}` does not export the token hooks (`{hook}` is declared)")]
    NotExported { connector: String, hook: TokenHook },
    #[error("connector `{connector}`: token hook `{hook}` failed: {source}")]
    Failed {
        connector: String,
        hook: TokenHook,
        #[source]
        source: InvokeError,
    },
    #[error("connector `{connector}`: token hook `{hook}` refused: {message}")]
    Refused {
        connector: String,
        hook: TokenHook,
        message: String,
    },
}

/// Longest message of a hook's refusal kept.
const MAX_HOOK_MESSAGE: usize = 512;

impl LoadedComponent {
    fn hook_meta(&self, hook: TokenHook) -> InvocationMeta {
        let mut meta = InvocationMeta::new(&format!("token hook {hook}"));
        let limit = self.runtime.inner.config.memory_limit;
        meta.memory_limit = Some(limit.min(HOOK_MEMORY_LIMIT));
        meta.hook_slot = true;
        meta
    }

    /// No settings, grants or doors; the redactor knows `redact` (the exchange's
    /// secrets, which the hook is never given), so that should one reach the hook's
    /// output anyway, it is replaced in the logs. No grant lets the guest read them.
    fn hook_context(&self, redact: &[String]) -> ConnectionContext {
        let mut builder = ConnectionContext::builder(&self.key);
        for (i, value) in redact.iter().enumerate() {
            builder = builder.secret(
                &format!("token-hook-secret-{i}"),
                secrecy::SecretString::from(value.clone()),
            );
        }
        let mut conn = builder.build();
        conn.deadline = Some(HOOK_DEADLINE);
        conn
    }

    fn guest_answer<T>(
        &self,
        hook: TokenHook,
        outcome: Result<Result<T, super::wit_types::Error>, InvokeError>,
    ) -> Result<T, HookError> {
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(HookError::Refused {
                connector: self.key.clone(),
                hook,
                // The guest's text, kept printable: it reaches errors and logs.
                message: e
                    .message
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .take(MAX_HOOK_MESSAGE)
                    .collect(),
            }),
            Err(source) => Err(HookError::Failed {
                connector: self.key.clone(),
                hook,
                source,
            }),
        }
    }

    /// Runs `tokenRequest` (authorization code) or `refreshRequest` (refresh).
    pub async fn token_request_hook(
        &self,
        grant: HookGrant,
        ctx: &HookContext,
        redact: &[String],
    ) -> Result<HookRequest, HookError> {
        let hook = match grant {
            HookGrant::AuthorizationCode => TokenHook::TokenRequest,
            HookGrant::Refresh => TokenHook::RefreshRequest,
        };
        let indices = self.hooks.clone().ok_or_else(|| HookError::NotExported {
            connector: self.key.clone(),
            hook,
        })?;
        let wit_ctx = guest::TokenContext {
            token_url: ctx.token_url.clone(),
            settings: ctx.settings.clone(),
            scopes: ctx.scopes.clone(),
        };
        let outcome = self
            .run(
                &self.hook_context(redact),
                self.hook_meta(hook),
                move |store, instance| {
                    Box::pin(async move {
                        let hooks = indices.load(&mut *store, &instance.instance)?;
                        match grant {
                            HookGrant::AuthorizationCode => {
                                hooks.call_token_request(&mut *store, &wit_ctx).await
                            }
                            HookGrant::Refresh => {
                                hooks.call_refresh_request(&mut *store, &wit_ctx).await
                            }
                        }
                    })
                },
            )
            .await
            .map(|(answer, _, _)| answer);
        let req = self.guest_answer(hook, outcome)?;
        Ok(HookRequest {
            method: Method::from(req.method),
            url: req.url,
            headers: req.headers,
            body: match req.body {
                guest::TokenBody::None => HookBody::None,
                guest::TokenBody::Form(fields) => HookBody::Form(fields),
                guest::TokenBody::Json(text) => HookBody::Json(text),
            },
        })
    }

    /// Runs `credentialsFromTokenResponse` on an answer the caller scrubbed.
    pub async fn credentials_hook(
        &self,
        grant: HookGrant,
        status: u16,
        scrubbed_body: &str,
        redact: &[String],
    ) -> Result<HookCredentials, HookError> {
        let hook = TokenHook::CredentialsFromTokenResponse;
        let indices = self.hooks.clone().ok_or_else(|| HookError::NotExported {
            connector: self.key.clone(),
            hook,
        })?;
        let wit_grant = match grant {
            HookGrant::AuthorizationCode => guest::TokenGrant::AuthorizationCode,
            HookGrant::Refresh => guest::TokenGrant::Refresh,
        };
        let body = scrubbed_body.to_string();
        let outcome = self
            .run(
                &self.hook_context(redact),
                self.hook_meta(hook),
                move |store, instance| {
                    Box::pin(async move {
                        let hooks = indices.load(&mut *store, &instance.instance)?;
                        hooks
                            .call_credentials_from_token_response(
                                &mut *store,
                                wit_grant,
                                status,
                                &body,
                            )
                            .await
                    })
                },
            )
            .await
            .map(|(answer, _, _)| answer);
        let c = self.guest_answer(hook, outcome)?;
        let value = |v: guest::CredentialValue| match v {
            guest::CredentialValue::Path(p) => HookValue::Path(p),
            guest::CredentialValue::Value(v) => HookValue::Value(v),
        };
        Ok(HookCredentials {
            access_token: c.access_token,
            refresh_token: c.refresh_token,
            expires_in: c.expires_in.map(value),
            scope: c.scope.map(value),
            token_type: c.token_type.map(value),
            extras: c.extras.into_iter().map(|(k, v)| (k, value(v))).collect(),
        })
    }
}
