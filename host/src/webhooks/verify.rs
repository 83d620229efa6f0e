//! Webhook signature verification.
//!
//! Owns: checking a provider webhook's signature over the raw body in
//! constant time (generic HMAC-SHA256, Shopify, Stripe, Slack), the replay
//! window for schemes with a signed timestamp, and the delivery id used for
//! dedupe. Also builds the headers a provider would send (`sign`), for a
//! sandbox provider's "send a test webhook" and for test runtimes.
//!
//! Must not: log, print, store, or echo the secret, the presented signature,
//! or body text — not in an error, not anywhere. Errors name the header and
//! the problem only. It does no I/O and keeps no state: dedupe storage and
//! routing belong to the caller.
//!
//! Order of checks: header presence and shape (`MissingHeader`,
//! `Malformed`), then the MAC (`BadSignature`), then the replay window
//! (`Stale`), so a stale message is reported as `Stale` only when it is
//! correctly signed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

type HmacSha256 = Hmac<Sha256>;

/// Longest header value accepted, in bytes.
const MAX_HEADER_LEN: usize = 4096;

const GENERIC_DELIVERY_HEADER: &str = "X-Delivery-Id";
const GITHUB_DELIVERY_HEADER: &str = "X-GitHub-Delivery";
const SHOPIFY_DELIVERY_HEADER: &str = "X-Shopify-Webhook-Id";
const SLACK_TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";

/// A provider's signing scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Generic HMAC-SHA256 over the raw body (GitHub style and similar).
    HmacSha256,
    /// Shopify: base64 HMAC-SHA256 over the raw body.
    Shopify,
    /// Stripe: `t=...,v1=...` over `{t}.{body}`.
    Stripe,
    /// Slack: `v0=<hex>` over `v0:{timestamp}:{body}`.
    Slack,
}

impl Scheme {
    /// Parses `hmac-sha256`, `shopify`, `stripe` or `slack` (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<Scheme> {
        let s = s.trim_ascii();
        [
            Scheme::HmacSha256,
            Scheme::Shopify,
            Scheme::Stripe,
            Scheme::Slack,
        ]
        .into_iter()
        .find(|scheme| scheme.as_str().eq_ignore_ascii_case(s))
    }

    /// The name `parse` accepts.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scheme::HmacSha256 => "hmac-sha256",
            Scheme::Shopify => "shopify",
            Scheme::Stripe => "stripe",
            Scheme::Slack => "slack",
        }
    }

    /// The signature header the provider sends.
    pub fn default_header(&self) -> &'static str {
        match self {
            Scheme::HmacSha256 => "X-Signature",
            Scheme::Shopify => "X-Shopify-Hmac-Sha256",
            Scheme::Stripe => "Stripe-Signature",
            Scheme::Slack => "X-Slack-Signature",
        }
    }
}

/// How a generic HMAC-SHA256 signature is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Hex,
    Base64,
}

impl Encoding {
    /// Parses `hex` or `base64` (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<Encoding> {
        let s = s.trim_ascii();
        [Encoding::Hex, Encoding::Base64]
            .into_iter()
            .find(|enc| enc.as_str().eq_ignore_ascii_case(s))
    }

    /// The name `parse` accepts.
    pub fn as_str(&self) -> &'static str {
        match self {
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
        }
    }
}

/// How one webhook endpoint's deliveries are verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub scheme: Scheme,
    /// Signature header name (case-insensitive); None = the scheme's default.
    pub header: Option<String>,
    /// Only for HmacSha256 (Shopify = base64, Stripe/Slack = hex fixed).
    pub encoding: Encoding,
    /// Replay window in seconds for schemes with a signed timestamp.
    pub tolerance_seconds: u32,
}

impl Rule {
    fn signature_header(&self) -> &str {
        self.header
            .as_deref()
            .unwrap_or_else(|| self.scheme.default_header())
    }
}

