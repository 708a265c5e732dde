//! The queue under a cross-core link: bounded, shared by all its senders, read by one ingress
//! component on the consumer's thread. A lock guards it, so the two wake edges are decided
//! exactly: a push wakes the reader only if it sleeps on an empty queue (empty→non-empty), and
//! the reader wakes waiting senders only when it takes a batch out of a queue they found full
//! (full→not-full). Everything else touches no waker: a busy link costs one lock per push and
//! one per batch taken.

use crate::error::TrySendError;
use crate::inbox::Next;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// What a cross-core link's statistics say, for the topology.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CrossCounters {
    /// Values queued now.
    pub depth: usize,
    /// The queue's capacity, shared by every sender.
    pub capacity: usize,
    /// Values ever pushed.
    pub messages: u64,
    /// Times a push woke the reader's thread (empty→non-empty while it slept).
    pub reader_wakes: u64,
    /// Times the reader woke senders waiting for room (full→not-full).
    pub sender_wakes: u64,
    /// Values left in the queue when its reader went away (counted, never silently lost).
    pub undelivered: u64,
}

struct State<T> {
    items: VecDeque<Next<T>>,
    /// Room promised to permits ([`crate::Outbox::reserve`]) and not yet used.
    reserved: usize,
    closed: bool,
    /// Live senders: linked outboxes and addresses. The reader ends once none is left and the
    /// queue is empty.
    senders: usize,
    /// Set only while the reader sleeps on an empty queue.
    reader: Option<Waker>,
    /// Senders waiting for room.
    waiting: Vec<Waker>,
    /// Values ever pushed (counted under the lock, so a push costs no extra atomic).
    messages: u64,
    /// Waiting for the reader to go (see [`CrossQueue::poll_closed`]).
    close_waiters: Vec<Waker>,
}

pub(crate) struct CrossQueue<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    reader_wakes: AtomicU64,
    sender_wakes: AtomicU64,
    undelivered: AtomicU64,
}

