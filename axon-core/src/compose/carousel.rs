//! `Carousel`: one child at a time, replaced on demand (Axon's Carousel), for a stream of jobs
//! each handled by a fresh component — the next file of a playlist, the next connection attempt.

use crate::{
    Boxes, Component, ComponentError, Control, Inbox, Outbox, Stage, pass_inbox, pass_outbox,
    unpass_inbox,
};
use std::time::Duration;

/// How long a child told to finish may take before it is told to shut down (and, as long again
/// after that, cancelled).
pub const DEFAULT_FINISH_TIMEOUT: Duration = Duration::from_secs(1);

/// Holds one child at a time, made by a factory from each message on `next`. The carousel's
/// `inbox` is passed through to the current child and the child's `outbox` surfaces as the
/// carousel's.
///
/// - On a `next` message the current child is told `ProducerFinished` (it still processes what
///   was delivered to it; after the finish timeout it is told `ShutdownMicroprocess`, then
///   cancelled), and the new child starts only once the old one has ended: two children never
///   run at once, so their outputs never interleave. Data arriving meanwhile waits for the new
///   child.
/// - When a child ends by itself, the carousel says so on `request_next` (ask for the next
///   job); [`request_first`](Self::request_first) also asks at start.
/// - `ProducerFinished` or `ShutdownMicroprocess` on `control` ends the carousel: `next`
///   messages already queued are served first, then the current child is told the same and the
///   carousel ends after it, sending that message on `signal`. Other control messages go to the
///   current child.
///
/// ```
/// use axon_core::components::{Collect, DataSource, map};
/// use axon_core::{Carousel, Control, Outbox, Scheduler, link};
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// rt.block_on(async {
///     // Each `next` message is a job: a few numbers for a fresh source to send.
///     let carousel = Carousel::new(|job: Vec<u32>| DataSource::new(job));
///     let (sink, out) = Collect::new();
///     link(&carousel.outbox, &sink.inbox).unwrap();
///     link(&carousel.signal, &sink.control).unwrap();
///     let (next, ctl) = (Outbox::new(), Outbox::new());
///     link(&next, &carousel.next).unwrap();
///     link(&ctl, &carousel.control).unwrap();
///     next.try_send(vec![1, 2]).unwrap();
///     next.try_send(vec![3]).unwrap();
///     ctl.try_send(Control::ProducerFinished).unwrap(); // after the jobs queued before it
///     let scheduler = Scheduler::new();
///     scheduler.activate(carousel);
///     scheduler.activate(sink);
///     scheduler.run().await;
///     assert_eq!(out.take(), [1, 2, 3]);
/// });
/// ```
#[derive(Boxes)]
pub struct Carousel<M: 'static, C: Stage + Component> {
    /// Passed through to the current child.
    pub inbox: Inbox<C::In>,
    /// `ProducerFinished` / `ShutdownMicroprocess` end the carousel (after queued `next`
    /// messages and the current child); anything else goes to the current child.
    pub control: Inbox<Control>,
    /// Each message makes a new child (via the factory), replacing the current one.
    pub next: Inbox<M>,
    /// Every child's output, one child after another.
    pub outbox: Outbox<C::Out>,
    /// A child ended by itself (or, with `request_first`, the carousel started): send the next
    /// job.
    pub request_next: Outbox<()>,
    /// `ProducerFinished` (or the shutdown received) when the carousel ends.
    pub signal: Outbox<Control>,
    factory: Box<dyn FnMut(M) -> C>,
    finish_timeout: Duration,
    request_first: bool,
}

impl<M: 'static, C: Stage + Component> Carousel<M, C> {
    /// A carousel making its children with `factory`.
    pub fn new(factory: impl FnMut(M) -> C + 'static) -> Self {
        Carousel {
            inbox: Inbox::new(),
            control: Inbox::new(),
            next: Inbox::new(),
            outbox: Outbox::new(),
            request_next: Outbox::new(),
            signal: Outbox::new(),
            factory: Box::new(factory),
            finish_timeout: DEFAULT_FINISH_TIMEOUT,
            request_first: false,
        }
    }

    /// Asks for the first job on `request_next` as soon as it starts.
    pub fn request_first(mut self) -> Self {
        self.request_first = true;
        self
    }

    /// How long a replaced child may take to finish before it is told to shut down (default
    /// [`DEFAULT_FINISH_TIMEOUT`]).
    pub fn finish_timeout(mut self, timeout: Duration) -> Self {
        self.finish_timeout = timeout;
        self
    }

    /// Installs `child` as current: it takes over the inbox, and its output surfaces as ours.
    /// Its `signal` is left unlinked: a child's own end is not the carousel's.
    fn install(&self, child: C) -> Result<Option<crate::InboxRef<Control>>, ComponentError> {
        if let Some(inbox) = child.stage_inbox() {
            pass_inbox(&self.inbox, inbox)?;
        }
        if let Some(outbox) = child.stage_outbox() {
            pass_outbox(outbox, &self.outbox)?;
        }
        let control = child.stage_control().map(Inbox::to_ref);
        crate::activate(child);
        Ok(control)
    }

    /// Tells the current child `how` to finish and waits until it has ended: after the finish
    /// timeout it is told to shut down, and cancelled a timeout later.
    async fn retire(&self, child: Option<crate::InboxRef<Control>>, how: Control) {
        // From now on, data waits for the next child.
        unpass_inbox(&self.inbox);
        if let Some(control) = child {
            let _ = control.try_send(how);
        }
        let children = crate::children();
        if tokio::time::timeout(self.finish_timeout, children.all_done())
            .await
            .is_err()
        {
            children.shutdown(self.finish_timeout).await;
        }
    }
}

impl<M: 'static, C: Stage + Component> Component for Carousel<M, C> {
    async fn main(mut self) -> Result<(), ComponentError> {
        if self.request_first {
            let _ = self.request_next.try_send(());
        }
        // The current child's control inbox, and whether a child is running.
        let mut current = None;
        let mut running = false;
        let ending = loop {
            let children = crate::children();
            tokio::select! {
                biased;
                // Jobs queued before an ending on `control` are served first.
                made = self.next.recv() => {
                    if running {
                        self.retire(current.take(), Control::ProducerFinished).await;
                    }
                    let child = (self.factory)(made);
                    current = self.install(child)?;
                    running = true;
                }
                message = self.control.recv() => {
                    if message.ends_stream() {
                        break message;
                    }
                    if let Some(control) = &current {
                        let _ = control.try_send(message);
                    }
                }
                () = children.all_done(), if running => {
                    // The child ended by itself: ask for the next job.
                    running = false;
                    current = None;
                    unpass_inbox(&self.inbox);
                    let _ = self.request_next.try_send(());
                }
            }
        };
        let last = match ending {
            Control::ShutdownMicroprocess => Control::ShutdownMicroprocess,
            _ => Control::ProducerFinished,
        };
        self.retire(current.take(), last.clone()).await;
        self.signal.send(last).await?;
        Ok(())
    }
}
