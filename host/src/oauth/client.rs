//! Token-endpoint grants built with the `oauth2` crate (authorization-code exchange,
//! refresh, client credentials) and RFC 7009 revocation, each authenticated with the
//! provider's client auth method and answered through `classify`.
//!
//! Owns: turning `ProviderConfig` + `ClientCredentials` into an `oauth2` client and running
//! one grant request.
//! Must not: retry, touch the store, or decide connection status (callers do).

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    PkceCodeVerifier, RedirectUrl, RefreshToken, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::classify::{Failure, classify_response, classify_transport};
use super::http::{OAuthHttp, RawResponse};
use super::provider::{ClientAuthMethod, ProviderConfig, TokenSet};
use crate::store::ClientCredentials;

type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

pub(crate) fn auth_type(p: &ProviderConfig) -> AuthType {
    match p.client_auth {
        ClientAuthMethod::Basic => AuthType::BasicAuth,
        ClientAuthMethod::Post => AuthType::RequestBody,
    }
}

fn token_client(p: &ProviderConfig, creds: &ClientCredentials) -> TokenClient {
    let mut client = BasicClient::new(ClientId::new(creds.client_id.clone()))
        .set_token_uri(TokenUrl::from_url(p.token_url.clone()))
        .set_auth_type(auth_type(p));
    if let Some(secret) = &creds.client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_string()));
    }
    client
}

/// Exchanges an authorization code (with its PKCE verifier) for tokens.
pub async fn exchange_code(
    http: &OAuthHttp,
    p: &ProviderConfig,
    creds: &ClientCredentials,
    code: &str,
    pkce_verifier: Option<&SecretString>,
    redirect_uri: &Url,
) -> Result<TokenSet, Failure> {
    let raw = exchange_code_raw(http, p, creds, code, pkce_verifier, redirect_uri).await?;
    classify_response(p, &raw)
}

/// [`exchange_code`]'s request, answered with the raw response (for a token hook to read).
pub(crate) async fn exchange_code_raw(
    http: &OAuthHttp,
    p: &ProviderConfig,
    creds: &ClientCredentials,
    code: &str,
    pkce_verifier: Option<&SecretString>,
    redirect_uri: &Url,
) -> Result<RawResponse, Failure> {
    let client =
        token_client(p, creds).set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()));
    let mut request = client.exchange_code(AuthorizationCode::new(code.to_string()));
    if let Some(v) = pkce_verifier {
        request = request.set_pkce_verifier(PkceCodeVerifier::new(v.expose_secret().to_string()));
    }
    let cc = http.capturing();
    let result = request.request_async(&cc).await;
    cc.outcome(result).map_err(|e| classify_transport(&e))
}

/// Uses a refresh token.
pub async fn refresh(
    http: &OAuthHttp,
    p: &ProviderConfig,
    creds: &ClientCredentials,
    refresh_token: &SecretString,
) -> Result<TokenSet, Failure> {
    let raw = refresh_raw(http, p, creds, refresh_token).await?;
    classify_response(p, &raw)
}

/// [`refresh`]'s request, answered with the raw response (for a token hook to read).
pub(crate) async fn refresh_raw(
    http: &OAuthHttp,
    p: &ProviderConfig,
    creds: &ClientCredentials,
    refresh_token: &SecretString,
) -> Result<RawResponse, Failure> {
    let client = token_client(p, creds);
    let rt = RefreshToken::new(refresh_token.expose_secret().to_string());
    let request = client.exchange_refresh_token(&rt);
    let cc = http.capturing();
    let result = request.request_async(&cc).await;
    cc.outcome(result).map_err(|e| classify_transport(&e))
}

/// Runs the client-credentials grant with the configured scopes.
pub async fn client_credentials(
    http: &OAuthHttp,
    p: &ProviderConfig,
    creds: &ClientCredentials,
) -> Result<TokenSet, Failure> {
    let client = token_client(p, creds);
    let scope = p.join_scopes(&p.scopes);
    let mut request = client.exchange_client_credentials();
    if !scope.is_empty() {
        request = request.add_extra_param("scope", scope);
    }
    let cc = http.capturing();
    let result = request.request_async(&cc).await;
    let raw = cc.outcome(result).map_err(|e| classify_transport(&e))?;
    classify_response(p, &raw)
}

/// Which token to revoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeKind {
    Access,
    Refresh,
}

/// Revokes one token at `revocation_url` (RFC 7009), authenticating like the token
/// endpoint. Sent directly (the `oauth2` crate insists on HTTPS here, which would rule out
/// loopback providers). A 2xx means revoked or already unknown to the provider.
pub async fn revoke(
    http: &OAuthHttp,
    p: &ProviderConfig,
    creds: &ClientCredentials,
    revocation_url: &Url,
    token: &SecretString,
    kind: RevokeKind,
) -> Result<(), Failure> {
    let hint = match kind {
        RevokeKind::Access => "access_token",
        RevokeKind::Refresh => "refresh_token",
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    headers.insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json"),
    );
    // The form serializer is not `Send`: build the body in a block that ends before the
    // await.
    let body =
        {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("token", token.expose_secret())
                .append_pair("token_type_hint", hint);
            match (p.client_auth, &creds.client_secret) {
                (ClientAuthMethod::Basic, Some(secret)) => {
                    // RFC 6749 2.3.1: form-urlencode id and secret before Basic encoding.
                    let enc = |s: &str| {
                        url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                    };
                    let value = base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        format!("{}:{}", enc(&creds.client_id), enc(secret.expose_secret())),
                    );
                    let mut value = http::HeaderValue::from_str(&format!("Basic {value}"))
                        .map_err(|_| Failure::Refused {
                            reason: "the client credentials cannot be sent in a header".into(),
                        })?;
                    value.set_sensitive(true);
                    headers.insert(http::header::AUTHORIZATION, value);
                }
                (_, secret) => {
                    form.append_pair("client_id", &creds.client_id);
                    if let Some(secret) = secret {
                        form.append_pair("client_secret", secret.expose_secret());
                    }
                }
            }
            form.finish().into_bytes()
        };
    let (raw, _) = http
        .send(http::Method::POST, revocation_url, headers, body)
        .await
        .map_err(|e| classify_transport(&e))?;
    let status = raw.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    match classify_response(p, &raw) {
        Err(f) => Err(f),
        Ok(_) => Ok(()),
    }
}
