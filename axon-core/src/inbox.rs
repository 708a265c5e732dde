//! Inboxes: bounded queues owned by a component, shared by all the senders linked to them.

use crate::control::Control;
use crate::coop;
use crate::dormant::Dormant;
use crate::erased::BoxMeta;
use crate::error::{SendError, TrySendError};
use crate::fifo::Fifo;
pub use crate::inbox_ref::InboxRef;
use crate::lazy::Lazy;
use crate::outbox::OutboxCore;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

/// Capacity of a box when none is given: enough to batch a scheduler round, small enough that a
/// slow consumer holds back its producer quickly.
pub const DEFAULT_CAPACITY: usize = 64;

/// The queue behind an inbox, plus its passthrough links. Single-threaded by design.
pub(crate) struct InboxCore<T> {
    items: RefCell<Fifo<T>>,
    /// Room for plain sends: `capacity - reserved`, or 0 once closed. One compare on the hot path.
    limit: Cell<u32>,
    capacity: Cell<u32>,
    /// Times a push woke the sleeping owner.
    pub(crate) wakes: Cell<u32>,
    /// [`CLOSED`], [`RX_WAITING`] and [`TX_WAITING`], in one byte (so the high-water mark fits
    /// where three flags stood).
    flags: Cell<u8>,
    /// The most values seen queued at once (saturating at `u16::MAX`): how close the inbox
    /// came to full, for the live view. Noted when the owner is polled while the scheduler
    /// measures, never on a send: between two polls of its owner an inbox only grows (only
    /// the owner takes from it, on one thread), so its depth as a poll begins is the peak since
    /// the last one.
    high_water: Cell<u16>,
    rx_waker: Cell<Option<Waker>>,
    /// Values ever pushed into this inbox's own queue.
    pub(crate) pushes: Cell<u64>,
    pub(crate) meta: BoxMeta,
    pub(crate) links: Lazy<InLinks<T>>,
}

/// What an inbox rarely needs, allocated on first use: passthrough bookkeeping (where it
/// forwards, who forwards into it, which outboxes are linked to it), waiting senders,
/// reservations and the count of values left unreceived at exit.
pub(crate) struct InLinks<T> {
    pub(crate) forward: Option<Rc<InboxCore<T>>>,
    pub(crate) back: Vec<Weak<InboxCore<T>>>,
    pub(crate) senders: Vec<Weak<OutboxCore<T>>>,
    reserved: u32,
    tx_waiters: Vec<Waker>,
    undelivered: u64,
}

impl<T> Default for InLinks<T> {
    fn default() -> Self {
        InLinks {
            forward: None,
            back: Vec::new(),
            senders: Vec::new(),
            reserved: 0,
            tx_waiters: Vec::new(),
            undelivered: 0,
        }
    }
}

/// Sends are refused.
const CLOSED: u8 = 1;
/// The owner sleeps on this inbox: a push checks one bit, not the waker.
const RX_WAITING: u8 = 2;
/// Some sender waits for room: a pop checks one bit, not the waiter list.
const TX_WAITING: u8 = 4;

fn clamp(capacity: usize) -> u32 {
    u32::try_from(capacity.max(1)).unwrap_or(u32::MAX)
}

