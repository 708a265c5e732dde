#![doc = include_str!("../README.md")]
//!
//! ## A component of your own
//!
//! A *component* is sequential code — an `async fn main` — that owns named, typed **inboxes**
//! and **outboxes** and never knows who it talks to. *Linkages* join an outbox to an inbox. A
//! single-threaded scheduler gives components CPU time inside tokio; a component waiting on an
//! empty inbox costs nothing until a delivery wakes it.
//!
//! ```
//! use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox, Scheduler, link};
//! use axon_core::components::{Collect, DataSource};
//!
//! /// Doubles every number.
//! #[derive(Boxes, Default)]
//! struct Double {
//!     inbox: Inbox<u64>,
//!     control: Inbox<Control>,
//!     outbox: Outbox<u64>,
//!     signal: Outbox<Control>,
//! }
//!
//! impl Component for Double {
//!     async fn main(mut self) -> Result<(), ComponentError> {
//!         while let Some(n) = self.inbox_or_finished().await {
//!             self.outbox.send(n * 2).await?;
//!         }
//!         self.signal.send(Control::ProducerFinished).await?;
//!         Ok(())
//!     }
//! }
//!
//! # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! rt.block_on(async {
//!     let (source, double, (sink, out)) = (DataSource::new(1..=3u64), Double::default(), Collect::new());
//!     link(&source.outbox, &double.inbox).unwrap();
//!     link(&source.signal, &double.control).unwrap();
//!     link(&double.outbox, &sink.inbox).unwrap();
//!     link(&double.signal, &sink.control).unwrap();
//!     let scheduler = Scheduler::new();
//!     scheduler.activate(source);
//!     scheduler.activate(double);
//!     scheduler.activate(sink);
//!     scheduler.run().await;
//!     assert_eq!(out.take(), vec![2, 4, 6]);
//! });
//! ```
//!
//! See `docs/architecture.md` for how a message travels and how the scheduler runs inside
//! tokio, and `docs/tutorial.md` for a guided start.
#![deny(unsafe_code)]

extern crate self as axon_core;

mod adaptive;
mod callbacks;
mod component;
pub mod components;
pub mod compose;
mod control;
pub mod coop;
pub mod cores;
mod cross;
mod dormant;
mod erased;
mod error;
mod fanout;
mod fifo;
mod handle;
mod inbox;
mod inbox_ref;
mod lazy;
mod link;
mod log_limit;
mod outbox;
mod scheduler;
pub mod testkit;
mod threaded;
pub mod topology;

pub use adaptive::{AdaptiveBoxes, AdaptiveRegistry};
pub use axon_macros::Boxes;
pub use callbacks::{CallbackBoxes, CallbackComponent, Callbacks, Flow};
pub use component::{Component, Stage};
pub use compose::{Carousel, Graphline, GraphlineBuilder, Par, Pipeline, PipelineBuilder, Seq};
pub use control::{Control, FailureInfo, Finished};
pub use coop::yield_now;
pub use cores::{
    CoreError, Cores, CoresConfig, CoresHandle, CoresTopology, DEFAULT_IDLE_SPIN, current_core,
    current_cores,
};
pub use cross::{CrossCounters, CrossFanout, CrossInbox, link_cross, link_cross_control};
#[doc(hidden)]
pub use dormant::{BoxDecl, Declaration, DeclaredBox, Home};
pub use erased::{BoxCounters, BoxEntry, BoxSpec, Boxes, ComponentId, Direction};
pub use error::{ComponentError, Endpoint, LinkError, SendError, TrySendError};
pub use fanout::{Fanout, Offer, Policy, Published, Subscription};
pub use handle::{Handle, handle};
pub use inbox::{DEFAULT_CAPACITY, Inbox, InboxRef, Next, Recv, RecvOrFinished};
pub use link::{link, link_with_capacity, pass_inbox, pass_outbox, unlink, unpass_inbox};
pub use log_limit::LogLimit;
pub use outbox::{Outbox, OutboxRef, Permit, Send};
/// The scheduler's wake handshake, for the loom model check (`RUSTFLAGS="--cfg axon_loom"`).
#[cfg(axon_loom)]
#[doc(hidden)]
pub use scheduler::doorbell::Doorbell;
pub use scheduler::{
    Children, ComponentHandle, DEFAULT_MAX_POLLS_PER_TICK, Scheduler, SchedulerConfig, activate,
    children, current, extension, link_named, measure, run, run_with, topology,
};
pub use threaded::{RecvTimeoutError, ThreadBoxes, Threaded, threaded};
pub use topology::Topology;
#[cfg(test)]
mod size_guard {
    /// Per-component memory is a measured target (docs/benchmarks.md); these sizes are what
    /// keep it. A change that grows a box core should be a decision, not an accident.
    #[test]
    fn box_cores_stay_small() {
        use std::mem::size_of;
        // A box carries its own name (16 bytes in its core), so the scheduler's entry for it
        // is one pointer pair (16 bytes, was 24): +8 bytes per box, for names without a
        // thread-local lookup and for boxes added at run time.
        // +16 for the queue's inline first value: the first message to an idle inbox needs
        // no buffer (see `fifo`).
        assert!(size_of::<crate::inbox::InboxCore<u64>>() <= 136);
        // An outbox's target may be a local inbox or a cross-core link (two thin pointers
        // and a tag: +8 bytes, for links between cores with no cost on the local hot path).
        assert!(size_of::<crate::outbox::OutboxCore<u64>>() <= 80);
        assert!(size_of::<crate::BoxEntry>() <= 16);
        assert!(size_of::<crate::Control>() <= 16);
        // A box field is two words until it is used (see `dormant`): an idle component carries
        // its boxes inline, in its task, and allocates none.
        assert!(size_of::<crate::Inbox<u64>>() <= 16);
        assert!(size_of::<crate::Outbox<u64>>() <= 16);
    }
}
