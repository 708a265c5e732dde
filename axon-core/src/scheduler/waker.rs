//! Component wakers that carry a component's *address*, not a pointer to it.
//!
//! A waker here is one number: the scheduler's index in a process-wide registry, the
//! component's slot and the low bits of its generation. Cloning or dropping one is a copy, and
//! a wake is a lookup: no reference count, no task header, no atomic operation when a component
//! wakes another on the same scheduler. That is what makes a component cheap to wake and small
//! to keep (one allocation, its future), and why this module is the crate's one exception to
//! `forbid(unsafe_code)`: `std` builds such a waker only through `RawWaker` (see
//! docs/architecture.md, "Where we departed from the design brief": "`unsafe`: one module").
//!
//! A wake is delivered by where it comes from:
//! - **inside the scheduler's own poll** (a component waking another): the thread's local
//!   ready queue, a plain `VecDeque` push;
//! - **the scheduler's own thread, outside its poll** (tokio's I/O driver and timers, code
//!   around the scheduler): the scheduler's home queue, plus a tokio wake on the idle→busy edge;
//! - **another thread**: the scheduler's shared queue (lock-free), plus the same edge wake.
//!
//! A stale waker (its component gone, its slot reused, even its scheduler gone and its registry
//! entry reused) can only cause a spurious poll, which futures must tolerate; a slot whose
//! generation no longer matches is skipped without a poll.

#![allow(unsafe_code)]

use super::executor::Shared;
use crate::erased::ComponentId;
use std::sync::{Mutex, OnceLock};
use std::task::Waker;

/// Bits of a packed address: scheduler, slot, generation (low bits).
const SCHEDULER_BITS: u32 = 16;
const SLOT_BITS: u32 = 28;
const GENERATION_BITS: u32 = 20;
const _: () = assert!(SCHEDULER_BITS + SLOT_BITS + GENERATION_BITS == 64);

/// Schedulers alive at once in one process (their registry entries are reused).
pub(super) const MAX_SCHEDULERS: usize = 1 << SCHEDULER_BITS;
/// Components alive at once on one scheduler.
pub(super) const MAX_SLOTS: u32 = 1 << SLOT_BITS;
pub(super) const GENERATION_MASK: u32 = (1 << GENERATION_BITS) - 1;

/// A component's address, as queued by a wake: `scheduler | slot | generation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Address(u64);

impl Address {
    pub(super) fn new(scheduler: u16, id: ComponentId) -> Self {
        debug_assert!(id.index < MAX_SLOTS);
        Address(
            (u64::from(scheduler) << (SLOT_BITS + GENERATION_BITS))
                | (u64::from(id.index) << GENERATION_BITS)
                | u64::from(id.generation & GENERATION_MASK),
        )
    }

    pub(super) fn scheduler(self) -> u16 {
        (self.0 >> (SLOT_BITS + GENERATION_BITS)) as u16
    }

    pub(super) fn slot(self) -> u32 {
        ((self.0 >> GENERATION_BITS) as u32) & (MAX_SLOTS - 1)
    }

    /// The low [`GENERATION_BITS`] of the generation the waker was made for.
    pub(super) fn generation(self) -> u32 {
        self.0 as u32 & GENERATION_MASK
    }
}

/// Every scheduler's shared half, by index. Entries are made once and never freed: a waker
/// that outlives its scheduler finds either an idle entry (the wake is dropped) or the entry's
/// next user (a spurious wake).
static REGISTRY: [OnceLock<&'static Shared>; MAX_SCHEDULERS] =
    [const { OnceLock::new() }; MAX_SCHEDULERS];
/// Registry entries free for reuse, and how many were ever made.
static FREE: Mutex<(Vec<u16>, usize)> = Mutex::new((Vec::new(), 0));

/// A registry entry for a new scheduler: a free one reused, or a new one.
///
/// # Panics
/// With more than [`MAX_SCHEDULERS`] schedulers alive at once in the process.
pub(super) fn lease(make: impl FnOnce(u16) -> Shared) -> &'static Shared {
    let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(index) = free.0.pop() {
        let shared = *REGISTRY[usize::from(index)]
            .get()
            .expect("a freed entry exists");
        shared.reset();
        return shared;
    }
    let index = free.1;
    assert!(
        index < MAX_SCHEDULERS,
        "more than {MAX_SCHEDULERS} axon-core schedulers alive at once"
    );
    free.1 += 1;
    let shared: &'static Shared = Box::leak(Box::new(make(index as u16)));
    let _ = REGISTRY[index].set(shared);
    shared
}

