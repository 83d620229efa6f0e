//! Fuzz target: the hostValidation normalizers. Whatever the input, an accepted value must
//! be a plain lowercase ASCII host under the suffix, stable under a second pass, and
//! exactly the host a URL parser sees when it is placed in `https://<host>/`.
#![no_main]

use keyway_host::manifest::{HostRule, Normalizer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(input) = std::str::from_utf8(rest) else {
        return;
    };
    let (normalizer, suffix) = match selector % 3 {
        0 => (Normalizer::ShopifyShopDomain, ".myshopify.com"),
        1 => (Normalizer::LowercaseHost, ".myshopify.com"),
        _ => (Normalizer::LowercaseHost, ".api.example.com"),
    };
    let rule = HostRule::new(suffix, normalizer).expect("fixed suffixes are valid");
    let Ok(host) = rule.apply(input) else {
        return;
    };
    assert!(host.ends_with(suffix) && host.len() > suffix.len(), "{host}");
    assert!(
        host.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'),
        "{host}"
    );
    assert_eq!(rule.apply(&host).as_deref(), Ok(host.as_str()), "not idempotent");
    let url = url::Url::parse(&format!("https://{host}/x")).expect("accepted host parses");
    assert_eq!(url.host_str(), Some(host.as_str()));
    assert_eq!(url.path(), "/x");
    assert!(url.port().is_none() && url.username().is_empty());
});
