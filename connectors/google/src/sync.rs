//! What every sync route shares: its options (read from the request body) and its
//! tally (pages fetched and what the host did with each record), which is both the
//! route's answer and the progress reported when a later page fails. Must not call
//! Google or the ingest door.

use keyway_sdk::{Error, Request, ingest::BatchResult};
use serde::Deserialize;
use serde_json::{Value, json};

/// Pages a sync fetches when the request does not say.
pub const DEFAULT_MAX_PAGES: u32 = 100;
/// The most pages one call may ask for.
pub const MAX_PAGES_LIMIT: u32 = 1000;

/// The request body of a sync route, all optional: `{"maxPages": 10}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawOptions {
    max_pages: Option<u32>,
}

/// Validated sync options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncOptions {
    pub max_pages: u32,
}

impl SyncOptions {
    /// Reads the options from the request body; an empty body means the defaults.
    pub fn from_request(req: &Request) -> Result<Self, Error> {
        let raw: Option<RawOptions> = req.json()?;
        let max_pages = raw.and_then(|r| r.max_pages).unwrap_or(DEFAULT_MAX_PAGES);
        if max_pages == 0 || max_pages > MAX_PAGES_LIMIT {
            return Err(Error::invalid_input(format!(
                "maxPages must be between 1 and {MAX_PAGES_LIMIT}"
            )));
        }
        Ok(SyncOptions { max_pages })
    }
}

/// What a sync did so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub stream: &'static str,
    pub pages: u32,
    pub imported: u32,
    pub duplicates: u32,
    pub failed: u32,
    /// Provider objects without an id, which cannot be keyed and are not ingested.
    pub skipped: u32,
    /// False when `maxPages` stopped the sync before the provider ran out of pages.
    pub complete: bool,
}

impl Tally {
    pub fn new(stream: &'static str) -> Self {
        Tally {
            stream,
            pages: 0,
            imported: 0,
            duplicates: 0,
            failed: 0,
            skipped: 0,
            complete: true,
        }
    }

    /// Adds the host's answer for one batch.
    pub fn add(&mut self, batch: &BatchResult) {
        self.imported += batch.imported;
        self.duplicates += batch.duplicates;
        self.failed += batch.failed;
    }

    /// Counts provider objects left out of a batch.
    pub fn skip(&mut self, count: usize) {
        self.skipped += u32::try_from(count).unwrap_or(u32::MAX);
    }

    pub fn to_json(&self) -> Value {
        json!({
            "stream": self.stream,
            "pages": self.pages,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "failed": self.failed,
            "skipped": self.skipped,
            "complete": self.complete,
        })
    }
}