/// Gives a scheduler's entry back for reuse (its scheduler is gone).
pub(super) fn release(shared: &'static Shared) {
    shared.retire();
    let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
    free.0.push(shared.index);
}

/// Delivers a wake to the scheduler it names (see the module doc for the three routes).
fn wake(address: Address) {
    if super::context::wake_local(address) {
        return;
    }
    if let Some(shared) = REGISTRY[usize::from(address.scheduler())].get() {
        shared.wake_from_outside(address);
    }
}

/// The waker for component `id` of scheduler `scheduler`.
#[cfg(target_pointer_width = "64")]
pub(super) fn waker(scheduler: u16, id: ComponentId) -> Waker {
    use std::task::{RawWaker, RawWakerVTable};

    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake_by_value, wake_by_ref, drop);

    fn raw(data: *const ()) -> RawWaker {
        RawWaker::new(data, &VTABLE)
    }
    fn address(data: *const ()) -> Address {
        Address(data.addr() as u64)
    }
    // The data is a number (an `Address`), made with no provenance and never dereferenced:
    // every function below is sound for any value it is given.
    unsafe fn clone(data: *const ()) -> RawWaker {
        raw(data)
    }
    unsafe fn wake_by_value(data: *const ()) {
        wake(address(data));
    }
    unsafe fn wake_by_ref(data: *const ()) {
        wake(address(data));
    }
    unsafe fn drop(_: *const ()) {}

    let data = std::ptr::without_provenance::<()>(Address::new(scheduler, id).0 as usize);
    // SAFETY: `RawWaker`'s contract is that its vtable's functions may be called with its data
    // from any thread, any number of times, and that clone yields an equivalent waker. The data
    // is a plain number that nothing dereferences; clone copies it, wake reads it as an address
    // (whose every value is handled, a stale one by a generation check), drop does nothing. The
    // waker therefore owns no resource and is trivially `Send + Sync`.
    unsafe { Waker::from_raw(raw(data)) }
}

/// The waker for component `id` of scheduler `scheduler` (an address too wide for a pointer:
/// boxed, without `unsafe`).
#[cfg(not(target_pointer_width = "64"))]
pub(super) fn waker(scheduler: u16, id: ComponentId) -> Waker {
    struct Boxed(Address);
    impl std::task::Wake for Boxed {
        fn wake(self: std::sync::Arc<Self>) {
            wake(self.0);
        }
    }
    Waker::from(std::sync::Arc::new(Boxed(Address::new(scheduler, id))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_keeps_its_parts() {
        let id = ComponentId {
            index: MAX_SLOTS - 1,
            generation: 0xABCD_EF12,
        };
        let a = Address::new(0xFFFF, id);
        assert_eq!(a.scheduler(), 0xFFFF);
        assert_eq!(a.slot(), MAX_SLOTS - 1);
        assert_eq!(a.generation(), 0xABCD_EF12 & GENERATION_MASK);
        let b = Address::new(
            3,
            ComponentId {
                index: 7,
                generation: 1,
            },
        );
        assert_eq!((b.scheduler(), b.slot(), b.generation()), (3, 7, 1));
    }

    #[test]
    fn wakers_for_one_component_are_equal_and_clone_freely() {
        let id = ComponentId {
            index: 5,
            generation: 9,
        };
        let w = waker(1, id);
        let copies: Vec<Waker> = (0..1000).map(|_| w.clone()).collect();
        assert!(copies.iter().all(|c| c.will_wake(&w)));
        assert!(
            !waker(
                1,
                ComponentId {
                    index: 5,
                    generation: 10
                }
            )
            .will_wake(&w)
        );
        drop(copies);
        // A wake for a scheduler that was never made is dropped.
        waker(u16::MAX, id).wake();
    }
}
