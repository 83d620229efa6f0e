//! Pages of the newest-first lists (stream runs, webhook deliveries, invocations): a list
//! is read in pages of `limit` rows, and a full page's [`PageCursor`] asks for the rows
//! after it. The cursor is the last row's time and rowid (keyset pagination), so rows
//! written meanwhile neither shift a page nor appear twice.
//!
//! Owns: the cursor's text form (`<ms>.<rowid>`, opaque to callers) and turning rows read
//! with their time and rowid into a [`Page`].
//! Must not: trust a cursor's text: one that does not parse is refused by the caller.

/// Where the next page starts: after the row with this time and rowid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCursor {
    pub(crate) at_ms: i64,
    pub(crate) rowid: i64,
}

impl PageCursor {
    /// The cursor a `next` of an earlier page spelled; `None` when `text` is not one.
    pub fn parse(text: &str) -> Option<PageCursor> {
        let (at, rowid) = text.split_once('.')?;
        Some(PageCursor {
            at_ms: at.parse().ok()?,
            rowid: rowid.parse().ok()?,
        })
    }

    /// The cursor's text, as answers carry it.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.at_ms, self.rowid)
    }
}

/// One page of a list, and where the next starts when this one is full.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<PageCursor>,
}

impl<T> Page<T> {
    /// The page's items with another type (a view of each row).
    pub fn map<U>(self, f: impl FnMut(&T) -> U) -> Page<U> {
        Page {
            items: self.items.iter().map(f).collect(),
            next: self.next,
        }
    }
}

/// The SQL condition "after `cursor`" for a list ordered by `time DESC, rowid DESC`,
/// with the cursor's time at parameter `?at` and its rowid at `?rowid` (both NULL when
/// reading the first page).
pub(crate) fn after_cursor(time: &str, at: usize, rowid: usize) -> String {
    format!(
        "(CAST(?{at} AS BIGINT) IS NULL OR {time} < ?{at} OR ({time} = ?{at} AND rowid < ?{rowid}))"
    )
}

/// The parameters of [`after_cursor`] for `cursor`.
pub(crate) fn cursor_params(cursor: Option<PageCursor>) -> (Option<i64>, Option<i64>) {
    (cursor.map(|c| c.at_ms), cursor.map(|c| c.rowid))
}

/// A page from rows read with their time and rowid; `next` is set when the page is full.
pub(crate) fn page_of<T>(rows: Vec<(T, i64, i64)>, limit: u32) -> Page<T> {
    let full = limit > 0 && rows.len() == limit as usize;
    let next = rows
        .last()
        .filter(|_| full)
        .map(|(_, at_ms, rowid)| PageCursor {
            at_ms: *at_ms,
            rowid: *rowid,
        });
    Page {
        items: rows.into_iter().map(|(item, _, _)| item).collect(),
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_refuses_other_text() {
        let c = PageCursor {
            at_ms: 1_700_000_000_123,
            rowid: 42,
        };
        assert_eq!(PageCursor::parse(&c.encode()), Some(c));
        for bad in ["", "12", "a.b", "1.2.3", "1.x", " 1.2"] {
            assert_eq!(PageCursor::parse(bad), None, "{bad}");
        }
        let page = page_of(vec![("a", 5, 1), ("b", 4, 2)], 2);
        assert_eq!(page.next, Some(PageCursor { at_ms: 4, rowid: 2 }));
        assert_eq!(page_of(vec![("a", 5, 1)], 2).next, None);
    }
}
