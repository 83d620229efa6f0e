//! Webhooks: provider events delivered to the host, verified before anything else sees
//! them.
//!
//! Owns: signature schemes and their checks (`verify.rs`), and which of a delivery's
//! headers its route may see.
//! Must not: store deliveries or run routes (the use cases do), or put a secret, a
//! signature or body text in an error.

pub mod verify;

pub use verify::{Encoding, Rule, Scheme, Verified, VerifyError, sign, verify};

/// Most headers kept for the route, and the longest value kept.
const MAX_KEPT_HEADERS: usize = 32;
const MAX_KEPT_HEADER_VALUE: usize = 1024;

/// The headers of a delivery a route may see: `content-type`, `user-agent` and `x-*` ones, except the
/// signature header and anything that carries a credential.
pub fn route_headers(headers: &[(String, String)], rule: &Rule) -> Vec<(String, String)> {
    let signature = rule
        .header
        .as_deref()
        .unwrap_or(rule.scheme.default_header());
    const SIGNATURES: [&str; 4] = [
        "x-signature",
        "x-shopify-hmac-sha256",
        "x-slack-signature",
        "stripe-signature",
    ];
    headers
        .iter()
        .filter(|(name, value)| {
            let lower = name.to_ascii_lowercase();
            let wanted =
                lower == "content-type" || lower == "user-agent" || lower.starts_with("x-");
            wanted
                && !lower.eq_ignore_ascii_case(signature)
                && !SIGNATURES.contains(&lower.as_str())
                && !lower.starts_with("x-keyway-")
                && !lower.contains("token")
                && !lower.contains("auth")
                && !lower.contains("cookie")
                && value.len() <= MAX_KEPT_HEADER_VALUE
        })
        .take(MAX_KEPT_HEADERS)
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_sees_neither_the_signature_nor_a_credential() {
        let rule = Rule {
            scheme: Scheme::HmacSha256,
            header: Some("X-Hub-Signature-256".into()),
            encoding: Encoding::Hex,
            tolerance_seconds: 300,
        };
        let given: Vec<(String, String)> = [
            ("Content-Type", "application/json"),
            ("X-Hub-Signature-256", "sha256=00"),
            ("Stripe-Signature", "t=1,v1=00"),
            ("Authorization", "Bearer x"),
            ("X-Auth-Token", "x"),
            ("Cookie", "a=b"),
            ("X-Keyway-Delivery", "forged"),
            ("X-GitHub-Event", "push"),
            ("X-Long", &"x".repeat(2000)),
            ("Host", "example.com"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let kept: Vec<String> = route_headers(&given, &rule)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(kept, ["content-type", "x-github-event"]);
    }
}
