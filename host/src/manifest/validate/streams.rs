//! The `streams` and `webhooks` arrays: keys (well-formed, unique), routes, schedules
//! (parsed, and one that never fires refused), stream entities (granted `write`), and
//! each webhook's verification (scheme options, a secret that is an `x-secret` setting,
//! the replay window).
//!
//! Must not: check that the routes are exported (the component is not loaded here:
//! `Connector::check_routes` does that at load time).

use std::collections::BTreeSet;

use super::super::connector::{Permissions, RouteRef, Stream, Webhook};
use super::super::problems::{Pointer, Problems, hint};
use super::super::raw::{
    RawEncoding, RawMethod, RawRouteRef, RawScheme, RawStream, RawStreamMode, RawWebhook,
};
use super::super::settings::SettingsSchema;
use super::route;
use crate::streams::{Mode, Schedule};
use crate::webhooks::{Encoding, Rule, Scheme};

/// Longest replay window a webhook may declare: one day.
const MAX_TOLERANCE_SECONDS: u32 = 86_400;
const DEFAULT_TOLERANCE_SECONDS: u32 = 300;

/// A stream or webhook key: lowercase letters, digits, `_` and `-`, at most 64 bytes.
fn key_ok(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn check_key(key: &str, seen: &mut BTreeSet<String>, at: &Pointer, what: &str, p: &mut Problems) {
    if !key_ok(key) {
        p.push(
            at.at("key"),
            format!(
                "{what} key \"{key}\" must be 1 to 64 lowercase letters, digits, \"_\" or \"-\""
            ),
        );
    } else if !seen.insert(key.to_string()) {
        p.push(
            at.at("key"),
            format!("{what} key \"{key}\" is declared twice"),
        );
    }
}

fn route_of(
    path: &str,
    method: Option<RawMethod>,
    at: &Pointer,
    p: &mut Problems,
) -> Option<RouteRef> {
    let raw = RawRouteRef {
        route: path.to_string(),
        method: method.unwrap_or(RawMethod::Post),
    };
    route(&raw, at, p)
}

pub(super) fn streams(
    raw: &[RawStream],
    permissions: &Permissions,
    p: &mut Problems,
) -> Vec<Stream> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let at = Pointer::root().at("streams").at(i);
        check_key(&s.key, &mut seen, &at, "stream", p);
        let route = route_of(&s.route, s.method, &at, p);
        let schedule = match s.schedule.as_deref().map(Schedule::parse) {
            None => Some(None),
            Some(Ok(schedule)) => {
                // Refuse a schedule that can never be due (a cron for 30 February).
                if schedule.next_after(0).is_none() && schedule.next_after(1_767_225_600).is_none()
                {
                    p.push(
                        at.at("schedule"),
                        format!("schedule \"{schedule}\" never comes due"),
                    );
                    None
                } else {
                    Some(Some(schedule))
                }
            }
            Some(Err(e)) => {
                p.push(at.at("schedule"), e.to_string());
                None
            }
        };
        if !permissions.can_write(&s.entity) {
            p.push(
                at.at("entity"),
                format!(
                    "entity \"{}\" is not granted: add permissions.entities.{}: [\"write\"]{}",
                    s.entity,
                    s.entity,
                    hint(&s.entity, permissions.entities.keys().map(String::as_str))
                ),
            );
        }
        if let (Some(route), Some(schedule)) = (route, schedule) {
            out.push(Stream {
                key: s.key.clone(),
                route,
                schedule,
                mode: match s.mode {
                    Some(RawStreamMode::Full) => Mode::Full,
                    Some(RawStreamMode::Incremental) | None => Mode::Incremental,
                },
                entity: s.entity.clone(),
            });
        }
    }
    out
}

pub(super) fn webhooks(
    raw: &[RawWebhook],
    settings: Option<&SettingsSchema>,
    p: &mut Problems,
) -> Vec<Webhook> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, w) in raw.iter().enumerate() {
        let at = Pointer::root().at("webhooks").at(i);
        let v_at = at.at("verify");
        check_key(&w.key, &mut seen, &at, "webhook", p);
        let route = route_of(&w.route, w.method, &at, p);
        let scheme = match w.verify.scheme {
            RawScheme::HmacSha256 => Scheme::HmacSha256,
            RawScheme::Shopify => Scheme::Shopify,
            RawScheme::Stripe => Scheme::Stripe,
            RawScheme::Slack => Scheme::Slack,
        };
        let encoding = match (w.verify.encoding, scheme) {
            (Some(RawEncoding::Base64), Scheme::HmacSha256) => Encoding::Base64,
            (Some(RawEncoding::Hex) | None, Scheme::HmacSha256) => Encoding::Hex,
            (None, Scheme::Shopify) => Encoding::Base64,
            (None, _) => Encoding::Hex,
            (Some(_), other) => {
                p.push(
                    v_at.at("encoding"),
                    format!(
                        "the \"{}\" scheme fixes its encoding; \"encoding\" applies to \"hmac-sha256\" only",
                        other.as_str()
                    ),
                );
                Encoding::Hex
            }
        };
        if let Some(header) = &w.verify.header {
            let ok = !header.is_empty()
                && header.len() <= 128
                && header
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                p.push(
                    v_at.at("header"),
                    format!("\"{header}\" is not a header name (letters, digits, \"-\" and \"_\")"),
                );
            }
            if scheme == Scheme::Slack || scheme == Scheme::Stripe {
                p.push(
                    v_at.at("header"),
                    format!(
                        "the \"{}\" scheme fixes its headers; \"header\" applies to \"hmac-sha256\" and \"shopify\"",
                        scheme.as_str()
                    ),
                );
            }
        }
        let tolerance = w
            .verify
            .tolerance_seconds
            .unwrap_or(DEFAULT_TOLERANCE_SECONDS);
        if tolerance == 0 || tolerance > MAX_TOLERANCE_SECONDS {
            p.push(
                v_at.at("toleranceSeconds"),
                format!("{tolerance} is outside 1..={MAX_TOLERANCE_SECONDS} seconds"),
            );
        }
        let secret = &w.verify.secret;
        match settings.map(|s| (s, s.property(secret))) {
            Some((schema, None)) => p.push(
                v_at.at("secret"),
                format!(
                    "\"{secret}\" is not a property of connection.settingsSchema{}",
                    hint(secret, schema.properties().keys().map(String::as_str))
                ),
            ),
            Some((_, Some(info))) if !info.secret => p.push(
                v_at.at("secret"),
                format!("setting \"{secret}\" must be marked \"x-secret\": true to sign webhooks"),
            ),
            _ => {}
        }
        if let Some(route) = route {
            out.push(Webhook {
                key: w.key.clone(),
                route,
                rule: Rule {
                    scheme,
                    header: w.verify.header.clone(),
                    encoding,
                    tolerance_seconds: tolerance,
                },
                secret: secret.clone(),
            });
        }
    }
    out
}
