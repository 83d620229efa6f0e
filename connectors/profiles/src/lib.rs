//! `profiles`: who the operator's app connections sign in as. `GET /whoami` reads the
//! OpenID userinfo of app connection `google-oauth` and Microsoft Graph's `/me` of
//! `ms365-oauth` in one call and answers one merged profile, saying which provider failed
//! and why.
//!
//! It shows both ways a route uses an app connection: `google-oauth` is granted `token`
//! (the route reads the token and sends it itself), `ms365-oauth` `inject` (the host puts
//! the token on the request where `connection.appInject` admits the URL; the route never
//! holds it). Both names are constants generated from the manifest (`build.rs`), so a
//! misspelt name does not compile.
//!
//! This file only declares the route table and the generated constants.

mod failure;
mod providers;
mod whoami;

keyway_sdk::app_connections!();

keyway_sdk::routes! {
    GET "/whoami" (api_key) => whoami::whoami,
}
