//! `keyway apply -f keyway.toml` through the binary, on a real store: a plan printed and
//! nothing written with `--dry-run`; applied; applied again with nothing to change; only
//! the object whose secret changed updated; a change made outside the file seen and
//! undone; an object left out kept until `--prune` deletes it, and credentials a
//! remaining connection uses never pruned; a bad file refused with line and key. Secrets
//! come only from the environment or files: none shows in any output, and the store
//! holds none in the clear.

use std::path::Path;
use std::process::{Output, Stdio};

use keyway_tests::components;
use keyway_tests::keyway_command;
use keyway_tests::server::Connectors;
use serde_json::json;

const APP_SECRET: &str = "canary-apply-app-secret-2f81";
const APP_SECRET_ROTATED: &str = "canary-apply-app-secret-rotated-90aa";
const CLIENT_SECRET: &str = "canary-apply-client-secret-61c3";
const TOKEN: &str = "canary-apply-setting-token-7d02";

fn manifest() -> String {
    json!({
        "key": "hello", "name": "Hello", "provider": "oidc", "kind": "source",
        "version": "0.1.0",
        "permissions": { "http": [], "secrets": { "api_token": ["read"] } },
        "connection": {
            "oauth": {
                "type": "authorization_code",
                "authorizationUrlTemplate": "https://id.example.test/authorize",
                "tokenUrlTemplate": "https://id.example.test/token",
                "scopes": ["read"],
                "client": { "credentialKey": "hello-app" }
            },
            "settingsSchema": {
                "type": "object",
                "properties": {
                    "greeting": { "type": "string", "maxLength": 20 },
                    "api_token": { "type": "string", "x-secret": true }
                }
            }
        }
    })
    .to_string()
}

struct Env {
    data: tempfile::TempDir,
    connectors: Connectors,
    config: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        for canary in [APP_SECRET, APP_SECRET_ROTATED, CLIENT_SECRET, TOKEN] {
            keyway_tests::artifacts::canary(canary);
        }
        let connectors = Connectors::new();
        connectors.add("hello", &manifest(), components::HELLO);
        let config = tempfile::tempdir().expect("tempdir");
        std::fs::write(config.path().join("token.txt"), format!("{TOKEN}\n")).expect("token");
        Env {
            data: tempfile::tempdir().expect("tempdir"),
            connectors,
            config,
        }
    }

    fn write(&self, text: &str) -> std::path::PathBuf {
        let path = self.config.path().join("keyway.toml");
        std::fs::write(&path, text).expect("config");
        path
    }

    fn keyway(&self, args: &[&str], app_secret: &str) -> Output {
        let out = keyway_command(self.data.path())
            .args(args)
            .env("KEYWAY_CONNECTORS", self.connectors.path())
            .env("KEYWAY_LOG", "warn")
            .env("APPLY_APP_SECRET", app_secret)
            .env("APPLY_CLIENT_SECRET", CLIENT_SECRET)
            .env_remove("KEYWAY_MASTER_KEY")
            .stdin(Stdio::null())
            .output()
            .expect("run keyway");
        let text = text(&out);
        keyway_tests::artifacts::append("cli-output", text.as_bytes());
        for canary in [APP_SECRET, APP_SECRET_ROTATED, CLIENT_SECRET, TOKEN] {
            assert!(
                !text.contains(canary),
                "a secret in the output of {args:?}:\n{text}"
            );
        }
        out
    }

    fn apply(&self, file: &Path, extra: &[&str]) -> Output {
        self.apply_with(file, extra, APP_SECRET)
    }

    fn apply_with(&self, file: &Path, extra: &[&str], app_secret: &str) -> Output {
        let file = file.to_str().expect("path");
        let mut args = vec!["apply", "-f", file];
        args.extend_from_slice(extra);
        self.keyway(&args, app_secret)
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const FULL: &str = r#"# Everything one host needs.
[credentials.hello-app]
clientId = "hello-client"
clientSecret = { env = "APPLY_CLIENT_SECRET" }

[appConnections.google-oauth]
providerUrl = "https://accounts.example.test"
authUrl = "https://accounts.example.test/authorize"
tokenUrl = "https://accounts.example.test/token"
scopes = ["openid", "email"]
clientId = "google-client"
clientSecret = { env = "APPLY_APP_SECRET" }

[appConnections.ms365-oauth]
providerUrl = "https://login.example.test"
authUrl = "https://login.example.test/authorize"
tokenUrl = "https://login.example.test/token"
clientId = "ms-client"
clientSecret = { env = "APPLY_APP_SECRET" }

[connections.hello-eu]
connector = "hello"
settings = { greeting = "hej" }
secretSettings = { api_token = { file = "token.txt" } }
"#;

fn plan_line<'a>(out: &'a str, what: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no plan line for {what}:\n{out}"))
}

