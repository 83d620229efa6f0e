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
            check_mac(
                &hmac_sha256(secret, &[body]).ok_or(VerifyError::BadSignature)?,
                &presented,
            )?;
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
            check_mac(
                &hmac_sha256(secret, &[body]).ok_or(VerifyError::BadSignature)?,
                &presented,
            )?;
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
            let expected = hmac_sha256(secret, &[parsed.t_text.as_bytes(), b".", body])
                .ok_or(VerifyError::BadSignature)?;
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
            let expected = hmac_sha256(secret, &[b"v0:", ts_text.as_bytes(), b":", body])
                .ok_or(VerifyError::BadSignature)?;
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
            let mac = hmac_sha256(secret, &[body]).unwrap_or_default();
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
            out.push((
                sig_header,
                BASE64.encode(hmac_sha256(secret, &[body]).unwrap_or_default()),
            ));
            if !delivery_id.is_empty() {
                out.push((SHOPIFY_DELIVERY_HEADER.to_owned(), delivery_id.to_owned()));
            }
        }
        Scheme::Stripe => {
            let t = now_unix.to_string();
            let mac = hmac_sha256(secret, &[t.as_bytes(), b".", body]).unwrap_or_default();
            out.push((sig_header, format!("t={t},v1={}", hex::encode(mac))));
        }
        Scheme::Slack => {
            let t = now_unix.to_string();
            let mac = hmac_sha256(secret, &[b"v0:", t.as_bytes(), b":", body]).unwrap_or_default();
            out.push((sig_header, format!("v0={}", hex::encode(mac))));
            out.push((SLACK_TIMESTAMP_HEADER.to_owned(), t));
        }
    }
    out
}

/// HMAC-SHA256 over the concatenation of `parts`. The `hmac` crate takes a key of any
/// length (the refusal it can report is for fixed-size MACs); `None` should it refuse.
fn hmac_sha256(secret: &[u8], parts: &[&[u8]]) -> Option<[u8; 32]> {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac.finalize().into_bytes().into())
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
#[path = "verify_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "verify_refusal_tests.rs"]
mod refusal_tests;
