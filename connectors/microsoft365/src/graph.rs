//! Microsoft Graph addresses the connector uses and the fields it selects. Must not
//! send requests; next-page links from Graph are followed as given (the host's
//! allowlist still checks them), never rebuilt here.

/// The signed-in user, with only the fields the account check needs.
pub const ME_URL: &str =
    "https://graph.microsoft.com/v1.0/me?$select=id,displayName,userPrincipalName,mail";

/// Message fields the canonical record is made from.
const MESSAGE_FIELDS: &str = "id,changeKey,conversationId,internetMessageId,subject,from,toRecipients,ccRecipients,receivedDateTime,sentDateTime,lastModifiedDateTime,isRead,isDraft,hasAttachments,importance,bodyPreview,webLink";

/// The first page of the signed-in user's messages, `top` per page.
pub fn first_messages_page(top: u32) -> String {
    format!("https://graph.microsoft.com/v1.0/me/messages?$top={top}&$select={MESSAGE_FIELDS}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_page_selects_the_canonical_fields() {
        let url = first_messages_page(25);
        assert!(url.starts_with(
            "https://graph.microsoft.com/v1.0/me/messages?$top=25&$select=id,changeKey,"
        ));
        assert!(url.ends_with(",webLink"));
    }
}
