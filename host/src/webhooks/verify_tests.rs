//! Tests of `verify`: the schemes sign and verify, and a tampered or stale delivery is
//! refused.
use super::*;

pub(super) const NOW: i64 = 1_700_000_000;

pub(super) fn rule(scheme: Scheme) -> Rule {
    Rule {
        scheme,
        header: None,
        encoding: Encoding::Hex,
        tolerance_seconds: 300,
    }
}

pub(super) fn h(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

pub(super) fn all_schemes() -> [Scheme; 4] {
    [
        Scheme::HmacSha256,
        Scheme::Shopify,
        Scheme::Stripe,
        Scheme::Slack,
    ]
}

pub(super) fn replace_header(headers: &mut [(String, String)], name: &str, value: &str) {
    for (k, v) in headers.iter_mut() {
        if k.eq_ignore_ascii_case(name) {
            *v = value.to_owned();
        }
    }
}

#[test]
fn parse_and_as_str_round_trip() {
    for s in all_schemes() {
        assert_eq!(Scheme::parse(s.as_str()), Some(s));
    }
    assert_eq!(Scheme::parse("Stripe"), Some(Scheme::Stripe));
    assert_eq!(Scheme::parse("github"), None);
    for e in [Encoding::Hex, Encoding::Base64] {
        assert_eq!(Encoding::parse(e.as_str()), Some(e));
    }
    assert_eq!(Encoding::parse("base32"), None);
    assert_eq!(Scheme::Stripe.default_header(), "Stripe-Signature");
    assert_eq!(Scheme::Shopify.default_header(), "X-Shopify-Hmac-Sha256");
}

#[test]
fn hmac_matches_the_hmac_crate_for_all_key_lengths() {
    for len in [0usize, 1, 31, 32, 63, 64, 65, 100, 200] {
        let key: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let Ok(mut reference) = <HmacSha256 as Mac>::new_from_slice(&key) else {
            panic!("hmac crate refused a key of {len} bytes");
        };
        reference.update(b"some body");
        let want: [u8; 32] = reference.finalize().into_bytes().into();
        assert_eq!(
            hmac_sha256(&key, &[b"some ", b"body"]),
            Some(want),
            "len {len}"
        );
    }
}

#[test]
fn sign_then_verify_succeeds_for_every_scheme() {
    let body = br#"{"id":"evt_1","event_id":"Ev1","x":1}"#;
    for scheme in all_schemes() {
        for encoding in [Encoding::Hex, Encoding::Base64] {
            let r = Rule {
                encoding,
                ..rule(scheme)
            };
            let headers = sign(&r, b"s3cret", body, NOW, "d-1");
            let got = verify(&r, b"s3cret", &headers, body, NOW + 10);
            assert!(got.is_ok(), "{scheme:?}/{encoding:?}: {got:?}");
        }
    }
}

#[test]
fn sign_emits_only_the_expected_headers() {
    let names = |s: Scheme| -> Vec<String> {
        sign(&rule(s), b"k", b"{}", NOW, "d-1")
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    };
    assert_eq!(names(Scheme::HmacSha256), ["X-Signature", "X-Delivery-Id"]);
    assert_eq!(
        names(Scheme::Shopify),
        ["X-Shopify-Hmac-Sha256", "X-Shopify-Webhook-Id"]
    );
    assert_eq!(names(Scheme::Stripe), ["Stripe-Signature"]);
    assert_eq!(
        names(Scheme::Slack),
        ["X-Slack-Signature", "X-Slack-Request-Timestamp"]
    );
    let custom = Rule {
        header: Some("X-Hub-Signature-256".to_owned()),
        ..rule(Scheme::HmacSha256)
    };
    let headers = sign(&custom, b"k", b"{}", NOW, "d-1");
    assert_eq!(headers[0].0, "X-Hub-Signature-256");
    assert!(verify(&custom, b"k", &headers, b"{}", NOW).is_ok());
}

// Known-answer vectors computed independently with
// `printf BODY | openssl dgst -sha256 -hmac KEY [-binary | base64]`.

#[test]
fn known_answer_generic_hex_with_sha256_prefix() {
    let r = rule(Scheme::HmacSha256);
    let sig = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let secret = b"It's a Secret to Everybody";
    for value in [sig.to_owned(), format!("sha256={sig}")] {
        let headers = [h("x-signature", &value), h("X-GitHub-Delivery", "gh-42")];
        let got = verify(&r, secret, &headers, b"Hello, World!", NOW);
        assert_eq!(
            got,
            Ok(Verified {
                timestamp: None,
                delivery_id: "gh-42".to_owned()
            })
        );
    }
    assert_eq!(
        sign(&r, secret, b"Hello, World!", NOW, "x")[0].1,
        sig,
        "sign agrees with openssl"
    );
}

#[test]
fn known_answer_shopify_base64() {
    let r = rule(Scheme::Shopify);
    let body = br#"{"id":123,"topic":"orders/create"}"#;
    let headers = [
        h(
            "X-Shopify-Hmac-SHA256",
            "3AGelgbdxZEe47CEgVG/XYOaaA9FfMX79suG3v/VhMM=",
        ),
        h(
            "X-Shopify-Webhook-Id",
            "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        ),
    ];
    let got = verify(&r, b"shpss_test_secret", &headers, body, NOW);
    assert_eq!(
        got,
        Ok(Verified {
            timestamp: None,
            delivery_id: "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043".to_owned()
        })
    );
}

#[test]
fn known_answer_stripe_and_slack() {
    let body = br#"{"id":"evt_123","object":"event"}"#;
    let headers = [h(
        "Stripe-Signature",
        "t=1492774577,v1=43a42b4ffce541dab5cdeaffc158cc08944140af1d4437be5af737b7b144adaa",
    )];
    let got = verify(
        &rule(Scheme::Stripe),
        b"whsec_test_secret",
        &headers,
        body,
        1_492_774_600,
    );
    assert_eq!(
        got,
        Ok(Verified {
            timestamp: Some(1_492_774_577),
            delivery_id: "evt_123".to_owned()
        })
    );

    let headers = [
        h(
            "X-Slack-Signature",
            "v0=dc2dc5de319a1917d4e4968529e09c99f4581f86ff7d905cc6e2fa8283c45d41",
        ),
        h("X-Slack-Request-Timestamp", "1531420618"),
    ];
    let got = verify(
        &rule(Scheme::Slack),
        b"8f742231b10e8888abcd99yyyzzz85a5",
        &headers,
        b"token=abc&team_id=T1",
        1_531_420_618,
    );
    let Ok(v) = got else {
        panic!("slack vector failed: {got:?}");
    };
    assert_eq!(v.timestamp, Some(1_531_420_618));
    assert!(v.delivery_id.starts_with("sig:"));
}

#[test]
fn flipped_body_byte_is_bad_signature() {
    let body = br#"{"id":"evt_1","event_id":"Ev1"}"#.to_vec();
    for scheme in all_schemes() {
        let r = rule(scheme);
        let headers = sign(&r, b"k", &body, NOW, "d");
        let mut tampered = body.clone();
        tampered[3] ^= 0x01;
        assert_eq!(
            verify(&r, b"k", &headers, &tampered, NOW),
            Err(VerifyError::BadSignature),
            "{scheme:?}"
        );
    }
}

#[test]
fn wrong_secret_is_bad_signature() {
    for scheme in all_schemes() {
        let r = rule(scheme);
        let headers = sign(&r, b"right", b"{}", NOW, "d");
        assert_eq!(
            verify(&r, b"wrong", &headers, b"{}", NOW),
            Err(VerifyError::BadSignature),
            "{scheme:?}"
        );
    }
}

#[test]
fn stale_and_future_timestamps_are_stale() {
    for scheme in [Scheme::Stripe, Scheme::Slack] {
        let r = rule(scheme);
        let headers = sign(&r, b"k", b"{}", NOW, "d");
        assert_eq!(
            verify(&r, b"k", &headers, b"{}", NOW + 912),
            Err(VerifyError::Stale {
                age_seconds: 912,
                tolerance_seconds: 300
            }),
            "{scheme:?} past"
        );
        assert_eq!(
            verify(&r, b"k", &headers, b"{}", NOW - 400),
            Err(VerifyError::Stale {
                age_seconds: -400,
                tolerance_seconds: 300
            }),
            "{scheme:?} future"
        );
        // Edges of the window are inside it.
        assert!(verify(&r, b"k", &headers, b"{}", NOW + 300).is_ok());
        assert!(verify(&r, b"k", &headers, b"{}", NOW - 300).is_ok());
    }
    let msg = VerifyError::Stale {
        age_seconds: 912,
        tolerance_seconds: 300,
    }
    .to_string();
    assert_eq!(msg, "the delivery is 912 s old; the window is 300 s");
    let msg = VerifyError::Stale {
        age_seconds: -400,
        tolerance_seconds: 300,
    }
    .to_string();
    assert!(msg.contains("400 s in the future"), "{msg}");
}

#[test]
fn stale_and_unsigned_is_bad_signature_not_stale() {
    for scheme in [Scheme::Stripe, Scheme::Slack] {
        let r = rule(scheme);
        let headers = sign(&r, b"other", b"{}", NOW, "d");
        assert_eq!(
            verify(&r, b"k", &headers, b"{}", NOW + 10_000),
            Err(VerifyError::BadSignature),
            "{scheme:?}"
        );
    }
}

#[test]
fn stripe_any_v1_may_match_and_v0_is_ignored() {
    let r = rule(Scheme::Stripe);
    let body = br#"{"id":"evt_9"}"#;
    let signed = sign(&r, b"k", body, NOW, "");
    let good = signed[0]
        .1
        .split(',')
        .find_map(|p| p.strip_prefix("v1="))
        .unwrap_or_default()
        .to_owned();
    assert_eq!(good.len(), 64);
    let wrong = "0".repeat(64);
    let value = format!("t={NOW},v1={wrong},v1={good},v0={wrong},scheme=x");
    let got = verify(&r, b"k", &[h("stripe-signature", &value)], body, NOW);
    assert_eq!(
        got,
        Ok(Verified {
            timestamp: Some(NOW),
            delivery_id: "evt_9".to_owned()
        })
    );
    // Only v0 carrying the right MAC does not count.
    let value = format!("t={NOW},v1={wrong},v0={good}");
    assert_eq!(
        verify(&r, b"k", &[h("Stripe-Signature", &value)], body, NOW),
        Err(VerifyError::BadSignature)
    );
}
