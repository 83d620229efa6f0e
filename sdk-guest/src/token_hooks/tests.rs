use super::*;

#[test]
fn placeholders_serialize_as_their_text_in_json_and_headers() {
    let r = TokenRequest::post("https://idp.example/token")
        .header("Authorization", Placeholder::ClientBasic)
        .json(&serde_json::json!({ "secret": Placeholder::ClientSecret, "n": 1 }))
        .expect("json");
    assert_eq!(r.headers[0].1, "{client_basic}");
    assert_eq!(
        r.body,
        TokenBody::Json(r#"{"n":1,"secret":"{client_secret}"}"#.into())
    );
    let r = TokenRequest::post("https://idp.example/token")
        .form([("refresh_token", Placeholder::RefreshToken)]);
    assert_eq!(
        r.body,
        TokenBody::Form(vec![("refresh_token".into(), "{refresh_token}".into())])
    );
}

#[test]
fn unimplemented_hooks_refuse() {
    struct None_;
    impl TokenHooks for None_ {}
    let ctx = TokenContext {
        token_url: "https://idp.example/token".into(),
        settings: vec![("tenant".into(), "t".into())],
        scopes: vec![],
    };
    assert_eq!(ctx.setting("tenant"), Some("t"));
    let e = None_::refresh_request(ctx).unwrap_err();
    assert_eq!(e.code, ErrorCode::NotPermitted);
    assert!(e.message.contains("refreshRequest"));
}
