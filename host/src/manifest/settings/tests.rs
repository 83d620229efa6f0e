//! Expansion of URL templates: path values encoded, dot segments refused by name.

use super::*;
use crate::manifest::parse_str;

/// A connector whose token URL is `token_url`, with one required setting `tenant`.
fn connector(token_url: &str) -> Connector {
    let manifest = serde_json::json!({
        "key": "tenants", "name": "Tenants", "provider": "test", "kind": "source",
        "version": "0.1.0", "permissions": { "http": [] },
        "connection": {
            "settingsSchema": {
                "type": "object",
                "required": ["tenant"],
                "properties": { "tenant": { "type": "string" } }
            },
            "oauth": {
                "type": "client_credentials",
                "tokenUrlTemplate": token_url,
                "client": { "credentialKey": "tenants-app" }
            }
        }
    });
    parse_str(&manifest.to_string(), "connector.json").expect("valid manifest")
}

fn expand(token_url: &str, tenant: &str) -> Result<Url, ExpandError> {
    let c = connector(token_url);
    let mut raw = Map::new();
    raw.insert("tenant".into(), Value::String(tenant.into()));
    let settings = c.validate_settings(&raw).expect("valid settings");
    let template = c
        .oauth()
        .and_then(|o| o.token_url.clone())
        .expect("token URL");
    settings.expand(&template)
}

const PATH: &str = "https://auth.example.test/tenants/{settings.tenant}/token";

#[test]
fn a_dot_segment_from_a_setting_is_refused_by_name() {
    for bad in ["..", "."] {
        assert_eq!(
            expand(PATH, bad),
            Err(ExpandError::DotSegment("tenant".into())),
            "{bad:?}"
        );
    }
    let err = expand(PATH, "..").expect_err("refused");
    assert!(err.to_string().contains("\"tenant\""), "{err}");
    assert!(
        !err.to_string().contains("/token"),
        "names the setting, not the URL"
    );
    // A literal dot next to the placeholder makes the segment too.
    let dotted = "https://auth.example.test/tenants/.{settings.tenant}/token";
    assert_eq!(
        expand(dotted, "."),
        Err(ExpandError::DotSegment("tenant".into()))
    );
    assert_eq!(
        expand(dotted, "a").map(|u| u.path().to_string()),
        Ok("/tenants/.a/token".into())
    );
}

#[test]
fn path_values_are_encoded_so_they_stay_one_segment() {
    let path = |tenant: &str| expand(PATH, tenant).map(|u| u.path().to_string());
    assert_eq!(path("acme"), Ok("/tenants/acme/token".into()));
    // Percent signs are encoded, so an encoded dot stays a literal segment.
    assert_eq!(path("%2e%2e"), Ok("/tenants/%252e%252e/token".into()));
    assert_eq!(path("..."), Ok("/tenants/.../token".into()));
    assert_eq!(
        path("a/../../x"),
        Ok("/tenants/a%2F..%2F..%2Fx/token".into())
    );
    let url = expand(PATH, "x?y#z").expect("encoded");
    assert_eq!(url.path(), "/tenants/x%3Fy%23z/token");
    assert_eq!((url.query(), url.fragment()), (None, None));
}

#[test]
fn dots_in_a_query_value_are_left_alone() {
    let url = expand(
        "https://auth.example.test/token?tenant={settings.tenant}",
        "..",
    )
    .expect("a query value is no path segment");
    assert_eq!(url.as_str(), "https://auth.example.test/token?tenant=..");
}

/// The first `connection.oauth.inject` rule of a shop connector, bound to `shop`.
fn bound_rule(shop: &str, path_setting: &str) -> Result<HttpPattern, ExpandError> {
    let manifest = serde_json::json!({
        "key": "shop", "name": "Shop", "provider": "test", "kind": "source",
        "version": "0.1.0", "permissions": { "http": ["https://*.myshopify.com/*"] },
        "connection": {
            "settingsSchema": {
                "type": "object",
                "required": ["shop", "area"],
                "properties": { "shop": { "type": "string" }, "area": { "type": "string" } }
            },
            "oauth": {
                "type": "client_credentials",
                "tokenUrlTemplate": "https://{settings.shop}/admin/oauth/access_token",
                "client": { "credentialKey": "shop-app" },
                "hostValidation": { "shop": { "suffix": ".myshopify.com" } },
                "inject": [{ "url": "https://{settings.shop}/admin/{settings.area}/*" }]
            }
        }
    });
    let c = parse_str(&manifest.to_string(), "connector.json").expect("valid manifest");
    let mut raw = Map::new();
    raw.insert("shop".into(), Value::String(shop.into()));
    raw.insert("area".into(), Value::String(path_setting.into()));
    let settings = c.validate_settings(&raw).expect("valid settings");
    let rule = &c.oauth().expect("oauth").inject[0];
    settings.expand_pattern(&rule.url)
}

#[test]
fn an_injection_rule_binds_to_the_tenant_host_only() {
    let pattern = bound_rule("Acme.myshopify.com", "api").expect("binds");
    let url = |s: &str| Url::parse(s).expect("url");
    assert!(pattern.matches(&url(
        "https://acme.myshopify.com/admin/api/2025-07/graphql.json"
    )));
    assert!(!pattern.matches(&url("https://other.myshopify.com/admin/api/x")));
    assert!(!pattern.matches(&url("https://acme.myshopify.com/admin/oauth/x")));
    // A path value cannot widen the rule: `/` is encoded, dot segments are refused.
    let encoded = bound_rule("acme.myshopify.com", "api/../oauth").expect("binds");
    assert!(!encoded.matches(&url("https://acme.myshopify.com/admin/oauth/x")));
    assert_eq!(
        bound_rule("acme.myshopify.com", ".."),
        Err(ExpandError::DotSegment("area".into()))
    );
}
