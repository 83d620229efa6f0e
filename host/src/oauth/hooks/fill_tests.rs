use super::*;

const SECRET: &str = "canary-client-secret-7f3a";
const VERIFIER: &str = "canary-verifier-91bd";

fn secrets() -> Secrets {
    Secrets {
        client_id: "cid".into(),
        client_secret: Some(SecretString::from(SECRET)),
        code: Some(SecretString::from("canary-code-55e1")),
        code_verifier: Some(SecretString::from(VERIFIER)),
        redirect_uri: Some("http://127.0.0.1:9/cb".into()),
        refresh_token: None,
    }
}

fn token_url() -> Url {
    Url::parse("https://idp.test:8443/oauth/token").unwrap()
}

fn req(url: &str, body: HookBody) -> HookRequest {
    HookRequest {
        method: Method::Post,
        url: url.into(),
        headers: vec![],
        body,
    }
}

fn no_secret(err: &FillError) {
    let text = err.to_string();
    for s in [SECRET, VERIFIER, "canary-code-55e1"] {
        assert!(!text.contains(s), "{text}");
    }
}

#[test]
fn json_body_is_filled_inside_strings_and_escaped() {
    let mut s = secrets();
    s.client_secret = Some(SecretString::from("a\"b\\c-secret"));
    let r = req(
        "https://idp.test:8443/oauth/token?x=1",
        HookBody::Json(
            r#"{"grant":"authorization_code","auth":{"id":"{client_id}","secret":"{client_secret}"},"v":["{code_verifier}"],"n":1}"#
                .into(),
        ),
    );
    let f = fill_request(&r, &token_url(), &s).unwrap();
    let v: Value = serde_json::from_slice(&f.body).unwrap();
    assert_eq!(v["auth"]["secret"], "a\"b\\c-secret");
    assert_eq!(v["auth"]["id"], "cid");
    assert_eq!(v["v"][0], VERIFIER);
    assert_eq!(f.headers["content-type"], "application/json");
    assert!(!format!("{f:?}").contains("secret"));
}

#[test]
fn form_body_and_headers_are_filled() {
    let mut r = req(
        "https://idp.test:8443/other/path",
        HookBody::Form(vec![
            ("code".into(), "{code}".into()),
            ("redirect_uri".into(), "{redirect_uri}".into()),
        ]),
    );
    r.headers = vec![("Authorization".into(), "{client_basic}".into())];
    let f = fill_request(&r, &token_url(), &secrets()).unwrap();
    let body = String::from_utf8(f.body).unwrap();
    assert!(body.contains("code=canary-code-55e1"));
    assert!(body.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb"));
    let auth = &f.headers["authorization"];
    assert!(auth.is_sensitive());
    assert!(auth.to_str().unwrap().starts_with("Basic "));
}

#[test]
fn unknown_and_unavailable_placeholders_are_refused() {
    let r = req(
        "https://idp.test:8443/oauth/token",
        HookBody::Form(vec![("x".into(), "{api_key}".into())]),
    );
    let e = fill_request(&r, &token_url(), &secrets()).unwrap_err();
    assert!(
        matches!(e, FillError::Unknown(ref n, _) if n == "api_key"),
        "{e}"
    );
    let r = req(
        "https://idp.test:8443/oauth/token",
        HookBody::Json(r#"{"rt":"{refresh_token}"}"#.into()),
    );
    let e = fill_request(&r, &token_url(), &secrets()).unwrap_err();
    assert!(
        matches!(e, FillError::Unavailable("refresh_token", _)),
        "{e}"
    );
    // Braces that are not placeholders stay literal.
    let r = req(
        "https://idp.test:8443/oauth/token",
        HookBody::Json(r#"{"a":"{}","b":"{ x }","c":"{1a}"}"#.into()),
    );
    assert!(fill_request(&r, &token_url(), &secrets()).is_ok());
}

#[test]
fn a_placeholder_in_the_url_is_refused() {
    for url in [
        "https://idp.test:8443/oauth/token?secret={client_secret}",
        "https://idp.test:8443/{code}/token",
        "https://idp.test:8443/oauth/token?id={client_id}",
    ] {
        let e = fill_request(&req(url, HookBody::None), &token_url(), &secrets()).unwrap_err();
        assert!(matches!(e, FillError::InUrl(_)), "{url}: {e}");
        no_secret(&e);
    }
}

#[test]
fn another_origin_is_refused() {
    for url in [
        "https://evil.test:8443/oauth/token",
        "http://idp.test:8443/oauth/token",
        "https://idp.test/oauth/token",
        "https://user:pw@idp.test:8443/oauth/token",
        "not a url",
    ] {
        let e = fill_request(&req(url, HookBody::None), &token_url(), &secrets()).unwrap_err();
        assert!(
            matches!(e, FillError::WrongOrigin { .. } | FillError::BadUrl(_)),
            "{url}: {e}"
        );
    }
}

#[test]
fn oversized_and_reserved_parts_are_refused() {
    let url = "https://idp.test:8443/oauth/token";
    let big = "x".repeat(MAX_BODY + 1);
    let e = fill_request(
        &req(url, HookBody::Json(format!("\"{big}\""))),
        &token_url(),
        &secrets(),
    )
    .unwrap_err();
    assert!(matches!(e, FillError::TooLarge { .. }), "{e}");
    let mut r = req(url, HookBody::None);
    r.headers = vec![("x-big".into(), "y".repeat(MAX_HEADER_VALUE + 1))];
    assert!(matches!(
        fill_request(&r, &token_url(), &secrets()),
        Err(FillError::TooLarge { .. })
    ));
    r.headers = (0..=MAX_HEADERS)
        .map(|i| (format!("x-{i}"), "v".into()))
        .collect();
    assert!(matches!(
        fill_request(&r, &token_url(), &secrets()),
        Err(FillError::TooMany { .. })
    ));
    r.headers = vec![("Host".into(), "evil.test".into())];
    assert!(matches!(
        fill_request(&r, &token_url(), &secrets()),
        Err(FillError::Reserved(_))
    ));
    r.headers = vec![("bad name".into(), "v".into())];
    assert!(matches!(
        fill_request(&r, &token_url(), &secrets()),
        Err(FillError::BadHeaderName(_))
    ));
    let r = req(url, HookBody::Json(r#"{"{client_secret}":1}"#.into()));
    assert_eq!(
        fill_request(&r, &token_url(), &secrets()).unwrap_err(),
        FillError::PlaceholderInKey
    );
    let r = req(url, HookBody::Json(r#"{"a": {code}}"#.into()));
    assert_eq!(
        fill_request(&r, &token_url(), &secrets()).unwrap_err(),
        FillError::BadJson
    );
}

#[test]
fn a_filled_header_value_that_breaks_the_header_is_refused_without_the_value() {
    let mut s = secrets();
    s.client_secret = Some(SecretString::from("line\nbreak-secret"));
    let mut r = req("https://idp.test:8443/oauth/token", HookBody::None);
    r.headers = vec![("x-secret".into(), "{client_secret}".into())];
    let e = fill_request(&r, &token_url(), &s).unwrap_err();
    assert!(matches!(e, FillError::BadHeaderValue(_)));
    assert!(!e.to_string().contains("break-secret"));
}
