//! Where one invocation's time goes, phase by phase: the breakdown the bench prints.
//!
//! Owns: [`Phases`] and the clock that stamps its boundaries. Must not: take a clock
//! reading when no breakdown is asked for (a normal call pays nothing).

use std::time::{Duration, Instant};

/// Where one invocation's time went, phase by phase: what the bench's breakdown shows.
/// Measured only when asked for ([`LoadedComponent::invoke_phased`]); a normal call takes
/// no extra clock readings.
#[doc(hidden)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Phases {
    /// Route lookup, the invocation's name and id, the request turned into WIT values.
    pub prepare: Duration,
    /// Waiting for one of the runtime's instance slots.
    pub slot: Duration,
    /// The store's data: WASI context (nothing granted), captured stdio, the context.
    pub state: Duration,
    /// `Store::new`, the memory limiter and the epoch deadline.
    pub store: Duration,
    /// Instantiation from the `InstancePre`.
    pub instantiate: Duration,
    /// The guest's handler, and the answer scrubbed of secrets.
    pub call: Duration,
    /// Captured output flushed to the logs, and the store dropped (the instance goes
    /// back to the pool).
    pub finish: Duration,
    /// The answer checked (status, body cap, headers).
    pub check: Duration,
}

/// Stamps phase boundaries into a [`Phases`] when one is being measured.
pub(super) struct PhaseClock<'p> {
    phases: Option<&'p mut Phases>,
    last: Option<Instant>,
}

impl<'p> PhaseClock<'p> {
    pub(super) fn new(phases: Option<&'p mut Phases>) -> Self {
        let last = phases.as_ref().map(|_| Instant::now());
        PhaseClock { phases, last }
    }

    /// Ends the phase `field` picks and starts the next one.
    pub(super) fn lap(&mut self, field: fn(&mut Phases) -> &mut Duration) {
        if let (Some(phases), Some(last)) = (self.phases.as_deref_mut(), self.last.as_mut()) {
            let now = Instant::now();
            *field(phases) += now - *last;
            *last = now;
        }
    }
}
