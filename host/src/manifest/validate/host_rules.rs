//! A `hostValidation` block, wherever it sits (an OAuth block, `connection`, an auth
//! option): each rule compiled, and each named setting checked to be a declared, plain
//! string (a secret never goes into a URL).
//!
//! Owns: turning raw rules into [`HostRule`]s at their pointers.
//! Must not: decide which block a shape takes its rules from (`auth.rs` does).

use std::collections::BTreeMap;

use super::params::names_hint;
use crate::manifest::host_validation::{HostRule, Normalizer};
use crate::manifest::problems::{Pointer, Problems};
use crate::manifest::raw::{RawHostRule, RawNormalizer};
use crate::manifest::settings::SettingsSchema;

/// The rules of the block at `at`; a rule with a problem is left out and reported.
pub(super) fn host_rules(
    raw: &BTreeMap<String, RawHostRule>,
    settings: Option<&SettingsSchema>,
    at: &Pointer,
    p: &mut Problems,
) -> BTreeMap<String, HostRule> {
    let mut rules = BTreeMap::new();
    for (name, rule) in raw {
        let r_at = at.at(name);
        let normalize = match rule.normalize {
            None | Some(RawNormalizer::LowercaseHost) => Normalizer::LowercaseHost,
            Some(RawNormalizer::ShopifyShopDomain) => Normalizer::ShopifyShopDomain,
        };
        match HostRule::new(&rule.suffix, normalize) {
            Ok(r) => {
                rules.insert(name.clone(), r);
            }
            Err(e) => p.push(r_at.at("suffix"), e),
        }
        if let Some(info) = settings.map(|s| s.property(name)) {
            match info {
                None => p.push(
                    &r_at,
                    format!(
                        "setting \"{name}\" is not a property of connection.settingsSchema{}",
                        names_hint(settings, name)
                    ),
                ),
                Some(i) if i.secret => p.push(
                    &r_at,
                    format!("setting \"{name}\" is x-secret and can never be part of a URL"),
                ),
                Some(i) if !i.string => p.push(
                    &r_at,
                    format!("setting \"{name}\" must have \"type\": \"string\" to be a host"),
                ),
                Some(_) => {}
            }
        }
    }
    rules
}