impl<T> InboxCore<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        InboxCore {
            items: RefCell::new(Fifo::default()),
            limit: Cell::new(clamp(capacity)),
            capacity: Cell::new(clamp(capacity)),
            wakes: Cell::new(0),
            flags: Cell::new(0),
            high_water: Cell::new(0),
            rx_waker: Cell::new(None),
            pushes: Cell::new(0),
            meta: BoxMeta::default(),
            links: Lazy::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.borrow().len()
    }

    #[inline(always)]
    fn flag(&self, bit: u8) -> bool {
        self.flags.get() & bit != 0
    }

    #[inline(always)]
    fn set_flag(&self, bit: u8, on: bool) {
        let flags = self.flags.get();
        self.flags.set(if on { flags | bit } else { flags & !bit });
    }

    /// The most values seen queued at once while the scheduler measured, or now (at most
    /// 65,535 is told).
    pub(crate) fn high_water(&self) -> usize {
        usize::from(self.high_water.get()).max(self.len().min(usize::from(u16::MAX)))
    }

    /// Notes the depth now in the high-water mark.
    pub(crate) fn note_depth(&self) {
        let len = self.len();
        if len > usize::from(self.high_water.get()) {
            self.high_water.set(u16::try_from(len).unwrap_or(u16::MAX));
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity.get() as usize
    }

    pub(crate) fn set_capacity(&self, capacity: usize) {
        self.capacity.set(clamp(capacity));
        self.update_limit();
        self.wake_senders();
    }

    fn reserved(&self) -> u32 {
        self.links.get().map_or(0, |l| l.reserved)
    }

    fn update_limit(&self) {
        let limit = if self.flag(CLOSED) {
            0
        } else {
            self.capacity.get().saturating_sub(self.reserved())
        };
        self.limit.set(limit);
    }

    /// Counts values sent to this inbox that will never reach it (a cross-core link's
    /// leftovers once the owner has gone).
    pub(crate) fn add_undelivered(&self, count: u64) {
        if count > 0 {
            self.links.get_mut().undelivered += count;
        }
    }

    /// Values left unreceived when the owner exited.
    pub(crate) fn undelivered(&self) -> u64 {
        self.links.get().map_or(0, |l| l.undelivered)
    }

    /// The inbox this one passes through to, if any.
    pub(crate) fn forward(&self) -> Option<Rc<Self>> {
        self.links.get().and_then(|l| l.forward.clone())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.flag(CLOSED)
    }

    fn has_room(&self) -> bool {
        self.items.borrow().len() < self.limit.get() as usize
    }

    /// The hot path of a send: pushes the value out of `slot` if there is room (and the inbox is
    /// open). On `false` the value stays in `slot`.
    #[inline(always)]
    pub(crate) fn try_push_slot(&self, slot: &mut Option<T>) -> bool {
        {
            let mut items = self.items.borrow_mut();
            if items.len() >= self.limit.get() as usize {
                return false;
            }
            match slot.take() {
                Some(value) => items.push_back(value),
                None => return false,
            }
        }
        self.pushed();
        true
    }

    /// The inbox that finally receives what is sent here (follows inbox→inbox passthrough).
    pub(crate) fn resolve(self: &Rc<Self>) -> Rc<Self> {
        let mut current = self.clone();
        loop {
            match current.forward() {
                Some(next) => current = next,
                None => return current,
            }
        }
    }

    #[inline]
    pub(crate) fn try_push(&self, value: T) -> Result<(), TrySendError<T>> {
        if self.flag(CLOSED) {
            return Err(TrySendError::Closed(value));
        }
        {
            let mut items = self.items.borrow_mut();
            if items.len() >= self.limit.get() as usize {
                return Err(TrySendError::Full(value));
            }
            items.push_back(value);
        }
        self.pushed();
        Ok(())
    }

    /// Pushes regardless of capacity (used for values already counted as sent: a released hold
    /// queue, a reserved permit, a scheduler-generated control message).
    pub(crate) fn force_push(&self, value: T) -> Result<(), T> {
        if self.flag(CLOSED) {
            return Err(value);
        }
        {
            let mut items = self.items.borrow_mut();
            items.push_back(value);
        }
        self.pushed();
        Ok(())
    }

    /// Pushes, making room by dropping the oldest queued value when full; returns what was
    /// dropped. The fan-out's `DropOldest` policy: the newest value always gets in.
    pub(crate) fn push_displacing(&self, value: T) -> Result<Option<T>, T> {
        if self.flag(CLOSED) {
            return Err(value);
        }
        let displaced = {
            let mut items = self.items.borrow_mut();
            let displaced = if items.len() >= self.limit.get() as usize {
                items.pop_front()
            } else {
                None
            };
            items.push_back(value);
            displaced
        };
        self.pushed();
        Ok(displaced)
    }

    #[inline(always)]
    fn pushed(&self) {
        self.pushes.set(self.pushes.get() + 1);
        if self.flag(RX_WAITING) {
            self.wake_receiver();
        }
    }

    #[cold]
    fn wake_receiver(&self) {
        self.set_flag(RX_WAITING, false);
        if let Some(waker) = self.rx_waker.take() {
            self.wakes.set(self.wakes.get().saturating_add(1));
            waker.wake();
        }
    }

    #[inline(always)]
    pub(crate) fn try_pop(&self) -> Option<T> {
        let value = self.items.borrow_mut().pop_front()?;
        if self.flag(TX_WAITING) {
            self.wake_senders();
        }
        Some(value)
    }

    /// Wakes every sender waiting for room (they retry; spurious wakes are harmless).
    #[cold]
    pub(crate) fn wake_senders(&self) {
        self.set_flag(TX_WAITING, false);
        let allocated = self.links.get().is_some();
        let waiters = if allocated {
            std::mem::take(&mut self.links.get_mut().tx_waiters)
        } else {
            Vec::new()
        };
        for waker in waiters {
            waker.wake();
        }
    }

    pub(crate) fn register_receiver(&self, cx: &Context<'_>) {
        self.set_flag(RX_WAITING, true);
        let current = self.rx_waker.take();
        match current {
            Some(w) if w.will_wake(cx.waker()) => self.rx_waker.set(Some(w)),
            _ => self.rx_waker.set(Some(cx.waker().clone())),
        }
    }

    pub(crate) fn register_sender(&self, cx: &Context<'_>) {
        self.set_flag(TX_WAITING, true);
        let mut links = self.links.get_mut();
        let waiters = &mut links.tx_waiters;
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
    }

    #[inline]
    pub(crate) fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<T> {
        match self.try_pop() {
            Some(v) => Poll::Ready(v),
            None => {
                self.register_receiver(cx);
                Poll::Pending
            }
        }
    }

    /// Waits for room and pushes; the value stays in `slot` while waiting, so nothing is lost.
    pub(crate) fn poll_push(
        &self,
        cx: &mut Context<'_>,
        slot: &mut Option<T>,
    ) -> Poll<Result<(), SendError<T>>> {
        let value = slot.take().expect("send polled after completion");
        match self.try_push(value) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(TrySendError::Closed(v)) => Poll::Ready(Err(SendError::Closed(v))),
            Err(TrySendError::Full(v)) => {
                *slot = Some(v);
                self.register_sender(cx);
                Poll::Pending
            }
        }
    }

    pub(crate) fn poll_reserve(&self, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        if self.flag(CLOSED) {
            return Poll::Ready(Err(()));
        }
        if self.has_room() {
            self.links.get_mut().reserved += 1;
            self.update_limit();
            return Poll::Ready(Ok(()));
        }
        self.register_sender(cx);
        Poll::Pending
    }

    pub(crate) fn release_reservation(&self) {
        {
            let mut links = self.links.get_mut();
            links.reserved = links.reserved.saturating_sub(1);
        }
        self.update_limit();
        self.wake_senders();
    }

    /// Refuses further sends (they get `Closed`) but keeps what is queued for the owner.
    pub(crate) fn refuse_sends(&self) {
        self.set_flag(CLOSED, true);
        self.update_limit();
        self.wake_senders();
    }

    /// The owner exited: refuse further sends, count (and drop) what was never received.
    pub(crate) fn close(&self) {
        self.set_flag(CLOSED, true);
        self.update_limit();
        let rest = std::mem::take(&mut *self.items.borrow_mut());
        if !rest.is_empty() {
            self.links.get_mut().undelivered += rest.len() as u64;
            tracing::debug!(
                owner = ?self.meta.owner(),
                count = rest.len(),
                "inbox closed with undelivered messages"
            );
        }
        self.set_flag(RX_WAITING, false);
        self.rx_waker.take();
        self.wake_senders();
        drop(rest);
    }
}