impl<T> CrossQueue<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        CrossQueue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                reserved: 0,
                closed: false,
                senders: 0,
                reader: None,
                waiting: Vec::new(),
                messages: 0,
                close_waiters: Vec::new(),
            }),
            capacity: capacity.max(1),
            reader_wakes: AtomicU64::new(0),
            sender_wakes: AtomicU64::new(0),
            undelivered: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while holding the lock, but a poisoned queue is still a valid queue.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn woke_reader(&self, reader: Option<Waker>) {
        if let Some(waker) = reader {
            self.reader_wakes.fetch_add(1, Ordering::Relaxed);
            waker.wake();
        }
    }

    pub(crate) fn try_push(&self, item: Next<T>) -> Result<(), TrySendError<Next<T>>> {
        let reader = {
            let mut state = self.lock();
            if state.closed {
                return Err(TrySendError::Closed(item));
            }
            if state.items.len() + state.reserved >= self.capacity {
                return Err(TrySendError::Full(item));
            }
            state.items.push_back(item);
            state.messages += 1;
            state.reader.take()
        };
        self.woke_reader(reader);
        Ok(())
    }

    /// Pushes whatever the room: for values already counted as sent (a released hold queue, a
    /// permit, a scheduler-made control message).
    pub(crate) fn force_push(&self, item: Next<T>) -> Result<(), Next<T>> {
        let reader = {
            let mut state = self.lock();
            if state.closed {
                return Err(item);
            }
            state.items.push_back(item);
            state.messages += 1;
            state.reader.take()
        };
        self.woke_reader(reader);
        Ok(())
    }

    /// Registers a sender to be woken when room appears, unless there is room already (then it
    /// is woken at once, so it retries).
    pub(crate) fn register_sender(&self, cx: &Context<'_>) {
        let mut state = self.lock();
        if state.closed || state.items.len() + state.reserved < self.capacity {
            drop(state);
            cx.waker().wake_by_ref();
            return;
        }
        if !state.waiting.iter().any(|w| w.will_wake(cx.waker())) {
            state.waiting.push(cx.waker().clone());
        }
    }

    pub(crate) fn wake_senders(&self) {
        let waiting = std::mem::take(&mut self.lock().waiting);
        waiting.into_iter().for_each(Waker::wake);
    }

    pub(crate) fn poll_reserve(&self, cx: &Context<'_>) -> Poll<Result<(), ()>> {
        let mut state = self.lock();
        if state.closed {
            return Poll::Ready(Err(()));
        }
        if state.items.len() + state.reserved < self.capacity {
            state.reserved += 1;
            return Poll::Ready(Ok(()));
        }
        if !state.waiting.iter().any(|w| w.will_wake(cx.waker())) {
            state.waiting.push(cx.waker().clone());
        }
        Poll::Pending
    }

    pub(crate) fn release_reservation(&self) {
        let waiting = {
            let mut state = self.lock();
            state.reserved = state.reserved.saturating_sub(1);
            std::mem::take(&mut state.waiting)
        };
        waiting.into_iter().for_each(Waker::wake);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Ready once the reader has gone.
    pub(crate) fn poll_closed(&self, cx: &Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if state.closed {
            return Poll::Ready(());
        }
        if !state.close_waiters.iter().any(|w| w.will_wake(cx.waker())) {
            state.close_waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    pub(crate) fn add_sender(&self) {
        self.lock().senders += 1;
    }

    pub(crate) fn remove_sender(&self) {
        let reader = {
            let mut state = self.lock();
            state.senders = state.senders.saturating_sub(1);
            if state.senders == 0 {
                state.reader.take()
            } else {
                None
            }
        };
        // The last sender gone is news for a sleeping reader: it can finish.
        if let Some(waker) = reader {
            waker.wake();
        }
    }

    /// The reader takes everything queued into `batch` (which it has emptied). `Ready(false)`
    /// once the queue is empty and no sender is left: the link is over.
    pub(crate) fn poll_take(&self, cx: &Context<'_>, batch: &mut VecDeque<Next<T>>) -> Poll<bool> {
        let mut state = self.lock();
        if !state.items.is_empty() {
            std::mem::swap(&mut state.items, batch);
            state.reader = None;
            let waiting = std::mem::take(&mut state.waiting);
            drop(state);
            if !waiting.is_empty() {
                self.sender_wakes.fetch_add(1, Ordering::Relaxed);
                waiting.into_iter().for_each(Waker::wake);
            }
            return Poll::Ready(true);
        }
        if state.senders == 0 {
            return Poll::Ready(false);
        }
        state.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The reader is gone: refuse further sends (they get `Closed` back) and count what is
    /// left, plus `also` values it held but could not deliver; returns what was left.
    pub(crate) fn close(&self, also: usize) -> VecDeque<Next<T>> {
        let (rest, waiting) = {
            let mut state = self.lock();
            state.closed = true;
            state.reader = None;
            let mut waiting = std::mem::take(&mut state.waiting);
            waiting.append(&mut state.close_waiters);
            (std::mem::take(&mut state.items), waiting)
        };
        let lost = rest.len() + also;
        if lost > 0 {
            self.undelivered.fetch_add(lost as u64, Ordering::Relaxed);
            tracing::debug!(
                count = lost,
                "cross-core link closed with undelivered values"
            );
        }
        waiting.into_iter().for_each(Waker::wake);
        rest
    }

    pub(crate) fn counters(&self) -> CrossCounters {
        let (depth, messages) = {
            let state = self.lock();
            (state.items.len(), state.messages)
        };
        CrossCounters {
            depth,
            capacity: self.capacity,
            messages,
            reader_wakes: self.reader_wakes.load(Ordering::Relaxed),
            sender_wakes: self.sender_wakes.load(Ordering::Relaxed),
            undelivered: self.undelivered.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The wake edges, exactly. Every queue operation runs under the lock, so a run of the
    //! link is a sequence of whole operations: enumerating the sequences is an exhaustive check
    //! of the lost-wake race (a reader asleep on a non-empty queue with no wake on its way).
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn counter() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        (count.clone(), Waker::from(count))
    }
    fn woken(c: &Count) -> usize {
        c.0.load(Ordering::SeqCst)
    }

    #[test]
    fn a_burst_wakes_a_sleeping_reader_once() {
        let q: CrossQueue<u32> = CrossQueue::new(64);
        q.add_sender();
        let (reader, waker) = counter();
        let mut batch = VecDeque::new();
        assert!(
            q.poll_take(&Context::from_waker(&waker), &mut batch)
                .is_pending()
        );
        for i in 0..50 {
            q.try_push(Next::Data(i)).unwrap();
        }
        assert_eq!(woken(&reader), 1, "one wake for the empty→non-empty edge");
        assert_eq!(
            q.poll_take(&Context::from_waker(&waker), &mut batch),
            Poll::Ready(true)
        );
        assert_eq!(batch.len(), 50);
        assert_eq!(q.counters().reader_wakes, 1);
        // A busy reader (not asleep) is never woken.
        q.try_push(Next::Data(99)).unwrap();
        assert_eq!(woken(&reader), 1);
    }

    #[test]
    fn full_senders_are_woken_once_per_batch_taken() {
        let q: CrossQueue<u32> = CrossQueue::new(4);
        q.add_sender();
        for i in 0..4 {
            q.try_push(Next::Data(i)).unwrap();
        }
        assert!(matches!(
            q.try_push(Next::Data(4)),
            Err(TrySendError::Full(Next::Data(4)))
        ));
        let (sender, waker) = counter();
        q.register_sender(&Context::from_waker(&waker));
        q.register_sender(&Context::from_waker(&waker)); // once per waker
        assert_eq!(woken(&sender), 0);
        let (_, reader) = counter();
        let mut batch = VecDeque::new();
        assert_eq!(
            q.poll_take(&Context::from_waker(&reader), &mut batch),
            Poll::Ready(true)
        );
        assert_eq!(woken(&sender), 1, "one wake for the full→not-full edge");
        assert_eq!(q.counters().sender_wakes, 1);
    }

    #[test]
    fn the_reader_ends_when_the_last_sender_goes_and_sends_after_close_come_back() {
        let q: CrossQueue<u32> = CrossQueue::new(4);
        q.add_sender();
        q.add_sender();
        let (reader, waker) = counter();
        let mut batch = VecDeque::new();
        assert!(
            q.poll_take(&Context::from_waker(&waker), &mut batch)
                .is_pending()
        );
        q.remove_sender();
        assert_eq!(woken(&reader), 0);
        q.remove_sender();
        assert_eq!(woken(&reader), 1);
        assert_eq!(
            q.poll_take(&Context::from_waker(&waker), &mut batch),
            Poll::Ready(false)
        );
        let _ = q.close(0);
        assert!(matches!(
            q.try_push(Next::Data(7)),
            Err(TrySendError::Closed(Next::Data(7)))
        ));
    }

    #[test]
    fn closing_counts_what_was_left() {
        let q: CrossQueue<u32> = CrossQueue::new(8);
        q.add_sender();
        for i in 0..5 {
            q.try_push(Next::Data(i)).unwrap();
        }
        let _ = q.close(2);
        assert_eq!(q.counters().undelivered, 7);
    }

    /// Producer steps: push a value (or, when full, register and retry later). Reader steps:
    /// take a batch, or go to sleep on an empty queue. All interleavings of 3 producer pushes
    /// and up to 4 reader steps, at capacities 1 and 2: a reader that sleeps while values are
    /// queued must have a wake pending, and a producer waiting on a full queue must be woken
    /// once the reader takes a batch.
    #[test]
    fn no_interleaving_loses_a_wake() {
        fn explore(capacity: usize, order: &mut Vec<bool>, depth: usize, checked: &mut usize) {
            if depth == 0 {
                run(capacity, order);
                *checked += 1;
                return;
            }
            for producer_step in [true, false] {
                order.push(producer_step);
                explore(capacity, order, depth - 1, checked);
                order.pop();
            }
        }
        fn run(capacity: usize, order: &[bool]) {
            let q: CrossQueue<u32> = CrossQueue::new(capacity);
            q.add_sender();
            let (reader, reader_waker) = counter();
            let (producer, producer_waker) = counter();
            let mut batch = VecDeque::new();
            let (mut next, mut reader_asleep_at, mut producer_waiting_at) = (0u32, None, None);
            for &producer_step in order {
                if producer_step {
                    if producer_waiting_at.is_some_and(|at| woken(&producer) == at) {
                        continue; // still asleep: it cannot act
                    }
                    producer_waiting_at = None;
                    match q.try_push(Next::Data(next)) {
                        Ok(()) => next += 1,
                        Err(TrySendError::Full(_)) => {
                            let before = woken(&producer);
                            q.register_sender(&Context::from_waker(&producer_waker));
                            if woken(&producer) == before {
                                producer_waiting_at = Some(before);
                            }
                        }
                        Err(TrySendError::Closed(_)) => unreachable!(),
                    }
                } else {
                    if reader_asleep_at.is_some_and(|at| woken(&reader) == at) {
                        continue;
                    }
                    reader_asleep_at = None;
                    batch.clear();
                    let before = woken(&reader);
                    if q.poll_take(&Context::from_waker(&reader_waker), &mut batch)
                        .is_pending()
                    {
                        reader_asleep_at = Some(before);
                    }
                }
                // The invariants after every step.
                let queued = q.counters().depth;
                if let Some(at) = reader_asleep_at {
                    assert!(
                        queued == 0 || woken(&reader) > at,
                        "reader asleep on {queued} queued values, no wake ({order:?})"
                    );
                }
                if let Some(at) = producer_waiting_at {
                    assert!(
                        queued >= capacity || woken(&producer) > at,
                        "producer asleep with room free, no wake ({order:?})"
                    );
                }
            }
        }
        let mut checked = 0;
        for capacity in [1, 2] {
            for depth in 1..=10 {
                explore(capacity, &mut Vec::new(), depth, &mut checked);
            }
        }
        assert!(checked > 4000, "{checked} interleavings");
    }
}
