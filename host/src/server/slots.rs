//! Invocation slots: at most `max_concurrent` invocations at once, and at most
//! `max_concurrent_per_key` of them for one API key, so one caller cannot take them all.
//!
//! Owns: [`Slots`] and the guard an invocation holds while it runs.
//! Must not: wait. A full server or a key at its share is refused at once; the caller
//! decides when to come back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why no slot was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Every slot is busy.
    Full,
    /// This API key already holds its share.
    KeyShare,
}

pub(crate) struct Slots {
    all: Arc<Semaphore>,
    total: usize,
    per_key: usize,
    /// Invocations running per API key id. Read and counted without a lock; an entry
    /// stays once made (there are as many as keys that ever called, which the store
    /// bounds).
    held: papaya::HashMap<Arc<str>, Arc<AtomicUsize>>,
}

/// Held while an invocation runs; dropping it frees the slot and the key's share.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    _share: Share,
}

struct Share(Arc<AtomicUsize>);

impl Drop for Share {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Slots {
    pub fn new(total: usize, per_key: usize) -> Slots {
        Slots {
            all: Arc::new(Semaphore::new(total)),
            total,
            per_key: per_key.clamp(1, total.max(1)),
            held: papaya::HashMap::new(),
        }
    }

    /// A slot for an invocation by the API key `key` (its id), or why not. A full server
    /// is reported as such even to a key at its share.
    pub(crate) fn try_take(&self, key: &Arc<str>) -> Result<Slot, Refused> {
        let permit = self
            .all
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Full)?;
        let count = {
            let held = self.held.pin();
            match held.get(&**key) {
                Some(count) => count.clone(),
                None => held
                    .get_or_insert_with(key.clone(), || Arc::new(AtomicUsize::new(0)))
                    .clone(),
            }
        };
        // Dropping `permit` on a refusal gives the slot back.
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.per_key).then_some(n + 1)
            })
            .map_err(|_| Refused::KeyShare)?;
        Ok(Slot {
            _permit: permit,
            _share: Share(count),
        })
    }

    /// Invocations running now.
    pub fn busy(&self) -> usize {
        self.total - self.all.available_permits()
    }

    pub fn total(&self) -> usize {
        self.total
    }

    pub(crate) fn per_key(&self) -> usize {
        self.per_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(id: &str) -> Arc<str> {
        Arc::from(id)
    }

    #[test]
    fn one_key_stops_at_its_share_and_the_rest_stay_for_others() {
        let slots = Slots::new(4, 2);
        let a1 = slots.try_take(&k("a")).unwrap();
        let _a2 = slots.try_take(&k("a")).unwrap();
        assert_eq!(slots.try_take(&k("a")).err(), Some(Refused::KeyShare));
        let _b1 = slots.try_take(&k("b")).unwrap();
        let _b2 = slots.try_take(&k("b")).unwrap();
        assert_eq!(slots.busy(), 4);
        assert_eq!(slots.try_take(&k("c")).err(), Some(Refused::Full));
        drop(a1);
        assert_eq!(slots.busy(), 3);
        assert!(slots.try_take(&k("a")).is_ok());
        // A full server is reported as full, and the refusal uses up no share.
        let _c = slots.try_take(&k("c")).unwrap();
        assert_eq!(slots.try_take(&k("a")).err(), Some(Refused::Full));
        assert_eq!(slots.try_take(&k("d")).err(), Some(Refused::Full));
        assert!(slots.held.pin().get("d").is_none());
        // A refusal for the share gives the slot back.
        let slots = Slots::new(2, 1);
        let _a = slots.try_take(&k("a")).unwrap();
        assert_eq!(slots.try_take(&k("a")).err(), Some(Refused::KeyShare));
        assert_eq!(slots.busy(), 1);
    }
}
