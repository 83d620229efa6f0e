//! `keyway validate` output: one `<file>: ok <key> <version>` line per valid connector,
//! one `<file>:<line>:<column>: <pointer>: <message>` line per problem, exit 1 on any
//! problem.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use keyway_host::cli::validate::{ValidateArgs, check, lines, run};

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/manifests")
        .join(rel)
}

#[test]
fn valid_manifest_prints_one_ok_line() {
    let path = corpus("valid/square.json");
    let report = check(&path);
    assert!(report.valid);
    assert_eq!(
        lines(&report),
        vec![format!("{}: ok square 1.2.0", path.display())]
    );
}

#[test]
fn invalid_manifest_prints_every_problem_on_its_own_line() {
    let path = corpus("invalid/many_problems_at_once.json");
    let report = check(&path);
    assert!(!report.valid);
    let out = lines(&report);
    assert!(out.len() >= 5, "{out:#?}");
    // `<file>:<line>:<column>: <pointer>: <message>`, each line saying where to look.
    let prefix = format!("{}:", path.display());
    for line in &out {
        let rest = line.strip_prefix(&prefix).unwrap();
        let (line_no, rest) = rest.split_once(':').unwrap();
        let (column, rest) = rest.split_once(": ").unwrap();
        assert!(
            line_no.parse::<usize>().is_ok() && column.parse::<usize>().is_ok(),
            "{line}"
        );
        let (pointer, message) = rest.split_once(": ").unwrap();
        assert!(pointer.starts_with('/'), "{line}");
        assert!(!message.is_empty(), "{line}");
    }
    assert!(out.iter().any(|l| l.ends_with(
        ": /connection/oauth/hostValidation: setting \"shop_domain\" appears in the host of authorizationUrlTemplate but has no hostValidation rule"
    )), "{out:#?}");
}

#[test]
fn json_report_shape() {
    let report = check(&corpus("invalid/bad_kind.json"));
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"][0]["pointer"], "/kind");
    let ok = serde_json::to_value(check(&corpus("valid/shopify.json"))).unwrap();
    assert_eq!(ok["key"], "shopify");
    assert!(ok.get("problems").is_none());
}

#[tokio::test]
async fn exit_code_is_one_when_any_manifest_fails() {
    let data = tempfile::tempdir().unwrap();
    let both = ValidateArgs {
        paths: vec![corpus("valid/square.json"), corpus("invalid/bad_kind.json")],
        json: false,
        no_component: false,
        explain: false,
    };
    assert_eq!(
        run(&both, data.path(), None).await.unwrap(),
        ExitCode::from(1)
    );
    // Lone manifest files with no component beside them: the manifests alone are checked.
    let good = ValidateArgs {
        paths: vec![corpus("valid/square.json"), corpus("valid/shopify.json")],
        json: true,
        no_component: false,
        explain: false,
    };
    assert_eq!(
        run(&good, data.path(), None).await.unwrap(),
        ExitCode::SUCCESS
    );
    let missing = ValidateArgs {
        paths: vec![corpus("valid/does-not-exist")],
        json: false,
        no_component: false,
        explain: false,
    };
    assert_eq!(
        run(&missing, data.path(), None).await.unwrap(),
        ExitCode::from(1)
    );
}

#[test]
fn a_json_syntax_error_says_line_and_column() {
    let report = check(&corpus("invalid/not_json.json"));
    let out = lines(&report);
    assert_eq!(out.len(), 1);
    assert!(
        out[0].ends_with("not_json.json: line 4, column 3: not valid JSON: expected `,` or `}`"),
        "{out:?}"
    );
}
