//! What the sync routes of a connector share: their options (`maxPages`, read from the
//! request body), their tally (pages fetched and what the host did with each record),
//! which is both the route's answer and the progress reported when a later page fails.
//! Must not call a provider or decide what a provider's answer means: the connector
//! does that.

use crate::ingest::{self, BatchOptions, BatchResult};
use crate::{Error, Request, Response, State, api};
use serde::Deserialize;
use serde_json::{Value, json};

/// Pages a sync fetches when the request does not say.
pub const DEFAULT_MAX_PAGES: u32 = 100;
/// The most pages one call may ask for.
pub const MAX_PAGES_LIMIT: u32 = 1000;

/// The request body of a sync route, all optional: `{"maxPages": 10}`. When the host runs
/// the route as a manifest stream it sends `stream`, `mode`, `trigger`, `runId` and
/// `backfill`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawOptions {
    max_pages: Option<u32>,
    stream: Option<String>,
    mode: Option<String>,
    trigger: Option<String>,
    run_id: Option<String>,
    backfill: Option<bool>,
}

/// What the host says of a stream run it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRun {
    /// The manifest stream's key.
    pub stream: String,
    /// `incremental` or `full`.
    pub mode: String,
    /// `schedule`, `retry`, `resume` or `manual`.
    pub trigger: String,
    pub run_id: String,
    /// True when the stream has no cursor: this run starts from the beginning.
    pub backfill: bool,
}

/// Validated sync options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOptions {
    /// How many pages this call may fetch (`1..=MAX_PAGES_LIMIT`); a stream run that does
    /// not say may fetch the most.
    pub max_pages: u32,
    /// Set when the host runs the route as a manifest stream.
    pub run: Option<StreamRun>,
}

impl SyncOptions {
    /// Reads the options from the request body; an empty body means the defaults. Any
    /// other field, or `maxPages` outside `1..=1000`, is an `invalid_input` error.
    pub fn from_request(req: &Request) -> Result<Self, Error> {
        let raw: RawOptions = req.json::<Option<RawOptions>>()?.unwrap_or_default();
        let run = raw.stream.map(|stream| StreamRun {
            stream,
            mode: raw.mode.unwrap_or_else(|| "incremental".into()),
            trigger: raw.trigger.unwrap_or_else(|| "manual".into()),
            run_id: raw.run_id.unwrap_or_default(),
            backfill: raw.backfill.unwrap_or(false),
        });
        let default = if run.is_some() {
            MAX_PAGES_LIMIT
        } else {
            DEFAULT_MAX_PAGES
        };
        let max_pages = raw.max_pages.unwrap_or(default);
        if max_pages == 0 || max_pages > MAX_PAGES_LIMIT {
            return Err(Error::invalid_input(format!(
                "maxPages must be between 1 and {MAX_PAGES_LIMIT}"
            )));
        }
        Ok(SyncOptions { max_pages, run })
    }

    /// The cursor to resume from: in a stream run, the stream's last checkpoint; called
    /// directly, none.
    pub fn cursor(&self) -> Result<Option<String>, Error> {
        match self.run {
            Some(_) => State::get(),
            None => Ok(None),
        }
    }

    /// In a stream run, commits the records ingested since the last checkpoint with
    /// `cursor`; called directly, records are already stored batch by batch and this does
    /// nothing.
    pub fn checkpoint(&self, cursor: &str) -> Result<(), Error> {
        if self.run.is_some() {
            State::checkpoint(cursor)?;
        }
        Ok(())
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
    /// Nothing done yet on `stream`.
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

    /// Stores one fetched page: counts the page, maps each provider object with
    /// `to_record` (an object it maps to `None` is counted as skipped), and ingests the
    /// records as `entity` on this tally's stream, keyed by `key`, reporting bad items
    /// rather than refusing the whole batch. Fails only when the host refuses the batch.
    pub fn store_page(
        &mut self,
        entity: &str,
        objects: &[Value],
        to_record: impl Fn(&Value) -> Option<Value>,
        key: &dyn Fn(&Value, usize) -> String,
    ) -> Result<(), Error> {
        self.pages += 1;
        let records: Vec<Value> = objects.iter().filter_map(to_record).collect();
        self.skip(objects.len() - records.len());
        if !records.is_empty() {
            let batch = ingest::batch(
                entity,
                &records,
                BatchOptions::stream(self.stream)
                    .continue_on_error(true)
                    .idempotency_key(key),
            )?;
            self.add(&batch);
        }
        crate::debug!(stream = self.stream, page = self.pages; "page stored");
        Ok(())
    }

    /// The tally as the route's JSON answer (or a failure's `progress`).
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

    /// The answer for a host error part-way through the sync (a batch refused, a request
    /// the host would not send or that timed out): the error's own status and code, with
    /// this tally as `details.progress`, so the caller sees what was stored before it.
    pub fn host_failure(&self, err: &Error) -> Response {
        api::from_error_with_progress(err, self.to_json())
    }

    /// Logs the finished sync (`sync finished`) and answers the tally with `200`.
    pub fn report(&self) -> Response {
        crate::info!(
            stream = self.stream,
            pages = self.pages,
            imported = self.imported,
            duplicates = self.duplicates;
            "sync finished"
        );
        api::json(&self.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorCode, Method};

    fn request(body: &str) -> Request {
        Request {
            method: Method::Post,
            path: "/sync/things".to_string(),
            query: Vec::new(),
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn options_default_and_bounds() {
        assert_eq!(
            SyncOptions::from_request(&request("")).unwrap().max_pages,
            100
        );
        assert_eq!(
            SyncOptions::from_request(&request("{}")).unwrap().max_pages,
            100
        );
        assert_eq!(
            SyncOptions::from_request(&request("null"))
                .unwrap()
                .max_pages,
            100
        );
        assert_eq!(
            SyncOptions::from_request(&request(r#"{"maxPages": 1000}"#))
                .unwrap()
                .max_pages,
            1000
        );
        for bad in [r#"{"maxPages": 0}"#, r#"{"maxPages": 1001}"#] {
            let err = SyncOptions::from_request(&request(bad)).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidInput);
            assert_eq!(err.message, "maxPages must be between 1 and 1000");
        }
    }

    #[test]
    fn options_refuse_unknown_fields_and_bad_json() {
        for bad in [r#"{"pageSize": 5}"#, r#"{"maxPages": "3"}"#, "{"] {
            let err = SyncOptions::from_request(&request(bad)).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn a_host_error_part_way_answers_the_progress() {
        let mut tally = Tally::new("things");
        tally.pages = 3;
        tally.imported = 20;
        let res = tally.host_failure(&Error::new(ErrorCode::Timeout, "the request timed out"));
        assert_eq!(res.status, 504);
        let body: Value = serde_json::from_slice(&res.body).unwrap();
        assert_eq!(body["error"]["code"], "timeout");
        assert_eq!(body["error"]["details"]["progress"]["imported"], 20);
        assert_eq!(body["error"]["details"]["progress"]["pages"], 3);
    }

    #[test]
    fn tally_adds_batches_and_skips() {
        let mut tally = Tally::new("things");
        tally.pages = 2;
        let batch = BatchResult {
            imported: 3,
            duplicates: 2,
            failed: 1,
            items: Vec::new(),
        };
        tally.add(&batch);
        tally.add(&batch);
        tally.skip(4);
        tally.complete = false;
        assert_eq!(
            tally.to_json(),
            json!({
                "stream": "things",
                "pages": 2,
                "imported": 6,
                "duplicates": 4,
                "failed": 2,
                "skipped": 4,
                "complete": false,
            })
        );
    }
}
