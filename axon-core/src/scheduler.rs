//! The executor: one thread, snapshot rounds over a thread-safe ready queue, running inside tokio.
//!
//! A component is an `async-task` task whose metadata is its [`ComponentId`]. Waking pushes the
//! task onto the ready queue (any thread may do it); the scheduler future wakes tokio only on the
//! idle→busy edge. Each round runs the tasks that were ready when it began; anything woken during
//! the round runs next round (Axon's runqueue / nextrunqueue).

use crate::component::{Component, ComponentName};
use crate::control::{Control, FailureInfo};
use crate::coop;
use crate::error::{Endpoint, LinkError};
use crate::inbox::{InboxCore, InboxRef};
use crate::outbox::{OutboxCore, OutboxRef};
use crate::registry::{self, BoxEntry, ComponentId, Direction};
use crate::topology::{BoxInfo, ComponentInfo, ComponentState, LinkInfo, Topology};
use async_task::{Runnable, Task};
use concurrent_queue::ConcurrentQueue;
use futures::FutureExt;
use futures::task::AtomicWaker;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::panic::AssertUnwindSafe;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tracing::Instrument;

/// Task polls per turn of the tokio runtime before the scheduler hands the thread back, so
/// tokio's I/O driver and timers always get time.
pub const DEFAULT_MAX_POLLS_PER_TICK: usize = 4096;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Inner>>> = const { RefCell::new(None) };
    static CURRENT_COMPONENT: Cell<Option<ComponentId>> = const { Cell::new(None) };
    /// The `Shared` of the scheduler being polled on this thread (its address), so a wake from
    /// one of its own components goes to the local queue without atomics.
    static POLLING: Cell<usize> = const { Cell::new(0) };
    /// That scheduler's local ready queue, swapped in for the duration of its poll.
    static LOCAL_READY: RefCell<VecDeque<Runnable<ComponentId>>> = const { RefCell::new(VecDeque::new()) };
}

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
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            budget: coop::DEFAULT_BUDGET,
            max_polls_per_tick: DEFAULT_MAX_POLLS_PER_TICK,
            round_delay: None,
        }
    }
}

pub(crate) struct Inner {
    shared: Arc<Shared>,
    /// Ready tasks woken by this scheduler's own components while it was being polled; lives in
    /// `LOCAL_READY` during a poll.
    local: RefCell<VecDeque<Runnable<ComponentId>>>,
    table: RefCell<Table>,
    config: SchedulerConfig,
    /// The slow-motion pause under way (see [`SchedulerConfig::round_delay`]).
    pause: RefCell<Option<std::pin::Pin<Box<tokio::time::Sleep>>>>,
    /// Per-scheduler services for higher crates (the CAT lives here), one per type.
    extensions: RefCell<Vec<Rc<dyn std::any::Any>>>,
}

/// The part other threads (and tokio's drivers) touch: the remote ready queue and the
/// scheduler's own waker.
struct Shared {
    ready: ConcurrentQueue<Runnable<ComponentId>>,
    waker: AtomicWaker,
    /// True while the scheduler is awake (or already woken): schedulers need no tokio wake.
    notified: AtomicBool,
}

impl Shared {
    fn schedule(self: &Arc<Self>, runnable: Runnable<ComponentId>) {
        if POLLING.get() == Arc::as_ptr(self) as usize {
            // Woken by a component of this scheduler during its poll: it runs next round.
            LOCAL_READY.with(|q| q.borrow_mut().push_back(runnable));
            return;
        }
        // The queue is never closed, so push cannot fail.
        let _ = self.ready.push(runnable);
        if !self.notified.swap(true, Ordering::SeqCst) {
            self.waker.wake();
        }
    }
}

#[derive(Default)]
struct Table {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
}

struct Slot {
    generation: u32,
    entry: Option<Entry>,
}

struct Entry {
    name: ComponentName,
    parent: Option<ComponentId>,
    /// Children and the waker of `children().all_done()`; only parents allocate it.
    family: Option<Box<Family>>,
    task: Option<Task<(), ComponentId>>,
    boxes: Box<[BoxEntry]>,
}

