//! Outboxes: a relinkable pointer to the final destination queue, so a send is one push however
//! deep the passthrough chain (the paper's "collapse outboxes into inboxes").

use crate::cross::CrossSink;
use crate::dormant::Dormant;
use crate::erased::BoxMeta;
use crate::error::{SendError, TrySendError};
use crate::inbox::{DEFAULT_CAPACITY, InboxCore};
use crate::lazy::Lazy;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

pub(crate) struct OutboxCore<T> {
    /// The final inbox a send pushes into; `None` while unlinked.
    pub(crate) target: RefCell<Option<Target<T>>>,
    pub(crate) links: Lazy<OutLinks<T>>,
    /// How many values may be held while unlinked.
    pub(crate) held_capacity: Cell<u32>,
    pub(crate) sent: Cell<u64>,
    /// True while a send on this outbox waits for room (shown in the topology snapshot).
    pub(crate) blocked: Cell<bool>,
    pub(crate) meta: BoxMeta,
}

pub(crate) enum Downstream<T> {
    None,
    Inbox(Rc<InboxCore<T>>),
    Outbox(Rc<OutboxCore<T>>),
    /// A queue read on another thread ([`crate::link_cross`]).
    Cross(SinkRef<T>),
}

/// Where a send finally lands.
pub(crate) enum Target<T> {
    /// An inbox of this scheduler: a push with no atomic operation (the hot path).
    Local(Rc<InboxCore<T>>),
    /// A cross-core link's queue.
    Cross(SinkRef<T>),
}

/// A cross-core sink behind one thin pointer, so a target is two words (an outbox's size is a
/// per-component memory cost; the double indirection only touches the cross-core path).
pub(crate) type SinkRef<T> = Rc<Box<dyn CrossSink<T>>>;

impl<T> Clone for Target<T> {
    fn clone(&self) -> Self {
        match self {
            Target::Local(q) => Target::Local(q.clone()),
            Target::Cross(s) => Target::Cross(s.clone()),
        }
    }
}

