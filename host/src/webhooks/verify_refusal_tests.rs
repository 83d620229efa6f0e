//! Tests of `verify`: malformed headers, delivery ids, and messages that never carry a
//! secret, a signature or body text.
use super::tests::{NOW, all_schemes, h, replace_header, rule};
use super::*;

#[test]
fn stripe_missing_t_or_v1_is_malformed() {
    let r = rule(Scheme::Stripe);
    let sig = "ab".repeat(32);
    for value in [
        format!("v1={sig}"),
        format!("t={NOW},v0={sig}"),
        format!("t=yesterday,v1={sig}"),
        format!("t={NOW},t={NOW},v1={sig}"),
    ] {
        let got = verify(&r, b"k", &[h("Stripe-Signature", &value)], b"{}", NOW);
        assert!(
            matches!(&got, Err(VerifyError::Malformed(m)) if m.contains("`Stripe-Signature`")),
            "{value}: {got:?}"
        );
    }
}

#[test]
fn missing_header_names_it() {
    let cases = [
        (Scheme::HmacSha256, "X-Signature"),
        (Scheme::Shopify, "X-Shopify-Hmac-Sha256"),
        (Scheme::Stripe, "Stripe-Signature"),
        (Scheme::Slack, "X-Slack-Signature"),
    ];
    for (scheme, name) in cases {
        let got = verify(&rule(scheme), b"k", &[h("Other", "x")], b"{}", NOW);
        assert_eq!(got, Err(VerifyError::MissingHeader(name.to_owned())));
        let msg = VerifyError::MissingHeader(name.to_owned()).to_string();
        assert_eq!(msg, format!("the `{name}` header is missing"));
    }
    // Slack without its timestamp header.
    let r = rule(Scheme::Slack);
    let headers: Vec<_> = sign(&r, b"k", b"{}", NOW, "d")
        .into_iter()
        .filter(|(k, _)| k != "X-Slack-Request-Timestamp")
        .collect();
    assert_eq!(
        verify(&r, b"k", &headers, b"{}", NOW),
        Err(VerifyError::MissingHeader(
            "X-Slack-Request-Timestamp".to_owned()
        ))
    );
}

#[test]
fn duplicated_signature_header_is_malformed() {
    for scheme in all_schemes() {
        let r = rule(scheme);
        let mut headers = sign(&r, b"k", b"{}", NOW, "d");
        let mut dup = headers[0].clone();
        dup.0 = dup.0.to_ascii_lowercase();
        headers.push(dup);
        let got = verify(&r, b"k", &headers, b"{}", NOW);
        assert!(
            matches!(&got, Err(VerifyError::Malformed(m)) if m.contains("appears more than once")),
            "{scheme:?}: {got:?}"
        );
    }
}

#[test]
fn overlong_header_is_malformed() {
    let r = rule(Scheme::HmacSha256);
    let long = "a".repeat(MAX_HEADER_LEN + 1);
    let got = verify(&r, b"k", &[h("X-Signature", &long)], b"{}", NOW);
    assert!(
        matches!(&got, Err(VerifyError::Malformed(m)) if m.contains("longer than 4096")),
        "{got:?}"
    );
}

#[test]
fn garbage_encodings_do_not_panic() {
    let hex_rule = rule(Scheme::HmacSha256);
    let b64_rule = Rule {
        encoding: Encoding::Base64,
        ..rule(Scheme::HmacSha256)
    };
    let cases: [(&Rule, &str); 7] = [
        (&hex_rule, "zz-not-hex"),
        (&hex_rule, "abc"),     // odd length
        (&hex_rule, "abcd"),    // valid hex, wrong length
        (&hex_rule, "sha256="), // empty after prefix
        (&b64_rule, "!!!***"),
        (&b64_rule, "AAAA"), // valid base64, wrong length
        (&b64_rule, "é"),
    ];
    for (r, value) in cases {
        let got = verify(r, b"k", &[h("X-Signature", value)], b"{}", NOW);
        assert!(
            matches!(
                got,
                Err(VerifyError::BadSignature) | Err(VerifyError::Malformed(_))
            ),
            "{value}: {got:?}"
        );
    }
    let slack = rule(Scheme::Slack);
    for (sig, ts) in [
        ("v0=nothex", "1700000000"),
        ("v1=abcd", "1700000000"),
        ("v0=abcd", "1700000000"),
        (
            "v0=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "-5",
        ),
        ("v0=aa", "99999999999999999999999"),
    ] {
        let headers = [
            h("X-Slack-Signature", sig),
            h("X-Slack-Request-Timestamp", ts),
        ];
        let got = verify(&slack, b"k", &headers, b"{}", NOW);
        assert!(
            matches!(
                got,
                Err(VerifyError::BadSignature) | Err(VerifyError::Malformed(_))
            ),
            "{sig}/{ts}: {got:?}"
        );
    }
    let stripe = rule(Scheme::Stripe);
    for value in ["", ",,,", "t=,v1=", "t=1,v1=zz", "===", "t=1=2,v1=ab"] {
        let got = verify(&stripe, b"k", &[h("Stripe-Signature", value)], b"{}", NOW);
        assert!(got.is_err(), "{value:?}: {got:?}");
    }
}