#[test]
fn apply_plans_applies_only_changes_and_prunes_what_it_manages() {
    let env = Env::new();
    let file = env.write(FULL);

    // Dry run: the plan, and nothing written.
    let out = env.apply(&file, &["--dry-run"]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        plan_line(&shown, "credentials hello-app").contains("create"),
        "{shown}"
    );
    assert!(plan_line(&shown, "app connection google-oauth").contains("create"));
    assert!(plan_line(&shown, "connection hello-eu").contains("create"));
    assert!(
        shown.contains("4 to create, 0 to update, 0 unchanged, 0 to delete"),
        "{shown}"
    );
    assert!(shown.contains("Dry run"), "{shown}");
    let list = env.keyway(&["app-connections", "list", "--json"], APP_SECRET);
    assert_eq!(String::from_utf8_lossy(&list.stdout).trim(), "[]");

    // Applied, then applied again: nothing to change.
    let out = env.apply(&file, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Applied 4 changes"), "{}", text(&out));
    let out = env.apply(&file, &[]);
    let shown = text(&out);
    assert!(
        shown.contains("0 to create, 0 to update, 4 unchanged"),
        "{shown}"
    );
    assert!(shown.contains("Nothing to change"), "{shown}");

    // The objects are there, as declared.
    let show = env.keyway(&["connections", "show", "hello-eu", "--json"], APP_SECRET);
    let view: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(view["connector"], "hello");
    assert_eq!(view["settings"]["greeting"], "hej");
    let show = env.keyway(
        &["app-connections", "show", "google-oauth", "--json"],
        APP_SECRET,
    );
    let view: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(view["clientId"], "google-client");
    assert_eq!(view["scopes"], json!(["openid", "email"]));

    // A rotated secret in the environment: only the two app connections that use it.
    let out = env.apply_with(&file, &[], APP_SECRET_ROTATED);
    let shown = text(&out);
    assert!(
        plan_line(&shown, "app connection google-oauth").contains("update"),
        "{shown}"
    );
    assert!(plan_line(&shown, "app connection ms365-oauth").contains("update"));
    assert!(plan_line(&shown, "connection hello-eu").contains("unchanged"));
    assert!(plan_line(&shown, "credentials hello-app").contains("unchanged"));
    assert!(shown.contains("Applied 2 changes"), "{shown}");

    // A change made outside the file is seen, and the file's content restored.
    let out = env.keyway(
        &[
            "connections",
            "update",
            "hello-eu",
            "--setting",
            "greeting=hallo",
        ],
        APP_SECRET,
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = env.apply_with(&file, &[], APP_SECRET_ROTATED);
    let shown = text(&out);
    assert!(
        plan_line(&shown, "connection hello-eu").contains("update"),
        "{shown}"
    );
    let show = env.keyway(&["connections", "show", "hello-eu", "--json"], APP_SECRET);
    let view: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(view["settings"]["greeting"], "hej");

    // Left out of the file: kept and listed; `--prune` deletes it. An object created by
    // hand is never pruned.
    let out = env.keyway(
        &[
            "app-connections",
            "create",
            "by-hand",
            "--provider-url",
            "https://x.example.test",
            "--auth-url",
            "https://x.example.test/a",
            "--token-url",
            "https://x.example.test/t",
            "--client-id",
            "c",
            "--client-secret-env",
            "APPLY_APP_SECRET",
        ],
        APP_SECRET,
    );
    assert!(out.status.success(), "{}", text(&out));
    let without_ms = FULL.replace(
        "[appConnections.ms365-oauth]\nproviderUrl = \"https://login.example.test\"\n\
         authUrl = \"https://login.example.test/authorize\"\n\
         tokenUrl = \"https://login.example.test/token\"\nclientId = \"ms-client\"\n\
         clientSecret = { env = \"APPLY_APP_SECRET\" }\n",
        "",
    );
    assert_ne!(without_ms, FULL);
    let file = env.write(&without_ms);
    let out = env.apply_with(&file, &[], APP_SECRET_ROTATED);
    let shown = text(&out);
    assert!(
        plan_line(&shown, "app connection ms365-oauth").contains("not in file"),
        "{shown}"
    );
    assert!(!shown.contains("by-hand"), "{shown}");
    let out = env.apply_with(&file, &["--prune", "--dry-run"], APP_SECRET_ROTATED);
    assert!(plan_line(&text(&out), "app connection ms365-oauth").contains("delete"));
    let out = env.apply_with(&file, &["--prune"], APP_SECRET_ROTATED);
    assert!(out.status.success(), "{}", text(&out));
    let list = env.keyway(&["app-connections", "list", "--json"], APP_SECRET);
    let names: Vec<String> = serde_json::from_slice::<Vec<serde_json::Value>>(&list.stdout)
        .expect("json")
        .iter()
        .map(|a| a["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, ["by-hand", "google-oauth"]);

    // Credentials a remaining connection uses are not pruned.
    let without_credentials = without_ms.replace(
        "[credentials.hello-app]\nclientId = \"hello-client\"\n\
         clientSecret = { env = \"APPLY_CLIENT_SECRET\" }\n",
        "",
    );
    let file = env.write(&without_credentials);
    let out = env.apply_with(&file, &["--prune"], APP_SECRET_ROTATED);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    assert!(shown.contains("credentials.hello-app"), "{shown}");
    assert!(shown.contains("hello-eu"), "{shown}");

    // `keyway validate` warns of a granted app connection this host does not define
    // (ms365-oauth was pruned), and still passes the manifest.
    let granting = env.config.path().join("granting.json");
    std::fs::write(
        &granting,
        json!({
            "key": "granting", "name": "Granting", "provider": "none", "kind": "source",
            "version": "0.1.0",
            "permissions": {
                "http": ["https://graph.example.test/*"],
                "connections": { "google-oauth": ["token"], "ms365-oauth": ["inject"] }
            },
            "connection": {
                "appInject": { "ms365-oauth": [{ "url": "https://graph.example.test/*" }] }
            }
        })
        .to_string(),
    )
    .expect("manifest");
    let out = env.keyway(
        &[
            "validate",
            "--no-component",
            granting.to_str().expect("path"),
        ],
        APP_SECRET,
    );
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains(": ok granting"), "{shown}");
    assert!(
        shown.contains("warning: /permissions/connections/ms365-oauth: app connection `ms365-oauth` is not defined"),
        "{shown}"
    );
    assert!(!shown.contains("connections/google-oauth"), "{shown}");

    // The store holds every secret sealed.
    let db = keyway_tests::backend::stored_bytes(env.data.path());
    let db = String::from_utf8_lossy(&db);
    for canary in [APP_SECRET, APP_SECRET_ROTATED, CLIENT_SECRET, TOKEN] {
        assert!(!db.contains(canary), "a secret in the clear in the store");
    }
}

#[test]
fn a_bad_file_gets_every_problem_with_line_and_key_and_changes_nothing() {
    let env = Env::new();
    let file = env.write(
        r#"[credentials.hello-app]
clientId = "hello-client"
clientSecret = "canary-apply-client-secret-61c3"

[appConnections.google-oauth]
providerUrl = "not a url"
issuerUrl = "https://x.example.test"
clientId = "g"
clientSecret = { env = "APPLY_APP_SECRET" }

[appConnections.Bad_Name]
providerUrl = "https://x.example.test"
issuerUrl = "https://x.example.test"
clientId = "g"
clientSecret = { env = "APPLY_APP_SECRET" }

[connections.hello-eu]
connector = "hello"
settings = { greeting = "far too long a greeting for the schema", api_token = "x" }

[connections.other]
connector = "nope"
"#,
    );
    let out = env.apply(&file, &[]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    // The inline secret is refused first, alone (references are resolved before checks).
    assert!(
        shown.contains("keyway.toml:3:1: credentials.hello-app.clientSecret"),
        "{shown}"
    );
    let file = env.write(&std::fs::read_to_string(&file).expect("read").replace(
        "clientSecret = \"canary-apply-client-secret-61c3\"",
        "clientSecret = { env = \"APPLY_CLIENT_SECRET\" }",
    ));
    let out = env.apply(&file, &[]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    for expected in [
        "keyway.toml:6:1: appConnections.google-oauth.providerUrl: `not a url` is not a URL",
        "keyway.toml:11:17: appConnections.Bad_Name: invalid connection name",
        "keyway.toml:19:14: connections.hello-eu.settings.greeting: ",
        "keyway.toml:19:67: connections.hello-eu.settings.api_token: `api_token` is a secret",
        "keyway.toml:22:1: connections.other.connector: no connector `nope`",
    ] {
        assert!(
            shown.contains(expected),
            "missing {expected:?} in:\n{shown}"
        );
    }
    assert!(shown.contains("nothing was applied"), "{shown}");
    let list = env.keyway(&["connections", "list", "--json"], APP_SECRET);
    assert_eq!(String::from_utf8_lossy(&list.stdout).trim(), "[]");
}
