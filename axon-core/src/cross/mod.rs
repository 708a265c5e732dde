//! Cross-core links: an outbox on one scheduler's thread feeding an inbox on another's.
//!
//! Inside a scheduler a send is a push into a `RefCell` queue, with no atomic operation; that
//! stays so. Between two schedulers (two cores, see [`Cores`](crate::Cores)) a link goes
//! through a [`CrossInbox`]: a bounded queue that every sender shares, read on the consumer's
//! thread by a small ingress component (`CrossCoreIn`) that moves each batch into the real
//! inbox. Data and control travel in that one queue, so a `ProducerFinished` never overtakes
//! the data sent before it. The other thread is woken only on the queue's edges (see
//! `queue.rs`), so a busy link costs no wake per message.
//!
//! ```
//! use axon_core::components::{Collect, DataSource};
//! use axon_core::{CrossInbox, Cores, link_cross, link_cross_control};
//!
//! let cores = Cores::with_count(2).unwrap();
//! // The consumer is built on core 1; its address crosses to core 0.
//! let (address, got) = cores
//!     .on_blocking(1, |scheduler| {
//!         let (sink, got) = Collect::<u64>::new();
//!         let address = CrossInbox::of(&sink.inbox, &sink.control).unwrap();
//!         scheduler.activate(sink);
//!         (address, got)
//!     })
//!     .unwrap();
//! cores
//!     .on_blocking(0, move |scheduler| {
//!         let source = DataSource::new(1..=1000u64);
//!         link_cross(&source.outbox, &address).unwrap();
//!         link_cross_control(&source.signal, &address).unwrap();
//!         scheduler.activate(source);
//!     })
//!     .unwrap();
//! cores.wait_blocking();
//! assert_eq!(got.take(), (1..=1000).collect::<Vec<_>>());
//! ```

mod fanout;
mod queue;

pub use fanout::CrossFanout;
pub use queue::CrossCounters;
pub(crate) use queue::CrossQueue;

use crate::error::{Endpoint, LinkError, SendError, TrySendError};
use crate::inbox::{InboxRef, Next};
use crate::outbox::{OutboxRef, Target};
use crate::{Boxes, Component, ComponentError, ComponentId, Control, Outbox};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