#[test]
fn slack_timestamp_error_names_the_header() {
    let r = rule(Scheme::Slack);
    let mut headers = sign(&r, b"k", b"{}", NOW, "d");
    replace_header(&mut headers, "X-Slack-Request-Timestamp", "soon");
    let Err(err) = verify(&r, b"k", &headers, b"{}", NOW) else {
        panic!("accepted a non-numeric timestamp");
    };
    assert_eq!(
        err.to_string(),
        "the `X-Slack-Request-Timestamp` header is not a unix time in seconds"
    );
}

#[test]
fn delivery_id_rules() {
    let body = br#"{"id":"evt_abc","event_id":"Ev42"}"#;

    // Generic: X-Delivery-Id wins over X-GitHub-Delivery.
    let r = rule(Scheme::HmacSha256);
    let mut headers = sign(&r, b"k", body, NOW, "mine");
    headers.push(h("X-GitHub-Delivery", "gh"));
    assert_eq!(
        verify(&r, b"k", &headers, body, NOW).map(|v| v.delivery_id),
        Ok("mine".to_owned())
    );
    // Generic: X-GitHub-Delivery alone.
    let mut headers = sign(&r, b"k", body, NOW, "");
    headers.push(h("x-github-delivery", "gh"));
    assert_eq!(
        verify(&r, b"k", &headers, body, NOW).map(|v| v.delivery_id),
        Ok("gh".to_owned())
    );
    // Generic: fallback hashes the signature header value.
    let headers = sign(&r, b"k", body, NOW, "");
    let want = format!(
        "sig:{}",
        hex::encode(Sha256::digest(headers[0].1.as_bytes()))
    );
    assert_eq!(
        verify(&r, b"k", &headers, body, NOW).map(|v| v.delivery_id),
        Ok(want)
    );

    // Shopify: header, then fallback.
    let r = rule(Scheme::Shopify);
    let headers = sign(&r, b"k", body, NOW, "shop-1");
    assert_eq!(
        verify(&r, b"k", &headers, body, NOW).map(|v| v.delivery_id),
        Ok("shop-1".to_owned())
    );
    let headers = sign(&r, b"k", body, NOW, "");
    let got = verify(&r, b"k", &headers, body, NOW).map(|v| v.delivery_id);
    assert!(matches!(&got, Ok(id) if id.starts_with("sig:") && id.len() == 68));

    // Stripe: body `id`, else fallback on the header value.
    let r = rule(Scheme::Stripe);
    let headers = sign(&r, b"k", body, NOW, "ignored");
    assert_eq!(
        verify(&r, b"k", &headers, body, NOW).map(|v| v.delivery_id),
        Ok("evt_abc".to_owned())
    );
    let no_id = br#"{"object":"event","data":{"id":"nested"}}"#;
    let headers = sign(&r, b"k", no_id, NOW, "");
    let want = format!(
        "sig:{}",
        hex::encode(Sha256::digest(headers[0].1.as_bytes()))
    );
    assert_eq!(
        verify(&r, b"k", &headers, no_id, NOW).map(|v| v.delivery_id),
        Ok(want)
    );

    // Slack: body `event_id`, else fallback (form bodies are not JSON).
    let r = rule(Scheme::Slack);
    let headers = sign(&r, b"k", body, NOW, "");
    assert_eq!(
        verify(&r, b"k", &headers, body, NOW).map(|v| v.delivery_id),
        Ok("Ev42".to_owned())
    );
    let form = b"command=%2Fdeploy&text=now";
    let headers = sign(&r, b"k", form, NOW, "");
    let got = verify(&r, b"k", &headers, form, NOW).map(|v| v.delivery_id);
    assert!(matches!(&got, Ok(id) if id.starts_with("sig:")), "{got:?}");
}

#[test]
fn error_messages_never_contain_secret_signature_or_body() {
    let secret = b"CANARY-SECRET-7f3a";
    let sig = "CANARYSIG9d2e";
    let body = br#"{"note":"CANARY-BODY-51c0"}"#;
    let canaries = ["CANARY", "7f3a", "9d2e", "51c0"];

    let mut errors = Vec::new();
    for scheme in all_schemes() {
        let r = rule(scheme);
        let name = scheme.default_header();
        for value in [
            sig.to_owned(),
            format!("sha256={sig}"),
            format!("v0={sig}"),
            format!("t={sig},v1={sig}"),
            format!("t=1,v1={sig}"),
            format!("{sig}{}", "x".repeat(MAX_HEADER_LEN)),
        ] {
            let headers = [h(name, &value), h("X-Slack-Request-Timestamp", sig)];
            errors.push(verify(&r, secret, &headers, body, NOW));
            let headers = [h(name, &value), h(name, &value)];
            errors.push(verify(&r, secret, &headers, body, NOW));
        }
        // A wrongly signed and a correctly signed but stale delivery.
        let headers = sign(&r, b"other", body, NOW, "d");
        errors.push(verify(&r, secret, &headers, body, NOW));
        let headers = sign(&r, secret, body, NOW, "d");
        errors.push(verify(&r, secret, &headers, body, NOW + 100_000));
    }
    let mut seen = 0;
    for result in errors {
        let Err(err) = result else {
            continue;
        };
        seen += 1;
        let shown = format!("{err} / {err:?}");
        for c in canaries {
            assert!(!shown.contains(c), "leaked {c:?} in {shown}");
        }
    }
    assert!(seen >= 40, "only {seen} errors exercised");
}
