//! Raw manifest types of the work the host starts by itself: `streams` (syncs on a
//! schedule) and `webhooks` (provider deliveries and how they are verified), exactly as
//! serde reads them. Doc comments become descriptions in the generated schema.

use schemars::JsonSchema;
use serde::Deserialize;

use super::RawMethod;

/// A sync the host runs on a schedule for every connection.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Stream")]
pub(crate) struct RawStream {
    /// Stable name: lowercase letters, digits, `_` and `-`, for example `orders`.
    pub key: String,
    /// The route that runs the sync, for example `/sync/orders`.
    pub route: String,
    /// HTTP method of the route; default `POST`.
    #[serde(default)]
    pub method: Option<RawMethod>,
    /// When it runs: a 5-field cron expression in UTC (`*/15 * * * *`) or `every <n><unit>`
    /// with a unit `s`, `m`, `h` or `d` (`every 15m`). Without one it runs only when asked.
    #[serde(default)]
    pub schedule: Option<String>,
    /// `incremental` (default): the cursor is kept between runs. `full`: every run is a
    /// whole pass; the cursor only resumes a run that stopped half-way.
    #[serde(default)]
    pub mode: Option<RawStreamMode>,
    /// The entity its records are stored as; needs `permissions.entities.<entity>: ["write"]`.
    pub entity: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "StreamMode")]
pub(crate) enum RawStreamMode {
    Incremental,
    Full,
}

/// A provider webhook and how its deliveries are verified.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Webhook")]
pub(crate) struct RawWebhook {
    /// Stable name in the webhook's URL: lowercase letters, digits, `_` and `-`.
    pub key: String,
    /// The route a verified delivery is handed to, for example `/webhooks/orders`.
    pub route: String,
    /// HTTP method of the route; default `POST`.
    #[serde(default)]
    pub method: Option<RawMethod>,
    /// How a delivery's signature is checked before it is accepted.
    pub verify: RawVerify,
}

/// Signature verification of a webhook delivery, over the raw body, in constant time.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "WebhookVerify")]
pub(crate) struct RawVerify {
    /// `hmac-sha256` (a MAC of the body in one header), `shopify`, `stripe` or `slack`.
    pub scheme: RawScheme,
    /// The signature header; default per scheme (`X-Signature` for `hmac-sha256`).
    #[serde(default)]
    pub header: Option<String>,
    /// Encoding of an `hmac-sha256` signature: `hex` (default) or `base64`.
    #[serde(default)]
    pub encoding: Option<RawEncoding>,
    /// The `x-secret` setting holding the signing secret. The guest never sees it.
    pub secret: String,
    /// How old (or how far in the future) a signed timestamp may be, in seconds; default
    /// 300. Applies to schemes that sign a timestamp (`stripe`, `slack`).
    #[serde(default)]
    pub tolerance_seconds: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(rename = "WebhookScheme")]
pub(crate) enum RawScheme {
    HmacSha256,
    Shopify,
    Stripe,
    Slack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "SignatureEncoding")]
pub(crate) enum RawEncoding {
    Hex,
    Base64,
}
