//! Settings at connection time: schema, `requiredSettings`, `hostValidation`, expansion,
//! route checks and grants, on the example manifests in `tests/manifests/valid`.

use std::path::Path;

use keyway_host::manifest::{self, Connector, ExpandError};
use keyway_host::types::Method;
use serde_json::{Map, Value, json};

fn example(name: &str) -> Connector {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/manifests/valid")
        .join(name);
    manifest::load_dir_or_file(&path).unwrap().connector
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn shopify_settings_are_normalized_then_expanded() {
    let shop = example("shopify.json");
    let oauth = shop.oauth().unwrap();
    let settings = shop
        .validate_settings(&obj(
            json!({ "shop_domain": "  https://ACME.myshopify.com/ " }),
        ))
        .unwrap();
    assert_eq!(
        settings.get("shop_domain"),
        Some(&json!("acme.myshopify.com"))
    );
    let url = settings
        .expand(oauth.authorization_url.as_ref().unwrap())
        .unwrap();
    assert_eq!(
        url.as_str(),
        "https://acme.myshopify.com/admin/oauth/authorize"
    );
    let url = settings.expand(oauth.token_url.as_ref().unwrap()).unwrap();
    assert_eq!(
        url.as_str(),
        "https://acme.myshopify.com/admin/oauth/access_token"
    );
    assert!(shop.permissions().allows_url(&url));

    // A bare shop name gets the suffix.
    let settings = shop
        .validate_settings(&obj(json!({ "shop_domain": "acme" })))
        .unwrap();
    assert_eq!(
        settings.get("shop_domain"),
        Some(&json!("acme.myshopify.com"))
    );
}

#[test]
fn shopify_host_attacks_are_refused_without_echoing_the_value() {
    let shop = example("shopify.json");
    for bad in [
        "evil.com/.myshopify.com",
        "a.myshopify.com.evil.com",
        "myshopify.com",
        "evil.com@acme.myshopify.com",
        "evil.com#.myshopify.com",
        "acme.myshopify.com:8443",
        "acme.myshopify.com/admin",
        "127.0.0.1",
        "[::1]",
        "a..myshopify.com",
        "acme.myshоpify.com",
        "a.b.myshopify.com",
        "",
    ] {
        let err = shop
            .validate_settings(&obj(json!({ "shop_domain": bad })))
            .unwrap_err();
        let problems: Vec<_> = err.0.iter().collect();
        assert_eq!(problems.len(), 1, "{bad:?}: {err}");
        assert_eq!(problems[0].pointer, "/shop_domain", "{bad:?}");
        if !bad.is_empty() && !".myshopify.com".contains(bad) {
            assert!(!problems[0].message.contains(bad), "{bad:?} echoed: {err}");
        }
    }
}

#[test]
fn settings_problems_are_all_reported_and_never_show_secret_values() {
    let shop = example("shopify.json");
    let err = shop
        .validate_settings(&obj(json!({
            "shop_domian": "acme.myshopify.com",
            "webhook_secret": ["s3cr3t-value"]
        })))
        .unwrap_err();
    let text = err.to_string();
    assert!(!text.contains("s3cr3t-value"), "{text}");
    let pointers: Vec<&str> = err.0.iter().map(|p| p.pointer.as_str()).collect();
    assert!(pointers.contains(&"/shop_domian"), "{text}");
    assert!(pointers.contains(&"/webhook_secret"), "{text}");
    assert!(text.contains("did you mean \"shop_domain\""), "{text}");
    assert!(
        text.contains("shop_domain"),
        "missing required setting not reported: {text}"
    );

    let ok = shop
        .validate_settings(&obj(json!({
            "shop_domain": "acme.myshopify.com",
            "webhook_secret": "s3cr3t-value"
        })))
        .unwrap();
    let debug = format!("{ok:?}");
    assert!(
        !debug.contains("s3cr3t-value") && debug.contains("redacted"),
        "{debug}"
    );
    assert!(ok.is_secret("webhook_secret"));
}

#[test]
fn path_and_query_values_are_percent_encoded() {
    let c = manifest::parse_str(
        r#"{
          "key": "enc", "name": "Enc", "provider": "enc", "kind": "source", "version": "0.1.0",
          "connection": {
            "oauth": {
              "type": "client_credentials",
              "tokenUrlTemplate": "https://auth.example.com/t/{settings.account}/token?aud={settings.account}",
              "client": { "credentialKey": "enc" }
            },
            "settingsSchema": {
              "type": "object", "required": ["account"],
              "properties": { "account": { "type": "string" } }
            }
          }
        }"#,
        "inline",
    )
    .unwrap();
    let s = c
        .validate_settings(&obj(json!({ "account": "a/b?c#d e" })))
        .unwrap();
    let url = s
        .expand(c.oauth().unwrap().token_url.as_ref().unwrap())
        .unwrap();
    assert_eq!(
        url.as_str(),
        "https://auth.example.com/t/a%2Fb%3Fc%23d%20e/token?aud=a%2Fb%3Fc%23d%20e"
    );
    assert_eq!(url.host_str(), Some("auth.example.com"));
}

