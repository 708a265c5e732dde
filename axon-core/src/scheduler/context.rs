//! The thread-local context: which scheduler and which component this thread is running, so
//! code inside a component (`activate`, `children`, `topology`, linking) needs no handle to it.

use super::*;

thread_local! {
    pub(super) static CURRENT: RefCell<Option<Rc<Inner>>> = const { RefCell::new(None) };
    pub(super) static CURRENT_COMPONENT: Cell<Option<ComponentId>> = const { Cell::new(None) };
    /// The registry index + 1 of the scheduler being polled on this thread (0: none), so a
    /// wake from one of its own components goes to the local queue without atomics.
    pub(super) static POLLING: Cell<u32> = const { Cell::new(0) };
    /// That scheduler's local ready queue, swapped in for the duration of its poll.
    pub(super) static LOCAL_READY: RefCell<VecDeque<Address>> = const { RefCell::new(VecDeque::new()) };
    /// The schedulers living on this thread, by registry index: where a wake from this thread
    /// outside their poll (tokio's drivers, say) is queued without atomics.
    static HOMES: RefCell<Vec<(u16, Weak<Inner>)>> = const { RefCell::new(Vec::new()) };
    /// Its address tells threads apart (see `thread_token`).
    static TOKEN: u8 = const { 0 };
}

/// A number unique to this thread among the threads alive now.
pub(super) fn thread_token() -> usize {
    TOKEN.with(|t| std::ptr::from_ref(t).addr())
}

/// Queues a wake for the scheduler being polled on this thread, if it is the one addressed.
pub(super) fn wake_local(address: Address) -> bool {
    if POLLING.get() != u32::from(address.scheduler()) + 1 {
        return false;
    }
    LOCAL_READY.with(|q| q.borrow_mut().push_back(address));
    true
}

/// Queues a wake in the home queue of the addressed scheduler, if it lives on this thread.
/// Wakes already in its shared queue move ahead of it, so wakes run in the order they were
/// made however they came (a cross-core send, then the socket event it caused here).
pub(super) fn wake_home(address: Address) -> bool {
    let Some(inner) = home_scheduler(address.scheduler()) else {
        return false;
    };
    let Ok(mut local) = inner.local.try_borrow_mut() else {
        return false;
    };
    while let Ok(earlier) = inner.shared.ready.pop() {
        local.push_back(earlier);
    }
    local.push_back(address);
    true
}

/// Records that scheduler `inner` lives on this thread.
pub(super) fn add_home(inner: &Rc<Inner>) {
    HOMES.with(|homes| {
        homes
            .borrow_mut()
            .push((inner.shared.index, Rc::downgrade(inner)))
    });
}

/// Forgets scheduler `index` (it is being dropped on this thread).
pub(super) fn remove_home(index: u16) {
    let _ = HOMES.try_with(|homes| {
        if let Ok(mut homes) = homes.try_borrow_mut() {
            homes.retain(|(i, _)| *i != index);
        }
    });
}

/// Sets this thread's current scheduler while linking or activating from outside a poll
/// (restoring any outer one).
pub(super) struct Enter {
    pub(super) previous: Option<Rc<Inner>>,
}

impl Enter {
    pub(super) fn new(inner: &Rc<Inner>) -> Self {
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
pub(super) struct Polling<'a> {
    pub(super) inner: &'a Rc<Inner>,
    pub(super) _enter: Enter,
    pub(super) previous_polling: u32,
    /// The local queue of an outer scheduler polled on this thread, if any.
    pub(super) outer_queue: VecDeque<Address>,
}

impl<'a> Polling<'a> {
    pub(super) fn new(inner: &'a Rc<Inner>) -> Self {
        let enter = Enter::new(inner);
        let previous_polling = POLLING.replace(u32::from(inner.shared.index) + 1);
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
        let mut mine = LOCAL_READY.with(|q| std::mem::replace(&mut *q.borrow_mut(), outer));
        // Home wakes that came while a nested scheduler ran here go after the local ones.
        let mut local = self.inner.local.borrow_mut();
        mine.append(&mut local);
        *local = mine;
        POLLING.set(self.previous_polling);
    }
}

pub(super) fn with_current<R>(f: impl FnOnce(&Rc<Inner>) -> R) -> Option<R> {
    CURRENT.with(|c| c.borrow().as_ref().map(f))
}

/// The scheduler with registry index `index`, if it lives on this thread.
fn home_scheduler(index: u16) -> Option<Rc<Inner>> {
    HOMES
        .try_with(|homes| {
            let homes = homes.try_borrow().ok()?;
            homes.iter().find(|(i, _)| *i == index)?.1.upgrade()
        })
        .ok()
        .flatten()
}

/// Declared box `home.index` of `home.owner` (its scheduler found by registry index, so this
/// works inside or outside its poll): made with its owner's other dormant boxes if `make`,
/// else only if they were made already. `None` once the owner or its scheduler is gone.
pub(crate) fn declared_box(home: Home, make: bool) -> Option<Rc<dyn ErasedBox>> {
    home_scheduler(home.scheduler)?.declared_box(home, make)
}

/// A poll found the dormant inbox at `home` empty: `waker` is woken when the box is made
/// (the owner's own waker needs no record: making the boxes wakes the owner).
pub(crate) fn wait_dormant(home: Home, waker: &Waker) {
    if let Some(inner) = home_scheduler(home.scheduler) {
        inner.wait_dormant(home, waker);
    }
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

/// Activates a child of the running component (Axon's `newComponent`).
///
/// # Panics
/// When called outside a component run by a [`Scheduler`].
#[doc(alias = "newComponent")]
pub fn activate<C: Component>(component: C) -> ComponentHandle {
    with_current(|inner| inner.activate(component, CURRENT_COMPONENT.get()))
        .expect("axon_core::activate called outside a running component")
}

/// Activates a top-level component on the scheduler of this thread (running a component, or
/// entered from outside); `None` when there is none.
pub(crate) fn activate_top<C: Component>(component: C) -> Option<ComponentHandle> {
    with_current(|inner| inner.activate(component, None))
}

/// The handle of the running component, if called from one.
pub fn current() -> Option<ComponentHandle> {
    handle_of(CURRENT_COMPONENT.get()?)
}

/// The handle of component `id` in the scheduler running on this thread.
pub(crate) fn handle_of(id: ComponentId) -> Option<ComponentHandle> {
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

/// Turns per-component poll counts and busy time on or off for the scheduler running the
/// current component (see [`Scheduler::measure`]); an introspector turns it on while watched.
pub fn measure(on: bool) {
    with_current(|inner| inner.set_measuring(on));
}

/// A snapshot of the topology of the scheduler running the current component.
#[doc(alias = "Introspector")]
pub fn topology() -> Option<Topology> {
    with_current(|inner| inner.topology())
}
