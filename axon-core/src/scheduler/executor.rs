//! The executor proper: the scheduler's state, its two ready queues (local, without atomics, for
//! wakes during its own poll; shared, for wakes from other threads and tokio's drivers), the
//! round loop, activation and the exit path of a component.

use super::*;

pub(crate) struct Inner {
    pub(super) shared: Arc<Shared>,
    /// Ready tasks woken by this scheduler's own components while it was being polled; lives in
    /// `LOCAL_READY` during a poll.
    pub(super) local: RefCell<VecDeque<Runnable<ComponentId>>>,
    pub(super) table: RefCell<Table>,
    pub(super) config: SchedulerConfig,
    /// The slow-motion pause under way (see [`SchedulerConfig::round_delay`]).
    pub(super) pause: RefCell<Option<std::pin::Pin<Box<tokio::time::Sleep>>>>,
    /// Per-scheduler services for higher crates (the CAT lives here), one per type.
    pub(super) extensions: RefCell<Vec<Rc<dyn std::any::Any>>>,
    /// Per-component poll counts and busy time, kept only while someone watches (see
    /// [`measure`](super::measure)): off, a poll pays one flag check.
    pub(super) stats: RefCell<Option<Measured>>,
    pub(super) measuring: Cell<bool>,
    /// Idle spells left to sleep through without spinning, and the current back-off (see
    /// `spin_for_wake`).
    pub(super) spin_skip: Cell<u32>,
    pub(super) spin_backoff: Cell<u32>,
    /// The last [`RECENT_FAILURES`] components that failed or panicked, newest last (for the
    /// topology's failures panel; ordinary ends, such as a closed destination, are not kept).
    pub(super) failures: RefCell<VecDeque<FailureInfo>>,
}

/// How many recent failures a scheduler remembers.
pub(super) const RECENT_FAILURES: usize = 32;

/// What the scheduler measured of one component while measuring was on.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PollStats {
    /// The generation of the component in this slot (a slot is reused by later components).
    generation: u32,
    pub(super) polls: u64,
    pub(super) busy: Duration,
    pub(super) last_run: Option<tokio::time::Instant>,
}

/// Poll statistics while measuring is on, kept cheap because they are taken on every poll of
/// every component: a slot per component-table slot (no hashing), one clock read per
/// scheduler tick for "last run", and busy time sampled on one poll in [`BUSY_SAMPLE`] (two
/// clock reads), scaled up. The clock is the expensive part: reading it twice per poll cost
/// 12 % of a message-passing pipeline's time; this costs about one read per 16 polls.
#[derive(Default)]
pub(super) struct Measured {
    slots: Vec<PollStats>,
    /// The time this scheduler tick began: every poll in the tick ran at about this time.
    pub(super) tick: Option<tokio::time::Instant>,
}

/// One poll in this many (per component) has its busy time measured.
const BUSY_SAMPLE: u64 = 16;

impl Measured {
    fn slot(&mut self, id: ComponentId) -> &mut PollStats {
        let index = id.index as usize;
        if self.slots.len() <= index {
            self.slots.resize(index + 1, PollStats::default());
        }
        let slot = &mut self.slots[index];
        if slot.generation != id.generation {
            *slot = PollStats {
                generation: id.generation,
                ..PollStats::default()
            };
        }
        slot
    }

    pub(super) fn get(&self, id: ComponentId) -> PollStats {
        self.slots
            .get(id.index as usize)
            .filter(|s| s.generation == id.generation)
            .copied()
            .unwrap_or_default()
    }

    pub(super) fn forget(&mut self, id: ComponentId) {
        if let Some(slot) = self.slots.get_mut(id.index as usize) {
            *slot = PollStats::default();
        }
    }
}

