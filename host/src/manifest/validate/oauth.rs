//! The OAuth block of a manifest (`connection.oauth`): the flow and what each flow allows,
//! `requiredSettings`, `hostValidation` rules, the URL templates (checked statically with
//! sample values), the token's inject rules, the client, the token response paths and
//! `postConnect`; the parameter lists are `params.rs`'s.
//!
//! Owns: turning a `RawOAuth` into an `OAuthConfig`, or problems.
//! Must not: read files or JSON text, or stop at the first problem.

use std::collections::BTreeSet;

use super::host_rules::host_rules;
use super::params::{callback_params, extra_authorize_params, names_hint, required_scopes, scopes};
use crate::manifest::connector::{
    AccessType, ClientAuthMethod, OAuthClient, OAuthConfig, OAuthFlow, PresetUse, TokenPath,
    TokenPaths,
};
use crate::manifest::grants::{is_name, route};
use crate::manifest::inject::{self, TemplateEnv};
use crate::manifest::problems::{Pointer, Problems};
use crate::manifest::raw::{RawAccessType, RawClientAuthMethod, RawOAuth, RawOAuthFlow};
use crate::manifest::settings::SettingsSchema;
use crate::manifest::template::UrlTemplate;

/// Checks the OAuth block; `None` when it has a problem (all of them are in `p`).
pub(super) fn oauth(
    o: RawOAuth,
    preset: Option<PresetUse>,
    settings: Option<&SettingsSchema>,
    injectable: &BTreeSet<String>,
    at: &Pointer,
    p: &mut Problems,
) -> Option<OAuthConfig> {
    let before = p.len();
    let flow = match o.flow {
        RawOAuthFlow::AuthorizationCode => OAuthFlow::AuthorizationCode,
        RawOAuthFlow::ClientCredentials => OAuthFlow::ClientCredentials,
    };
    let declared = |name: &str| settings.is_none_or(|s| s.property(name).is_some());
    let names_hint = |name: &str| names_hint(settings, name);

    // requiredSettings and callbackParams name declared settings.
    let required_settings: BTreeSet<&str> =
        o.required_settings.iter().map(String::as_str).collect();
    for (i, name) in o.required_settings.iter().enumerate() {
        if !declared(name) {
            p.push(
                at.at("requiredSettings").at(i),
                format!(
                    "setting \"{name}\" is not a property of connection.settingsSchema{}",
                    names_hint(name)
                ),
            );
        }
    }

    // hostValidation rules.
    let host_validation = host_rules(&o.host_validation, settings, &at.at("hostValidation"), p);

    // URL templates.
    let env = TemplateEnv {
        settings,
        required_settings: &required_settings,
        host_rule_names: o.host_validation.keys().map(String::as_str).collect(),
        host_rules: &host_validation,
        host_validation_at: at.at("hostValidation"),
    };
    let mut parse_template = |field: &str, text: &Option<String>| -> Option<UrlTemplate> {
        let text = text.as_ref()?;
        let t_at = at.at(field);
        let template = env.parse(text, field, &t_at, p)?;
        // Expand with harmless sample values to check the URL rules statically.
        let sample =
            template.render::<String>(|name, slot| Ok(env.sample(name, slot)), |reason| reason);
        match sample {
            Ok(_) => Some(template),
            Err(reason) => {
                p.push(&t_at, format!("\"{text}\" {reason}"));
                None
            }
        }
    };
    let authorization_url =
        parse_template("authorizationUrlTemplate", &o.authorization_url_template);
    let token_url = parse_template("tokenUrlTemplate", &o.token_url_template);
    let revocation_url = parse_template("revocationUrlTemplate", &o.revocation_url_template);
    let issuer_url = parse_template("issuerUrl", &o.issuer_url);
    let inject = inject::rules(&o.inject, &at.at("inject"), true, &env, injectable, p);
    if !o.expose_access_token.unwrap_or(true) && o.inject.is_empty() {
        p.push(
            at.at("inject"),
            "with exposeAccessToken false the token can only be injected, but no inject rule says where; add { \"url\": ... } rules",
        );
    }

    // Flow rules.
    match flow {
        OAuthFlow::AuthorizationCode => {
            if o.authorization_url_template.is_none() && o.issuer_url.is_none() {
                p.push(
                    at.at("authorizationUrlTemplate"),
                    "authorization_code needs authorizationUrlTemplate (or issuerUrl for OIDC discovery)",
                );
            }
        }
        OAuthFlow::ClientCredentials => {
            if o.authorization_url_template.is_some() {
                p.push(
                    at.at("authorizationUrlTemplate"),
                    "client_credentials has no authorization step; remove authorizationUrlTemplate",
                );
            }
            let only_code = "applies only to authorization_code";
            if o.pkce.is_some() {
                p.push(at.at("pkce"), format!("pkce {only_code}"));
            }
            if o.access_type.is_some() {
                p.push(at.at("accessType"), format!("accessType {only_code}"));
            }
            if !o.extra_authorize_params.is_empty() {
                p.push(
                    at.at("extraAuthorizeParams"),
                    format!("extraAuthorizeParams {only_code}"),
                );
            }
            if !o.callback_params.is_empty() {
                p.push(
                    at.at("callbackParams"),
                    format!("callbackParams {only_code}"),
                );
            }
        }
    }
    if o.token_url_template.is_none() && o.issuer_url.is_none() {
        p.push(
            at.at("tokenUrlTemplate"),
            "tokenUrlTemplate is required (or issuerUrl for OIDC discovery)",
        );
    }

    // Scopes and extra authorize params.
    let scope_separator = scopes(&o, at, p);
    let required_scopes = required_scopes(&o, at, p);
    extra_authorize_params(&o, at, p);

    // Client.
    let key = &o.client.credential_key;
    if !is_name(key) {
        p.push(
            at.at("client").at("credentialKey"),
            format!(
                "credentialKey \"{key}\" must be non-empty letters, digits, \"_\", \"-\" or \".\""
            ),
        );
    }
    let client = OAuthClient {
        credential_key: key.clone(),
        auth_method: match o.client.auth_method {
            None | Some(RawClientAuthMethod::Basic) => ClientAuthMethod::Basic,
            Some(RawClientAuthMethod::Post) => ClientAuthMethod::Post,
        },
    };

    // Token response paths.
    let mut path = |field: &str, value: &Option<String>, default: &str| -> TokenPath {
        let text = value.as_deref().unwrap_or(default);
        TokenPath::parse(text).unwrap_or_else(|e| {
            p.push(at.at("token").at(field), e);
            TokenPath(vec![default.to_owned()])
        })
    };
    let token = TokenPaths {
        access_token: path(
            "accessTokenPath",
            &o.token.access_token_path,
            "access_token",
        ),
        refresh_token: path(
            "refreshTokenPath",
            &o.token.refresh_token_path,
            "refresh_token",
        ),
        expires_in: path("expiresInPath", &o.token.expires_in_path, "expires_in"),
        scope: path("scopePath", &o.token.scope_path, "scope"),
        token_type: path("tokenTypePath", &o.token.token_type_path, "token_type"),
    };

    let post_connect = o
        .post_connect
        .as_ref()
        .and_then(|r| route(r, &at.at("postConnect"), p));

    // Callback parameters.
    callback_params(&o, settings, &required_settings, at, p);
    let hooks = super::hooks::token_hooks(&o, flow, at, p);

    if p.len() > before {
        return None;
    }
    Some(OAuthConfig {
        flow,
        authorization_url,
        token_url,
        revocation_url,
        issuer_url,
        scopes: o.scopes,
        required_scopes,
        scope_separator,
        access_type: o.access_type.map(|a| match a {
            RawAccessType::Offline => AccessType::Offline,
            RawAccessType::Online => AccessType::Online,
        }),
        // PKCE belongs to the authorization step, which client_credentials does not have.
        pkce: o.pkce.unwrap_or(flow == OAuthFlow::AuthorizationCode),
        extra_authorize_params: o.extra_authorize_params,
        required_settings: o.required_settings,
        client,
        token,
        refresh_enabled: o.refresh.and_then(|r| r.enabled).unwrap_or(true),
        post_connect,
        host_validation,
        expose_access_token: o.expose_access_token.unwrap_or(true),
        callback_params: o.callback_params,
        inject,
        hooks,
        preset,
    })
}
