//! The guest SDK cannot depend on the host, so its token-hook `Placeholder` states the
//! names the host fills a second time. This holds the two lists to the same names.

use keyway_host::oauth::hooks::fill::Placeholder as Host;
use keyway_sdk::token_hooks::Placeholder as Sdk;
use std::collections::BTreeSet;

/// Every SDK placeholder; the match fails to compile when the SDK gains one not listed.
const SDK: [Sdk; 7] = [
    Sdk::ClientId,
    Sdk::ClientSecret,
    Sdk::ClientBasic,
    Sdk::Code,
    Sdk::CodeVerifier,
    Sdk::RedirectUri,
    Sdk::RefreshToken,
];

fn _every_sdk_placeholder_is_listed(p: Sdk) {
    match p {
        Sdk::ClientId
        | Sdk::ClientSecret
        | Sdk::ClientBasic
        | Sdk::Code
        | Sdk::CodeVerifier
        | Sdk::RedirectUri
        | Sdk::RefreshToken => {}
    }
}

#[test]
fn the_sdk_spells_every_placeholder_the_host_fills_and_no_other() {
    let host: BTreeSet<String> = Host::ALL
        .iter()
        .map(|p| format!("{{{}}}", p.name()))
        .collect();
    let sdk: BTreeSet<String> = SDK.iter().map(|p| p.as_str().to_string()).collect();
    assert_eq!(host, sdk);
}
