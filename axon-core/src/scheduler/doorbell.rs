//! The handshake between a scheduler and the threads that wake it, in one place so it can be
//! model-checked (`tests/loom_wake.rs` runs it under loom: every interleaving of wakes from
//! other threads against the scheduler draining its queue and going to sleep).
//!
//! The rule it keeps: a wake queued from another thread is never left behind by a scheduler
//! that goes to sleep. It rests on one atomic word and no store→load ordering between the
//! bell and the queue (which a lock-free queue does not give, and loom does not model):
//! - a waker queues its wake, then rings (swap to `RUNG`); only a ring that finds the
//!   scheduler `ASLEEP` wakes its task;
//! - the scheduler sets `AWAKE` (a swap: it acquires the rings before it, and so sees their
//!   wakes) and then drains the queue; with nothing to run it goes to sleep only if the bell
//!   still says `AWAKE`, that is, if no ring came after its drain began.

// Public (and re-exported) only for the loom check, which builds with `--cfg axon_loom`.
#![allow(unreachable_pub)]

#[cfg(axon_loom)]
use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(not(axon_loom))]
use std::sync::atomic::{AtomicU8, Ordering};

const ASLEEP: u8 = 0;
const AWAKE: u8 = 1;
const RUNG: u8 = 2;

/// Whether the scheduler sleeps, runs, or was rung while it ran.
#[derive(Debug)]
pub struct Doorbell {
    state: AtomicU8,
}

impl Default for Doorbell {
    fn default() -> Self {
        Self::new()
    }
}

impl Doorbell {
    /// A bell for a scheduler that is asleep.
    pub fn new() -> Self {
        Doorbell {
            state: AtomicU8::new(ASLEEP),
        }
    }

    /// After queueing a wake: true when the scheduler was asleep and its task must be woken
    /// (only the first wake after it went to sleep says so).
    pub fn ring(&self) -> bool {
        self.state.swap(RUNG, Ordering::AcqRel) == ASLEEP
    }

    /// The scheduler is about to look at its queues: wakes queued before the rings it now
    /// sees are visible to it.
    pub fn awake(&self) {
        self.state.swap(AWAKE, Ordering::AcqRel);
    }

    /// The scheduler found nothing to run since its last [`awake`](Self::awake): true if it
    /// may sleep (nothing was rung meanwhile; the next ring will wake it). False: look again.
    pub fn try_sleep(&self) -> bool {
        self.state
            .compare_exchange(AWAKE, ASLEEP, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Back to asleep, whatever it was (a registry entry being reused or retired).
    pub fn reset(&self) {
        self.state.store(ASLEEP, Ordering::Release);
    }
}