#[derive(Default)]
struct Family {
    children: Vec<ComponentId>,
    waiter: Option<Waker>,
}

impl Entry {
    fn children(&self) -> &[ComponentId] {
        self.family.as_ref().map_or(&[], |f| &f.children)
    }
}

impl Table {
    fn get(&self, id: ComponentId) -> Option<&Entry> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation == id.generation {
            slot.entry.as_ref()
        } else {
            None
        }
    }

    fn get_mut(&mut self, id: ComponentId) -> Option<&mut Entry> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation == id.generation {
            slot.entry.as_mut()
        } else {
            None
        }
    }

    fn insert(&mut self, entry: Entry) -> ComponentId {
        self.live += 1;
        match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.entry = Some(entry);
                ComponentId {
                    index,
                    generation: slot.generation,
                }
            }
            None => {
                let index = u32::try_from(self.slots.len()).expect("more than 2^32 components");
                self.slots.push(Slot {
                    generation: 0,
                    entry: Some(entry),
                });
                ComponentId {
                    index,
                    generation: 0,
                }
            }
        }
    }

    fn remove(&mut self, id: ComponentId) -> Option<Entry> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let entry = slot.entry.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        self.live -= 1;
        Some(entry)
    }

    fn ids(&self) -> impl Iterator<Item = ComponentId> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.entry.as_ref().map(|_| ComponentId {
                index: i as u32,
                generation: s.generation,
            })
        })
    }
}

enum Exit {
    Finished,
    /// Ended with an error or a panic. `peer_gone`: the error was only that a destination had
    /// closed (a client that went away, say): an ordinary event, logged at debug, not error.
    Failed {
        message: String,
        peer_gone: bool,
    },
    Cancelled,
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
        Scheduler {
            inner: Rc::new(Inner {
                shared: Arc::new(Shared {
                    ready: ConcurrentQueue::unbounded(),
                    waker: AtomicWaker::new(),
                    notified: AtomicBool::new(false),
                }),
                local: RefCell::new(VecDeque::new()),
                table: RefCell::new(Table::default()),
                config,
                pause: RefCell::new(None),
                extensions: RefCell::new(Vec::new()),
            }),
        }
    }

    /// Activates a top-level component (Axon's `activate`): it runs from the next round.
    pub fn activate<C: Component>(&self, component: C) -> ComponentHandle {
        self.inner.activate(component, None)
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

/// Sets this thread's current scheduler while linking or activating from outside a poll
/// (restoring any outer one).
struct Enter {
    previous: Option<Rc<Inner>>,
}

impl Enter {
    fn new(inner: &Rc<Inner>) -> Self {
        let previous = CURRENT.with(|c| c.replace(Some(inner.clone())));
        Enter { previous }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Makes a scheduler the one being polled on this thread: current scheduler, local ready
/// queue swapped into `LOCAL_READY`, and `POLLING` set; all restored on drop (schedulers may nest).
struct Polling<'a> {
    inner: &'a Rc<Inner>,
    _enter: Enter,
    previous_polling: usize,
    /// The local queue of an outer scheduler polled on this thread, if any.
    outer_queue: VecDeque<Runnable<ComponentId>>,
}

impl<'a> Polling<'a> {
    fn new(inner: &'a Rc<Inner>) -> Self {
        let enter = Enter::new(inner);
        let previous_polling = POLLING.replace(Arc::as_ptr(&inner.shared) as usize);
        let mine = std::mem::take(&mut *inner.local.borrow_mut());
        let outer_queue = LOCAL_READY.with(|q| std::mem::replace(&mut *q.borrow_mut(), mine));
        Polling {
            inner,
            _enter: enter,
            previous_polling,
            outer_queue,
        }
    }
}

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        let outer = std::mem::take(&mut self.outer_queue);
        let mine = LOCAL_READY.with(|q| std::mem::replace(&mut *q.borrow_mut(), outer));
        *self.inner.local.borrow_mut() = mine;
        POLLING.set(self.previous_polling);
    }
}

