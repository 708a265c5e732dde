//! The executor proper: the scheduler's state, its ready queues (local, without atomics, for
//! wakes on its own thread; shared, for wakes from other threads), the round loop, activation
//! and the exit path of a component. A component's task is its boxed future, kept in its
//! table entry; wakers name it by address (see `waker`).

use super::*;

pub(crate) struct Inner {
    pub(super) shared: &'static Shared,
    /// Components woken on this thread: lives in `LOCAL_READY` during a poll; outside one, the
    /// home queue for wakes from tokio's drivers and code around the scheduler.
    pub(super) local: RefCell<VecDeque<Address>>,
    /// Rounds begun: a component queued twice for one round is polled once.
    pub(super) round: Cell<u32>,
    /// Wakers (not the owner's own) waiting on a dormant inbox of a component: a `recv` inside
    /// a `FuturesUnordered` or a task of its own. Usually empty.
    pub(super) dormant_waiters: RefCell<Vec<(ComponentId, Waker)>>,
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

impl Drop for Inner {
    fn drop(&mut self) {
        // Components still running are dropped first: wakes they make meanwhile still name
        // this scheduler. Then the registry entry is retired (later wakes are dropped) and
        // freed for reuse.
        let table = std::mem::take(&mut *self.table.borrow_mut());
        drop(table);
        remove_home(self.shared.index);
        waker::release(self.shared);
    }
}

/// How many recent failures a scheduler remembers.
pub(super) const RECENT_FAILURES: usize = 32;

/// The part other threads (and tokio's drivers) touch: the remote ready queue and the
/// scheduler's own waker. One per registry entry (see `waker`), reused by later schedulers.
pub(super) struct Shared {
    /// This entry's index in the waker registry.
    pub(super) index: u16,
    pub(super) ready: ConcurrentQueue<Address>,
    pub(super) waker: AtomicWaker,
    /// Whether the scheduler sleeps, runs, or was rung meanwhile: only a wake that finds it
    /// asleep wakes its tokio task (see `doorbell`).
    pub(super) bell: Doorbell,
    /// The thread token of the scheduler's thread; 0 while the entry is unused.
    pub(super) home: AtomicUsize,
}

impl Shared {
    pub(super) fn new(index: u16) -> Self {
        Shared {
            index,
            ready: ConcurrentQueue::unbounded(),
            waker: AtomicWaker::new(),
            bell: Doorbell::new(),
            home: AtomicUsize::new(thread_token()),
        }
    }

    /// Readies a reused entry for a scheduler on this thread.
    pub(super) fn reset(&self) {
        self.forget_wakes();
        self.home.store(thread_token(), Ordering::SeqCst);
    }

    /// The scheduler is gone: later wakes are dropped until the entry is reused.
    pub(super) fn retire(&self) {
        self.home.store(0, Ordering::SeqCst);
        self.forget_wakes();
        drop(self.waker.take());
    }

    /// Drops queued wakes (they named the entry's previous scheduler) and says asleep.
    fn forget_wakes(&self) {
        while self.ready.pop().is_ok() {}
        self.bell.reset();
    }