#[test]
fn host_placeholders_need_settings_validated_by_a_rule() {
    let shop = example("shopify.json");
    let square = example("square.json");
    // Settings validated for a connector without the rule cannot fill a host.
    let foreign = square.validate_settings(&Map::new()).unwrap();
    let err = foreign
        .expand(shop.oauth().unwrap().authorization_url.as_ref().unwrap())
        .unwrap_err();
    assert_eq!(err, ExpandError::HostNotValidated("shop_domain".into()));
    // Fixed templates expand with empty settings.
    let url = foreign
        .expand(square.oauth().unwrap().token_url.as_ref().unwrap())
        .unwrap();
    assert_eq!(url.as_str(), "https://connect.squareup.com/oauth2/token");
}

#[test]
fn regional_host_rule_keeps_subdomain_depth() {
    let c = example("client_credentials_regional.json");
    let s = c
        .validate_settings(&obj(
            json!({ "tenant_host": "EU.Ledger.example.com", "audience": "ledger-api" }),
        ))
        .unwrap();
    let url = s
        .expand(c.oauth().unwrap().token_url.as_ref().unwrap())
        .unwrap();
    assert_eq!(
        url.as_str(),
        "https://eu.ledger.example.com/oauth/token?audience=ledger-api"
    );
    let err = c
        .validate_settings(&obj(
            json!({ "tenant_host": "ledger.example.com.evil.com", "audience": "nope" }),
        ))
        .unwrap_err();
    assert_eq!(err.0.len(), 2, "{err}");
}

#[test]
fn routes_are_checked_against_the_component() {
    let shop = example("shopify.json");
    assert!(
        shop.check_routes(&[(Method::Post, "/setup/test_connection".into())])
            .is_empty()
    );
    let problems = shop.check_routes(&[(Method::Get, "/setup/test_connection".into())]);
    let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/connection/testConnection/route",
            "/connection/oauth/postConnect/route"
        ]
    );
    assert!(
        problems[0].message.contains("it exports GET"),
        "{}",
        problems[0].message
    );
    assert_eq!(shop.check_routes(&[]).len(), 2);
}

#[test]
fn grants_and_defaults() {
    let shop = example("shopify.json");
    let p = shop.permissions();
    assert!(p.can_write("Customer") && !p.can_write("Invoice"));
    assert!(p.can_read_secret("webhook_secret") && !p.can_read_secret("shop_domain"));
    let square = example("square.json");
    let o = square.oauth().unwrap();
    assert!(o.pkce && o.refresh_enabled && !o.expose_access_token);
    assert_eq!(o.scope_param(), "PAYMENTS_READ ORDERS_READ CUSTOMERS_READ");
    let token = json!({ "access_token": "t", "expires_in": 3600 });
    assert_eq!(o.token.access_token.lookup(&token), Some(&json!("t")));
    let nested = example("client_credentials_regional.json");
    let doc = json!({ "data": { "token": { "value": "v", "ttl": 60 } } });
    assert_eq!(
        nested.oauth().unwrap().token.access_token.lookup(&doc),
        Some(&json!("v"))
    );
    assert!(!nested.oauth().unwrap().pkce);
}