fn with_current<R>(f: impl FnOnce(&Rc<Inner>) -> R) -> Option<R> {
    CURRENT.with(|c| c.borrow().as_ref().map(f))
}

/// `Name#id` for errors, when the component's scheduler is running on this thread.
pub(crate) fn describe(id: ComponentId) -> String {
    with_current(|inner| {
        inner
            .table
            .borrow()
            .get(id)
            .map(|e| format!("{}{}", e.name, id))
    })
    .flatten()
    .unwrap_or_else(|| id.to_string())
}

/// The name of the box of component `owner` whose owner record is `meta`.
pub(crate) fn box_name(
    owner: ComponentId,
    meta: &crate::registry::BoxMeta,
) -> Option<&'static str> {
    with_current(|inner| {
        let table = inner.table.try_borrow().ok()?;
        let entry = table.get(owner)?;
        entry
            .boxes
            .iter()
            .find(|b| b.has_meta(meta))
            .map(|b| b.name())
    })
    .flatten()
}

/// Whether `parent` is `child`'s parent. Unknown owners (not yet activated, or checked outside a
/// running scheduler) are not refused.
pub(crate) fn is_parent_of(parent: Option<ComponentId>, child: Option<ComponentId>) -> bool {
    let (Some(parent), Some(child)) = (parent, child) else {
        return true;
    };
    with_current(|inner| {
        let table = inner.table.borrow();
        match table.get(child) {
            Some(entry) => entry.parent == Some(parent),
            None => true,
        }
    })
    .unwrap_or(true)
}

