//! `InboxRef`: an inbox seen from outside its owner — what links and direct sends hold.

use crate::error::{SendError, TrySendError};
use crate::inbox::{Inbox, InboxCore};
use std::fmt;
use std::future::poll_fn;
use std::rc::Rc;

/// A cloneable reference to an inbox: link outboxes to it, or send to it directly (for example
/// a reply address carried inside a request).
pub struct InboxRef<T> {
    pub(crate) core: Rc<InboxCore<T>>,
}

impl<T> Clone for InboxRef<T> {
    fn clone(&self) -> Self {
        InboxRef {
            core: self.core.clone(),
        }
    }
}

impl<T> fmt::Debug for InboxRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxRef")
            .field("len", &self.core.len())
            .finish()
    }
}

impl<T: 'static> From<&Inbox<T>> for InboxRef<T> {
    fn from(inbox: &Inbox<T>) -> Self {
        inbox.to_ref()
    }
}

impl<T: 'static> From<&InboxRef<T>> for InboxRef<T> {
    fn from(r: &InboxRef<T>) -> Self {
        r.clone()
    }
}

impl<T: 'static> InboxRef<T> {
    /// Sends straight into the inbox (following passthrough), waiting while it is full.
    /// Like every send, it spends no cooperative budget: it completes only into bounded room.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        let mut slot = Some(value);
        poll_fn(|cx| self.with_final(|queue| queue.poll_push(cx, &mut slot))).await
    }

    /// Sends if there is room now.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.with_final(|queue| queue.try_push(value))
    }

    /// Runs `f` on the inbox that finally receives: this one unless it passes through (the
    /// common case costs no `Rc` clone).
    fn with_final<R>(&self, f: impl FnOnce(&InboxCore<T>) -> R) -> R {
        match self.core.forward() {
            None => f(&self.core),
            Some(_) => f(&self.core.resolve()),
        }
    }

    /// Sends now, dropping the oldest queued value to make room when the inbox is full; returns
    /// the dropped value (`Err(value)` once the owner has exited). For streams where the newest
    /// value matters most.
    pub fn send_displacing(&self, value: T) -> Result<Option<T>, T> {
        self.with_final(|queue| queue.push_displacing(value))
    }

    /// True when both refer to the same inbox.
    pub fn same_inbox(&self, other: &InboxRef<T>) -> bool {
        Rc::ptr_eq(&self.core, &other.core)
    }

    /// True once the owner has exited.
    pub fn is_closed(&self) -> bool {
        self.core.resolve().is_closed()
    }

    /// Values waiting in the inbox.
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// True when no value is waiting.
    pub fn is_empty(&self) -> bool {
        self.core.len() == 0
    }

    /// The most values the inbox holds.
    pub fn capacity(&self) -> usize {
        self.core.capacity()
    }

    /// Total values ever pushed into this inbox's own queue.
    pub fn pushes(&self) -> u64 {
        self.core.pushes.get()
    }

    /// Times a push woke the inbox's sleeping owner.
    pub fn wakes(&self) -> u64 {
        u64::from(self.core.wakes.get())
    }

    /// The most values seen queued here at once (told up to 65,535): how near to full the
    /// inbox has come, which its depth now can miss. Kept while the scheduler measures (the
    /// live view is watching, or [`Scheduler::measure`](crate::Scheduler::measure)), so sends
    /// cost nothing more when it does not; then it is the depth now.
    pub fn high_water(&self) -> usize {
        self.core.high_water()
    }

    /// Values that were queued when the owner exited and so were never received.
    pub fn undelivered(&self) -> u64 {
        self.core.undelivered()
    }
}
