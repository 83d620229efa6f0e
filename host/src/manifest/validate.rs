//! The meaning pass: raw manifest -> validated `Connector`, reporting every problem.
//!
//! Owns the cross-field rules: version format, OAuth flow rules, placeholders (declared,
//! required, never secret, host placeholders need a `hostValidation` rule), https-only
//! templates; key, grants and routes are `grants.rs`'s, injection rules `inject.rs`'s. Must not read files or JSON text (see
//! `mod.rs` and `structure.rs`) and must not stop at the first problem.

use std::collections::{BTreeMap, BTreeSet};

use super::connector::{
    AccessType, ClientAuthMethod, Connection, Connector, Kind, OAuthClient, OAuthConfig, OAuthFlow,
    TokenPath, TokenPaths,
};
use super::grants::{check_key, is_name, is_provider, permissions, route};
use super::host_validation::{HostRule, Normalizer};
use super::inject::{self, TemplateEnv};
use super::problems::{Pointer, Problems, hint};
use super::raw::{
    RawAccessType, RawClientAuthMethod, RawKind, RawManifest, RawNormalizer, RawOAuth, RawOAuthFlow,
};
use super::settings::SettingsSchema;
use super::template::UrlTemplate;

/// Authorization request parameters the host sets itself.
const RESERVED_AUTHORIZE_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
];

/// Callback parameters with an OAuth meaning of their own.
const RESERVED_CALLBACK_PARAMS: &[&str] = &[
    "code",
    "state",
    "error",
    "error_description",
    "error_uri",
    "iss",
    "scope",
];

