//! What connections produced, as both edges read it: the records a connection ingested.
//!
//! Owns: the rule that asking for the records of a connection that does not exist (and
//! left none) is an error, not an empty list.
//! Must not: write to the store.

use super::views::RecordView;
use super::{ServiceResult, Services};
use crate::store::{RecordQuery, StoreError};

impl Services {
    /// How many records the connection `name` holds.
    pub fn count_records(&self, name: &str) -> ServiceResult<u64> {
        Ok(self.store.count_records(name)?)
    }

    /// The records `query` selects. An unknown connection with no records is
    /// [`StoreError::NotFound`].
    pub fn records(&self, query: &RecordQuery) -> ServiceResult<Vec<RecordView>> {
        let records = self.store.list_records(query)?;
        if records.is_empty() {
            match self.store.connection_by_name(&query.connection) {
                Err(StoreError::NotFound { .. })
                    if self.store.count_records(&query.connection)? == 0 =>
                {
                    return Err(StoreError::NotFound {
                        what: "connection",
                        name: query.connection.clone(),
                    }
                    .into());
                }
                Err(StoreError::NotFound { .. }) | Ok(_) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(records.iter().map(RecordView::from).collect())
    }
}