impl Inner {
    fn extension<T: Default + 'static>(&self) -> Rc<T> {
        let found = self
            .extensions
            .borrow()
            .iter()
            .find_map(|e| e.clone().downcast::<T>().ok());
        found.unwrap_or_else(|| {
            // Made outside the borrow: `T::default()` may itself look up an extension.
            let made = Rc::new(T::default());
            self.extensions.borrow_mut().push(made.clone());
            made
        })
    }

    fn activate<C: Component>(
        self: &Rc<Self>,
        component: C,
        parent: Option<ComponentId>,
    ) -> ComponentHandle {
        let name = ComponentName::of(&component);
        let boxes = component.boxes().into_boxed_slice();
        let id = {
            let mut table = self.table.borrow_mut();
            let id = table.insert(Entry {
                name: name.clone(),
                parent,
                family: None,
                task: None,
                boxes,
            });
            if let Some(parent) = parent.and_then(|p| table.get_mut(p)) {
                parent.family.get_or_insert_default().children.push(id);
            }
            let entry = table.get(id).expect("just inserted");
            for b in entry.boxes.iter() {
                b.handle.meta().set_owner(id);
            }
            id
        };
        let span = tracing::debug_span!("component", name = %name, id = %id);
        let body = async move {
            let outcome = AssertUnwindSafe(component.main()).catch_unwind().await;
            let exit = match outcome {
                Ok(Ok(())) => Exit::Finished,
                Ok(Err(error)) => Exit::Failed {
                    peer_gone: matches!(error, crate::error::ComponentError::Closed),
                    message: error.to_string(),
                },
                Err(panic) => Exit::Failed {
                    message: panic_message(&*panic),
                    peer_gone: false,
                },
            };
            // A component only finishes inside its scheduler's poll, so the scheduler is the
            // current one: no per-component back-pointer is needed.
            with_current(|scheduler| scheduler.on_exit(id, exit));
        };
        // Entering a disabled span on every poll costs time for nothing.
        // Boxed when enabled, so a disabled span adds nothing to every component's future.
        let body = if span.is_disabled() {
            futures::future::Either::Left(body)
        } else {
            futures::future::Either::Right(Box::pin(body.instrument(span)))
        };
        let shared = self.shared.clone();
        let (runnable, task) = async_task::Builder::new()
            .metadata(id)
            .spawn_local(move |_| body, move |r| shared.schedule(r));
        if let Some(entry) = self.table.borrow_mut().get_mut(id) {
            entry.task = Some(task);
        }
        runnable.schedule();
        ComponentHandle {
            id,
            name,
            scheduler: Rc::downgrade(self),
        }
    }

    fn poll_run(self: &Rc<Self>, cx: &mut Context<'_>) -> Poll<()> {
        let _polling = Polling::new(self);
        self.shared.waker.register(cx.waker());
        self.shared.notified.store(true, Ordering::SeqCst);
        let mut polls = 0usize;
        loop {
            // Slow motion: wait out the pause after the last round.
            {
                let mut pause = self.pause.borrow_mut();
                if let Some(sleep) = pause.as_mut() {
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *pause = None;
                }
            }
            // Wakes from other threads and from tokio's drivers join the local queue.
            if !self.shared.ready.is_empty() {
                LOCAL_READY.with(|q| {
                    let mut q = q.borrow_mut();
                    while let Ok(runnable) = self.shared.ready.pop() {
                        q.push_back(runnable);
                    }
                });
            }
            let round = LOCAL_READY.with(|q| q.borrow().len());
            if round == 0 {
                if self.table.borrow().live == 0 {
                    return Poll::Ready(());
                }
                // Going idle: clear the flag, then look once more so no wake is missed.
                self.shared.notified.store(false, Ordering::SeqCst);
                if self.shared.ready.is_empty() {
                    return Poll::Pending;
                }
                self.shared.notified.store(true, Ordering::SeqCst);
                continue;
            }
            // A snapshot round: only what was ready when it began; wakes during it run next.
            for _ in 0..round {
                let Some(runnable) = LOCAL_READY.with(|q| q.borrow_mut().pop_front()) else {
                    break;
                };
                CURRENT_COMPONENT.set(Some(*runnable.metadata()));
                coop::refill(self.config.budget);
                runnable.run();
                CURRENT_COMPONENT.set(None);
                polls += 1;
                // tokio's budget belongs to this whole task: once a component has spent it,
                // every socket and timer would report Pending, so hand back to tokio now.
                if polls >= self.config.max_polls_per_tick
                    || !tokio::task::coop::has_budget_remaining()
                {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
            if let Some(delay) = self.config.round_delay {
                *self.pause.borrow_mut() = Some(Box::pin(tokio::time::sleep(delay)));
            }
        }
    }

    fn on_exit(self: &Rc<Self>, id: ComponentId, exit: Exit) {
        let (entry, parent_waker) = {
            let mut table = self.table.borrow_mut();
            let Some(entry) = table.remove(id) else {
                return;
            };
            let mut parent_waker = None;
            if let Some(parent) = entry.parent.and_then(|p| table.get_mut(p))
                && let Some(family) = parent.family.as_mut()
            {
                family.children.retain(|c| *c != id);
                parent_waker = family.waiter.take();
            }
            for child in entry.children() {
                if let Some(child) = table.get_mut(*child) {
                    child.parent = None;
                }
            }
            (entry, parent_waker)
        };
        match &exit {
            Exit::Finished => tracing::trace!(component = %entry.name, id = %id, "exited"),
            Exit::Cancelled => tracing::debug!(component = %entry.name, id = %id, "cancelled"),
            Exit::Failed { message, peer_gone } => {
                if *peer_gone {
                    tracing::debug!(component = %entry.name, id = %id, error = %message, "component stopped");
                } else {
                    tracing::error!(component = %entry.name, id = %id, error = %message, "component failed");
                }
                let info = FailureInfo {
                    component: entry.name.as_str().to_string(),
                    id: id.to_string(),
                    message: message.clone(),
                };
                if let Some(signal) = entry
                    .boxes
                    .iter()
                    .find(|b| b.name() == "signal" && b.direction() == Direction::Out)
                {
                    signal
                        .handle
                        .deliver_control(Control::Failed(Box::new(info)));
                }
            }
        }
        let cancelled = matches!(exit, Exit::Cancelled);
        for b in entry.boxes.iter() {
            b.handle.on_owner_exit(cancelled);
        }
        if let Some(task) = entry.task {
            task.detach();
        }
        if let Some(waker) = parent_waker {
            waker.wake();
        }
    }

    /// Cancels a component: its future is dropped and its exit path runs.
    fn cancel(self: &Rc<Self>, id: ComponentId) {
        let task = self
            .table
            .borrow_mut()
            .get_mut(id)
            .and_then(|e| e.task.take());
        drop(task);
        self.on_exit(id, Exit::Cancelled);
    }

    fn cancel_tree(self: &Rc<Self>, id: ComponentId) {
        let children = self
            .table
            .borrow()
            .get(id)
            .map(|e| e.children().to_vec())
            .unwrap_or_default();
        for child in children {
            self.cancel_tree(child);
        }
        self.cancel(id);
    }

    fn boxes_of(&self, id: ComponentId) -> Option<Box<[BoxEntry]>> {
        self.table
            .borrow()
            .get(id)
            .map(|e| e.boxes.iter().cloned().collect())
    }

    fn topology(&self) -> Topology {
        let table = self.table.borrow();
        let current = CURRENT_COMPONENT.get();
        let mut topology = Topology::default();
        for id in table.ids() {
            let entry = table.get(id).expect("listed id");
            topology.components.push(ComponentInfo {
                id,
                name: entry.name.as_str().to_string(),
                parent: entry.parent,
                state: if current == Some(id) {
                    ComponentState::Running
                } else if entry.boxes.iter().any(|b| b.handle.blocked()) {
                    ComponentState::BlockedOnSend
                } else {
                    ComponentState::Sleeping
                },
            });
            for b in entry.boxes.iter() {
                topology.boxes.push(BoxInfo {
                    component: id,
                    name: b.name().to_string(),
                    doc: b.doc().to_string(),
                    direction: b.direction(),
                    item_type: b.type_name().to_string(),
                    counters: b.handle.counters(),
                });
                if let Some(view) = b.handle.link_view() {
                    let to_name = view
                        .to_owner
                        .and_then(|owner| table.get(owner))
                        .and_then(|e| e.boxes.iter().find(|d| d.has_meta(view.to_meta)))
                        .map_or("?", |d| d.name());
                    topology.links.push(LinkInfo::new(id, b, view, to_name));
                }
            }
        }
        topology
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_string()
    }
}

/// A running component, as seen from outside it: its id and name, and its boxes by name.
#[derive(Clone)]
pub struct ComponentHandle {
    id: ComponentId,
    name: ComponentName,
    scheduler: Weak<Inner>,
}

impl std::fmt::Debug for ComponentHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.name, self.id)
    }
}

