//! Threaded components: a blocking body on its own OS thread, bridged to the scheduler by a
//! proxy component over bounded channels (DESIGN §2.7).

use crate::{
    Boxes, Component, ComponentError, ComponentId, Control, Inbox, LinkError, Next, Outbox,
};
use async_channel::{Receiver, Sender};
use std::time::Duration;

/// The blocking side of a [`Threaded`] component's boxes, used on its own thread. Data and
/// control arrive in one ordered channel, so `ProducerFinished` never overtakes data.
pub struct ThreadBoxes<I, O> {
    inbound: Receiver<Next<I>>,
    outbound: Sender<FromThread<O>>,
    runtime: tokio::runtime::Handle,
}

/// What the thread sends the proxy, in one ordered channel: a value sent before a relink is
/// delivered before the relink happens.
enum FromThread<O> {
    Value(O),
    Rewire(Rewire),
}

/// A linkage change asked for by the thread, carried out by the proxy on the scheduler (the
/// boxes live there), with the answer sent back.
enum Rewire {
    Link {
        from: String,
        to: (ComponentId, String),
        answer: Sender<Result<(), LinkError>>,
    },
    Unlink {
        name: String,
        answer: Sender<Result<usize, LinkError>>,
    },
}

impl Rewire {
    fn apply(self) {
        let me = crate::current();
        match self {
            Rewire::Link { from, to, answer } => {
                let result = match (me, crate::scheduler::handle_of(to.0)) {
                    (Some(me), Some(target)) => {
                        crate::link_named((&me, from.as_str()), (&target, to.1.as_str()))
                    }
                    (_, None) => Err(LinkError::NoSuchComponent {
                        component: format!("{} (not running)", to.0).into(),
                    }),
                    (None, _) => Err(gone()),
                };
                let _ = answer.try_send(result);
            }
            Rewire::Unlink { name, answer } => {
                let result = match me {
                    Some(me) => me.unlink(&name),
                    None => Err(gone()),
                };
                let _ = answer.try_send(result);
            }
        }
    }
}

fn gone() -> LinkError {
    LinkError::NoSuchComponent {
        component: "the threaded component (it has exited)".into(),
    }
}

impl<I, O> std::fmt::Debug for ThreadBoxes<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadBoxes").finish_non_exhaustive()
    }
}

/// Why a blocking receive returned without a value.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecvTimeoutError {
    /// Nothing arrived in time.
    Timeout,
    /// The component's proxy is gone (the scheduler stopped it).
    Disconnected,
}

impl<I: Send + 'static, O: Send + 'static> ThreadBoxes<I, O> {
    /// Waits for the next data or control message; `None` once the proxy is gone.
    pub fn recv_blocking(&self) -> Option<Next<I>> {
        self.inbound.recv_blocking().ok()
    }

    /// Like [`recv_blocking`](Self::recv_blocking), giving up after `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Next<I>, RecvTimeoutError> {
        let inbound = self.inbound.clone();
        self.runtime
            .block_on(async move { tokio::time::timeout(timeout, inbound.recv()).await })
            .map_err(|_| RecvTimeoutError::Timeout)?
            .map_err(|_| RecvTimeoutError::Disconnected)
    }

    /// Links one of the component's boxes (`outbox`, `signal`, or an inbox for a passthrough)
    /// to box `to.1` of the component `to.0`, as [`link_named`](crate::link_named) would on the
    /// scheduler; waits for the answer. Ids cross threads; handles do not.
    pub fn link(&self, from: &str, to: (ComponentId, &str)) -> Result<(), LinkError> {
        let (from, to) = (from.to_string(), (to.0, to.1.to_string()));
        self.ask(|answer| Rewire::Link { from, to, answer })
    }

    /// Removes every link touching the component's box `name` (see
    /// [`ComponentHandle::unlink`](crate::ComponentHandle::unlink)); returns how many.
    pub fn unlink(&self, name: &str) -> Result<usize, LinkError> {
        let name = name.to_string();
        self.ask(|answer| Rewire::Unlink { name, answer })
    }

    /// Sends a rewiring request to the proxy, in order with the values, and waits for its
    /// answer.
    fn ask<R>(
        &self,
        request: impl FnOnce(Sender<Result<R, LinkError>>) -> Rewire,
    ) -> Result<R, LinkError> {
        let (answer, reply) = async_channel::bounded(1);
        if self
            .outbound
            .send_blocking(FromThread::Rewire(request(answer)))
            .is_err()
        {
            return Err(gone());
        }
        reply.recv_blocking().unwrap_or_else(|_| Err(gone()))
    }

    /// Sends on the component's `outbox`, waiting while the bounded channel is full. Hands the
    /// value back if the proxy is gone.
    pub fn send_blocking(&self, value: O) -> Result<(), crate::SendError<O>> {
        self.outbound
            .send_blocking(FromThread::Value(value))
            .map_err(|e| match e.into_inner() {
                FromThread::Value(value) => crate::SendError::Closed(value),
                FromThread::Rewire(_) => unreachable!("a value was sent"),
            })
    }
}

