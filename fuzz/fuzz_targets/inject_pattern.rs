//! Injection rules bound to a connection: a manifest whose `connection.oauth.inject[0].url`
//! template comes from the input, settings from the input validated by
//! `Connector::validate_settings`, and the rule expanded by `ValidSettings::expand_pattern`.
//!
//! Input, one per line: the URL template, the `shop` setting (a `shopifyShopDomain` host
//! under `.myshopify.com`), the `region` setting (a `lowercaseHost` under `.example.com`),
//! the `tenant` setting (free text, path or query only), and a URL to match. A setting is
//! given only when its line is not empty; the manifest requires the settings the
//! template names.
//!
//! Checks, besides "no panic": a manifest that names a host placeholder without a
//! `hostValidation` rule is refused; every host placeholder expands to the validated,
//! normalized host (lowercase letters, digits, `-` and `.`, ending in the rule's suffix),
//! so a setting can never bring `/`, `@`, `:`, `*`, `%` or `[` into a pattern's host;
//! the pattern's scheme and authority are the template's with the hosts put in; when the
//! whole host is one placeholder, a matching URL's host is that setting's host and a
//! sibling under the same suffix never matches; a path placeholder cannot leave the
//! template's literal path prefix.
#![no_main]

use keyway_host::manifest::{self, Slot, ValidSettings};
use libfuzzer_sys::fuzz_target;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};
use url::Url;

const SETTINGS: [&str; 3] = ["shop", "region", "tenant"];
const HOST_RULES: [(&str, &str); 2] = [("shop", ".myshopify.com"), ("region", ".example.com")];

/// The unreserved set the host leaves unencoded in path and query values.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn manifest_text(template: &str, required: &[&str]) -> String {
    json!({
        "key": "fuzz",
        "name": "Fuzz",
        "provider": "fuzz",
        "kind": "source",
        "version": "0.1.0",
        "permissions": { "http": ["https://*.myshopify.com/*"], "entities": {} },
        "connection": {
            "oauth": {
                "type": "authorization_code",
                "authorizationUrlTemplate": "https://auth.example.com/authorize",
                "tokenUrlTemplate": "https://auth.example.com/token",
                "client": { "credentialKey": "app" },
                "requiredSettings": required,
                "hostValidation": {
                    "shop": { "suffix": ".myshopify.com", "normalize": "shopifyShopDomain" },
                    "region": { "suffix": ".example.com", "normalize": "lowercaseHost" }
                },
                "inject": [{ "url": template, "header": "X-Shopify-Access-Token", "prefix": "" }],
                "exposeAccessToken": false
            },
            "settingsSchema": {
                "type": "object",
                "properties": {
                    "shop": { "type": "string" },
                    "region": { "type": "string" },
                    "tenant": { "type": "string" }
                }
            }
        }
    })
    .to_string()
}

fn suffix_of(name: &str) -> Option<&'static str> {
    HOST_RULES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The template's text with every placeholder replaced: hosts by the validated host,
/// path and query values percent-encoded.
fn render(template: &str, valid: &ValidSettings, slot_of: &dyn Fn(&str) -> Slot) -> String {
    let mut out = template.to_owned();
    for name in SETTINGS {
        let mark = format!("{{settings.{name}}}");
        if !out.contains(&mark) {
            continue;
        }
        let value = valid.get(name).and_then(Value::as_str).unwrap_or_default();
        let text = match slot_of(name) {
            Slot::Host => value.to_owned(),
            Slot::PathOrQuery => utf8_percent_encode(value, COMPONENT).to_string(),
        };
        out = out.replace(&mark, &text);
    }
    out
}

