//! `keyway providers list|show` and `keyway validate --explain`, as an operator runs them:
//! the binary's output and exit codes, and the explain lines of a manifest that names a
//! catalog provider.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use keyway_host::cli::validate::{check, explain_lines};

fn keyway(args: &[&str]) -> Output {
    let data = tempfile::tempdir().expect("tempdir");
    Command::new(env!("CARGO_BIN_EXE_keyway"))
        .args(args)
        .env("KEYWAY_DATA_DIR", data.path())
        .env("KEYWAY_LOG", "warn")
        .env_remove("KEYWAY_MASTER_KEY")
        .output()
        .expect("run keyway")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/manifests")
        .join(rel)
}

#[test]
fn list_names_every_provider_with_its_flow_facts_and_docs() {
    let out = keyway(&["providers", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() > 50, "{stdout}");
    assert!(lines[0].starts_with("KEY"), "{}", lines[0]);
    let zendesk = lines
        .iter()
        .find(|l| l.starts_with("zendesk "))
        .expect("a zendesk line");
    for part in [
        "Zendesk",
        "post",
        "pkce",
        "{domain}",
        "https://support.zendesk.com/",
    ] {
        assert!(zendesk.contains(part), "{part}: {zendesk}");
    }

    let out = keyway(&["providers", "list", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let slack = all
        .as_array()
        .and_then(|a| a.iter().find(|p| p["key"] == "slack"))
        .expect("slack");
    assert_eq!(slack["scopeSeparator"], ",");
    assert_eq!(slack["clientAuthMethod"], "basic");
    assert_eq!(slack["preset"], true);
}

#[test]
fn show_prints_the_whole_entry() {
    let out = keyway(&["providers", "show", "google"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for part in [
        "Google (google)",
        "docs: https://developers.google.com/identity/protocols/oauth2/web-server",
        "tokenUrl: https://oauth2.googleapis.com/token",
        "issuer: https://accounts.google.com",
        "accessType: offline",
        "extraAuthorizeParams.prompt: consent",
        "pkce: true",
        "quirk: ",
        "\"provider\": \"google\"",
    ] {
        assert!(stdout.contains(part), "{part}:\n{stdout}");
    }
    let out = keyway(&["providers", "show", "shopify", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let entry: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        entry["settings"]["shop"]["hostValidation"]["suffix"],
        ".myshopify.com"
    );
    assert_eq!(entry["scopeSeparator"], ",");
}

#[test]
fn an_unknown_provider_exits_2_naming_close_keys() {
    let out = keyway(&["providers", "show", "salesfroce"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no provider `salesfroce` in the catalog; closest: \"salesforce\""),
        "{stderr}"
    );
    let out = keyway(&["new", "connector", "acme-x", "--provider", "hubspto"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("\"hubspot\""),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn explain_lists_each_filled_field_with_its_value_and_the_docs() {
    let path = corpus("valid/zendesk_provider.json");
    let report = check(&path);
    assert!(report.valid, "{:?}", report.problems);
    let lines = explain_lines(&report);
    assert!(
        lines[0].ends_with(
            "provider \"zendesk\" (Zendesk) filled 7 field(s) of connection.oauth; docs: https://support.zendesk.com/hc/en-us/articles/4408845965210-Using-OAuth-authentication-with-your-application"
        ),
        "{lines:#?}"
    );
    for line in [
        "  authorizationUrlTemplate = https://{settings.domain}/oauth/authorizations/new",
        "  tokenUrlTemplate = https://{settings.domain}/oauth/tokens",
        "  hostValidation.domain = suffix .zendesk.com",
        "  requiredSettings = domain",
        "  client.authMethod = post",
        "  pkce = true",
    ] {
        assert!(lines.iter().any(|l| l == line), "{line}: {lines:#?}");
    }
    // The manifest's own prompt is not the provider's to fill.
    assert!(!lines.iter().any(|l| l.contains("extraAuthorizeParams")));

    let plain = check(&corpus("valid/square.json"));
    assert_eq!(
        explain_lines(&plain),
        vec![format!(
            "{}: no provider preset: every OAuth field is the manifest's",
            plain.file
        )]
    );

    // Through the binary: the lines follow the ok line, and --json carries them too.
    let file = path.to_str().expect("utf-8 path");
    let out = keyway(&["validate", "--explain", "--no-component", file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains(": ok zendesk-tickets 0.1.0\n"), "{stdout}");
    assert!(stdout.contains("  pkce = true\n"), "{stdout}");
    let out = keyway(&["validate", "--no-component", file]);
    assert!(
        !text(&out.stdout).contains("pkce"),
        "explain only when asked"
    );
    let out = keyway(&["validate", "--explain", "--json", "--no-component", file]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["results"][0]["presets"][0]["provider"], "zendesk");
    assert!(v["results"][0]["presets"][0].get("option").is_none());
    assert_eq!(
        v["results"][0]["presets"][0]["filled"][0]["field"],
        "authorizationUrlTemplate"
    );
}

#[test]
fn explain_names_the_auth_option_whose_block_a_provider_filled() {
    let report = check(&corpus("valid/auth_options_provider.json"));
    assert!(report.valid, "{:?}", report.problems);
    let lines = explain_lines(&report);
    let heads: Vec<&String> = lines.iter().filter(|l| !l.starts_with("  ")).collect();
    assert!(!heads.is_empty(), "{lines:#?}");
    for head in &heads {
        assert!(
            head.contains("field(s) of connection.authOptions.")
                && head.contains(".oauth; docs: https://"),
            "{lines:#?}"
        );
    }
    assert!(lines.iter().any(|l| l.starts_with("  ")), "{lines:#?}");
    assert!(report.presets.iter().all(|p| p.option.is_some()));
}
