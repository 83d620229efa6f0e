//! The sandbox's HTML: its home page, the approval page with Approve and Deny buttons,
//! and error pages. Every value put into a page is escaped.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

fn escape(text: &str) -> String {
    html_escape::encode_safe(text).into_owned()
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\">\
         <h1>{}</h1>{body}</body></html>",
        escape(title),
        escape(title)
    )
}

pub async fn home() -> Html<String> {
    Html(layout(
        "Keyway sandbox provider",
        "<p>A local OAuth 2.0 provider with a paged orders API, for trying Keyway without an \
         external account. Connect to it with the <code>sandbox</code> connector.</p>\
         <form method=\"post\" action=\"/dev/orders\"><button>Place an order</button></form>\
         <p>A placed order is picked up by the next run of the <code>orders</code> stream.</p>",
    ))
}

pub(crate) fn approval_page(request_id: &str, scope: &str, redirect_uri: &str) -> String {
    layout(
        "Authorize Keyway",
        &format!(
            "<p>Keyway asks for access to the sandbox shop <b>Sandbox Coffee Co.</b> with the \
             scopes <code>{}</code>.</p><p>You will be sent back to <code>{}</code>.</p>\
             <form method=\"post\" action=\"/oauth/authorize/decision\">\
             <input type=\"hidden\" name=\"request\" value=\"{}\">\
             <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button> \
             <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
            escape(scope),
            escape(redirect_uri),
            escape(request_id)
        ),
    )
}

pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    (
        status,
        Html(layout(
            "Sandbox authorization error",
            &format!("<p>{}</p>", escape(message)),
        )),
    )
        .into_response()
}
