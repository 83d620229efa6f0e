//! The catalog as checked in: it parses, every entry follows `check.rs`, keys are unique,
//! the entries the brief of `keyway new` relies on are there.

use std::collections::BTreeSet;

use super::*;

#[test]
fn the_embedded_catalog_parses() {
    let all = parse(CATALOG_JSON).unwrap_or_else(|e| panic!("catalog.json: {e}"));
    assert!(all.len() >= 50, "{} entries", all.len());
    assert_eq!(all.len(), super::all().len());
}

#[test]
fn every_entry_follows_the_rules() {
    let mut problems = Vec::new();
    for p in all() {
        for problem in check_entry(p) {
            problems.push(format!("{}: {problem}", p.key));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn keys_are_unique() {
    let mut seen = BTreeSet::new();
    for p in all() {
        assert!(seen.insert(p.key.as_str()), "{} twice", p.key);
    }
}

#[test]
fn unknown_fields_are_refused() {
    let text = r#"{"providers": [{"key": "a", "nonsense": 1}]}"#;
    let err = parse(text).expect_err("an unknown field");
    assert!(err.to_string().contains("nonsense"), "{err}");
}

#[test]
fn the_rules_catch_what_they_should() {
    let mut p = find("zendesk").expect("zendesk").clone();
    assert!(check_entry(&p).is_empty());
    p.token_url = "https://{settings.other}/oauth/tokens".into();
    p.authorization_url = "http://example.com/{settings.domain}".into();
    p.key = "Zen desk".into();
    p.extra_authorize_params.insert("state".into(), "x".into());
    let problems = check_entry(&p).join("\n");
    for expected in [
        "key",
        "settings.other",
        "whole host",
        "not an https URL",
        "\"state\"",
    ] {
        assert!(problems.contains(expected), "{expected}: {problems}");
    }
}

#[test]
fn well_known_providers_are_there() {
    for key in [
        "google",
        "microsoft",
        "salesforce",
        "hubspot",
        "slack",
        "github",
        "gitlab",
        "shopify",
        "quickbooks",
        "xero",
        "zoom",
        "notion",
        "atlassian",
        "dropbox",
        "box",
        "stripe-connect",
        "zendesk",
        "okta",
        "auth0",
    ] {
        assert!(find(key).is_some(), "{key}");
    }
    // The presets `keyway new connector --provider` had before the catalog.
    for key in [
        "google",
        "microsoft",
        "hubspot",
        "github",
        "slack",
        "atlassian",
        "box",
    ] {
        assert!(find(key).is_some_and(Provider::has_preset), "{key}");
    }
}

#[test]
fn templated_entries_declare_each_setting_with_a_host_rule() {
    let shopify = find("shopify").expect("shopify");
    let shop = &shopify.settings["shop"];
    assert_eq!(shop.host_validation.suffix, ".myshopify.com");
    assert_eq!(
        shop.host_validation.normalize,
        Some(Normalize::ShopifyShopDomain)
    );
    for key in ["okta", "auth0", "zendesk"] {
        let p = find(key).expect(key);
        assert!(p.settings.contains_key("domain"), "{key}");
        assert!(
            p.authorization_url
                .starts_with("https://{settings.domain}/")
        );
    }
}

#[test]
fn a_misspelt_key_finds_its_neighbours() {
    assert_eq!(closest_keys("hubspto").first(), Some(&"hubspot"));
    assert!(closest_keys("gogle").contains(&"google"));
    assert!(closest_keys("zzzzzzzz").is_empty());
    assert!(unknown_key_hint("salesfroce").contains("\"salesforce\""));
    assert!(unknown_key_hint("qqqqqqqq").contains("keyway providers list"));
}