/// A component's receiving box. Only its owner receives from it; any number of outboxes may be
/// linked to it (fan-in), all sharing its one capacity.
///
/// ```
/// use axon_core::{Inbox, Outbox, link};
/// let mut inbox: Inbox<u32> = Inbox::new();
/// let outbox: Outbox<u32> = Outbox::new();
/// link(&outbox, &inbox).unwrap();
/// outbox.try_send(7).unwrap();
/// assert_eq!(inbox.try_recv(), Some(7));
/// ```
pub struct Inbox<T> {
    /// Dormant (no allocation) until first used, when made with the default capacity.
    pub(crate) slot: Dormant<InboxCore<T>>,
}

impl<T: 'static> Default for Inbox<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static> fmt::Debug for Inbox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("len", &self.slot.get().map_or(0, |c| c.len()))
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl<T: 'static> Inbox<T> {
    /// An inbox holding at most [`DEFAULT_CAPACITY`] values. Nothing is allocated until it is
    /// first used (linked, referred to, or sent to by name): an idle inbox costs a few words.
    pub fn new() -> Self {
        Inbox {
            slot: Dormant::new(),
        }
    }

    /// An inbox holding at most `capacity` values (at least 1).
    #[doc(alias = "pipewidth")]
    pub fn with_capacity(capacity: usize) -> Self {
        if capacity == DEFAULT_CAPACITY {
            return Self::new();
        }
        Inbox {
            slot: Dormant::made(InboxCore::new(capacity)),
        }
    }

    /// The queue, made now if it was dormant.
    #[inline(always)]
    pub(crate) fn core(&self) -> &Rc<InboxCore<T>> {
        self.slot.force(|| InboxCore::new(DEFAULT_CAPACITY))
    }

    /// Waits for the next value. Cancel-safe: if the future is dropped, no value is lost.
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv { inbox: self }
    }

    /// Polls for the next value (spends one unit of the cooperative budget when it can).
    #[inline]
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<T> {
        std::task::ready!(coop::poll_spend(cx));
        match self.slot.get() {
            Some(core) => core.poll_pop(cx),
            // Nothing can reach a dormant inbox; this poll is woken when it is made.
            None => {
                self.slot.wait(cx);
                Poll::Pending
            }
        }
    }

    /// Takes the next value if one is queued.
    pub fn try_recv(&mut self) -> Option<T> {
        self.slot.get()?.try_pop()
    }

    /// True when a value is waiting (Axon's `dataReady`).
    #[doc(alias = "dataReady")]
    pub fn is_ready(&self) -> bool {
        !self.is_empty()
    }

    /// Values waiting.
    pub fn len(&self) -> usize {
        self.slot.get().map_or(0, |c| c.len())
    }

    /// True when no value is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most values this inbox holds; senders wait beyond it.
    pub fn capacity(&self) -> usize {
        self.slot.get().map_or(DEFAULT_CAPACITY, |c| c.capacity())
    }

    /// Changes the capacity (at least 1); waiting senders are woken to try again.
    pub fn set_capacity(&self, capacity: usize) {
        self.core().set_capacity(capacity)
    }

    /// A cloneable reference for linking this inbox or sending to it directly.
    pub fn to_ref(&self) -> InboxRef<T> {
        InboxRef {
            core: self.core().clone(),
        }
    }

    /// The next value, or `None` once `control` carries a message that ends the stream
    /// (`ProducerFinished`, `ShutdownMicroprocess`, `Failed`).
    ///
    /// Data is always taken first, so on `ProducerFinished` everything the producer sent before
    /// it has already been returned. After `ShutdownMicroprocess` values still queued stay
    /// undelivered and are counted when the component exits. Cancel-safe.
    #[doc(alias = "anyReady")]
    pub fn recv_or_finished<'a>(
        &'a mut self,
        control: &'a mut Inbox<Control>,
    ) -> RecvOrFinished<'a, T> {
        RecvOrFinished {
            inbox: self,
            control,
        }
    }

    /// Waits on this inbox and `control` at once; data first, so a control message is only
    /// returned when no data is waiting. Cancel-safe.
    pub async fn next_or_control(&mut self, control: &mut Inbox<Control>) -> Next<T> {
        poll_fn(|cx| poll_next_or_control(self, control, cx)).await
    }
}

