//! The QuickBooks query endpoint's URL: the query text (`select * from Invoice
//! STARTPOSITION n MAXRESULTS m`) percent-encoded into `?query=` with the pinned
//! `minorversion`. Must not send requests or read settings.

use crate::company::{Company, MINOR_VERSION};
use keyway_sdk::url::encode;

/// The largest page the query endpoint serves.
pub const MAX_RESULTS_LIMIT: u32 = 1000;

/// `select * from {entity} STARTPOSITION {start} MAXRESULTS {max}`; `start` is 1-based.
pub fn select_page(entity: &str, start: u32, max: u32) -> String {
    format!("select * from {entity} STARTPOSITION {start} MAXRESULTS {max}")
}

/// The URL that runs `query` for `company`.
pub fn url(company: &Company, query: &str) -> String {
    format!(
        "{}/query?query={}&minorversion={MINOR_VERSION}",
        company.base_url(),
        encode(query)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_query_text() {
        let company = Company::new("9130".into(), false).unwrap();
        assert_eq!(
            url(&company, &select_page("Invoice", 1, 100)),
            "https://quickbooks.api.intuit.com/v3/company/9130/query?query=select%20%2A%20from%20Invoice%20STARTPOSITION%201%20MAXRESULTS%20100&minorversion=75"
        );
    }

    #[test]
    fn sandbox_uses_the_sandbox_host() {
        let company = Company::new("42".into(), true).unwrap();
        assert!(
            url(&company, "select")
                .starts_with("https://sandbox-quickbooks.api.intuit.com/v3/company/42/query?")
        );
    }

    #[test]
    fn refuses_a_realm_id_that_is_not_digits() {
        for bad in ["", "12/../34", "12a", "1 2", &"9".repeat(33)] {
            assert!(Company::new(bad.to_string(), false).is_err(), "{bad:?}");
        }
    }
}
