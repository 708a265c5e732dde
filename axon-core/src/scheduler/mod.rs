//! The executor: one thread, snapshot rounds over ready queues, running inside tokio.
//!
//! A component's task is its boxed future, kept in its table slot; its waker is its address
//! (scheduler, slot, generation), so waking pushes that address onto a ready queue (any thread
//! may do it) and the scheduler future wakes tokio only when it was asleep. Each round runs the
//! components that were ready when it began; anything woken during the round runs next round
//! (Axon's runqueue / nextrunqueue).
//!
//! By role: `executor` (the state, the ready queues, the round loop, activation and exit),
//! `table` (the slot table of running components and their tasks), `waker` (wakers as
//! addresses; the crate's one `unsafe`), `doorbell` (the sleep/wake handshake with other
//! threads), `context` (which scheduler and component this thread is running; the local and
//! home queues), `handle` (a component seen from outside) and `children` (what a component
//! activated). This file holds the public face: [`Scheduler`] and its configuration.

use crate::component::{Component, ComponentName};
use crate::control::{Control, FailureInfo};
use crate::coop;
use crate::dormant::{BoxDecl, Declaration, Home};
use crate::erased::{self, BoxEntry, ComponentId, Direction, ErasedBox};
use crate::error::{Endpoint, LinkError};
use crate::inbox::{InboxCore, InboxRef};
use crate::outbox::{OutboxCore, OutboxRef};
use crate::topology::{BoxInfo, ComponentInfo, ComponentState, ComponentStats, LinkInfo, Topology};
use concurrent_queue::ConcurrentQueue;
use futures::FutureExt;
use futures::task::AtomicWaker;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::panic::AssertUnwindSafe;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tracing::Instrument;

mod children;
mod context;
pub(crate) mod doorbell;
mod dormant_boxes;
mod executor;
mod handle;
mod measure;
mod snapshot;
mod table;
mod waker;

pub use children::{Children, children};
use context::*;
pub use context::{activate, current, extension, measure, topology};
pub(crate) use context::{
    activate_top, declared_box, describe, handle_of, is_parent_of, wait_dormant,
};
use doorbell::Doorbell;
pub(crate) use executor::Inner;
pub(crate) use executor::panic_message as panic_text;
use executor::*;
pub use handle::{ComponentHandle, link_named};
use measure::*;
use table::*;
use waker::Address;

/// Task polls per turn of the tokio runtime before the scheduler hands the thread back, so
/// tokio's I/O driver and timers always get time.
pub const DEFAULT_MAX_POLLS_PER_TICK: usize = 4096;

/// Runs components: Kamaelia's scheduler, as a `!Send` future that runs inside any tokio
/// runtime able to poll one (current-thread runtime, `LocalSet`, `LocalRuntime`,
/// `LocalPoolHandle::spawn_pinned`).
///
/// ```
/// use axon_core::{Scheduler, components::DataSource};
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// rt.block_on(async {
///     let scheduler = Scheduler::new();
///     scheduler.activate(DataSource::new(1..=3));
///     scheduler.run().await; // returns when no component is left
/// });
/// ```
#[doc(alias = "microthread")]
pub struct Scheduler {
    inner: Rc<Inner>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("components", &self.len())
            .finish_non_exhaustive()
    }
}

/// Tuning for a [`Scheduler`].
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Box operations per component poll before it must yield ([`coop::DEFAULT_BUDGET`]).
    pub budget: u32,
    /// Component polls before the scheduler returns to tokio ([`DEFAULT_MAX_POLLS_PER_TICK`]).
    pub max_polls_per_tick: usize,
    /// Slow motion: a pause after every round of polls, for watching a system run (in the
    /// topology, a log or a visualiser). `None` (the default): no pause. Needs a tokio runtime
    /// with its timer enabled.
    pub round_delay: Option<std::time::Duration>,
    /// Before going to sleep with nothing to run, keep polling for wakes from other threads
    /// for this long. Worth it only when other threads wake this one often (a core of a
    /// [`Cores`](crate::Cores): a cross-core hop then avoids a thread unpark), at the price of
    /// that much CPU per idle spell; I/O and timers are looked at when it ends. `None` (the
    /// default for a lone scheduler): sleep at once.
    pub idle_spin: Option<std::time::Duration>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            budget: coop::DEFAULT_BUDGET,
            max_polls_per_tick: DEFAULT_MAX_POLLS_PER_TICK,
            round_delay: None,
            idle_spin: None,
        }
    }
}

impl Default for Scheduler {
    fn default() -> Self {
        Self::new()
    }
}

impl Scheduler {
    /// A scheduler with the default [`SchedulerConfig`].
    pub fn new() -> Self {
        Self::with_config(SchedulerConfig::default())
    }