#[inline(always)]
fn poll_next_or_control<T: 'static>(
    inbox: &Inbox<T>,
    control: &Inbox<Control>,
    cx: &mut Context<'_>,
) -> Poll<Next<T>> {
    std::task::ready!(coop::poll_spend(cx));
    // A dormant box is empty: this poll is woken when it is made.
    let (data, signals) = (inbox.slot.get(), control.slot.get());
    if let Some(v) = data.and_then(|c| c.try_pop()) {
        return Poll::Ready(Next::Data(v));
    }
    if let Some(c) = signals.and_then(|c| c.try_pop()) {
        return Poll::Ready(Next::Control(c));
    }
    match data {
        Some(core) => core.register_receiver(cx),
        None => inbox.slot.wait(cx),
    }
    match signals {
        Some(core) => core.register_receiver(cx),
        None => control.slot.wait(cx),
    }
    Poll::Pending
}

/// The future of [`Inbox::recv`].
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T> {
    inbox: &'a mut Inbox<T>,
}

impl<T> std::fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recv").finish_non_exhaustive()
    }
}

impl<T: 'static> Future for Recv<'_, T> {
    type Output = T;
    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.inbox.poll_recv(cx)
    }
}

/// The future of [`Inbox::recv_or_finished`].
#[must_use = "futures do nothing unless awaited"]
pub struct RecvOrFinished<'a, T> {
    inbox: &'a mut Inbox<T>,
    control: &'a mut Inbox<Control>,
}

impl<T> std::fmt::Debug for RecvOrFinished<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvOrFinished").finish_non_exhaustive()
    }
}

impl<T: 'static> Future for RecvOrFinished<'_, T> {
    type Output = Option<T>;
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        poll_next_or_control(&*self.inbox, &*self.control, cx).map(|next| match next {
            Next::Data(v) => Some(v),
            Next::Control(_) => None,
        })
    }
}

/// What [`Inbox::next_or_control`] found.
#[derive(Debug, PartialEq)]
pub enum Next<T> {
    /// A value from the data inbox.
    Data(T),
    /// A message from the control inbox.
    Control(Control),
}