impl ComponentHandle {
    /// The component's id.
    pub fn id(&self) -> ComponentId {
        self.id
    }

    /// The component's name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// True while the component runs.
    pub fn is_running(&self) -> bool {
        self.scheduler
            .upgrade()
            .is_some_and(|s| s.table.borrow().get(self.id).is_some())
    }

    /// Asks the component to end from outside: `ShutdownMicroprocess` on its `control` inbox
    /// (so it can close down as it would when its producer says so). A component without a
    /// control inbox cannot be asked, and is cancelled with its children instead (its exit
    /// path still runs). Returns `false` if it had already ended.
    ///
    /// ```
    /// use axon_core::{Scheduler, components::map};
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     let scheduler = Scheduler::new();
    ///     let worker = scheduler.activate(map(|n: u32| n + 1)); // would wait for input forever
    ///     assert!(worker.stop());
    ///     scheduler.run().await; // returns: the worker ended
    ///     assert!(!worker.is_running() && !worker.stop());
    /// });
    /// ```
    pub fn stop(&self) -> bool {
        let Some(scheduler) = self.scheduler.upgrade() else {
            return false;
        };
        let Some(boxes) = scheduler.boxes_of(self.id) else {
            return false;
        };
        match boxes
            .iter()
            .find(|b| b.name() == "control" && b.direction() == Direction::In)
        {
            Some(control) => {
                control
                    .handle
                    .deliver_control(Control::ShutdownMicroprocess);
            }
            None => scheduler.cancel_tree(self.id),
        }
        true
    }