type Body<I, O> = Box<dyn FnOnce(ThreadBoxes<I, O>) -> Result<(), ComponentError> + Send>;

/// A component whose body runs on its own OS thread, for code that blocks (file systems, C
/// libraries, CPU-heavy work). Made by [`threaded`]. The proxy on the scheduler forwards
/// `inbox` and `control` to the thread and the thread's sends to `outbox`. When the body
/// returns, `ProducerFinished` goes out on `signal`; if it panics, the panic is reported like any
/// component's (`Control::Failed` on `signal`). Types crossing the thread must be `Send`.
/// The body can rewire its own boxes while it runs ([`ThreadBoxes::link`],
/// [`ThreadBoxes::unlink`]), in order with what it sends.
///
/// ```
/// use axon_core::components::{Collect, DataSource};
/// use axon_core::{Next, Scheduler, link, threaded};
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// rt.block_on(async {
///     let squares = threaded(|boxes| {
///         while let Some(Next::Data(n)) = boxes.recv_blocking() {
///             let n: u64 = n;
///             std::thread::sleep(std::time::Duration::from_millis(1)); // blocking is fine here
///             boxes.send_blocking(n * n)?;
///         }
///         Ok(())
///     });
///     let source = DataSource::new(1..=3u64);
///     let (sink, out) = Collect::new();
///     link(&source.outbox, &squares.inbox).unwrap();
///     link(&source.signal, &squares.control).unwrap();
///     link(&squares.outbox, &sink.inbox).unwrap();
///     link(&squares.signal, &sink.control).unwrap();
///     let scheduler = Scheduler::new();
///     scheduler.activate(source);
///     scheduler.activate(squares);
///     scheduler.activate(sink);
///     scheduler.run().await;
///     assert_eq!(out.take(), [1, 4, 9]);
/// });
/// ```
#[derive(Boxes)]
#[doc(alias("ThreadedComponent", "threadedcomponent"))]
pub struct Threaded<I: Send + 'static, O: Send + 'static> {
    /// Data for the thread.
    pub inbox: Inbox<I>,
    /// Control for the thread, in order with the data.
    pub control: Inbox<Control>,
    /// What the thread sends.
    pub outbox: Outbox<O>,
    /// `ProducerFinished` when the body returns, `Failed` if it panics or errs.
    pub signal: Outbox<Control>,
    body: Body<I, O>,
    capacity: usize,
}

/// Makes a [`Threaded`] component from a blocking body.
#[doc(alias = "ThreadedComponent")]
pub fn threaded<I: Send + 'static, O: Send + 'static>(
    body: impl FnOnce(ThreadBoxes<I, O>) -> Result<(), ComponentError> + Send + 'static,
) -> Threaded<I, O> {
    Threaded {
        inbox: Inbox::new(),
        control: Inbox::new(),
        outbox: Outbox::new(),
        signal: Outbox::new(),
        body: Box::new(body),
        capacity: crate::DEFAULT_CAPACITY,
    }
}

impl<I: Send + 'static, O: Send + 'static> Threaded<I, O> {
    /// Sets the bound of each channel between the proxy and the thread (at least 1).
    pub fn with_channel_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }
}

type Outcome = std::thread::Result<Result<(), ComponentError>>;

impl<I: Send + 'static, O: Send + 'static> Component for Threaded<I, O> {
    async fn main(mut self) -> Result<(), ComponentError> {
        let (to_thread, inbound) = async_channel::bounded(self.capacity);
        let (outbound, from_thread) = async_channel::bounded(self.capacity);
        let (done_tx, done_rx) = async_channel::bounded::<Outcome>(1);
        let boxes = ThreadBoxes {
            inbound,
            outbound,
            runtime: tokio::runtime::Handle::current(),
        };
        let body = self.body;
        std::thread::Builder::new()
            .name("axon-threaded".to_string())
            .spawn(move || {
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(boxes)));
                let _ = done_tx.send_blocking(outcome);
            })?;
        let (inbox, control, outbox) = (&mut self.inbox, &mut self.control, &self.outbox);
        // Feed and drain concurrently, so neither side can wait on the other forever.
        let feed = async {
            loop {
                let next = inbox.next_or_control(control).await;
                let ends = matches!(&next, Next::Control(c) if c.ends_stream());
                if to_thread.send(next).await.is_err() || ends {
                    break;
                }
            }
            std::future::pending::<()>().await
        };
        let drain = async {
            while let Ok(message) = from_thread.recv().await {
                match message {
                    FromThread::Value(value) => outbox.send(value).await?,
                    FromThread::Rewire(request) => request.apply(),
                }
            }
            Ok::<(), ComponentError>(())
        };
        tokio::select! {
            () = feed => {}
            result = drain => result?,
        }
        drop(to_thread);
        match done_rx.recv().await {
            Ok(Ok(Ok(()))) => {
                self.signal.send(Control::ProducerFinished).await?;
                Ok(())
            }
            Ok(Ok(Err(error))) => Err(error),
            // Re-raised here so the scheduler reports it like any component's panic.
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => Err(ComponentError::msg("the component's thread vanished")),
        }
    }
}