/// The part other threads (and tokio's drivers) touch: the remote ready queue and the
/// scheduler's own waker.
pub(super) struct Shared {
    pub(super) ready: ConcurrentQueue<Runnable<ComponentId>>,
    pub(super) waker: AtomicWaker,
    /// True while the scheduler is awake (or already woken): schedulers need no tokio wake.
    pub(super) notified: AtomicBool,
}

impl Shared {
    pub(super) fn schedule(self: &Arc<Self>, runnable: Runnable<ComponentId>) {
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

pub(super) enum Exit {
    Finished,
    /// `main` returned this error.
    Failed(crate::error::ComponentError),
    /// `main` panicked with this message.
    Panicked(String),
    Cancelled,
}

impl Inner {
    pub(super) fn extension<T: Default + 'static>(&self) -> Rc<T> {
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

    pub(super) fn activate<C: Component>(
        self: &Rc<Self>,
        component: C,
        parent: Option<ComponentId>,
    ) -> ComponentHandle {
        let name = ComponentName::of(&component);
        let boxes = component.boxes().into_boxed_slice();
        let adaptive = component.adaptive().map(|r| r.0);
        let id = {
            let mut table = self.table.borrow_mut();
            let id = table.insert(Entry {
                name: name.clone(),
                parent,
                family: None,
                task: None,
                boxes,
                adaptive,
            });
            if let Some(parent) = parent.and_then(|p| table.get_mut(p)) {
                parent.family.get_or_insert_default().children.push(id);
            }
            let entry = table.get(id).expect("just inserted");
            for b in entry.boxes.iter() {
                b.handle.meta().set_owner(id);
            }
            if let Some(registry) = &entry.adaptive {
                registry.activated(id, &entry.boxes);
            }
            id
        };
        let span = tracing::debug_span!("component", name = %name, id = %id);
        let body = async move {
            let outcome = AssertUnwindSafe(component.main()).catch_unwind().await;
            let exit = match outcome {
                Ok(Ok(())) => Exit::Finished,
                Ok(Err(error)) => Exit::Failed(error),
                Err(panic) => Exit::Panicked(panic_message(&*panic)),
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

    pub(super) fn poll_run(self: &Rc<Self>, cx: &mut Context<'_>) -> Poll<()> {
        let _polling = Polling::new(self);
        if self.measuring.get()
            && let Some(measured) = self.stats.borrow_mut().as_mut()
        {
            measured.tick = None; // read again at this tick's first poll
        }
        self.shared.waker.register(cx.waker());
        self.shared.notified.store(true, Ordering::SeqCst);
        let mut polls = 0usize;
        loop {
            // Slow motion: wait out the pause after the last round (off unless configured, so
            // the usual loop does not touch the pause at all).
            if self.config.round_delay.is_some() {
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
                // Before sleeping, stay awake a moment if configured: a wake from another
                // core then costs a queue push instead of a thread unpark (tens of
                // microseconds on a virtual machine). `notified` stays set meanwhile, so other
                // threads only push.
                if let Some(spin) = self.config.idle_spin
                    && self.spin_for_wake(spin)
                {
                    continue;
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
                let id = *runnable.metadata();
                CURRENT_COMPONENT.set(Some(id));
                coop::refill(self.config.budget);
                if self.measuring.get() {
                    self.measured_run(id, runnable);
                } else {
                    runnable.run();
                }
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

    /// Adaptive: after a spin that found nothing, the next idle spells skip spinning (1, 2, 4
    /// … up to 64 of them), so a core that is mostly idle (a few events a second) does not
    /// burn its spin on each, while a chatty cross-core link keeps spinning (every spin finds
    /// a wake).
    fn spin_for_wake(&self, spin: Duration) -> bool {
        let skip = self.spin_skip.get();
        if skip > 0 {
            self.spin_skip.set(skip - 1);
            return false;
        }
        if self.wait_awake(spin) {
            self.spin_backoff.set(0);
            return true;
        }
        let backoff = (self.spin_backoff.get() * 2).clamp(1, 64);
        self.spin_backoff.set(backoff);
        self.spin_skip.set(backoff);
        false
    }

    /// Spins for up to `spin` waiting for a wake from another thread; true if one came.
    fn wait_awake(&self, spin: Duration) -> bool {
        let until = std::time::Instant::now() + spin;
        loop {
            if !self.shared.ready.is_empty() {
                return true;
            }
            if std::time::Instant::now() >= until {
                return false;
            }
            for _ in 0..32 {
                std::hint::spin_loop();
            }
        }
    }

    fn remember(&self, failure: FailureInfo) {
        let mut failures = self.failures.borrow_mut();
        if failures.len() == RECENT_FAILURES {
            failures.pop_front();
        }
        failures.push_back(failure);
    }

    /// Adds one poll of `id` that began at `started` to its statistics.
    fn measured_run(&self, id: ComponentId, runnable: Runnable<ComponentId>) {
        let (sampled, tick) = {
            let mut stats = self.stats.borrow_mut();
            let Some(measured) = stats.as_mut() else {
                drop(stats);
                runnable.run();
                return;
            };
            let tick = *measured.tick.get_or_insert_with(tokio::time::Instant::now);
            let slot = measured.slot(id);
            slot.polls += 1;
            slot.last_run = Some(tick);
            (slot.polls % BUSY_SAMPLE == 1, tick)
        };
        // As a poll begins, each inbox holds the most it has held since the last one (only its
        // owner takes from it): its high-water mark is exact at no cost to a send.
        if let Some(entry) = self.table.borrow().get(id) {
            for b in entry.boxes.iter() {
                b.handle.note_depth();
            }
        }
        if !sampled {
            runnable.run();
            return;
        }
        let started = tokio::time::Instant::now();
        runnable.run();
        let busy = started.elapsed() * BUSY_SAMPLE as u32;
        if let Some(measured) = self.stats.borrow_mut().as_mut() {
            let slot = measured.slot(id);
            slot.busy += busy;
            slot.last_run = Some(tick.max(started));
        }
    }

    /// Turns measuring on or off (off forgets what was measured).
    pub(super) fn set_measuring(&self, on: bool) {
        self.measuring.set(on);
        let mut stats = self.stats.borrow_mut();
        match (on, stats.is_some()) {
            (true, false) => *stats = Some(Measured::default()),
            (false, true) => *stats = None,
            _ => {}
        }
    }

    pub(super) fn on_exit(self: &Rc<Self>, id: ComponentId, exit: Exit) {
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
        if let Some(stats) = self.stats.borrow_mut().as_mut() {
            stats.forget(id);
        }
        let cancelled = matches!(exit, Exit::Cancelled);
        let who = || entry.name.as_str().to_string();
        let failure = match exit {
            Exit::Finished => {
                tracing::trace!(component = %entry.name, id = %id, "exited");
                None
            }
            Exit::Cancelled => {
                tracing::debug!(component = %entry.name, id = %id, "cancelled");
                None
            }
            // Only a destination that had closed (a client that went away, say): an ordinary
            // event, logged at debug, not error.
            Exit::Failed(error @ crate::error::ComponentError::Closed) => {
                tracing::debug!(component = %entry.name, id = %id, %error, "component stopped");
                Some(FailureInfo::from_error(who(), error))
            }
            Exit::Failed(error) => {
                tracing::error!(component = %entry.name, id = %id, %error, "component failed");
                let info = FailureInfo::from_error(who(), error);
                self.remember(info.clone().with_id(id.to_string()));
                Some(info)
            }
            Exit::Panicked(message) => {
                tracing::error!(component = %entry.name, id = %id, error = %message, "component failed");
                let info = FailureInfo::new(who(), message);
                self.remember(info.clone().with_id(id.to_string()));
                Some(info)
            }
        };
        // The failure goes down the component's own `signal` link (the scheduler keeps a handle
        // on the box for exactly this).
        if let Some(info) = failure
            && let Some(signal) = entry
                .boxes
                .iter()
                .find(|b| b.name() == "signal" && b.direction() == Direction::Out)
        {
            let info = info.with_id(id.to_string());
            signal
                .handle
                .deliver_control(Control::Failed(Box::new(info)));
        }
        for b in entry.all_boxes().iter() {
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
    pub(super) fn cancel(self: &Rc<Self>, id: ComponentId) {
        let task = self
            .table
            .borrow_mut()
            .get_mut(id)
            .and_then(|e| e.task.take());
        drop(task);
        self.on_exit(id, Exit::Cancelled);
    }

    pub(super) fn cancel_tree(self: &Rc<Self>, id: ComponentId) {
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

    pub(super) fn boxes_of(&self, id: ComponentId) -> Option<Box<[BoxEntry]>> {
        self.table
            .borrow()
            .get(id)
            .map(|e| e.all_boxes().iter().cloned().collect())
    }

    /// Components queued to run: in the local queue (this thread's, or the one swapped into
    /// `LOCAL_READY` during a poll) or the remote one (emptied and refilled in order).
    fn queued(&self) -> std::collections::HashSet<ComponentId> {
        let mut queued: std::collections::HashSet<ComponentId> =
            self.local.borrow().iter().map(|r| *r.metadata()).collect();
        if POLLING.get() == Arc::as_ptr(&self.shared) as usize {
            LOCAL_READY.with(|q| queued.extend(q.borrow().iter().map(|r| *r.metadata())));
        }
        let mut remote = Vec::new();
        while let Ok(runnable) = self.shared.ready.pop() {
            queued.insert(*runnable.metadata());
            remote.push(runnable);
        }
        for runnable in remote {
            // The queue is never closed, so push cannot fail.
            let _ = self.shared.ready.push(runnable);
        }
        queued
    }

    pub(super) fn topology(&self) -> Topology {
        let queued = self.queued();
        let table = self.table.borrow();
        let current = CURRENT_COMPONENT.get();
        let mut topology = Topology {
            core: crate::cores::current_core(),
            failures: self.failures.borrow().iter().cloned().collect(),
            ..Topology::default()
        };
        for id in table.ids() {
            let entry = table.get(id).expect("listed id");
            let measured = self.stats.borrow().as_ref().map(|stats| {
                let s = stats.get(id);
                ComponentStats {
                    polls: s.polls,
                    busy_us: s.busy.as_micros() as u64,
                    since_last_run_ms: s.last_run.map(|at| at.elapsed().as_millis() as u64),
                }
            });
            topology.components.push(ComponentInfo {
                id,
                name: entry.name.as_str().to_string(),
                parent: entry.parent,
                stats: measured,
                state: if current == Some(id) {
                    ComponentState::Running
                } else if entry.all_boxes().iter().any(|b| b.handle.blocked()) {
                    ComponentState::BlockedOnSend
                } else if queued.contains(&id) {
                    ComponentState::Runnable
                } else {
                    ComponentState::Waiting
                },
            });
            for b in entry.all_boxes().iter() {
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
                        .and_then(|e| {
                            e.all_boxes()
                                .iter()
                                .find(|d| d.has_meta(view.to_meta))
                                .map(|d| d.name().to_string())
                        })
                        .unwrap_or_else(|| "?".into());
                    topology.links.push(LinkInfo::new(id, b, view, &to_name));
                }
                if let Some(cross) = b.handle.cross_view() {
                    topology.cross_links.push(crate::topology::CrossLinkInfo {
                        from: crate::topology::BoxAddress {
                            component: Some(id),
                            box_name: b.name().to_string(),
                        },
                        link: cross.id,
                        to_core: cross.core,
                        ingress: cross.ingress,
                        counters: cross.counters,
                    });
                }
            }
        }
        topology
    }
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_string()
    }
}