    /// Removes every link the component owns or that touches its boxes: its outboxes' links,
    /// the outboxes linked to its inboxes, and passthroughs to and from its boxes — to rewire it
    /// while it runs. Values already delivered stay where they are; values sent on an unlinked
    /// outbox are held until it is linked again. Returns how many links were removed.
    pub fn unlink_all(&self) -> usize {
        let Some(scheduler) = self.scheduler.upgrade() else {
            return 0;
        };
        let Some(boxes) = scheduler.boxes_of(self.id) else {
            return 0;
        };
        boxes.iter().map(|b| b.handle.unlink_all()).sum()
    }

    fn find(&self, box_name: &str, direction: Direction) -> Result<BoxEntry, LinkError> {
        let scheduler = self.scheduler.upgrade();
        let boxes = scheduler
            .as_ref()
            .and_then(|s| s.boxes_of(self.id))
            .ok_or_else(|| LinkError::NoSuchComponent {
                component: format!("{self:?}").into(),
            })?;
        boxes
            .iter()
            .find(|b| b.name() == box_name && b.direction() == direction)
            .cloned()
            .ok_or_else(|| LinkError::NoSuchBox {
                endpoint: Endpoint {
                    component: format!("{self:?}").into(),
                    box_name: box_name.into(),
                },
                available: boxes
                    .iter()
                    .map(|b| {
                        let dir = match b.direction() {
                            Direction::In => "in",
                            Direction::Out => "out",
                        };
                        format!("{} ({dir}, {})", b.name(), b.type_name())
                    })
                    .collect(),
            })
    }

    fn typed_error(&self, entry: &BoxEntry, wanted: &'static str) -> LinkError {
        let endpoint = Endpoint {
            component: format!("{self:?}").into(),
            box_name: entry.name().into(),
        };
        LinkError::TypeMismatch {
            from: endpoint.clone(),
            from_type: wanted,
            to: endpoint,
            to_type: entry.type_name(),
        }
    }

    /// The inbox named `name`, if it carries `T`.
    pub fn inbox<T: 'static>(&self, name: &str) -> Result<InboxRef<T>, LinkError> {
        let entry = self.find(name, Direction::In)?;
        match entry.handle.clone().into_any().downcast::<InboxCore<T>>() {
            Ok(core) => Ok(InboxRef { core }),
            Err(_) => Err(self.typed_error(&entry, std::any::type_name::<T>())),
        }
    }

    /// The outbox named `name`, if it carries `T`.
    pub fn outbox<T: 'static>(&self, name: &str) -> Result<OutboxRef<T>, LinkError> {
        let entry = self.find(name, Direction::Out)?;
        match entry.handle.clone().into_any().downcast::<OutboxCore<T>>() {
            Ok(core) => Ok(OutboxRef { core }),
            Err(_) => Err(self.typed_error(&entry, std::any::type_name::<T>())),
        }
    }

    /// The box named `name`: an outbox if there is one, else an inbox.
    fn any_box(&self, name: &str, prefer: Direction) -> Result<BoxEntry, LinkError> {
        let other = match prefer {
            Direction::In => Direction::Out,
            Direction::Out => Direction::In,
        };
        self.find(name, prefer)
            .or_else(|e| self.find(name, other).map_err(|_| e))
    }
}

/// Links boxes by name, for graphs built at run time; the item types are checked at run time.
///
/// - `(a, outbox)` → `(b, inbox)`: an ordinary link;
/// - `(parent, inbox)` → `(child, inbox)`: inbox passthrough;
/// - `(child, outbox)` → `(parent, outbox)`: outbox passthrough.
///
/// Errors name both ends and both types: [`LinkError::NoSuchComponent`],
/// [`LinkError::NoSuchBox`], [`LinkError::TypeMismatch`], [`LinkError::AlreadyLinked`],
/// [`LinkError::WrongHierarchy`].
#[doc(alias = "link")]
pub fn link_named(
    from: (&ComponentHandle, &str),
    to: (&ComponentHandle, &str),
) -> Result<(), LinkError> {
    let source = from.0.any_box(from.1, Direction::Out)?;
    let destination = match source.direction() {
        Direction::Out => to.0.any_box(to.1, Direction::In)?,
        Direction::In => to.0.find(to.1, Direction::In)?,
    };
    let scheduler = from
        .0
        .scheduler
        .upgrade()
        .ok_or_else(|| LinkError::NoSuchComponent {
            component: format!("{:?}", from.0).into(),
        })?;
    let _enter = Enter::new(&scheduler);
    registry::link_erased(&source.handle, &destination.handle)
}