    /// A scheduler with the given tuning.
    pub fn with_config(config: SchedulerConfig) -> Self {
        let scheduler = Scheduler {
            inner: Rc::new(Inner {
                shared: waker::lease(Shared::new),
                local: RefCell::new(VecDeque::new()),
                round: Cell::new(0),
                dormant_waiters: RefCell::new(Vec::new()),
                table: RefCell::new(Table::default()),
                config,
                pause: RefCell::new(None),
                extensions: RefCell::new(Vec::new()),
                stats: RefCell::new(None),
                measuring: Cell::new(false),
                spin_skip: Cell::new(0),
                spin_backoff: Cell::new(0),
                failures: RefCell::new(VecDeque::new()),
            }),
        };
        add_home(&scheduler.inner);
        scheduler
    }

    /// Activates a top-level component (Axon's `activate`): it runs from the next round.
    pub fn activate<C: Component>(&self, component: C) -> ComponentHandle {
        self.inner.activate(component, None)
    }

    /// Runs `f` with this scheduler as the current one on this thread, so what needs one
    /// outside a component (making a [`CrossInbox`](crate::CrossInbox), say) finds it.
    pub fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        let _entered = Enter::new(&self.inner);
        f()
    }

    /// Runs every component until none is left. Components activated later (by components, or
    /// through this scheduler from elsewhere on this thread) join in.
    pub async fn run(&self) {
        poll_fn(|cx| self.inner.poll_run(cx)).await
    }

    /// Stops every component now: each is cancelled and its exit path runs (inboxes close,
    /// links are removed). [`Scheduler::run`] then returns.
    pub fn shutdown(&self) {
        let ids: Vec<_> = self.inner.table.borrow().ids().collect();
        for id in ids {
            self.inner.cancel(id);
        }
    }

    /// Components currently running (activated and not yet exited).
    pub fn len(&self) -> usize {
        self.inner.table.borrow().live
    }

    /// True when no component is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps per-component poll counts and busy time (shown in [`topology`](Self::topology))
    /// while `on`; off (the default), a poll pays one flag check and nothing is kept.
    pub fn measure(&self, on: bool) {
        self.inner.set_measuring(on);
    }

    /// A snapshot of components, boxes and linkages.
    pub fn topology(&self) -> Topology {
        self.inner.topology()
    }

    /// This scheduler's instance of `T`, made with `T::default()` on first use. Higher crates keep
    /// per-scheduler state here (the Co-ordinating Assistant Tracker does): two schedulers in one
    /// process never share it, unlike a global singleton.
    pub fn extension<T: Default + 'static>(&self) -> Rc<T> {
        self.inner.extension()
    }

    /// The handle of a running component, looked up by id.
    pub fn component(&self, id: ComponentId) -> Option<ComponentHandle> {
        let table = self.inner.table.borrow();
        let entry = table.get(id)?;
        Some(ComponentHandle {
            id,
            name: entry.name.clone(),
            scheduler: Rc::downgrade(&self.inner),
        })
    }
}

/// Runs `component` (and everything it activates) to completion on a new current-thread tokio
/// runtime: the one-line entry point for a standalone program.
///
/// ```
/// # use axon_core::components::DataSource;
/// axon_core::run(DataSource::new(1..=3)).unwrap();
/// ```
pub fn run<C: Component>(component: C) -> std::io::Result<()> {
    run_with(|scheduler| {
        scheduler.activate(component);
    })
}

/// Runs several top-level components to completion on a new current-thread tokio runtime:
/// `setup` activates them (and may link them, or start services) on the scheduler it is given.
///
/// ```
/// use axon_core::components::{Collect, DataSource};
/// use axon_core::link;
///
/// let (sink, got) = Collect::new();
/// let (a, b) = (DataSource::new(1..=2u8), DataSource::new(3..=4u8));
/// let (sink_a, got_a) = Collect::new();
/// link(&a.outbox, &sink_a.inbox).unwrap();
/// link(&a.signal, &sink_a.control).unwrap();
/// link(&b.outbox, &sink.inbox).unwrap();
/// link(&b.signal, &sink.control).unwrap();
/// axon_core::run_with(|scheduler| {
///     scheduler.activate(a);
///     scheduler.activate(sink_a);
///     scheduler.activate(b);
///     scheduler.activate(sink);
/// })
/// .unwrap();
/// assert_eq!((got_a.take(), got.take()), (vec![1, 2], vec![3, 4]));
/// ```
pub fn run_with(setup: impl FnOnce(&Scheduler)) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let scheduler = Scheduler::new();
        setup(&scheduler);
        scheduler.run().await;
    });
    Ok(())
}
