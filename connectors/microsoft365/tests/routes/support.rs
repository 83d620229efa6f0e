//! Shared fixtures: the seeded connection, canary secrets and Graph answers.

use keyway_testing::{OAuthState, TestRuntime};
use serde_json::{Value, json};

pub const TENANT: &str = "contoso.onmicrosoft.com";
pub const ACCESS_TOKEN: &str = "canary-m365-access-3be88a";
pub const REFRESHED_TOKEN: &str = "canary-m365-refreshed-d04f19";

pub const ME: &str =
    "https://graph.microsoft.com/v1.0/me?$select=id,displayName,userPrincipalName,mail";
pub const MESSAGES: &str = "https://graph.microsoft.com/v1.0/me/messages?*";

pub fn first_page(top: u32) -> String {
    format!(
        "https://graph.microsoft.com/v1.0/me/messages?$top={top}&$select=id,changeKey,conversationId,internetMessageId,subject,from,toRecipients,ccRecipients,receivedDateTime,sentDateTime,lastModifiedDateTime,isRead,isDraft,hasAttachments,importance,bodyPreview,webLink"
    )
}

/// A Graph next-page link as Graph writes it (escaped `$`, a skip token).
pub fn next_link(skip: u32) -> String {
    format!(
        "https://graph.microsoft.com/v1.0/me/messages?%24top=2&%24select=id%2cchangeKey&%24skip={skip}"
    )
}

pub fn runtime(oauth: OAuthState) -> TestRuntime {
    TestRuntime::builder(env!("CARGO_MANIFEST_DIR"))
        .setting("tenant", TENANT)
        .connection("adele")
        .oauth(oauth)
        .build()
        .unwrap()
}

pub fn connected() -> TestRuntime {
    runtime(OAuthState::connected(ACCESS_TOKEN))
}

pub fn me() -> Value {
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,displayName,userPrincipalName,mail)/$entity",
        "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
        "displayName": "Adele Vance",
        "userPrincipalName": "AdeleV@Contoso.com",
        "mail": "AdeleV@contoso.com"
    })
}

pub fn message(n: u32) -> Value {
    json!({
        "id": format!("AAMkAGVmMDEz{n}AAA="),
        "changeKey": "CQAAABYAAAB",
        "conversationId": "AAQkAGVmMDEz",
        "subject": format!("Message {n}"),
        "receivedDateTime": "2026-11-20T09:00:00Z",
        "lastModifiedDateTime": "2026-11-20T09:05:00Z",
        "isRead": false,
        "from": { "emailAddress": { "name": "Megan Bowen", "address": "MeganB@contoso.com" } },
        "toRecipients": [{ "emailAddress": { "name": "Adele Vance", "address": "AdeleV@contoso.com" } }],
        "bodyPreview": "See the attached numbers."
    })
}

/// One messages page with `ids` and, when given, the link to the next page.
pub fn messages_page(ids: &[u32], next: Option<String>) -> Value {
    let mut page = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('me')/messages",
        "value": ids.iter().map(|&n| message(n)).collect::<Vec<_>>(),
    });
    if let Some(next) = next {
        page["@odata.nextLink"] = Value::String(next);
    }
    page
}

pub fn authorization(call: &keyway_testing::HttpCall) -> Option<String> {
    call.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.to_string())
}
