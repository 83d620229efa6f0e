//! App connection names: the host's rule for them, and the constant each one becomes.
//!
//! The rule is the one `keyway app-connections create` and the manifest validation
//! enforce (`keyway_host::manifest::is_app_connection_name`); this crate is a build
//! dependency of every connector and cannot pull in the host, so it states the rule again,
//! and `keyway-testing`'s tests hold the two to the same answers. This module must not
//! accept a name the host refuses.

/// The host's rule for an app connection name, as messages state it.
pub const NAME_RULE: &str =
    "1-63 lowercase letters, digits and hyphens, not starting or ending with a hyphen";

/// Whether `name` follows [`NAME_RULE`].
pub fn is_app_connection_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The constant a name becomes: SCREAMING_SNAKE_CASE, each run of hyphens one
/// underscore, and a leading underscore when the name starts with a digit (an identifier
/// may not). `None` for a name that breaks [`NAME_RULE`].
pub fn constant_name(name: &str) -> Option<String> {
    if !is_app_connection_name(name) {
        return None;
    }
    let words: Vec<String> = name
        .split('-')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    let joined = words.join("_");
    if joined.starts_with(|c: char| c.is_ascii_digit()) {
        Some(format!("_{joined}"))
    } else {
        Some(joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_screaming_snake_constants() {
        assert_eq!(
            constant_name("google-oauth").as_deref(),
            Some("GOOGLE_OAUTH")
        );
        assert_eq!(constant_name("ms365-oauth").as_deref(), Some("MS365_OAUTH"));
        assert_eq!(constant_name("crm").as_deref(), Some("CRM"));
        assert_eq!(constant_name("a--b").as_deref(), Some("A_B"));
        assert_eq!(constant_name("365-mail").as_deref(), Some("_365_MAIL"));
        assert_eq!(constant_name("7").as_deref(), Some("_7"));
    }

    #[test]
    fn names_the_host_refuses_make_no_constant() {
        let too_long = "a".repeat(64);
        for bad in [
            "",
            "-lead",
            "trail-",
            "Google-OAuth",
            "google_oauth",
            "google.oauth",
            "émoji",
            "two words",
            too_long.as_str(),
        ] {
            assert!(!is_app_connection_name(bad), "{bad:?} was accepted");
            assert_eq!(constant_name(bad), None, "{bad:?} made a constant");
        }
        assert!(is_app_connection_name(&"a".repeat(63)));
    }
}
