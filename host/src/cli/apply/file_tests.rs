use super::*;
use secrecy::ExposeSecret;

fn file(text: &str) -> ConfigFile {
    ConfigFile::new(text.to_string(), Path::new("keyway.toml"))
}

#[test]
fn reads_every_table_with_secrets_by_reference() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token.txt"), "canary-file-secret-11\n").unwrap();
    // SAFETY: a variable only this test reads.
    unsafe { std::env::set_var("KEYWAY_APPLY_TEST_SECRET_A", "canary-env-secret-12") };
    let text = r#"
[credentials.shop-app]
clientId = "cid"
clientSecret = { env = "KEYWAY_APPLY_TEST_SECRET_A" }

[appConnections.google-oauth]
providerUrl = "https://accounts.example.test"
issuerUrl = "https://accounts.example.test"
scopes = ["openid", "email"]
clientId = "gid"
clientSecret = { file = "token.txt" }

[connections.shop-eu]
connector = "shopify"
settings = { shop = "acme", limit = 5, flags = { beta = true } }
secretSettings = { apiToken = { file = "token.txt" } }
"#;
    let f = ConfigFile::new(text.to_string(), &dir.path().join("keyway.toml"));
    let d = f.desired().unwrap_or_else(|p| panic!("{p:?}"));
    assert_eq!(d.credentials[0].key, "shop-app");
    assert_eq!(
        d.credentials[0]
            .client_secret
            .as_ref()
            .map(|s| s.expose_secret().to_string()),
        Some("canary-env-secret-12".into())
    );
    let (name, app) = &d.app_connections[0];
    assert_eq!(name, "google-oauth");
    assert_eq!(app.client_secret.expose_secret(), "canary-file-secret-11");
    assert_eq!(app.scopes, ["openid", "email"]);
    let c = &d.connections[0];
    assert_eq!(
        (c.name.as_str(), c.connector.as_str()),
        ("shop-eu", "shopify")
    );
    assert_eq!(c.settings.plain.len(), 3);
    assert_eq!(
        c.settings.secret["apiToken"].expose_secret(),
        "canary-file-secret-11"
    );
}

#[test]
fn an_inline_secret_is_refused_at_its_line_without_its_value() {
    let text = "[credentials.a]\nclientId = \"cid\"\nclientSecret = \"canary-inline-13\"\n";
    let problems = file(text).desired().err().expect("refused");
    assert_eq!(problems.len(), 1);
    let p = &problems[0];
    assert_eq!((p.line, p.keys.as_str()), (3, "credentials.a.clientSecret"));
    assert!(p.message.contains("env"), "{}", p.message);
    assert!(!p.to_string().contains("canary-inline-13"));
    // A number in place of a reference is inline too, and serde never gets to quote it.
    let text = "[credentials.a]\nclientId = \"cid\"\nclientSecret = 9182736455\n";
    let problems = file(text).desired().err().expect("refused");
    assert_eq!(problems[0].keys, "credentials.a.clientSecret");
    assert!(
        !problems[0].to_string().contains("9182736455"),
        "{}",
        problems[0]
    );
}

#[test]
fn shape_errors_name_the_line_and_never_quote_a_value() {
    // A misspelt key next to a secret value on the same line.
    let text = "[appConnections.x]\nproviderUrl = \"https://a.test\"\nclientId = \"c\"\n\
                clientSecret = { env = \"V\", value = \"canary-inline-14\" }\n";
    let problems = file(text).desired().err().expect("refused");
    let shown = problems[0].to_string();
    assert_eq!(problems[0].line, 4, "{shown}");
    assert!(shown.contains("`value`"), "{shown}");
    assert!(!shown.contains("canary-inline-14"), "{shown}");
    // A value of the wrong type: serde quotes it, the problem does not.
    let text = "[credentials.a]\nclientId = \"c\"\nclientSecret = { env = 12 }\n\
                [connections.b]\nconnector = [\"canary-inline-15\"]\n";
    let shown: Vec<String> = file(text)
        .desired()
        .err()
        .expect("refused")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(!shown.join("\n").contains("canary-inline-15"), "{shown:?}");
    // Syntax: line and column of the fault.
    let problems = file("[connections.a]\nconnector = \"x\"\nsettings = {\n")
        .desired()
        .err()
        .expect("refused");
    assert_eq!(problems[0].line, 3, "{}", problems[0]);
    // An unknown table.
    let problems = file("[conections.a]\nconnector = \"x\"\n")
        .desired()
        .err()
        .expect("refused");
    assert!(
        problems[0].message.contains("conections"),
        "{}",
        problems[0]
    );
}

#[test]
fn every_unresolvable_reference_is_reported_at_once() {
    let text = "[credentials.a]\nclientId = \"c\"\nclientSecret = { env = \"KEYWAY_APPLY_UNSET_VAR\" }\n\n\
                [connections.b]\nconnector = \"x\"\nsecretSettings = { token = { file = \"missing.txt\" } }\n";
    let problems = file(text).desired().err().expect("refused");
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!(problems[0].line, 3);
    assert!(problems[0].message.contains("KEYWAY_APPLY_UNSET_VAR"));
    assert_eq!(problems[1].keys, "connections.b.secretSettings.token");
    assert_eq!(problems[1].line, 7);
}

#[test]
fn problems_from_planning_are_placed_by_their_keys() {
    let text =
        "[connections.shop]\nconnector = \"shopify\"\n\n[connections.shop.settings]\nshop = 12\n";
    let f = file(text);
    let p = f.problem(&keys(&["connections", "shop", "settings", "shop"]), "bad");
    assert_eq!((p.line, p.column), (5, 1));
    let p = f.problem(&keys(&["connections", "shop", "connector"]), "bad");
    assert_eq!(p.line, 2);
    // A key the file lacks: placed at the deepest one it has.
    let p = f.problem(
        &keys(&["connections", "shop", "secretSettings", "x"]),
        "missing",
    );
    assert_eq!(p.line, 1);
    assert_eq!(
        without_quoted_values("invalid type: string \"abc\", expected `x`"),
        "invalid type: string \"…\", expected `x`"
    );
}