    /// A wake from anywhere but inside this scheduler's poll: its home queue when on its own
    /// thread, else the shared queue; then the scheduler's tokio task is woken if it was idle.
    pub(super) fn wake_from_outside(&self, address: Address) {
        let home = self.home.load(Ordering::Relaxed);
        if home == 0 {
            return;
        }
        if home != thread_token() || !wake_home(address) {
            // The queue is never closed, so push cannot fail.
            let _ = self.ready.push(address);
        }
        if self.bell.ring() {
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
        let adaptive = component.adaptive().map(|r| r.0);
        let adds_boxes = adaptive.is_some();
        let id = self.table.borrow_mut().insert(Entry {
            name: name.clone(),
            parent,
            family: None,
            task: Cell::new(None),
            boxes: Box::new([]),
            dormant: 0,
            declared: None,
            adaptive,
        });
        // Boxes nobody has used stay dormant, except a component's that adds boxes at run
        // time (its declared names must be known to keep added names unique) and one whose
        // type cannot describe a dormant box (a hand-written `Boxes` that declares without
        // `declared`): then every box is made now.
        let mut declaration = Declaration::new(id, self.shared.index);
        let make_all = adds_boxes || {
            component.declare(&mut declaration);
            let dormant = declaration.dormant;
            (0..64).any(|i| dormant & (1 << i) != 0 && C::declared(i).is_none())
        };
        if make_all {
            declaration = Declaration::new(id, self.shared.index);
            for entry in component.boxes() {
                declaration.add_made(entry);
            }
        }
        {
            let mut table = self.table.borrow_mut();
            if let Some(parent) = parent.and_then(|p| table.get_mut(p)) {
                parent.family.get_or_insert_default().children.push(id);
            }
            let entry = table.get_mut(id).expect("just inserted");
            entry.boxes = declaration.made.into_boxed_slice();
            entry.dormant = declaration.dormant;
            if declaration.dormant != 0 {
                entry.declared = Some(C::declared);
            }
            if let Some(registry) = &entry.adaptive {
                registry.activated(id, &entry.boxes);
            }
        }
        let span = tracing::debug_span!("component", name = %name, id = %id);
        // `main`'s future is made here and run in place: an `async` block around the call
        // would keep room for the component beside the future that holds it.
        let finish =
            move |outcome: std::thread::Result<Result<(), crate::error::ComponentError>>| {
                let exit = match outcome {
                    Ok(Ok(())) => Exit::Finished,
                    Ok(Err(error)) => Exit::Failed(error),
                    Err(panic) => Exit::Panicked(panic_message(&*panic)),
                };
                // A component only finishes inside its scheduler's poll, so the scheduler is the
                // current one: no per-component back-pointer is needed.
                with_current(|scheduler| scheduler.on_exit(id, exit));
            };
        let body = match std::panic::catch_unwind(AssertUnwindSafe(move || component.main())) {
            Ok(main) => {
                futures::future::Either::Left(AssertUnwindSafe(main).catch_unwind().map(finish))
            }
            // A `main` that panics before returning its future fails on its first poll.
            Err(panic) => {
                futures::future::Either::Right(futures::future::lazy(move |_| finish(Err(panic))))
            }
        };
        // Entering a disabled span on every poll costs time for nothing.
        // Boxed when enabled, so a disabled span adds nothing to every component's future.
        let body = if span.is_disabled() {
            futures::future::Either::Left(body)
        } else {
            futures::future::Either::Right(Box::pin(body.instrument(span)))
        };
        if let Some(entry) = self.table.borrow().get(id) {
            entry.task.set(Some(Box::pin(body)));
        }
        waker::waker(self.shared.index, id).wake();
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
            // Wakes from other threads, and home wakes left while a nested scheduler ran on
            // this thread, join the local queue (after the bell says awake: see `doorbell`).
            self.shared.bell.awake();
            self.gather();
            let round = LOCAL_READY.with(|q| q.borrow().len());
            if round == 0 {
                if self.table.borrow().live == 0 {
                    return Poll::Ready(());
                }
                // Before sleeping, stay awake a moment if configured: a wake from another
                // core then costs a queue push instead of a thread unpark (tens of
                // microseconds on a virtual machine). The bell says awake meanwhile, so other
                // threads only push.
                if let Some(spin) = self.config.idle_spin
                    && self.spin_for_wake(spin)
                {
                    continue;
                }
                // Going idle, unless a wake was rung since this look began (then look again).
                if self.shared.bell.try_sleep() {
                    return Poll::Pending;
                }
                continue;
            }
            // A snapshot round: only what was ready when it began; wakes during it run next.
            // Rounds are numbered from 1; a slot's "polled this round" mark is 0 when made.
            // When the count wraps, every mark is cleared, so none matches a round by accident.
            let mut this_round = self.round.get().wrapping_add(1);
            if this_round == 0 {
                for slot in &self.table.borrow().slots {
                    slot.polled_round.set(0);
                }
                this_round = 1;
            }
            self.round.set(this_round);
            for _ in 0..round {
                let Some(address) = LOCAL_READY.with(|q| q.borrow_mut().pop_front()) else {
                    break;
                };
                let Some((id, mut task)) = self.take_task(address, this_round) else {
                    continue;
                };
                CURRENT_COMPONENT.set(Some(id));
                coop::refill(self.config.budget);
                let waker = waker::waker(self.shared.index, id);
                let mut task_cx = Context::from_waker(&waker);
                let done = if self.measuring.get() {
                    self.measured_poll(id, &mut task, &mut task_cx)
                } else {
                    task.as_mut().poll(&mut task_cx).is_ready()
                };
                CURRENT_COMPONENT.set(None);
                self.put_back(id, task, done);
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

    /// Moves wakes queued elsewhere (the shared queue; the home queue, when a nested
    /// scheduler ran on this thread during this poll) into the local queue.
    fn gather(&self) {
        let home_waiting = !self.local.borrow().is_empty();
        if !home_waiting && self.shared.ready.is_empty() {
            return;
        }
        // Home wakes first: each took the shared queue's earlier wakes along (see
        // `wake_home`), so together they are in the order they were made.
        LOCAL_READY.with(|q| {
            let mut q = q.borrow_mut();
            q.extend(self.local.borrow_mut().drain(..));
            while let Ok(address) = self.shared.ready.pop() {
                q.push_back(address);
            }
        });
    }

    /// The task a wake names, taken out of its entry to be polled: `None` when the address is
    /// stale (the component is gone) or already polled this round (woken twice).
    fn take_task(&self, address: Address, round: u32) -> Option<(ComponentId, TaskFuture)> {
        let table = self.table.borrow();
        let slot = table.slots.get(address.slot() as usize)?;
        if slot.generation & waker::GENERATION_MASK != address.generation()
            || slot.polled_round.get() == round
        {
            return None;
        }
        let task = slot.entry.as_ref()?.task.take()?;
        slot.polled_round.set(round);
        let id = ComponentId {
            index: address.slot(),
            generation: slot.generation,
        };
        Some((id, task))
    }

    /// Puts a polled task back in its entry, or drops it: finished, or its component was
    /// cancelled while it ran (dropped outside any borrow of the table, since dropping a
    /// component may reach the scheduler).
    fn put_back(&self, id: ComponentId, task: TaskFuture, done: bool) {
        if !done {
            let table = self.table.borrow();
            if let Some(entry) = table.get(id) {
                entry.task.set(Some(task));
                return;
            }
        }
        drop(task);
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
        drop(self.take_dormant_waiters(id));
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
        // A component that finished is being polled: its task is out of the entry, and
        // dropped when the poll returns. A cancelled one's was dropped by `cancel`.
        drop(entry);
        if let Some(waker) = parent_waker {
            waker.wake();
        }
        // The last component gone (cancelled from outside, say): `run` returns.
        if self.table.borrow().live == 0 {
            self.shared.waker.wake();
        }
    }

    /// Cancels a component: its future is dropped and its exit path runs.
    pub(super) fn cancel(self: &Rc<Self>, id: ComponentId) {
        let task = self.table.borrow().get(id).and_then(|e| e.task.take());
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

#[cfg(test)]
mod tests {
    use crate::components::{Collect, DataSource};
    use crate::{Scheduler, link};

    /// The round count wraps (2^32 rounds: minutes of a busy ping-pong) without a component
    /// being taken for "already polled this round" and skipped.
    #[test]
    fn rounds_wrap_without_losing_a_wake() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let scheduler = Scheduler::new();
            // The first round is the one that wraps: new slots are marked 0.
            scheduler.inner.round.set(u32::MAX);
            let source = DataSource::new(0..1000u32);
            let (sink, got) = Collect::new();
            link(&source.outbox, &sink.inbox).unwrap();
            link(&source.signal, &sink.control).unwrap();
            sink.inbox.set_capacity(1); // a round per value
            scheduler.activate(source);
            scheduler.activate(sink);
            tokio::time::timeout(std::time::Duration::from_secs(20), scheduler.run())
                .await
                .expect("a component was skipped and never polled");
            assert!(scheduler.inner.round.get() > 10, "the count wrapped");
            assert_eq!(got.take(), (0..1000).collect::<Vec<_>>());
        });
    }
}