/// What an outbox linked across cores pushes into (type-erased over the lane).
pub(crate) trait CrossSink<V> {
    fn try_push(&self, value: V) -> Result<(), TrySendError<V>>;
    fn force_push(&self, value: V) -> Result<(), V>;
    fn register_sender(&self, cx: &Context<'_>);
    fn wake_senders(&self);
    fn poll_reserve(&self, cx: &Context<'_>) -> Poll<Result<(), ()>>;
    fn release_reservation(&self);
    fn is_closed(&self) -> bool;
    fn view(&self) -> CrossView;
}

/// Which of the destination's inboxes a sink feeds.
pub(crate) trait Lane<T> {
    type Value;
    fn wrap(value: Self::Value) -> Next<T>;
    fn unwrap(next: Next<T>) -> Self::Value;
}

/// The destination's data inbox.
pub(crate) struct DataLane;
/// The destination's control inbox.
pub(crate) struct ControlLane;

impl<T> Lane<T> for DataLane {
    type Value = T;
    fn wrap(value: T) -> Next<T> {
        Next::Data(value)
    }
    fn unwrap(next: Next<T>) -> T {
        match next {
            Next::Data(v) => v,
            // A sink only ever hands back what it was given.
            Next::Control(_) => unreachable!("a data lane queues only data"),
        }
    }
}

impl<T> Lane<T> for ControlLane {
    type Value = Control;
    fn wrap(value: Control) -> Next<T> {
        Next::Control(value)
    }
    fn unwrap(next: Next<T>) -> Control {
        match next {
            Next::Control(c) => c,
            Next::Data(_) => unreachable!("a control lane queues only control"),
        }
    }
}

/// Pushes a value into `queue` on lane `L`, handing back the lane's own value if refused.
fn push_lane<T, L: Lane<T>>(
    queue: &CrossQueue<T>,
    value: L::Value,
) -> Result<(), TrySendError<L::Value>> {
    queue.try_push(L::wrap(value)).map_err(|e| match e {
        TrySendError::Full(n) => TrySendError::Full(L::unwrap(n)),
        TrySendError::Closed(n) => TrySendError::Closed(L::unwrap(n)),
    })
}

static NEXT_LINK_ID: AtomicU64 = AtomicU64::new(1);

/// The shared part of one cross-core destination.
struct Link<T> {
    queue: CrossQueue<T>,
    id: u64,
    /// The consumer's core, when it runs under [`Cores`](crate::Cores).
    core: Option<usize>,
    /// The ingress component on the consumer's scheduler.
    ingress: OnceLock<ComponentId>,
    has_control: bool,
}

/// One sender's hold on a link: counted while it lives, so the ingress knows when the last
/// one has gone.
struct Sender<T> {
    link: Arc<Link<T>>,
}

impl<T> Sender<T> {
    fn new(link: &Arc<Link<T>>) -> Self {
        link.queue.add_sender();
        Sender { link: link.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.link.queue.remove_sender();
    }
}

/// An outbox's end of a cross-core link, pushing into one lane of the destination.
struct Sink<T, L> {
    sender: Sender<T>,
    _lane: PhantomData<L>,
}

impl<T, L: Lane<T>> CrossSink<L::Value> for Sink<T, L> {
    fn try_push(&self, value: L::Value) -> Result<(), TrySendError<L::Value>> {
        push_lane::<T, L>(&self.sender.link.queue, value)
    }
    fn force_push(&self, value: L::Value) -> Result<(), L::Value> {
        self.sender
            .link
            .queue
            .force_push(L::wrap(value))
            .map_err(L::unwrap)
    }
    fn register_sender(&self, cx: &Context<'_>) {
        self.sender.link.queue.register_sender(cx);
    }
    fn wake_senders(&self) {
        self.sender.link.queue.wake_senders();
    }
    fn poll_reserve(&self, cx: &Context<'_>) -> Poll<Result<(), ()>> {
        self.sender.link.queue.poll_reserve(cx)
    }
    fn release_reservation(&self) {
        self.sender.link.queue.release_reservation();
    }
    fn is_closed(&self) -> bool {
        self.sender.link.queue.is_closed()
    }
    fn view(&self) -> CrossView {
        let link = &self.sender.link;
        CrossView {
            id: link.id,
            core: link.core,
            ingress: link.ingress.get().copied(),
            counters: link.queue.counters(),
        }
    }
}

/// Where a cross-core link leads, for the topology.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CrossView {
    pub(crate) id: u64,
    pub(crate) core: Option<usize>,
    pub(crate) ingress: Option<ComponentId>,
    pub(crate) counters: CrossCounters,
}

/// The address of a component's inbox (and, if given, its control inbox) that any thread may
/// hold, send to, or link an outbox to with [`link_cross`] / [`link_cross_control`]: what a
/// link between two cores goes through. `Send + Sync + Clone`, for `T: Send`.
///
/// Made on the consumer's scheduler (inside a component, or in [`Cores::on`]), which then runs
/// a small ingress component, `CrossCoreIn`, that moves what arrives into the inbox. The link
/// is bounded: one capacity, shared by every sender (values also wait in the ingress's batch
/// and in the inbox itself, each bounded too). It lives while the consumer runs and some
/// sender (a linked outbox, or an address like this one) is left: drop addresses you no longer
/// need, as you would a channel's sender.
///
/// A type that cannot cross threads cannot cross cores:
///
/// ```compile_fail
/// use axon_core::{CrossInbox, Inbox};
/// let inbox: Inbox<std::rc::Rc<u8>> = Inbox::new();
/// let _ = CrossInbox::data(&inbox); // Rc<u8> is not Send
/// ```
///
/// [`Cores::on`]: crate::CoresHandle::on
pub struct CrossInbox<T> {
    sender: Sender<T>,
}

impl<T> Clone for CrossInbox<T> {
    fn clone(&self) -> Self {
        CrossInbox {
            sender: Sender::new(&self.sender.link),
        }
    }
}

impl<T> std::fmt::Debug for CrossInbox<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let link = &self.sender.link;
        f.debug_struct("CrossInbox")
            .field("link", &link.id)
            .field("core", &link.core)
            .field("counters", &link.queue.counters())
            .finish()
    }
}