/// Token hooks declared in an auth option's OAuth block are checked against the
/// component's exports like the single block's, at the option's pointer.
#[test]
fn hooks_in_an_auth_option_must_be_exported() {
    let c = keyway_host::manifest::parse_str(
        r#"{ "key": "desk", "name": "Desk", "provider": "desk", "kind": "source",
             "version": "0.1.0",
             "connection": { "authOptions": {
               "apiKey": { "type": "apiKey", "title": "Key",
                 "settingsSchema": { "properties": { "k": { "type": "string", "x-secret": true } } } },
               "oauth": { "type": "oauth", "title": "Sign in", "oauth": {
                 "type": "authorization_code",
                 "authorizationUrlTemplate": "https://desk.example/authorize",
                 "tokenUrlTemplate": "https://desk.example/token",
                 "client": { "credentialKey": "desk" },
                 "hooks": ["tokenRequest"] } } } } }"#,
        "connector.json",
    )
    .expect("valid");
    let problems = c.check_token_hooks(false);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        problems[0].pointer,
        "/connection/authOptions/oauth/oauth/hooks"
    );
    assert!(c.check_token_hooks(true).is_empty());
}

#[test]
fn an_api_key_option_puts_a_tenant_host_in_its_urls_through_its_own_rule() {
    let c = example("auth_options_tenant_host.json");
    let key = c.auth(Some("apiKey")).unwrap();
    assert!(key.oauth.is_none());
    let settings = key
        .validate_settings(&obj(
            json!({ "subdomain": " ACME.Desk.example. ", "api_key": "k-123456789" }),
        ))
        .unwrap();
    assert_eq!(settings.get("subdomain"), Some(&json!("acme.desk.example")));
    let base = settings
        .expand(&key.api.as_ref().unwrap().base_url)
        .unwrap();
    assert_eq!(base.as_str(), "https://acme.desk.example/api/v1");
    assert!(c.permissions().allows_url(&base));
    for bad in [
        "desk.example",
        "acme.desk.example.evil.com",
        "evil.com/.desk.example",
        "10.0.0.1",
    ] {
        let err = key
            .validate_settings(&obj(json!({ "subdomain": bad, "api_key": "k-123456789" })))
            .unwrap_err();
        let problems: Vec<_> = err.0.iter().collect();
        assert_eq!(problems.len(), 1, "{bad:?}: {err}");
        assert_eq!(problems[0].pointer, "/subdomain", "{bad:?}");
        assert!(!err.to_string().contains("k-123456789"), "{err}");
    }
    // The OAuth option keeps its rules in its OAuth block, and they apply the same way.
    let oauth = c.auth(Some("oauth")).unwrap();
    assert!(
        oauth
            .validate_settings(&obj(json!({ "subdomain": "acme.desk.example.evil.com" })))
            .is_err()
    );
}

#[test]
fn a_single_shape_without_oauth_takes_connection_host_validation() {
    let c = example("tenant_host_key.json");
    let settings = c
        .validate_settings(&obj(
            json!({ "site": "Team.KeyDesk.example", "token": "t-123456789" }),
        ))
        .unwrap();
    let base = settings
        .expand(&c.auth(None).unwrap().api.as_ref().unwrap().base_url)
        .unwrap();
    assert_eq!(base.as_str(), "https://team.keydesk.example/v2");
    let err = c
        .validate_settings(&obj(
            json!({ "site": "keydesk.example.evil.com", "token": "t-123456789" }),
        ))
        .unwrap_err();
    assert_eq!(err.0.iter().next().unwrap().pointer, "/site", "{err}");
}
