//! The three-callback form (initialise / main_body / close_down) adapted into a component: the
//! paper's "integration with other systems", for code written as a state machine driven by
//! calls rather than as an async body.

use crate::{Boxes, Component, ComponentError, Control, Inbox, Outbox};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::Poll;

/// What `main_body` wants next.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Call `main_body` again after the other components have had a turn.
    Continue,
    /// Sleep until something arrives on `inbox` or `control`, then call `main_body` again
    /// (Axon's `pause()`).
    Pause,
    /// Stop: `close_down` runs, then `ProducerFinished` goes out on `signal`.
    Stop,
}

/// The boxes as the callbacks see them: synchronous receive, and sends that are queued and
/// delivered (with backpressure) between calls.
pub struct CallbackBoxes<I, O> {
    inbox: Inbox<I>,
    control: Inbox<Control>,
    pending: VecDeque<O>,
    pending_signal: VecDeque<Control>,
}

impl<I, O> std::fmt::Debug for CallbackBoxes<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackBoxes").finish_non_exhaustive()
    }
}

impl<I: 'static, O: 'static> CallbackBoxes<I, O> {
    /// The next value on `inbox`, if one is waiting.
    pub fn recv(&mut self) -> Option<I> {
        self.inbox.try_recv()
    }
    /// The next message on `control`, if one is waiting.
    pub fn recv_control(&mut self) -> Option<Control> {
        self.control.try_recv()
    }
    /// Queues `value` for `outbox`; it is delivered when this call returns.
    pub fn send(&mut self, value: O) {
        self.pending.push_back(value);
    }
    /// Queues a control message for `signal`.
    pub fn send_signal(&mut self, message: Control) {
        self.pending_signal.push_back(message);
    }
}

/// A component written as three callbacks. Wrap it with [`CallbackComponent::new`].
pub trait Callbacks: 'static {
    /// What arrives on `inbox`.
    type In: 'static;
    /// What leaves on `outbox`.
    type Out: 'static;
    /// Runs once, before the first `main_body`.
    fn initialise(&mut self, _boxes: &mut CallbackBoxes<Self::In, Self::Out>) {}
    /// Runs repeatedly; its result says whether to continue, pause or stop.
    fn main_body(&mut self, boxes: &mut CallbackBoxes<Self::In, Self::Out>) -> Flow;
    /// Runs once, after `main_body` returned [`Flow::Stop`].
    fn close_down(&mut self, _boxes: &mut CallbackBoxes<Self::In, Self::Out>) {}
}

/// Adapts a [`Callbacks`] implementation into a component with the standard boxes.
///
/// ```
/// use axon_core::{CallbackBoxes, CallbackComponent, Callbacks, Control, Flow};
/// struct Doubler;
/// impl Callbacks for Doubler {
///     type In = u32;
///     type Out = u32;
///     fn main_body(&mut self, boxes: &mut CallbackBoxes<u32, u32>) -> Flow {
///         while let Some(n) = boxes.recv() {
///             boxes.send(n * 2);
///         }
///         match boxes.recv_control() {
///             Some(Control::ProducerFinished) => Flow::Stop,
///             _ => Flow::Pause,
///         }
///     }
/// }
/// let component = CallbackComponent::new(Doubler);
/// # let _ = component;
/// ```
#[derive(Boxes)]
pub struct CallbackComponent<C: Callbacks> {
    /// Values for `main_body`.
    pub inbox: Inbox<C::In>,
    /// Control messages for `main_body`.
    pub control: Inbox<Control>,
    /// What the callbacks send.
    pub outbox: Outbox<C::Out>,
    /// What the callbacks signal, then `ProducerFinished` after `close_down`.
    pub signal: Outbox<Control>,
    callbacks: C,
}

impl<C: Callbacks> CallbackComponent<C> {
    /// Wraps `callbacks`.
    pub fn new(callbacks: C) -> Self {
        CallbackComponent {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            callbacks,
        }
    }
}

impl<C: Callbacks> Component for CallbackComponent<C> {
    async fn main(self) -> Result<(), ComponentError> {
        let CallbackComponent {
            inbox,
            control,
            outbox,
            signal,
            mut callbacks,
        } = self;
        let mut boxes = CallbackBoxes {
            inbox,
            control,
            pending: VecDeque::new(),
            pending_signal: VecDeque::new(),
        };
        let flush = async |boxes: &mut CallbackBoxes<C::In, C::Out>| {
            while let Some(value) = boxes.pending.pop_front() {
                outbox.send(value).await?;
            }
            while let Some(message) = boxes.pending_signal.pop_front() {
                signal.send(message).await?;
            }
            Ok::<(), ComponentError>(())
        };
        callbacks.initialise(&mut boxes);
        flush(&mut boxes).await?;
        loop {
            let flow = callbacks.main_body(&mut boxes);
            flush(&mut boxes).await?;
            match flow {
                Flow::Continue => crate::yield_now().await,
                Flow::Pause => {
                    poll_fn(|cx| {
                        if boxes.inbox.is_ready() || boxes.control.is_ready() {
                            Poll::Ready(())
                        } else {
                            boxes.inbox.core().register_receiver(cx);
                            boxes.control.core().register_receiver(cx);
                            Poll::Pending
                        }
                    })
                    .await
                }
                Flow::Stop => break,
            }
        }
        callbacks.close_down(&mut boxes);
        flush(&mut boxes).await?;
        signal.send(Control::ProducerFinished).await?;
        Ok(())
    }
}
