//! Driving the operator console over plain HTTP, as a browser would: a client that does
//! not follow redirects, signing in with the admin key, and reading a page's CSRF token.

use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};

use crate::server::{ADMIN_KEY, Server};

/// A client that shows redirects instead of following them.
pub fn client() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// Where a redirect points.
pub fn location(res: &Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The CSRF token in a console page's forms.
pub fn csrf(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a token")
        + 19;
    html[at..].split('"').next().unwrap_or_default().to_string()
}

/// Logs in; answers the session cookie (`name=value`).
pub async fn login(http: &Client, server: &Server) -> String {
    let res = http
        .post(server.url("/console/login"))
        .form(&[("key", ADMIN_KEY)])
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http here: {cookie}");
    cookie.split(';').next().unwrap_or_default().to_string()
}