impl<T> Target<T> {
    pub(crate) fn try_push(&self, value: T) -> Result<(), TrySendError<T>> {
        match self {
            Target::Local(q) => q.try_push(value),
            Target::Cross(s) => s.try_push(value),
        }
    }
    pub(crate) fn force_push(&self, value: T) -> Result<(), T> {
        match self {
            Target::Local(q) => q.force_push(value),
            Target::Cross(s) => s.force_push(value),
        }
    }
    fn register_sender(&self, cx: &Context<'_>) {
        match self {
            Target::Local(q) => q.register_sender(cx),
            Target::Cross(s) => s.register_sender(cx),
        }
    }
    pub(crate) fn wake_senders(&self) {
        match self {
            Target::Local(q) => q.wake_senders(),
            Target::Cross(s) => s.wake_senders(),
        }
    }
    fn poll_reserve(&self, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        match self {
            Target::Local(q) => q.poll_reserve(cx),
            Target::Cross(s) => s.poll_reserve(cx),
        }
    }
    fn release_reservation(&self) {
        match self {
            Target::Local(q) => q.release_reservation(),
            Target::Cross(s) => s.release_reservation(),
        }
    }
    pub(crate) fn same(&self, other: &Target<T>) -> bool {
        match (self, other) {
            (Target::Local(a), Target::Local(b)) => Rc::ptr_eq(a, b),
            (Target::Cross(a), Target::Cross(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}

pub(crate) struct OutLinks<T> {
    pub(crate) downstream: Downstream<T>,
    /// Child outboxes that pass through this one (outbox→outbox).
    pub(crate) upstream: Vec<Weak<OutboxCore<T>>>,
    /// Values sent while unlinked, delivered in order once linked.
    pub(crate) held: VecDeque<T>,
    pub(crate) link_waiters: Vec<Waker>,
}

impl<T> Default for OutLinks<T> {
    fn default() -> Self {
        OutLinks {
            downstream: Downstream::None,
            upstream: Vec::new(),
            held: VecDeque::new(),
            link_waiters: Vec::new(),
        }
    }
}

impl<T> OutboxCore<T> {
    pub(crate) fn new(held_capacity: usize) -> Self {
        OutboxCore {
            target: RefCell::new(None),
            links: Lazy::new(),
            held_capacity: Cell::new(u32::try_from(held_capacity.max(1)).unwrap_or(u32::MAX)),
            sent: Cell::new(0),
            blocked: Cell::new(false),
            meta: BoxMeta::default(),
        }
    }

    #[inline]
    fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let target = self.target.borrow();
        let result = match target.as_ref() {
            Some(queue) => queue.try_push(value),
            None => {
                drop(target);
                self.hold(value)
            }
        };
        if result.is_ok() {
            self.sent.set(self.sent.get() + 1);
        }
        result
    }

    fn hold(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut links = self.links.get_mut();
        if links.held.len() >= self.held_capacity.get() as usize {
            return Err(TrySendError::Full(value));
        }
        links.held.push_back(value);
        Ok(())
    }

    fn register_waiter(&self, cx: &Context<'_>) {
        match self.target.borrow().as_ref() {
            Some(queue) => queue.register_sender(cx),
            None => self.links.get_mut().link_waiters.push(cx.waker().clone()),
        }
    }

    #[inline(always)]
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        slot: &mut Option<T>,
    ) -> Poll<Result<(), SendError<T>>> {
        // A send completes only into bounded room, so it needs no budget of its own; the
        // receive that frees the room pays.
        match self.target.borrow().as_ref() {
            Some(Target::Local(queue)) if queue.try_push_slot(slot) => {
                self.sent.set(self.sent.get() + 1);
                self.blocked.set(false);
                return Poll::Ready(Ok(()));
            }
            // A cross-core link is a hot path of its own, not the cold fallback.
            Some(Target::Cross(sink)) => return self.poll_send_cross(cx, sink, slot),
            _ => {}
        }
        self.poll_send_slow(cx, slot)
    }

    fn poll_send_cross(
        &self,
        cx: &mut Context<'_>,
        sink: &SinkRef<T>,
        slot: &mut Option<T>,
    ) -> Poll<Result<(), SendError<T>>> {
        let value = slot.take().expect("send polled after completion");
        let result = sink.try_push(value);
        self.blocked
            .set(matches!(result, Err(TrySendError::Full(_))));
        match result {
            Ok(()) => {
                self.sent.set(self.sent.get() + 1);
                Poll::Ready(Ok(()))
            }
            Err(TrySendError::Closed(v)) => Poll::Ready(Err(SendError::Closed(v))),
            Err(TrySendError::Full(v)) => {
                *slot = Some(v);
                // Woken at once if room appeared meanwhile (checked under the queue's lock).
                sink.register_sender(cx);
                Poll::Pending
            }
        }
    }

    /// Closed, full, or unlinked: decide, or register to be woken.
    #[cold]
    fn poll_send_slow(
        &self,
        cx: &mut Context<'_>,
        slot: &mut Option<T>,
    ) -> Poll<Result<(), SendError<T>>> {
        let value = slot.take().expect("send polled after completion");
        let result = self.try_send(value);
        self.blocked
            .set(matches!(result, Err(TrySendError::Full(_))));
        match result {
            Ok(()) => Poll::Ready(Ok(())),
            Err(TrySendError::Closed(v)) => Poll::Ready(Err(SendError::Closed(v))),
            Err(TrySendError::Full(v)) => {
                *slot = Some(v);
                self.register_waiter(cx);
                Poll::Pending
            }
        }
    }
}

/// A component's sending box. It is linked to at most one destination (an inbox, or its parent's
/// outbox); values sent while it is unlinked are held (bounded) and delivered once it is linked.
pub struct Outbox<T> {
    /// Dormant (no allocation) until first used, when made with the default hold capacity.
    pub(crate) slot: Dormant<OutboxCore<T>>,
}

impl<T: 'static> Default for Outbox<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static> fmt::Debug for Outbox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("linked", &self.is_linked())
            .finish()
    }
}