impl<T: Send + 'static> CrossInbox<T> {
    /// The address of `inbox` and `control` (a component's two default inboxes), with
    /// [`DEFAULT_CAPACITY`](crate::DEFAULT_CAPACITY). Call it on the scheduler that runs (or
    /// will run) their owner.
    pub fn of(
        inbox: impl Into<InboxRef<T>>,
        control: impl Into<InboxRef<Control>>,
    ) -> Result<Self, LinkError> {
        Self::with_capacity(inbox, Some(control.into()), crate::DEFAULT_CAPACITY)
    }

    /// The address of a data inbox alone (no control lane).
    pub fn data(inbox: impl Into<InboxRef<T>>) -> Result<Self, LinkError> {
        Self::with_capacity(inbox, None, crate::DEFAULT_CAPACITY)
    }

    /// Like [`of`](Self::of) with the link's capacity (shared by all its senders).
    pub fn with_capacity(
        inbox: impl Into<InboxRef<T>>,
        control: Option<InboxRef<Control>>,
        capacity: usize,
    ) -> Result<Self, LinkError> {
        let inbox = inbox.into();
        let link = Arc::new(Link {
            queue: CrossQueue::new(capacity),
            id: NEXT_LINK_ID.fetch_add(1, Ordering::Relaxed),
            core: crate::cores::current_core(),
            ingress: OnceLock::new(),
            has_control: control.is_some(),
        });
        let address = CrossInbox {
            sender: Sender::new(&link),
        };
        let ingress = CrossCoreIn {
            outbox: Outbox::new(),
            signal: Outbox::new(),
            reader: Reader {
                link: link.clone(),
                batch: VecDeque::new(),
                inbox: inbox.clone(),
                control: control.clone(),
                lost: (0, 0),
            },
        };
        crate::link(&ingress.outbox, &inbox)?;
        if let Some(control) = control {
            crate::link(&ingress.signal, &control)?;
        }
        let handle = crate::scheduler::activate_top(ingress).ok_or(LinkError::NoScheduler {
            what: "a CrossInbox is made on the consumer's scheduler: inside a component, \
                   or in Cores::on",
        })?;
        let _ = link.ingress.set(handle.id());
        Ok(address)
    }

    /// Sends a value, waiting while the link is full; hands it back once the consumer is gone.
    /// Works from any thread or task.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.send_next(Next::Data(value))
            .await
            .map_err(|e| SendError::Closed(DataLane::unwrap(e)))
    }

    /// Sends a value if there is room now.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        push_lane::<T, DataLane>(&self.sender.link.queue, value)
    }

    /// Sends a control message (for example `ProducerFinished`) after the data sent so far.
    /// Refused (handed back) when the address has no control lane.
    pub async fn send_control(&self, message: Control) -> Result<(), SendError<Control>> {
        if !self.sender.link.has_control {
            return Err(SendError::Closed(message));
        }
        self.send_next(Next::Control(message))
            .await
            .map_err(|e| SendError::Closed(ControlLane::unwrap(e)))
    }

    async fn send_next(&self, next: Next<T>) -> Result<(), Next<T>> {
        let queue = &self.sender.link.queue;
        let mut slot = Some(next);
        poll_fn(|cx| {
            let item = slot.take().expect("polled after completion");
            match queue.try_push(item) {
                Ok(()) => Poll::Ready(Ok(())),
                Err(TrySendError::Closed(item)) => Poll::Ready(Err(item)),
                Err(TrySendError::Full(item)) => {
                    slot = Some(item);
                    queue.register_sender(cx);
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl<T> CrossInbox<T> {
    /// The consumer's core, when it runs under [`Cores`](crate::Cores).
    pub fn core(&self) -> Option<usize> {
        self.sender.link.core
    }

    /// True once the consumer has gone: sends hand their value back.
    pub fn is_closed(&self) -> bool {
        self.sender.link.queue.is_closed()
    }

    /// Waits until the consumer has gone (for a relay that should end with it).
    pub async fn closed(&self) {
        poll_fn(|cx| self.sender.link.queue.poll_closed(cx)).await
    }

    /// Depth, capacity, message and wake counts of the link.
    pub fn counters(&self) -> CrossCounters {
        self.sender.link.queue.counters()
    }
}

/// Links an outbox to a [`CrossInbox`] (usually of a component on another core): every value
/// sent on `from` is queued for the consumer's thread. Backpressure is a local link's: `send`
/// waits while the link is full, `try_send` gives `Full(v)`, and `Closed(v)` comes back once
/// the consumer has gone. An outbox already linked gives [`LinkError::AlreadyLinked`].
pub fn link_cross<T: Send + 'static>(
    from: impl Into<OutboxRef<T>>,
    to: &CrossInbox<T>,
) -> Result<(), LinkError> {
    let sink: Sink<T, DataLane> = Sink {
        sender: Sender::new(&to.sender.link),
        _lane: PhantomData,
    };
    crate::link::link_target(
        &from.into().core,
        Target::Cross(std::rc::Rc::new(Box::new(sink))),
    )
}

/// Links a `signal` outbox to a [`CrossInbox`]'s control lane: control messages travel in the
/// same queue as the data, so `ProducerFinished` arrives after everything sent before it.
pub fn link_cross_control<T: Send + 'static>(
    from: impl Into<OutboxRef<Control>>,
    to: &CrossInbox<T>,
) -> Result<(), LinkError> {
    let from = from.into();
    if !to.sender.link.has_control {
        return Err(LinkError::NoSuchBox {
            endpoint: Endpoint::new("a CrossInbox made without a control inbox", "control"),
            available: Box::new(["inbox".to_string()]),
        });
    }
    let sink: Sink<T, ControlLane> = Sink {
        sender: Sender::new(&to.sender.link),
        _lane: PhantomData,
    };
    crate::link::link_target(&from.core, Target::Cross(std::rc::Rc::new(Box::new(sink))))
}

/// The reader's state, closed however the ingress ends (finished, or cancelled by a
/// shutdown), so senders learn the consumer is gone and what it never got is counted.
struct Reader<T> {
    link: Arc<Link<T>>,
    batch: VecDeque<Next<T>>,
    /// The destination's inboxes, where what never arrives is counted as undelivered.
    inbox: InboxRef<T>,
    control: Option<InboxRef<Control>>,
    /// Values and control messages taken out but refused by the closed destination.
    lost: (u64, u64),
}

impl<T> Reader<T> {
    fn count_lost(&mut self, next: &Next<T>) {
        match next {
            Next::Data(_) => self.lost.0 += 1,
            Next::Control(_) => self.lost.1 += 1,
        }
    }
}

impl<T> Drop for Reader<T> {
    fn drop(&mut self) {
        let rest = self
            .link
            .queue
            .close(self.batch.len() + (self.lost.0 + self.lost.1) as usize);
        for next in std::mem::take(&mut self.batch).iter().chain(rest.iter()) {
            self.count_lost(next);
        }
        self.inbox.core.add_undelivered(self.lost.0);
        if let Some(control) = &self.control {
            control.core.add_undelivered(self.lost.1);
        }
    }
}

/// Moves what arrives on a cross-core link into the destination's inboxes, on its thread.
#[derive(Boxes)]
#[boxes(no_debug)]
struct CrossCoreIn<T: 'static> {
    /// To the destination's data inbox.
    outbox: Outbox<T>,
    /// To the destination's control inbox.
    signal: Outbox<Control>,
    reader: Reader<T>,
}

impl<T: 'static> Component for CrossCoreIn<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        loop {
            let more = {
                let reader = &mut self.reader;
                poll_fn(|cx| reader.link.queue.poll_take(cx, &mut reader.batch)).await
            };
            if !more {
                return Ok(());
            }
            while let Some(next) = self.reader.batch.pop_front() {
                let refused = match next {
                    Next::Data(v) => self
                        .outbox
                        .send(v)
                        .await
                        .err()
                        .map(|e| Next::Data(e.into_inner())),
                    Next::Control(c) => self
                        .signal
                        .send(c)
                        .await
                        .err()
                        .map(|e| Next::Control(e.into_inner())),
                };
                if let Some(refused) = refused {
                    // The consumer has gone: this value and the rest are counted as the
                    // reader closes.
                    self.reader.count_lost(&refused);
                    return Ok(());
                }
            }
        }
    }
}