/// Activates a child of the running component (Axon's `newComponent`).
///
/// # Panics
/// When called outside a component run by a [`Scheduler`].
#[doc(alias = "newComponent")]
pub fn activate<C: Component>(component: C) -> ComponentHandle {
    with_current(|inner| inner.activate(component, CURRENT_COMPONENT.get()))
        .expect("axon_core::activate called outside a running component")
}

/// The handle of the running component, if called from one.
pub fn current() -> Option<ComponentHandle> {
    let id = CURRENT_COMPONENT.get()?;
    with_current(|inner| {
        let table = inner.table.borrow();
        table.get(id).map(|e| ComponentHandle {
            id,
            name: e.name.clone(),
            scheduler: Rc::downgrade(inner),
        })
    })
    .flatten()
}

/// The current scheduler's instance of `T` (see [`Scheduler::extension`]); `None` outside a
/// running component.
pub fn extension<T: Default + 'static>() -> Option<Rc<T>> {
    with_current(|inner| inner.extension::<T>())
}

/// A snapshot of the topology of the scheduler running the current component.
#[doc(alias = "Introspector")]
pub fn topology() -> Option<Topology> {
    with_current(|inner| inner.topology())
}

/// The children of the running component.
///
/// # Panics
/// When called outside a component run by a [`Scheduler`].
pub fn children() -> Children {
    let id = CURRENT_COMPONENT
        .get()
        .expect("axon_core::children called outside a running component");
    let scheduler = with_current(Rc::downgrade).expect("no running scheduler");
    Children { id, scheduler }
}

/// The children a component has activated and that are still running.
pub struct Children {
    id: ComponentId,
    scheduler: Weak<Inner>,
}

impl Children {
    /// Ids of the running children.
    pub fn ids(&self) -> Vec<ComponentId> {
        self.scheduler
            .upgrade()
            .and_then(|s| s.table.borrow().get(self.id).map(|e| e.children().to_vec()))
            .unwrap_or_default()
    }

    /// Waits until every child has exited (replaces Graphline's polling loop).
    pub async fn all_done(&self) {
        poll_fn(|cx| {
            let Some(scheduler) = self.scheduler.upgrade() else {
                return Poll::Ready(());
            };
            let mut table = scheduler.table.borrow_mut();
            match table.get_mut(self.id) {
                Some(entry) if !entry.children().is_empty() => {
                    entry.family.get_or_insert_default().waiter = Some(cx.waker().clone());
                    Poll::Pending
                }
                _ => Poll::Ready(()),
            }
        })
        .await
    }

    /// Sends `ShutdownMicroprocess` to every child's `control` inbox, waits up to `grace` for
    /// them to exit, then cancels what is left (with its descendants).
    pub async fn shutdown(&self, grace: Duration) {
        let Some(scheduler) = self.scheduler.upgrade() else {
            return;
        };
        for child in self.ids() {
            if let Some(boxes) = scheduler.boxes_of(child) {
                for b in boxes.iter() {
                    if b.name() == "control" && b.direction() == Direction::In {
                        b.handle.deliver_control(Control::ShutdownMicroprocess);
                    }
                }
            }
        }
        drop(scheduler);
        if tokio::time::timeout(grace, self.all_done()).await.is_err()
            && let Some(scheduler) = self.scheduler.upgrade()
        {
            for child in self.ids() {
                scheduler.cancel_tree(child);
            }
        }
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
