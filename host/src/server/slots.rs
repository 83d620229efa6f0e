//! Invocation slots: at most `max_concurrent` invocations at once, and at most
//! `max_concurrent_per_key` of them for one API key, so one caller cannot take them all.
//!
//! Owns: [`Slots`] and the guard an invocation holds while it runs.
//! Must not: wait. A full server or a key at its share is refused at once; the caller
//! decides when to come back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    held: Arc<Mutex<HashMap<String, usize>>>,
}

/// Held while an invocation runs; dropping it frees the slot and the key's share.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    _share: Share,
}

struct Share {
    key: String,
    held: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.key);
            }
        }
    }
}

impl Slots {
    pub fn new(total: usize, per_key: usize) -> Slots {
        Slots {
            all: Arc::new(Semaphore::new(total)),
            total,
            per_key: per_key.clamp(1, total.max(1)),
            held: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A slot for an invocation by the API key `key` (its id), or why not. A full server
    /// is reported as such even to a key at its share.
    pub(crate) fn try_take(&self, key: &str) -> Result<Slot, Refused> {
        let permit = self
            .all
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Full)?;
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry(key.to_string()).or_insert(0);
        if *n >= self.per_key {
            // Dropping `permit` gives the slot back.
            return Err(Refused::KeyShare);
        }
        *n += 1;
        Ok(Slot {
            _permit: permit,
            _share: Share {
                key: key.to_string(),
                held: self.held.clone(),
            },
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

    #[test]
    fn one_key_stops_at_its_share_and_the_rest_stay_for_others() {
        let slots = Slots::new(4, 2);
        let a1 = slots.try_take("a").unwrap();
        let _a2 = slots.try_take("a").unwrap();
        assert_eq!(slots.try_take("a").err(), Some(Refused::KeyShare));
        let _b1 = slots.try_take("b").unwrap();
        let _b2 = slots.try_take("b").unwrap();
        assert_eq!(slots.busy(), 4);
        assert_eq!(slots.try_take("c").err(), Some(Refused::Full));
        drop(a1);
        assert_eq!(slots.busy(), 3);
        assert!(slots.try_take("a").is_ok());
        // A full server is reported as full, and the refusal uses up no share.
        let _c = slots.try_take("c").unwrap();
        assert_eq!(slots.try_take("a").err(), Some(Refused::Full));
        assert_eq!(slots.try_take("d").err(), Some(Refused::Full));
        assert_eq!(slots.held.lock().unwrap().get("d"), None);
        // A refusal for the share gives the slot back.
        let slots = Slots::new(2, 1);
        let _a = slots.try_take("a").unwrap();
        assert_eq!(slots.try_take("a").err(), Some(Refused::KeyShare));
        assert_eq!(slots.busy(), 1);
    }
}