fn authority(pattern: &str) -> (&str, &str) {
    let rest = pattern.split_once("://").map_or("", |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let template = lines.next().unwrap_or_default();
    let values: Vec<&str> = SETTINGS
        .iter()
        .map(|_| lines.next().unwrap_or(""))
        .collect();
    let probe = lines.next().unwrap_or_default();

    let named: Vec<&str> = SETTINGS
        .into_iter()
        .filter(|n| template.contains(&format!("{{settings.{n}}}")))
        .collect();
    let Ok(connector) = manifest::parse_str(&manifest_text(template, &named), "fuzz.json") else {
        return;
    };
    let Some(rule) = connector.oauth().and_then(|o| o.inject.first()) else {
        panic!("a valid manifest keeps its inject rule");
    };
    let slots: Vec<(String, Slot)> = rule
        .url
        .settings()
        .map(|(n, s)| (n.to_owned(), s))
        .collect();
    for (name, slot) in &slots {
        assert!(SETTINGS.contains(&name.as_str()));
        if *slot == Slot::Host {
            assert!(
                suffix_of(name).is_some(),
                "a host placeholder needs a hostValidation rule"
            );
        }
    }
    let slot_of = |name: &str| {
        slots
            .iter()
            .find(|(n, _)| n == name)
            .map_or(Slot::PathOrQuery, |(_, s)| *s)
    };
    // One setting in two slots would need two renderings; the oracle below renders once.
    let mixed = SETTINGS.iter().any(|n| {
        slots.iter().any(|(m, s)| m == n && *s == Slot::Host)
            && slots.iter().any(|(m, s)| m == n && *s == Slot::PathOrQuery)
    });

    let mut raw = Map::new();
    for (name, value) in SETTINGS.iter().zip(&values) {
        if !value.is_empty() {
            raw.insert((*name).to_owned(), Value::String((*value).to_owned()));
        }
    }
    let Ok(valid) = connector.validate_settings(&raw) else {
        return;
    };
    for (name, suffix) in HOST_RULES {
        if let Some(host) = valid.get(name).and_then(Value::as_str) {
            assert!(
                host.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || b == b'.'),
                "a validated host is plain lowercase ASCII"
            );
            assert!(host.len() > suffix.len() && host.ends_with(suffix));
        }
    }
    let Ok(pattern) = valid.expand_pattern(&rule.url) else {
        return;
    };
    if mixed {
        return;
    }
    let expected = render(template, &valid, &slot_of);
    assert_eq!(
        pattern.as_str(),
        expected,
        "the pattern is the template, filled in"
    );
    let (template_authority, template_path) = authority(template);
    let (pattern_authority, _) = authority(pattern.as_str());
    let mut filled = template_authority.to_owned();
    for (name, _) in slots.iter().filter(|(_, s)| *s == Slot::Host) {
        let host = valid.get(name).and_then(Value::as_str).unwrap_or_default();
        filled = filled.replace(&format!("{{settings.{name}}}"), host);
    }
    assert_eq!(
        pattern_authority, filled,
        "a setting cannot change the authority"
    );

    let Ok(url) = Url::parse(probe) else {
        return;
    };
    let matched = pattern.matches(&url);
    // The whole host is one placeholder: only that tenant's host matches.
    let whole = template_authority
        .strip_prefix("{settings.")
        .and_then(|r| r.split_once('}'))
        .filter(|(_, after)| after.is_empty() || after.starts_with(':'))
        .map(|(name, _)| name);
    if let Some(name) = whole
        && let (Some(host), Some(suffix)) =
            (valid.get(name).and_then(Value::as_str), suffix_of(name))
    {
        if matched {
            let got = url.host_str().unwrap_or_default().trim_end_matches('.');
            assert_eq!(got, host, "only the validated tenant's host matches");
        }
        let mut sibling = url.clone();
        let other = format!("other-tenant{suffix}");
        if other != host && sibling.set_host(Some(&other)).is_ok() {
            assert!(!pattern.matches(&sibling), "a sibling tenant never matches");
        }
    }
    // A path placeholder stays below the literal path before it.
    if matched && let Some(i) = template_path.find("{settings.") {
        let literal = &template_path[..i];
        if !literal.contains(['?', '*']) {
            assert!(
                url.path().starts_with(literal),
                "the path stays under {literal:?}"
            );
        }
    }
});
