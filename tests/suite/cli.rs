//! The `keyway` binary as an operator uses it: `connectors list` and `call` against the
//! real `hello` connector directory and its compiled component.

use keyway_tests::{components, connector_dir, keyway_bin, keyway_command};
use std::process::{Command, Output};

fn keyway(args: &[&str], data_dir: &std::path::Path) -> Output {
    keyway_command(data_dir)
        .args(args)
        .env("KEYWAY_LOG", "warn")
        .env_remove("KEYWAY_MASTER_KEY")
        .output()
        .expect("run keyway")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn call_runs_a_route_and_prints_status_and_json() {
    let data = tempfile::tempdir().expect("tempdir");
    let hello = connector_dir("hello");
    let dir = hello.to_str().expect("utf-8 path");
    let out = keyway(
        &[
            "call",
            dir,
            "POST",
            "/echo",
            "--component",
            components::HELLO,
            "--body",
            r#"{"n":1}"#,
            "--query",
            "a=b",
        ],
        data.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let (status, body) = stdout.split_once('\n').expect("status line");
    assert_eq!(status, "200");
    let body: serde_json::Value = serde_json::from_str(body).expect("JSON body");
    assert_eq!(body["body"]["n"], 1);
    assert_eq!(body["query"][0][1], "b");
    assert!(
        data.path().join("cache").is_dir(),
        "compiled component cached in the data dir"
    );

    let out = keyway(
        &[
            "call",
            dir,
            "GET",
            "/greet",
            "--component",
            components::HELLO,
            "--setting",
            "greeting=Hej",
        ],
        data.path(),
    );
    assert!(
        text(&out.stdout).contains("Hej, world!"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn call_exits_1_on_non_2xx_and_2_on_bad_input() {
    let data = tempfile::tempdir().expect("tempdir");
    let hello = connector_dir("hello");
    let dir = hello.to_str().expect("utf-8 path");
    let out = keyway(
        &[
            "call",
            dir,
            "GET",
            "/fail",
            "--component",
            components::HELLO,
            "--query",
            "kind=forbidden",
        ],
        data.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with("403\n"));

    let out = keyway(
        &[
            "call",
            dir,
            "GET",
            "/missing",
            "--component",
            components::HELLO,
        ],
        data.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("route_not_found"),
        "{}",
        text(&out.stdout)
    );

    let out = keyway(
        &[
            "call",
            dir,
            "FETCH",
            "/echo",
            "--component",
            components::HELLO,
        ],
        data.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("FETCH"), "{}", text(&out.stderr));

    let out = keyway(
        &[
            "call",
            dir,
            "POST",
            "/echo",
            "--component",
            components::HELLO,
            "--body",
            "{oops",
        ],
        data.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--body"),
        "{}",
        text(&out.stderr)
    );

    // Secret settings never travel in argv.
    let out = keyway(
        &[
            "call",
            dir,
            "GET",
            "/greet",
            "--component",
            components::HELLO,
            "--setting",
            "api_token=x",
        ],
        data.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--secret-env"),
        "{}",
        text(&out.stderr)
    );

    // A secret from the environment is accepted, and readable by the granted route.
    let out = keyway_command(data.path())
        .args([
            "call",
            dir,
            "GET",
            "/secret",
            "--component",
            components::HELLO,
            "--secret-env",
            "api_token=HELLO_TOKEN",
            "--query",
            "name=api_token",
        ])
        .env("HELLO_TOKEN", "canary-cli-secret-88aa")
        .output()
        .expect("run keyway");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\"readable\": true"));
    assert!(!text(&out.stdout).contains("canary-cli-secret-88aa"));
    assert!(!text(&out.stderr).contains("canary-cli-secret-88aa"));

    let out = keyway(
        &["call", "/nonexistent/connector", "GET", "/x"],
        data.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("/nonexistent/connector"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_trapping_route_is_reported_and_exits_1() {
    let data = tempfile::tempdir().expect("tempdir");
    let hello = connector_dir("hello");
    let out = keyway(
        &[
            "call",
            hello.to_str().expect("utf-8"),
            "POST",
            "/panic",
            "--component",
            components::HELLO,
        ],
        data.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("500\n"), "{stdout}");
    assert!(
        stdout.contains("route_trapped") && stdout.contains("POST /panic"),
        "{stdout}"
    );
}

#[test]
fn connectors_list_shows_key_version_and_routes() {
    let data = tempfile::tempdir().expect("tempdir");
    // Put the built component beside a copy of the manifest, as an operator would ship it.
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = dir.path().join("hello");
    std::fs::create_dir(&conn).expect("mkdir");
    std::fs::copy(
        connector_dir("hello").join("connector.json"),
        conn.join("connector.json"),
    )
    .expect("copy manifest");
    std::fs::copy(components::HELLO, conn.join("connector.wasm")).expect("copy component");
    let out = keyway(
        &["connectors", "list", dir.path().to_str().expect("utf-8")],
        data.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("hello 0.1.0"), "{stdout}");
    assert!(stdout.contains("POST   /echo"), "{stdout}");
    assert!(stdout.contains("internal"), "{stdout}");

    // A directory with no component is reported by name, and the exit code says so.
    std::fs::remove_file(conn.join("connector.wasm")).expect("rm");
    let out = keyway(
        &["connectors", "list", dir.path().to_str().expect("utf-8")],
        data.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no component found"),
        "{}",
        text(&out.stderr)
    );
}

/// A connector directory in a temporary folder: `manifest`, and `component` copied in as
/// `connector.wasm` when given.
fn connector_folder(manifest: &str, component: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("connector.json"), manifest).expect("manifest");
    if let Some(wasm) = component {
        std::fs::copy(wasm, dir.path().join("connector.wasm")).expect("component");
    }
    dir
}

#[test]
fn validate_checks_the_component_against_the_manifest() {
    let data = tempfile::tempdir().expect("tempdir");
    let hello =
        std::fs::read_to_string(connector_dir("hello").join("connector.json")).expect("manifest");

    // The component exports every route the manifest names: ok, naming the component.
    let good = connector_folder(&hello, Some(components::HELLO));
    let out = keyway(
        &["validate", good.path().to_str().expect("utf-8")],
        data.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("ok hello 0.1.0 (component "),
        "{}",
        text(&out.stdout)
    );

    // A route the manifest names and the component lacks; a stream route too.
    let lacking = hello.replacen(
        r#""connection": {"#,
        r#""streams": [{ "key": "things", "route": "/sync/things", "entity": "Thing" }],
  "connection": {
    "testConnection": { "route": "/setup/nope", "method": "POST" },"#,
        1,
    );
    let lacking = lacking.replacen(
        r#""entities": {}"#,
        r#""entities": { "Thing": ["write"] }"#,
        1,
    );
    let bad = connector_folder(&lacking, Some(components::HELLO));
    let out = keyway(
        &["validate", bad.path().to_str().expect("utf-8")],
        data.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("/connection/testConnection/route: route POST /setup/nope is not exported by the component"),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("/streams/0/route: route POST /sync/things is not exported by the component"),
        "{stdout}"
    );

    // No component at all: said, with the way out.
    let none = connector_folder(&hello, None);
    let out = keyway(
        &["validate", none.path().to_str().expect("utf-8")],
        data.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("no component found") && stdout.contains("--no-component"),
        "{stdout}"
    );
    let out = keyway(
        &[
            "validate",
            "--no-component",
            none.path().to_str().expect("utf-8"),
        ],
        data.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stdout));

    // Something that is not a connector component.
    let foreign = connector_folder(&hello, Some(components::NOT_A_CONNECTOR));
    let out = keyway(
        &["validate", foreign.path().to_str().expect("utf-8")],
        data.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("component "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn call_without_a_connection_on_an_oauth_connector_says_to_name_one() {
    let data = tempfile::tempdir().expect("tempdir");
    let sandbox = connector_dir("sandbox");
    let out = keyway(
        &[
            "call",
            sandbox.to_str().expect("utf-8 path"),
            "POST",
            "/setup/test_connection",
            "--component",
            components::SANDBOX,
            "--allow-cidr",
            "127.0.0.1/32",
        ],
        data.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("runs without a stored connection") && stdout.contains("--connection NAME"),
        "{stdout}"
    );
    assert!(!stdout.contains("has no OAuth configuration"), "{stdout}");
}

#[test]
fn a_connection_of_a_connector_outside_the_connector_directories_is_refused_with_the_fix() {
    let data = tempfile::tempdir().expect("tempdir");
    let hello =
        std::fs::read_to_string(connector_dir("hello").join("connector.json")).expect("manifest");
    let elsewhere = connector_folder(&hello, Some(components::HELLO));
    let served = tempfile::tempdir().expect("tempdir");
    let create = |dir: &std::path::Path| {
        keyway_command(data.path())
            .args(["connections", "create", "h", "--connector"])
            .arg(dir)
            .env("KEYWAY_CONNECTORS", served.path())
            .env("KEYWAY_LOG", "warn")
            .env_remove("KEYWAY_MASTER_KEY")
            .output()
            .expect("run keyway")
    };
    let out = create(elsewhere.path());
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("declares connector `hello`") && err.contains("--connectors"),
        "{err}"
    );

    // Named by its directory inside the connector directories, it is accepted: later
    // commands find it by key.
    let inside = served.path().join("hello");
    std::fs::create_dir_all(&inside).expect("dir");
    std::fs::write(inside.join("connector.json"), &hello).expect("manifest");
    std::fs::copy(components::HELLO, inside.join("connector.wasm")).expect("component");
    let out = create(&inside);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn keyway_new_connector_writes_a_crate_that_validates_and_builds() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    let repo = keyway_tests::workspace_root();
    // A workspace of its own whose dependencies are this repository's SDK crates, with this
    // repository's lock file, so the generated crate is built as it would be here.
    std::fs::write(
        root.path().join("Cargo.toml"),
        format!(
            r#"[workspace]
resolver = "3"
members = ["connectors/*"]

[workspace.package]
version = "0.1.0"
edition = "2024"
rust-version = "1.95"
license = "Apache-2.0"

[workspace.dependencies]
serde_json = "1"
keyway-sdk = {{ path = "{sdk}" }}
keyway-testing = {{ path = "{testing}" }}
"#,
            sdk = repo.join("sdk-guest").display(),
            testing = repo.join("sdk-guest/testing").display()
        ),
    )
    .expect("workspace");
    std::fs::copy(repo.join("Cargo.lock"), root.path().join("Cargo.lock")).expect("lock");
    let connectors = root.path().join("connectors");
    let new = |args: &[&str]| {
        Command::new(keyway_bin())
            .args(["new", "connector"])
            .args(args)
            .args(["--dir", connectors.to_str().expect("utf-8")])
            .current_dir(root.path())
            .env("KEYWAY_LOG", "warn")
            .output()
            .expect("run keyway new")
    };
    for (name, flag) in [("acme-crm", "--oauth"), ("acme-keys", "--api-key")] {
        let out = new(&[name, flag]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(stdout.contains("entered"), "{stdout}");
        let dir = connectors.join(name);
        for file in [
            "Cargo.toml",
            "connector.json",
            "src/lib.rs",
            "tests/connector.rs",
        ] {
            assert!(dir.join(file).is_file(), "{file} missing");
        }
        let out = keyway(
            &["validate", "--no-component", dir.to_str().expect("utf-8")],
            data.path(),
        );
        assert!(out.status.success(), "{}", text(&out.stdout));
    }
    // The lock file took the two crates and nothing else moved.
    let lock = std::fs::read_to_string(root.path().join("Cargo.lock")).expect("lock");
    assert!(lock.contains("name = \"acme-crm\"") && lock.contains("name = \"acme-keys\""));
    // The generated code builds for the component target as it is.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .current_dir(root.path())
        .args([
            "check",
            "--offline",
            "--locked",
            "--target",
            "wasm32-wasip2",
        ])
        .args(["-p", "acme-crm", "-p", "acme-keys"])
        .env("CARGO_TARGET_DIR", root.path().join("target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("run cargo check");
    assert!(built.status.success(), "{}", text(&built.stderr));

    // An existing directory and a bad name are refused, saying why.
    let again = new(&["acme-crm"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );
    let bad = new(&["Acme_CRM"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("lowercase letters"),
        "{}",
        text(&bad.stderr)
    );
    // Nothing half-made was left beside the connectors.
    let leftovers: Vec<_> = std::fs::read_dir(root.path())
        .expect("read")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".keyway-new"))
        .collect();
    assert!(leftovers.is_empty());
}