/// What a verified delivery carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signed timestamp (Stripe, Slack); None for schemes without one.
    pub timestamp: Option<i64>,
    /// The id to dedupe redeliveries on.
    pub delivery_id: String,
}

/// Why a delivery was rejected. No variant carries the secret, the
/// presented signature, or body text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The named header is absent.
    #[error("the `{0}` header is missing")]
    MissingHeader(String),
    /// A header is present but unusable; the message names the header and
    /// the problem, never the value.
    #[error("{0}")]
    Malformed(String),
    /// The signature does not match the body (deliberately without detail).
    #[error("the signature does not match the body")]
    BadSignature,
    /// The signed timestamp is outside the replay window. `age_seconds` is
    /// `now - timestamp`: negative for a timestamp in the future.
    #[error("{}", stale_message(*age_seconds, *tolerance_seconds))]
    Stale {
        age_seconds: i64,
        tolerance_seconds: u32,
    },
}

fn stale_message(age_seconds: i64, tolerance_seconds: u32) -> String {
    if age_seconds >= 0 {
        format!("the delivery is {age_seconds} s old; the window is {tolerance_seconds} s")
    } else {
        format!(
            "the delivery is dated {} s in the future; the window is {tolerance_seconds} s",
            age_seconds.unsigned_abs()
        )
    }
}

fn malformed(header: &str, problem: &str) -> VerifyError {
    VerifyError::Malformed(format!("the `{header}` header {problem}"))
}

/// Verifies one delivery.
///
/// `headers`: (name, value) pairs as received, names in any case.
/// `body`: the raw body bytes exactly as received.
pub fn verify(
    rule: &Rule,
    secret: &[u8],
    headers: &[(String, String)],
    body: &[u8],
    now_unix: i64,
) -> Result<Verified, VerifyError> {
    let sig_header = rule.signature_header();
    let sig_value = required_header(headers, sig_header)?;

    match rule.scheme {
        Scheme::HmacSha256 => {
            let presented = sig_value.strip_prefix("sha256=").unwrap_or(sig_value);
            let presented = decode(presented, rule.encoding, sig_header)?;
            check_mac(&hmac_sha256(secret, &[body]), &presented)?;
            let delivery_id = match optional_header(headers, GENERIC_DELIVERY_HEADER)? {
                Some(id) => id.to_owned(),
                None => match optional_header(headers, GITHUB_DELIVERY_HEADER)? {
                    Some(id) => id.to_owned(),
                    None => fallback_id(sig_value),
                },
            };
            Ok(Verified {
                timestamp: None,
                delivery_id,
            })
        }
        Scheme::Shopify => {
            let presented = decode(sig_value, Encoding::Base64, sig_header)?;
            check_mac(&hmac_sha256(secret, &[body]), &presented)?;
            let delivery_id = match optional_header(headers, SHOPIFY_DELIVERY_HEADER)? {
                Some(id) => id.to_owned(),
                None => fallback_id(sig_value),
            };
            Ok(Verified {
                timestamp: None,
                delivery_id,
            })
        }
        Scheme::Stripe => {
            let parsed = parse_stripe(sig_value, sig_header)?;
            let expected = hmac_sha256(secret, &[parsed.t_text.as_bytes(), b".", body]);
            // Check every v1 entry without stopping at the first match.
            let mut any = Choice::from(0u8);
            for candidate in &parsed.v1 {
                if let Ok(bytes) = hex::decode(candidate)
                    && bytes.len() == expected.len()
                {
                    any |= expected.as_slice().ct_eq(bytes.as_slice());
                }
            }
            if !bool::from(any) {
                return Err(VerifyError::BadSignature);
            }
            check_window(parsed.t, now_unix, rule.tolerance_seconds)?;
            let delivery_id =
                body_string_field(body, "id").unwrap_or_else(|| fallback_id(sig_value));
            Ok(Verified {
                timestamp: Some(parsed.t),
                delivery_id,
            })
        }
        Scheme::Slack => {
            let Some(hex_sig) = sig_value.strip_prefix("v0=") else {
                return Err(malformed(sig_header, "does not start with `v0=`"));
            };
            let ts_text = required_header(headers, SLACK_TIMESTAMP_HEADER)?;
            let ts = parse_unix_seconds(ts_text).ok_or_else(|| {
                malformed(SLACK_TIMESTAMP_HEADER, "is not a unix time in seconds")
            })?;
            let presented = decode(hex_sig, Encoding::Hex, sig_header)?;
            let expected = hmac_sha256(secret, &[b"v0:", ts_text.as_bytes(), b":", body]);
            check_mac(&expected, &presented)?;
            check_window(ts, now_unix, rule.tolerance_seconds)?;
            let delivery_id =
                body_string_field(body, "event_id").unwrap_or_else(|| fallback_id(sig_value));
            Ok(Verified {
                timestamp: Some(ts),
                delivery_id,
            })
        }
    }
}

