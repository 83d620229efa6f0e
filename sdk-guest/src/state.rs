//! A stream run's progress: the cursor it resumes from, and checkpoints that commit the
//! records ingested since the last one together with the new cursor.

use crate::Error;
use crate::wit::keyway::connector::state as wit;

/// What one checkpoint committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// Records committed with this checkpoint.
    pub imported: u32,
    /// Of the records ingested since the last checkpoint, those already stored.
    pub duplicates: u32,
}

/// The state of the stream this route runs as. Only a route the host runs as a manifest
/// stream has one; anywhere else both calls fail with `not_permitted`.
pub struct State;

impl State {
    /// The cursor the stream last checkpointed; `None` on a first run (a backfill), after
    /// `keyway streams reset`, or after a `full` stream finished a pass.
    pub fn get() -> Result<Option<String>, Error> {
        wit::get().map_err(Error::from)
    }

    /// Commits every record ingested since the last checkpoint together with `cursor`, in
    /// one transaction: a run that stops later resumes here with nothing lost and nothing
    /// stored twice. At most 64 KiB, and no secret of the connection (it is stored and
    /// shown in the clear).
    pub fn checkpoint(cursor: &str) -> Result<Checkpoint, Error> {
        let done = wit::checkpoint(cursor).map_err(Error::from)?;
        Ok(Checkpoint {
            imported: done.imported,
            duplicates: done.duplicates,
        })
    }
}
