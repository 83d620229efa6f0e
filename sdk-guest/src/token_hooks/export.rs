//! The WIT side of [`TokenHooks`](super::TokenHooks): conversions between the SDK's types
//! and the generated ones, and the [`token_hooks!`](crate::token_hooks) macro that exports
//! an implementation. Hidden from the docs: authors use the trait and the macro.

use super::{Field, Grant, TokenBody, TokenContext, TokenHooks, TokenRequest};
use crate::wit_hooks::exports::keyway::connector::token_hooks as wit;
use crate::{Error, ErrorCode};

#[doc(hidden)]
pub fn __from_wit_context(ctx: wit::TokenContext) -> TokenContext {
    TokenContext {
        token_url: ctx.token_url,
        settings: ctx.settings,
        scopes: ctx.scopes,
    }
}

#[doc(hidden)]
pub fn __to_wit_request(
    r: Result<TokenRequest, Error>,
) -> Result<wit::TokenHttpRequest, crate::wit::keyway::connector::types::Error> {
    let r = r.map_err(to_wit_error)?;
    Ok(wit::TokenHttpRequest {
        method: r.method.to_wit(),
        url: r.url,
        headers: r.headers,
        body: match r.body {
            TokenBody::None => wit::TokenBody::None,
            TokenBody::Form(f) => wit::TokenBody::Form(f),
            TokenBody::Json(j) => wit::TokenBody::Json(j),
        },
    })
}

#[doc(hidden)]
pub fn __credentials<T: TokenHooks>(
    grant: wit::TokenGrant,
    status: u16,
    body: String,
) -> Result<wit::Credentials, crate::wit::keyway::connector::types::Error> {
    let grant = match grant {
        wit::TokenGrant::AuthorizationCode => Grant::AuthorizationCode,
        wit::TokenGrant::Refresh => Grant::Refresh,
    };
    let answer: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| to_wit_error(Error::invalid_input(format!("answer: {e}"))))?;
    let c = T::credentials_from_token_response(grant, status, answer).map_err(to_wit_error)?;
    let field = |f: Field| match f {
        Field::Path(p) => wit::CredentialValue::Path(p),
        Field::Value(v) => wit::CredentialValue::Value(v),
    };
    Ok(wit::Credentials {
        access_token: c.access_token,
        refresh_token: c.refresh_token,
        expires_in: c.expires_in.map(field),
        scope: c.scope.map(field),
        token_type: c.token_type.map(field),
        extras: c.extras.into_iter().map(|(k, v)| (k, field(v))).collect(),
    })
}

fn to_wit_error(e: Error) -> crate::wit::keyway::connector::types::Error {
    use crate::wit::keyway::connector::types::ErrorCode as C;
    let code = match e.code {
        ErrorCode::ReauthRequired => C::ReauthRequired,
        ErrorCode::MissingScopes => C::MissingScopes,
        ErrorCode::NotPermitted => C::NotPermitted,
        ErrorCode::ProviderUnavailable => C::ProviderUnavailable,
        ErrorCode::Denied => C::Denied,
        ErrorCode::Timeout => C::Timeout,
        ErrorCode::InvalidInput => C::InvalidInput,
        ErrorCode::TooLarge => C::TooLarge,
        ErrorCode::NotFound => C::NotFound,
        ErrorCode::Internal => C::Internal,
    };
    crate::wit::keyway::connector::types::Error {
        code,
        message: e.message,
    }
}

/// Exports a [`TokenHooks`] implementation as the component's `token-hooks`. Use it once
/// per connector crate, next to [`routes!`](crate::routes), and list the hooks in the
/// manifest's `connection.oauth.hooks`.
///
/// ```ignore
/// keyway_sdk::token_hooks!(Acme);
/// ```
#[macro_export]
macro_rules! token_hooks {
    ($hooks:ty) => {
        struct __KeywayTokenHooks;

        impl $crate::wit_hooks::exports::keyway::connector::token_hooks::Guest
            for __KeywayTokenHooks
        {
            fn token_request(
                ctx: $crate::wit_hooks::exports::keyway::connector::token_hooks::TokenContext,
            ) -> ::std::result::Result<
                $crate::wit_hooks::exports::keyway::connector::token_hooks::TokenHttpRequest,
                $crate::wit::keyway::connector::types::Error,
            > {
                $crate::token_hooks::__to_wit_request(
                    <$hooks as $crate::token_hooks::TokenHooks>::token_request(
                        $crate::token_hooks::__from_wit_context(ctx),
                    ),
                )
            }

            fn refresh_request(
                ctx: $crate::wit_hooks::exports::keyway::connector::token_hooks::TokenContext,
            ) -> ::std::result::Result<
                $crate::wit_hooks::exports::keyway::connector::token_hooks::TokenHttpRequest,
                $crate::wit::keyway::connector::types::Error,
            > {
                $crate::token_hooks::__to_wit_request(
                    <$hooks as $crate::token_hooks::TokenHooks>::refresh_request(
                        $crate::token_hooks::__from_wit_context(ctx),
                    ),
                )
            }

            fn credentials_from_token_response(
                grant: $crate::wit_hooks::exports::keyway::connector::token_hooks::TokenGrant,
                status: u16,
                scrubbed_body: ::std::string::String,
            ) -> ::std::result::Result<
                $crate::wit_hooks::exports::keyway::connector::token_hooks::Credentials,
                $crate::wit::keyway::connector::types::Error,
            > {
                $crate::token_hooks::__credentials::<$hooks>(grant, status, scrubbed_body)
            }
        }

        // As with `routes!`: only a wasm build exports under the WIT names; a native build
        // (clippy, an author's `cargo test`) gets the hooks as plain public functions.
        #[cfg(target_arch = "wasm32")]
        $crate::wit_hooks::__export_token_hooks!(__KeywayTokenHooks with_types_in $crate::wit_hooks);

        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        pub fn __keyway_token_request(
            ctx: $crate::wit_hooks::exports::keyway::connector::token_hooks::TokenContext,
        ) -> ::std::result::Result<
            $crate::wit_hooks::exports::keyway::connector::token_hooks::TokenHttpRequest,
            $crate::wit::keyway::connector::types::Error,
        > {
            <__KeywayTokenHooks as $crate::wit_hooks::exports::keyway::connector::token_hooks::Guest>::token_request(ctx)
        }

        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        pub fn __keyway_refresh_request(
            ctx: $crate::wit_hooks::exports::keyway::connector::token_hooks::TokenContext,
        ) -> ::std::result::Result<
            $crate::wit_hooks::exports::keyway::connector::token_hooks::TokenHttpRequest,
            $crate::wit::keyway::connector::types::Error,
        > {
            <__KeywayTokenHooks as $crate::wit_hooks::exports::keyway::connector::token_hooks::Guest>::refresh_request(ctx)
        }

        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        pub fn __keyway_credentials_from_token_response(
            grant: $crate::wit_hooks::exports::keyway::connector::token_hooks::TokenGrant,
            status: u16,
            scrubbed_body: ::std::string::String,
        ) -> ::std::result::Result<
            $crate::wit_hooks::exports::keyway::connector::token_hooks::Credentials,
            $crate::wit::keyway::connector::types::Error,
        > {
            <__KeywayTokenHooks as $crate::wit_hooks::exports::keyway::connector::token_hooks::Guest>::credentials_from_token_response(grant, status, scrubbed_body)
        }
    };
}