impl<T: 'static> Outbox<T> {
    /// An outbox that holds up to [`DEFAULT_CAPACITY`] values while unlinked.
    pub fn new() -> Self {
        Self::with_hold_capacity(DEFAULT_CAPACITY)
    }

    /// An outbox that holds up to `capacity` values (at least 1) while unlinked.
    pub fn with_hold_capacity(capacity: usize) -> Self {
        if capacity == DEFAULT_CAPACITY {
            return Outbox {
                slot: Dormant::new(),
            };
        }
        Outbox {
            slot: Dormant::made(OutboxCore::new(capacity)),
        }
    }

    /// The box, made now if it was dormant.
    #[inline(always)]
    pub(crate) fn core(&self) -> &Rc<OutboxCore<T>> {
        self.slot.force(|| OutboxCore::new(DEFAULT_CAPACITY))
    }

    /// Sends, waiting while the destination is full (or, unlinked, while the hold queue is full).
    /// Returns the value as `Closed(v)` if the destination's owner has exited.
    ///
    /// Dropping the future before it completes drops the value; use [`Outbox::reserve`] where a
    /// send may be cancelled (for example inside `select!`).
    pub fn send(&self, value: T) -> Send<'_, T> {
        Send {
            outbox: self.core(),
            value: Some(value),
        }
    }

    /// Sends if there is room now; otherwise hands the value back as `Full(v)` or `Closed(v)`.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.core().try_send(value)
    }

    /// Waits for room in the destination and reserves it: [`Permit::send`] then cannot fail for
    /// lack of room. Cancel-safe: dropping the future or the permit gives the room back.
    /// An unlinked outbox waits until it is linked. `Err(SendError::Closed(()))` means the
    /// destination has closed. Like every send, it spends no cooperative budget.
    pub async fn reserve(&self) -> Result<Permit<T>, crate::error::SendError<()>> {
        poll_fn(|cx| {
            let target = self.core().target.borrow().clone();
            match target {
                Some(queue) => match queue.poll_reserve(cx) {
                    Poll::Ready(Ok(())) => Poll::Ready(Ok(Permit {
                        queue,
                        outbox: self.core().clone(),
                    })),
                    Poll::Ready(Err(())) => Poll::Ready(Err(SendError::Closed(()))),
                    Poll::Pending => Poll::Pending,
                },
                None => {
                    self.core().register_waiter(cx);
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Delivers `value` only if someone listens and there is room now; otherwise hands it back
    /// (unlinked, full or closed), for a side channel whose messages must never hold up the
    /// main flow and must never vanish either: log what comes back.
    ///
    /// ```
    /// use axon_core::Outbox;
    /// let notices: Outbox<&str> = Outbox::new();
    /// if let Some(unheard) = notices.offer("skipped 12 bytes") {
    ///     eprintln!("warning: {unheard}"); // nobody linked: said on stderr instead
    /// }
    /// ```
    pub fn offer(&self, value: T) -> Option<T> {
        if !self.is_linked() {
            return Some(value);
        }
        self.try_send(value).err().map(TrySendError::into_inner)
    }

    /// True when linked to a destination.
    pub fn is_linked(&self) -> bool {
        self.slot.get().is_some_and(|c| c.target.borrow().is_some())
    }

    /// Values held while unlinked.
    pub fn held(&self) -> usize {
        self.slot
            .get()
            .and_then(|c| c.links.get().map(|l| l.held.len()))
            .unwrap_or(0)
    }

    /// A cloneable reference for linking this outbox.
    pub fn to_ref(&self) -> OutboxRef<T> {
        OutboxRef {
            core: self.core().clone(),
        }
    }
}

/// The future of [`Outbox::send`].
#[must_use = "futures do nothing unless awaited"]
pub struct Send<'a, T> {
    outbox: &'a OutboxCore<T>,
    value: Option<T>,
}

impl<T> std::fmt::Debug for Send<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Send").finish_non_exhaustive()
    }
}

// The value is moved out, never pinned in place.
impl<T> Unpin for Send<'_, T> {}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), SendError<T>>;
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.outbox.poll_send(cx, &mut this.value)
    }
}

/// Room reserved in a destination inbox by [`Outbox::reserve`].
pub struct Permit<T> {
    queue: Target<T>,
    outbox: Rc<OutboxCore<T>>,
}

impl<T> std::fmt::Debug for Permit<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

impl<T> Permit<T> {
    /// Delivers into the reserved room. `Closed(v)` only if the owner exited meanwhile.
    pub fn send(self, value: T) -> Result<(), SendError<T>> {
        self.queue.release_reservation();
        let result = self.queue.force_push(value).map_err(SendError::Closed);
        if result.is_ok() {
            self.outbox.sent.set(self.outbox.sent.get() + 1);
        }
        std::mem::forget(self);
        result
    }
}

impl<T> Drop for Permit<T> {
    fn drop(&mut self) {
        self.queue.release_reservation();
    }
}

/// A cloneable reference to an outbox, for linking it after its component is activated.
pub struct OutboxRef<T> {
    pub(crate) core: Rc<OutboxCore<T>>,
}

impl<T> Clone for OutboxRef<T> {
    fn clone(&self) -> Self {
        OutboxRef {
            core: self.core.clone(),
        }
    }
}

impl<T> fmt::Debug for OutboxRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxRef")
            .field("linked", &self.core.target.borrow().is_some())
            .finish()
    }
}

impl<T: 'static> From<&Outbox<T>> for OutboxRef<T> {
    fn from(outbox: &Outbox<T>) -> Self {
        outbox.to_ref()
    }
}

impl<T: 'static> From<&OutboxRef<T>> for OutboxRef<T> {
    fn from(r: &OutboxRef<T>) -> Self {
        r.clone()
    }
}

impl<T: 'static> OutboxRef<T> {
    /// Values sent through this outbox (counted where `send` was called, not at passthroughs).
    pub fn sent(&self) -> u64 {
        self.core.sent.get()
    }

    /// True when linked to a destination.
    pub fn is_linked(&self) -> bool {
        self.core.target.borrow().is_some()
    }
}
