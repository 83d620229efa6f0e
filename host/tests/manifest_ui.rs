//! Snapshot tests for manifests: `tests/manifests/valid/*.json` must validate (summary in
//! `*.out`), `tests/manifests/invalid/*.json` must fail with exactly the problems in `*.err`.
//! Run with `KEYWAY_BLESS=1` to rewrite the snapshots after an intended change.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use keyway_host::manifest::{self, Connector, OAuthConfig};

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/manifests")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn bless() -> bool {
    std::env::var_os("KEYWAY_BLESS").is_some_and(|v| v == "1")
}

/// Compares `actual` with the snapshot, or rewrites it when blessing; returns a mismatch.
fn snapshot(path: &Path, actual: &str) -> Option<String> {
    if bless() {
        std::fs::write(path, actual).unwrap();
        return None;
    }
    match std::fs::read_to_string(path) {
        Ok(expected) if expected == actual => None,
        Ok(expected) => Some(format!(
            "{} differs\n--- expected\n{expected}--- actual\n{actual}",
            path.display()
        )),
        Err(_) => Some(format!(
            "{} is missing (run with KEYWAY_BLESS=1)\n--- actual\n{actual}",
            path.display()
        )),
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn summary(c: &Connector) -> String {
    let mut s = String::new();
    let p = c.permissions();
    writeln!(s, "ok {} {}", c.key(), c.version()).unwrap();
    writeln!(
        s,
        "name: {}; provider: {}; kind: {:?}",
        c.name(),
        c.provider(),
        c.kind()
    )
    .unwrap();
    for h in &p.http {
        writeln!(s, "http: {h}").unwrap();
    }
    for (e, w) in &p.entities {
        writeln!(s, "entity: {e} write={w}").unwrap();
    }
    for name in &p.secrets {
        writeln!(s, "secret: {name}").unwrap();
    }
    for name in &p.injectable_secrets {
        writeln!(s, "inject grant: {name}").unwrap();
    }
    let conn = c.connection();
    for option in c.auth_options() {
        if let Some(name) = &option.name {
            writeln!(
                s,
                "auth option: {name} type={} title={:?} help={}",
                option.kind.map_or("", |k| k.as_str()),
                option.title.as_deref().unwrap_or(""),
                option.help_url.as_ref().map_or("-", |u| u.as_str())
            )
            .unwrap();
        }
        for rules in option.inject.values() {
            for rule in rules {
                writeln!(s, "{}", inject_line(rule)).unwrap();
            }
        }
    }
    if let Some(r) = &conn.test_connection {
        writeln!(s, "testConnection: {} {}", r.method, r.path).unwrap();
    }
    for option in c.auth_options() {
        if let Some(name) = &option.name {
            writeln!(s, "auth option {name}:").unwrap();
        }
        let schema = &option.settings_schema;
        for (name, info) in schema.properties() {
            writeln!(
                s,
                "setting: {name} required={} secret={} string={}",
                schema.required().contains(name),
                info.secret,
                info.string
            )
            .unwrap();
        }
        if let Some(o) = &option.oauth {
            oauth_summary(&mut s, o);
        } else {
            for (name, rule) in &option.host_validation {
                writeln!(s, "hostValidation: {name} {rule:?}").unwrap();
            }
        }
    }
    for st in c.streams() {
        writeln!(
            s,
            "stream: {} {} {} schedule={} mode={} entity={}",
            st.key,
            st.route.method,
            st.route.path,
            st.schedule.as_ref().map_or("manual", |x| x.as_str()),
            st.mode.as_str(),
            st.entity
        )
        .unwrap();
    }
    for w in c.webhooks() {
        writeln!(
            s,
            "webhook: {} {} {} scheme={} header={} encoding={} secret={} tolerance={}",
            w.key,
            w.route.method,
            w.route.path,
            w.rule.scheme.as_str(),
            w.rule
                .header
                .as_deref()
                .unwrap_or(w.rule.scheme.default_header()),
            w.rule.encoding.as_str(),
            w.secret,
            w.rule.tolerance_seconds
        )
        .unwrap();
    }
    s
}

fn inject_line(r: &manifest::InjectRule) -> String {
    format!("inject: {} -> {} {:?}", r.describe(), r.header, r.shape)
}

fn oauth_summary(s: &mut String, o: &OAuthConfig) {
    let t = |x: &Option<manifest::UrlTemplate>| {
        x.as_ref().map_or("-".to_owned(), |t| t.as_str().to_owned())
    };
    writeln!(s, "oauth: {:?}", o.flow).unwrap();
    writeln!(s, "  authorization: {}", t(&o.authorization_url)).unwrap();
    writeln!(s, "  token: {}", t(&o.token_url)).unwrap();
    writeln!(s, "  revocation: {}", t(&o.revocation_url)).unwrap();
    writeln!(s, "  issuer: {}", t(&o.issuer_url)).unwrap();
    writeln!(s, "  scope param: {:?}", o.scope_param()).unwrap();
    writeln!(
        s,
        "  pkce={} accessType={:?} refresh={} exposeAccessToken={}",
        o.pkce, o.access_type, o.refresh_enabled, o.expose_access_token
    )
    .unwrap();
    writeln!(
        s,
        "  client: {} {:?}",
        o.client.credential_key, o.client.auth_method
    )
    .unwrap();
    let tp = &o.token;
    writeln!(
        s,
        "  token paths: {} {} {} {} {}",
        tp.access_token, tp.refresh_token, tp.expires_in, tp.scope, tp.token_type
    )
    .unwrap();
    for (k, v) in &o.extra_authorize_params {
        writeln!(s, "  extra: {k}={v}").unwrap();
    }
    writeln!(s, "  requiredSettings: {:?}", o.required_settings).unwrap();
    for (name, rule) in &o.host_validation {
        writeln!(
            s,
            "  hostValidation: {name} {} {}",
            rule.normalizer().name(),
            rule.suffix()
        )
        .unwrap();
    }
    writeln!(s, "  callbackParams: {:?}", o.callback_params).unwrap();
    for rule in &o.inject {
        writeln!(s, "  {}", inject_line(rule)).unwrap();
    }
    if let Some(r) = &o.post_connect {
        writeln!(s, "  postConnect: {} {}", r.method, r.path).unwrap();
    }
    if let Some(used) = &o.preset {
        writeln!(
            s,
            "  provider: {} ({}) {}",
            used.provider, used.name, used.docs
        )
        .unwrap();
        for f in &used.filled {
            writeln!(s, "  filled: {} = {}", f.field, f.value).unwrap();
        }
    }
}

#[test]
fn valid_manifests_validate() {
    let files = corpus("valid");
    assert!(files.len() >= 2, "valid corpus is missing");
    let mut failures = Vec::new();
    for file in files {
        match manifest::load_dir_or_file(&file) {
            Ok(loaded) => {
                let out = file.with_extension("out");
                failures.extend(snapshot(&out, &summary(&loaded.connector)));
            }
            Err(e) => failures.push(format!("{} should be valid: {e}", file.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn invalid_manifests_report_every_problem() {
    let files = corpus("invalid");
    assert!(files.len() >= 40, "only {} invalid cases", files.len());
    let mut failures = Vec::new();
    for file in files {
        let name = file_name(&file);
        match manifest::load_dir_or_file(&file) {
            Ok(_) => failures.push(format!("{} should be invalid", file.display())),
            Err(e) => {
                let problems = e.problems();
                assert!(!problems.is_empty(), "{name}: error without problems");
                let mut text = String::new();
                for p in &problems {
                    assert!(
                        p.pointer.is_empty() || p.pointer.starts_with('/'),
                        "{name}: bad pointer {:?}",
                        p.pointer
                    );
                    writeln!(text, "{}", p.in_file(&name)).unwrap();
                }
                failures.extend(snapshot(&file.with_extension("err"), &text));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_connector_directory_loads_its_connector_json() {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/manifests/valid/square.json");
    std::fs::copy(src, dir.path().join("connector.json")).unwrap();
    let loaded = manifest::load_dir_or_file(dir.path()).unwrap();
    assert_eq!(loaded.connector.key(), "square");
    assert_eq!(loaded.path, dir.path().join("connector.json"));
    assert_eq!(loaded.dir, dir.path());

    let missing = manifest::load_dir_or_file(&dir.path().join("nope")).unwrap_err();
    assert!(missing.to_string().contains("nope"), "{missing}");
    assert_eq!(missing.problems().len(), 1);
}