pub(crate) fn validate(raw: RawManifest) -> Result<Connector, Problems> {
    let mut p = Problems::new();
    let root = Pointer::root();
    check_key(&raw.key, &root.at("key"), &mut p);
    if raw.name.trim().is_empty() {
        p.push(root.at("name"), "name must not be empty");
    }
    if !is_provider(&raw.provider) {
        p.push(
            root.at("provider"),
            format!(
                "provider \"{}\" must be lowercase letters, digits, \"_\" and \"-\"",
                raw.provider
            ),
        );
    }
    let version = semver::Version::parse(&raw.version)
        .map_err(|e| {
            p.push(
                root.at("version"),
                format!("\"{}\" is not a semantic version ({e})", raw.version),
            )
        })
        .ok();
    let conn_at = root.at("connection");
    let settings = SettingsSchema::compile(
        raw.connection.settings_schema.as_ref(),
        &conn_at.at("settingsSchema"),
        &mut p,
    );
    let permissions = permissions(&raw.permissions, settings.as_ref(), &mut p);
    let test_connection = raw
        .connection
        .test_connection
        .as_ref()
        .and_then(|r| route(r, &conn_at.at("testConnection"), &mut p));
    // Names with a hostValidation rule, even if the OAuth block has other problems.
    let host_rule_names: BTreeSet<String> = raw
        .connection
        .oauth
        .as_ref()
        .map(|o| o.host_validation.keys().cloned().collect())
        .unwrap_or_default();
    let oauth = raw.connection.oauth.map(|o| {
        oauth(
            o,
            settings.as_ref(),
            &permissions.injectable_secrets,
            &conn_at.at("oauth"),
            &mut p,
        )
    });
    let no_rules = BTreeMap::new();
    let oauth_ref = oauth.as_ref().and_then(Option::as_ref);
    let required: BTreeSet<&str> = oauth_ref
        .map(|o| o.required_settings.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let host_rules = oauth_ref.map_or(&no_rules, |o| &o.host_validation);
    let env = TemplateEnv {
        settings: settings.as_ref(),
        required_settings: &required,
        host_rule_names: host_rule_names.iter().map(String::as_str).collect(),
        host_rules,
        host_validation_at: conn_at.at("oauth").at("hostValidation"),
    };
    let secret_inject = inject::secret_rules(
        &raw.connection.inject,
        &permissions.injectable_secrets,
        &env,
        &mut p,
    );
    match (version, settings, oauth) {
        (Some(version), Some(settings_schema), oauth) if p.is_empty() => Ok(Connector {
            key: raw.key,
            name: raw.name,
            provider: raw.provider,
            kind: match raw.kind {
                RawKind::Source => Kind::Source,
                RawKind::Destination => Kind::Destination,
            },
            version,
            permissions,
            connection: Connection {
                test_connection,
                settings_schema,
                oauth: oauth.flatten(),
                inject: secret_inject,
            },
        }),
        _ => Err(p),
    }
}

fn oauth(
    o: RawOAuth,
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
    let names_hint = |name: &str| {
        settings
            .map(|s| hint(name, s.properties().keys().map(String::as_str)))
            .unwrap_or_default()
    };

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
    let mut host_validation = BTreeMap::new();
    for (name, rule) in &o.host_validation {
        let r_at = at.at("hostValidation").at(name);
        let normalize = match rule.normalize {
            None | Some(RawNormalizer::LowercaseHost) => Normalizer::LowercaseHost,
            Some(RawNormalizer::ShopifyShopDomain) => Normalizer::ShopifyShopDomain,
        };
        match HostRule::new(&rule.suffix, normalize) {
            Ok(r) => {
                host_validation.insert(name.clone(), r);
            }
            Err(e) => p.push(r_at.at("suffix"), e),
        }
        if let Some(info) = settings.map(|s| s.property(name)) {
            match info {
                None => p.push(
                    &r_at,
                    format!(
                        "setting \"{name}\" is not a property of connection.settingsSchema{}",
                        names_hint(name)
                    ),
                ),
                Some(i) if i.secret => p.push(
                    &r_at,
                    format!("setting \"{name}\" is x-secret and can never be part of a URL"),
                ),
                Some(i) if !i.string => p.push(
                    &r_at,
                    format!("setting \"{name}\" must have \"type\": \"string\" to be a host"),
                ),
                Some(_) => {}
            }
        }
    }

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

    // Scopes.
    let scope_separator = o.scope_separator.clone().unwrap_or_else(|| " ".to_owned());
    if scope_separator.is_empty() || scope_separator.chars().any(|c| c.is_ascii_alphanumeric()) {
        p.push(
            at.at("scopeSeparator"),
            "scopeSeparator must be non-empty punctuation or a space, such as \" \" or \",\"",
        );
    }
    let mut seen_scopes = BTreeSet::new();
    for (i, scope) in o.scopes.iter().enumerate() {
        let s_at = at.at("scopes").at(i);
        if scope.is_empty() {
            p.push(&s_at, "scope must not be empty");
        } else if scope.chars().any(char::is_whitespace)
            || (!scope_separator.is_empty() && scope.contains(scope_separator.as_str()))
        {
            p.push(
                &s_at,
                format!("scope \"{scope}\" must not contain whitespace or the scope separator"),
            );
        } else if !seen_scopes.insert(scope.as_str()) {
            p.push(&s_at, format!("scope \"{scope}\" is listed twice"));
        }
    }

    // Extra authorize params.
    for (key, value) in &o.extra_authorize_params {
        let e_at = at.at("extraAuthorizeParams").at(key);
        if key.is_empty() {
            p.push(&e_at, "parameter name must not be empty");
        } else if RESERVED_AUTHORIZE_PARAMS.contains(&key.as_str()) {
            p.push(
                &e_at,
                format!("\"{key}\" is set by the host and cannot be overridden"),
            );
        } else if key == "access_type" && o.access_type.is_some() {
            p.push(&e_at, "\"access_type\" is already set by accessType");
        }
        if value.contains('{') {
            p.push(
                &e_at,
                "extraAuthorizeParams values are literal; placeholders are not expanded here",
            );
        }
    }

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
    let mut seen_params = BTreeSet::new();
    for (i, name) in o.callback_params.iter().enumerate() {
        let c_at = at.at("callbackParams").at(i);
        if RESERVED_CALLBACK_PARAMS.contains(&name.as_str()) {
            p.push(
                &c_at,
                format!("\"{name}\" is an OAuth callback parameter the host handles itself"),
            );
            continue;
        }
        if !seen_params.insert(name.as_str()) {
            p.push(&c_at, format!("\"{name}\" is listed twice"));
            continue;
        }
        match settings.map(|s| (s.property(name), s.required().contains(name))) {
            Some((None, _)) => p.push(
                &c_at,
                format!("callback parameter \"{name}\" must be declared as a property of connection.settingsSchema{}", names_hint(name)),
            ),
            Some((Some(info), required)) => {
                if info.secret {
                    p.push(&c_at, format!("callback parameter \"{name}\" arrives in a browser redirect and cannot be x-secret"));
                }
                if !info.string {
                    p.push(&c_at, format!("callback parameter \"{name}\" must have \"type\": \"string\""));
                }
                if required || required_settings.contains(name.as_str()) {
                    p.push(&c_at, format!("callback parameter \"{name}\" is only known after authorization, so it cannot be required"));
                }
            }
            None => {}
        }
    }

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
    })
}
