//! Which QuickBooks company the connection talks to and where its API lives: the
//! `realmId` callback parameter and the `environment` setting, turned into the base URL
//! `https://{host}/v3/company/{realmId}`. Must not send requests.

use keyway_sdk::{Error, ErrorCode, Settings};

/// The minor version every request pins, so response shapes do not drift.
pub const MINOR_VERSION: &str = "75";

const PRODUCTION_HOST: &str = "quickbooks.api.intuit.com";
const SANDBOX_HOST: &str = "sandbox-quickbooks.api.intuit.com";

/// The connected company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Company {
    pub realm_id: String,
    pub sandbox: bool,
}

impl Company {
    /// Reads `realmId` and `environment`. A missing or malformed `realmId` means the
    /// authorization did not complete as Intuit describes, so a person must reconnect.
    pub fn from_settings() -> Result<Self, Error> {
        let realm_id = Settings::get("realmId")?.ok_or_else(|| {
            Error::new(
                ErrorCode::ReauthRequired,
                "the connection has no QuickBooks company id (realmId); authorize it again",
            )
        })?;
        let sandbox = match Settings::get("environment")?.as_deref() {
            None | Some("production") => false,
            Some("sandbox") => true,
            Some(_) => {
                return Err(Error::invalid_input(
                    "setting `environment` must be `production` or `sandbox`",
                ));
            }
        };
        Company::new(realm_id, sandbox)
    }

    /// Checks the company id is what Intuit issues (decimal digits) before it goes
    /// into a URL path.
    pub fn new(realm_id: String, sandbox: bool) -> Result<Self, Error> {
        if realm_id.is_empty()
            || realm_id.len() > 32
            || !realm_id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(Error::new(
                ErrorCode::ReauthRequired,
                "the connection's QuickBooks company id (realmId) is not a number; authorize it again",
            ));
        }
        Ok(Company { realm_id, sandbox })
    }

    /// `https://{host}/v3/company/{realmId}`.
    pub fn base_url(&self) -> String {
        let host = if self.sandbox {
            SANDBOX_HOST
        } else {
            PRODUCTION_HOST
        };
        format!("https://{host}/v3/company/{}", self.realm_id)
    }

    /// `.../companyinfo/{realmId}?minorversion=..`.
    pub fn company_info_url(&self) -> String {
        format!(
            "{}/companyinfo/{}?minorversion={MINOR_VERSION}",
            self.base_url(),
            self.realm_id
        )
    }
}
