//! The OAuth callback's query string, as a hostile browser or provider may send it:
//! parsed into `CallbackParams` and completed against a real store in which two
//! connections each have a pending authorization.
//!
//! Input: an optional first line `A` or `B` (which connection the callback is completed
//! for; default `A`), then the query string. In it `STATE_A` and `STATE_B` stand for the
//! states just issued to connection A and B, and `CODE` for a canary authorization code.
//! The token endpoint is a closed loopback port, so an accepted code fails to exchange.
//!
//! Checks, besides "no panic": parsing keeps every parameter once or refuses a repeated
//! one by name; `Debug` shows names only; a callback is accepted (reaches the provider's
//! `error`, the code check or the exchange) only with the state issued for that very
//! connection, a state of the other connection is refused as such, anything else is
//! unknown; an accepted state cannot be replayed; the provider's `error` text is cleaned;
//! no error message carries the code.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use keyway_host::oauth::authorize::random_state;
use keyway_host::oauth::{
    AuthorizeError, CallbackParams, GrantType, OAuthHttp, ProviderConfig, begin_authorization,
    complete_authorization,
};
use keyway_host::store::{ClientCredentials, ConnectionRecord, MasterKey, NewConnection, Store};
use libfuzzer_sys::fuzz_target;
use url::Url;

struct World {
    _dir: tempfile::TempDir,
    store: Store,
    http: OAuthHttp,
    provider: ProviderConfig,
    creds: ClientCredentials,
    a: ConnectionRecord,
    b: ConnectionRecord,
    redirect: Url,
    runtime: tokio::runtime::Runtime,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).expect("a store");
        let connection = |name: &str| {
            store
                .create_connection(&NewConnection {
                    name: name.to_owned(),
                    connector: "fuzz".to_owned(),
                    credential_key: Some("app".to_owned()),
                    settings: serde_json::Map::new(),
                    secret_settings: BTreeMap::new(),
                })
                .expect("a connection")
        };
        let (a, b) = (connection("conn-a"), connection("conn-b"));
        // A port that was free a moment ago: the exchange is refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let token_url = Url::parse(&format!("http://127.0.0.1:{port}/token")).expect("a URL");
        let mut provider = ProviderConfig::new(GrantType::AuthorizationCode, token_url);
        provider.authorization_url =
            Some(Url::parse("https://idp.example.com/authorize").expect("a URL"));
        provider.callback_params = vec!["realmId".to_owned()];
        World {
            _dir: dir,
            store,
            http: OAuthHttp::from_config(
                &keyway_host::egress::EgressConfig {
                    allowed_cidrs: vec!["127.0.0.1/32".parse().expect("a CIDR")],
                    ..Default::default()
                },
                Duration::from_secs(5),
            )
            .expect("an HTTP client"),
            provider,
            creds: ClientCredentials {
                client_id: "cid".to_owned(),
                client_secret: None,
            },
            a,
            b,
            redirect: Url::parse("http://127.0.0.1:8787/oauth/callback").expect("a URL"),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime"),
        }
    })
}

/// Starts an authorization for `connection` and returns its state.
fn issue(w: &World, connection: &ConnectionRecord) -> String {
    let request = begin_authorization(&w.store, &w.provider, "cid", connection, &w.redirect, None)
        .expect("an authorization starts");
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("the URL carries the state")
}

fn assert_clean(text: &str) {
    assert!(text.chars().count() <= 200);
    assert!(!text.chars().any(char::is_control));
    assert_eq!(text.trim(), text);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        // Raw bytes still go through the parser (a query is bytes on the wire).
        let _ = CallbackParams::from_query(&String::from_utf8_lossy(data));
        return;
    };
    let (for_b, template) = match text.split_once('\n') {
        Some(("A", rest)) => (false, rest),
        Some(("B", rest)) => (true, rest),
        _ => (false, text),
    };
    let w = world();
    let state_a = issue(w, &w.a);
    let state_b = issue(w, &w.b);
    let code = format!("kw-code-canary-{}", random_state());
    let query = template
        .replace("STATE_A", &state_a)
        .replace("STATE_B", &state_b)
        .replace("CODE", &code);

    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    // The canary may be shown only where the input itself put it into a name or into
    // another parameter's value (an `error` text is shown, cleaned).
    let code_only_as_code = !pairs
        .iter()
        .any(|(k, v)| k.contains(&code) || (k != "code" && v.contains(&code)));
    let params = match CallbackParams::from_query(&query) {
        Ok(p) => p,
        Err(AuthorizeError::DuplicateParam(name)) => {
            assert!(pairs.iter().filter(|(k, _)| *k == name).count() >= 2);
            if code_only_as_code {
                assert!(
                    !AuthorizeError::DuplicateParam(name)
                        .to_string()
                        .contains(&code)
                );
            }
            w.store.take_state(&state_a).expect("the store answers");
            w.store.take_state(&state_b).expect("the store answers");
            return;
        }
        Err(e) => panic!("parsing refuses only repeated parameters, not: {e}"),
    };
    for (k, v) in &pairs {
        assert_eq!(params.get(k), Some(v.as_str()), "every parameter is kept");
        assert_eq!(pairs.iter().filter(|(k2, _)| k2 == k).count(), 1);
    }
    if code_only_as_code {
        assert!(
            !format!("{params:?}").contains(&code),
            "Debug shows names only"
        );
    }

    let (expected, own, other) = if for_b {
        (&w.b, &state_b, &state_a)
    } else {
        (&w.a, &state_a, &state_b)
    };
    let complete = || {
        w.runtime.block_on(complete_authorization(
            &w.store,
            &w.http,
            &w.provider,
            &w.creds,
            &expected.id,
            &params,
        ))
    };
    let result = complete();
    if let Err(e) = &result
        && code_only_as_code
    {
        assert!(!e.to_string().contains(&code), "no error carries the code");
    }
    let state = params.get("state");
    let accepted = match &result {
        Ok(_) => panic!("no token endpoint answers, so nothing can be stored"),
        Err(AuthorizeError::MissingState) => {
            assert_eq!(state, None);
            false
        }
        Err(AuthorizeError::UnknownState) => {
            assert!(state.is_some_and(|s| s != own.as_str() && s != other.as_str()));
            false
        }
        Err(AuthorizeError::StateForOtherConnection) => {
            assert_eq!(state, Some(other.as_str()));
            false
        }
        Err(AuthorizeError::ProviderDenied { error, description }) => {
            assert!(params.get("error").is_some());
            assert_clean(error);
            if let Some(d) = description {
                assert_clean(d);
            }
            true
        }
        Err(AuthorizeError::MissingCode) => {
            assert!(params.get("error").is_none() && params.get("code").is_none());
            true
        }
        Err(AuthorizeError::Exchange(_)) => {
            assert!(params.get("error").is_none() && params.get("code").is_some());
            true
        }
        Err(e) => panic!("unexpected refusal: {e}"),
    };
    if accepted {
        assert_eq!(
            state,
            Some(own.as_str()),
            "accepted only with its own state"
        );
        assert!(
            matches!(complete(), Err(AuthorizeError::UnknownState)),
            "a used state cannot be replayed"
        );
    }
    w.store.take_state(&state_a).expect("the store answers");
    w.store.take_state(&state_b).expect("the store answers");
});