/// Builds the headers a provider would send for `body` at `now_unix`.
///
/// `delivery_id` goes in the scheme's delivery-id header when it has one
/// (generic: `X-Delivery-Id`, Shopify: `X-Shopify-Webhook-Id`) and is not
/// empty; Stripe carries its id in the body and Slack has no such header.
pub fn sign(
    rule: &Rule,
    secret: &[u8],
    body: &[u8],
    now_unix: i64,
    delivery_id: &str,
) -> Vec<(String, String)> {
    let sig_header = rule.signature_header().to_owned();
    let mut out = Vec::with_capacity(2);
    match rule.scheme {
        Scheme::HmacSha256 => {
            let mac = hmac_sha256(secret, &[body]);
            let value = match rule.encoding {
                Encoding::Hex => hex::encode(mac),
                Encoding::Base64 => BASE64.encode(mac),
            };
            out.push((sig_header, value));
            if !delivery_id.is_empty() {
                out.push((GENERIC_DELIVERY_HEADER.to_owned(), delivery_id.to_owned()));
            }
        }
        Scheme::Shopify => {
            out.push((sig_header, BASE64.encode(hmac_sha256(secret, &[body]))));
            if !delivery_id.is_empty() {
                out.push((SHOPIFY_DELIVERY_HEADER.to_owned(), delivery_id.to_owned()));
            }
        }
        Scheme::Stripe => {
            let t = now_unix.to_string();
            let mac = hmac_sha256(secret, &[t.as_bytes(), b".", body]);
            out.push((sig_header, format!("t={t},v1={}", hex::encode(mac))));
        }
        Scheme::Slack => {
            let t = now_unix.to_string();
            let mac = hmac_sha256(secret, &[b"v0:", t.as_bytes(), b":", body]);
            out.push((sig_header, format!("v0={}", hex::encode(mac))));
            out.push((SLACK_TIMESTAMP_HEADER.to_owned(), t));
        }
    }
    out
}

