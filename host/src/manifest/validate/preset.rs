//! `connection.oauth.provider`: a provider of the host's catalog (`crate::providers`)
//! fills every field the OAuth block leaves out and the entry has, before the block is
//! validated as if the manifest had written them.
//!
//! Filled: the endpoint templates and issuer, the scope separator, the client's auth
//! method, PKCE, `accessType` and the extra authorization parameters (per parameter; the
//! manifest's win), the token paths, `refresh.enabled`, and for each setting a filled
//! template uses, its `hostValidation` rule and a `requiredSettings` entry. A field the
//! manifest gives is never touched; `scopes` are always the manifest's. What the flow
//! has no use for (the authorization step's fields under client_credentials) is not
//! filled. Each filled field is recorded with its value, for `keyway validate --explain`.
//!
//! Owns: the merge and its two problems (an unknown key, a setting the manifest does not
//! declare). Must not: judge the merged block (`oauth.rs` does, as for any manifest).

use std::collections::BTreeSet;

use crate::manifest::connector::{Filled, PresetUse};
use crate::manifest::problems::{Pointer, Problems};
use crate::manifest::raw::{
    RawAccessType, RawClientAuthMethod, RawHostRule, RawNormalizer, RawOAuth, RawOAuthFlow,
    RawRefresh,
};
use crate::manifest::settings::SettingsSchema;
use crate::providers::{self, AccessType, ClientAuth, Normalize, Provider};

/// Fills `o` from its provider. `Ok(None)`: no provider named. `Err(())`: a problem was
/// pushed and `o` is left as it was.
pub(super) fn apply(
    o: &mut RawOAuth,
    settings: Option<&SettingsSchema>,
    at: &Pointer,
    p: &mut Problems,
) -> Result<Option<PresetUse>, ()> {
    let Some(key) = o.provider.clone() else {
        return Ok(None);
    };
    let p_at = at.at("provider");
    let Some(entry) = providers::find(&key) else {
        p.push(
            &p_at,
            format!(
                "provider \"{key}\" is not in the host's catalog{}",
                providers::unknown_key_hint(&key)
            ),
        );
        return Err(());
    };
    let code = o.flow == RawOAuthFlow::AuthorizationCode;

    // The templates to fill, and the settings they need declared.
    let mut templates: Vec<(&'static str, &str)> = entry.templates();
    templates.retain(|(field, _)| match *field {
        "authorizationUrlTemplate" => code && o.authorization_url_template.is_none(),
        "tokenUrlTemplate" => o.token_url_template.is_none(),
        "revocationUrlTemplate" => o.revocation_url_template.is_none(),
        _ => o.issuer_url.is_none(),
    });
    let mut needed = BTreeSet::new();
    for (_, template) in &templates {
        needed.extend(crate::providers::placeholders(template).unwrap_or_default());
    }
    let mut undeclared = false;
    for name in &needed {
        if settings.is_some_and(|s| s.property(name).is_none()) {
            let about = entry
                .settings
                .get(*name)
                .map(|s| format!(" ({})", s.description))
                .unwrap_or_default();
            p.push(
                &p_at,
                format!(
                    "provider \"{key}\" uses {{settings.{name}}} in its URL templates: declare \"{name}\" as a string property of connection.settingsSchema{about}"
                ),
            );
            undeclared = true;
        }
    }
    if undeclared {
        return Err(());
    }

    let mut filled = Vec::new();
    let mut note = |field: String, value: String| filled.push(Filled { field, value });
    for (field, template) in templates {
        let slot = match field {
            "authorizationUrlTemplate" => &mut o.authorization_url_template,
            "tokenUrlTemplate" => &mut o.token_url_template,
            "revocationUrlTemplate" => &mut o.revocation_url_template,
            _ => &mut o.issuer_url,
        };
        *slot = Some(template.to_owned());
        note(field.to_owned(), template.to_owned());
    }
    for name in needed {
        if let (false, Some(s)) = (
            o.host_validation.contains_key(name),
            entry.settings.get(name),
        ) {
            let rule = &s.host_validation;
            o.host_validation.insert(
                name.to_owned(),
                RawHostRule {
                    suffix: rule.suffix.clone(),
                    normalize: rule.normalize.map(|n| match n {
                        Normalize::LowercaseHost => RawNormalizer::LowercaseHost,
                        Normalize::ShopifyShopDomain => RawNormalizer::ShopifyShopDomain,
                    }),
                },
            );
            let how = rule
                .normalize
                .map(|n| format!(" ({})", n.as_str()))
                .unwrap_or_default();
            note(
                format!("hostValidation.{name}"),
                format!("suffix {}{how}", rule.suffix),
            );
        }
        let required = settings.is_some_and(|s| s.required().contains(name));
        if !required && !o.required_settings.iter().any(|r| r == name) {
            o.required_settings.push(name.to_owned());
            note("requiredSettings".to_owned(), name.to_owned());
        }
    }
    if o.scope_separator.is_none()
        && let Some(sep) = &entry.scope_separator
    {
        o.scope_separator = Some(sep.clone());
        note("scopeSeparator".to_owned(), format!("{sep:?}"));
    }
    if o.client.auth_method.is_none() {
        o.client.auth_method = Some(match entry.client_auth_method {
            ClientAuth::Basic => RawClientAuthMethod::Basic,
            ClientAuth::Post => RawClientAuthMethod::Post,
        });
        note(
            "client.authMethod".to_owned(),
            entry.client_auth_method.as_str().to_owned(),
        );
    }
    if code {
        fill_authorize_step(o, entry, &mut note);
    }
    if let Some(paths) = &entry.token {
        let t = &mut o.token;
        for (field, path) in paths.set() {
            let slot = match field {
                "accessTokenPath" => &mut t.access_token_path,
                "refreshTokenPath" => &mut t.refresh_token_path,
                "expiresInPath" => &mut t.expires_in_path,
                "scopePath" => &mut t.scope_path,
                _ => &mut t.token_type_path,
            };
            if slot.is_none() {
                *slot = Some(path.to_owned());
                note(format!("token.{field}"), path.to_owned());
            }
        }
    }
    let refresh = o.refresh.get_or_insert_with(RawRefresh::default);
    if refresh.enabled.is_none() {
        refresh.enabled = Some(entry.refresh.issued);
        note(
            "refresh.enabled".to_owned(),
            entry.refresh.issued.to_string(),
        );
    }
    Ok(Some(PresetUse {
        provider: entry.key.clone(),
        name: entry.name.clone(),
        docs: entry.docs.clone(),
        filled,
    }))
}

/// PKCE, `accessType` and the extra authorization parameters.
fn fill_authorize_step(o: &mut RawOAuth, entry: &Provider, note: &mut impl FnMut(String, String)) {
    if o.pkce.is_none() {
        o.pkce = Some(entry.pkce);
        note("pkce".to_owned(), entry.pkce.to_string());
    }
    if o.access_type.is_none()
        && !o.extra_authorize_params.contains_key("access_type")
        && let Some(a) = entry.access_type
    {
        o.access_type = Some(match a {
            AccessType::Offline => RawAccessType::Offline,
            AccessType::Online => RawAccessType::Online,
        });
        note("accessType".to_owned(), a.as_str().to_owned());
    }
    for (k, v) in &entry.extra_authorize_params {
        let taken = o.extra_authorize_params.contains_key(k)
            || (k == "access_type" && o.access_type.is_some());
        if !taken {
            o.extra_authorize_params.insert(k.clone(), v.clone());
            note(format!("extraAuthorizeParams.{k}"), v.clone());
        }
    }
}