/// HMAC-SHA256 over the concatenation of `parts`.
///
/// The key is prepared as RFC 2104 says (hashed when longer than a block,
/// zero-padded to a block), so construction cannot fail for any secret.
fn hmac_sha256(secret: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut key = Key::<HmacSha256>::default();
    if secret.len() <= key.len() {
        key[..secret.len()].copy_from_slice(secret);
    } else {
        let digest = Sha256::digest(secret);
        key[..digest.len()].copy_from_slice(&digest);
    }
    let mut mac = <HmacSha256 as KeyInit>::new(&key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Constant-time comparison; a length mismatch is a bad signature.
fn check_mac(expected: &[u8], presented: &[u8]) -> Result<(), VerifyError> {
    if expected.len() == presented.len() && bool::from(expected.ct_eq(presented)) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

fn check_window(timestamp: i64, now_unix: i64, tolerance_seconds: u32) -> Result<(), VerifyError> {
    let age_seconds = now_unix.saturating_sub(timestamp);
    if age_seconds.unsigned_abs() > u64::from(tolerance_seconds) {
        Err(VerifyError::Stale {
            age_seconds,
            tolerance_seconds,
        })
    } else {
        Ok(())
    }
}

fn decode(value: &str, encoding: Encoding, header: &str) -> Result<Vec<u8>, VerifyError> {
    match encoding {
        Encoding::Hex => hex::decode(value).map_err(|_| malformed(header, "is not valid hex")),
        Encoding::Base64 => BASE64
            .decode(value)
            .map_err(|_| malformed(header, "is not valid base64")),
    }
}

/// Unix seconds written as plain ASCII digits.
fn parse_unix_seconds(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

struct StripeHeader<'a> {
    t: i64,
    t_text: &'a str,
    v1: Vec<&'a str>,
}

fn parse_stripe<'a>(value: &'a str, header: &str) -> Result<StripeHeader<'a>, VerifyError> {
    let mut t_text: Option<&str> = None;
    let mut v1 = Vec::new();
    for item in value.split(',') {
        let Some((key, val)) = item.split_once('=') else {
            continue;
        };
        match key.trim_ascii() {
            "t" => {
                if t_text.is_some() {
                    return Err(malformed(header, "has more than one `t` entry"));
                }
                t_text = Some(val.trim_ascii());
            }
            "v1" => v1.push(val.trim_ascii()),
            _ => {}
        }
    }
    let Some(t_text) = t_text else {
        return Err(malformed(header, "has no `t` entry"));
    };
    let t = parse_unix_seconds(t_text)
        .ok_or_else(|| malformed(header, "has a `t` entry that is not a unix time in seconds"))?;
    if v1.is_empty() {
        return Err(malformed(header, "has no `v1` entry"));
    }
    Ok(StripeHeader { t, t_text, v1 })
}

/// Finds a header by name, case-insensitively. Present more than once or
/// longer than the cap is malformed. Values are trimmed of ASCII
/// whitespace; an empty value counts as absent.
fn optional_header<'a>(
    headers: &'a [(String, String)],
    name: &str,
) -> Result<Option<&'a str>, VerifyError> {
    let mut found: Option<&str> = None;
    for (key, value) in headers {
        if key.trim_ascii().eq_ignore_ascii_case(name) {
            if found.is_some() {
                return Err(malformed(name, "appears more than once"));
            }
            if value.len() > MAX_HEADER_LEN {
                return Err(malformed(
                    name,
                    &format!("is longer than {MAX_HEADER_LEN} bytes"),
                ));
            }
            found = Some(value.trim_ascii());
        }
    }
    Ok(found.filter(|v| !v.is_empty()))
}

fn required_header<'a>(
    headers: &'a [(String, String)],
    name: &str,
) -> Result<&'a str, VerifyError> {
    optional_header(headers, name)?.ok_or_else(|| VerifyError::MissingHeader(name.to_owned()))
}

/// "sig:" + hex(sha256(signature header value)).
fn fallback_id(signature_value: &str) -> String {
    format!(
        "sig:{}",
        hex::encode(Sha256::digest(signature_value.as_bytes()))
    )
}

/// A non-empty top-level string field of a JSON object body.
fn body_string_field(body: &[u8], field: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    match value.get(field)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn rule(scheme: Scheme) -> Rule {
        Rule {
            scheme,
            header: None,
            encoding: Encoding::Hex,
            tolerance_seconds: 300,
        }
    }

    fn h(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    fn all_schemes() -> [Scheme; 4] {
        [
            Scheme::HmacSha256,
            Scheme::Shopify,
            Scheme::Stripe,
            Scheme::Slack,
        ]
    }

    fn replace_header(headers: &mut [(String, String)], name: &str, value: &str) {
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
            assert_eq!(hmac_sha256(&key, &[b"some ", b"body"]), want, "len {len}");
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
}
