//! `Carousel`: a child replaced on demand.

use crate::{
    Boxes, Component, ComponentError, Control, Inbox, InboxRef, Outbox, Stage, link, pass_inbox,
    pass_outbox, unpass_inbox,
};

/// Holds one child at a time, made by a factory from each message on `next`. The carousel's
/// `inbox` is passed through to the current child and every child's `outbox` surfaces as the
/// carousel's. On a new `next` message the old child is told `ProducerFinished` — so it still
/// processes what was already delivered to it — and a new child takes over the inbox.
///
/// `control` is forwarded to the current child; once the carousel has been told to finish and
/// its children are done, it sends `ProducerFinished` (or the shutdown it received) on `signal`.
///
/// ```
/// use axon_core::components::{Collect, map};
/// use axon_core::{Carousel, Control, Outbox, Scheduler, link};
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// rt.block_on(async {
///     // Each `next` message is a prefix; the child adds it to every line.
///     let carousel = Carousel::new(|prefix: &'static str| map(move |s: String| format!("{prefix}{s}")));
///     let (sink, out) = Collect::new();
///     link(&carousel.outbox, &sink.inbox).unwrap();
///     let (data, next, ctl) = (Outbox::new(), Outbox::new(), Outbox::new());
///     link(&data, &carousel.inbox).unwrap();
///     link(&next, &carousel.next).unwrap();
///     link(&ctl, &carousel.control).unwrap();
///     let sink_control = sink.control.to_ref();
///     let scheduler = Scheduler::new();
///     scheduler.activate(carousel);
///     scheduler.activate(sink);
///     let run = scheduler.run();
///     let drive = async {
///         next.send("a:").await.unwrap();
///         axon_core::yield_now().await;
///         data.send("x".to_string()).await.unwrap();
///         next.send("b:").await.unwrap();
///         axon_core::yield_now().await;
///         data.send("y".to_string()).await.unwrap();
///         ctl.send(Control::ProducerFinished).await.unwrap();
///         while out.len() < 2 { tokio::task::yield_now().await; }
///         sink_control.send(Control::ProducerFinished).await.unwrap();
///     };
///     futures::join!(run, drive);
///     assert_eq!(out.take(), ["a:x", "b:y"]);
/// });
/// ```
#[derive(Boxes)]
pub struct Carousel<M: 'static, C: Stage + Component> {
    /// Passed through to the current child.
    pub inbox: Inbox<C::In>,
    /// Forwarded to the current child; `ProducerFinished` also ends the carousel.
    pub control: Inbox<Control>,
    /// Each message makes a new child (via the factory), replacing the current one.
    pub next: Inbox<M>,
    /// Every child's output.
    pub outbox: Outbox<C::Out>,
    /// `ProducerFinished` (or the shutdown received) when the carousel ends.
    pub signal: Outbox<Control>,
    factory: Box<dyn FnMut(M) -> C>,
}

impl<M: 'static, C: Stage + Component> Carousel<M, C> {
    /// A carousel making its children with `factory`.
    pub fn new(factory: impl FnMut(M) -> C + 'static) -> Self {
        Carousel {
            inbox: Inbox::new(),
            control: Inbox::new(),
            next: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            factory: Box::new(factory),
        }
    }

    /// Installs `child` as current: takes over the inbox; its output surfaces as ours.
    fn install(&self, child: C) -> Result<Option<InboxRef<Control>>, ComponentError> {
        unpass_inbox(&self.inbox);
        if let Some(inbox) = child.stage_inbox() {
            pass_inbox(&self.inbox, inbox)?;
        }
        if let Some(outbox) = child.stage_outbox() {
            pass_outbox(outbox, &self.outbox)?;
        }
        let control = child.stage_control().map(Inbox::to_ref);
        if let Some(signal) = child.stage_signal() {
            // A child's own end is not the carousel's end: its signal ends a discarding sink.
            let sink = crate::components::NullSink::<()>::new();
            link(signal, &sink.control)?;
            crate::activate(sink);
        }
        crate::activate(child);
        Ok(control)
    }
}

impl<M: 'static, C: Stage + Component> Component for Carousel<M, C> {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut current: Option<InboxRef<Control>> = None;
        let mut ending = None;
        while ending.is_none() {
            tokio::select! {
                biased;
                message = self.control.recv() => {
                    if let Some(control) = &current {
                        let _ = control.try_send(message.clone());
                    }
                    if message.ends_stream() {
                        ending = Some(message);
                    }
                }
                made = self.next.recv() => {
                    let child = (self.factory)(made);
                    if let Some(old) = current.take() {
                        let _ = old.send(Control::ProducerFinished).await;
                    }
                    current = self.install(child)?;
                }
            }
        }
        crate::children().all_done().await;
        let last = match ending {
            Some(Control::ShutdownMicroprocess) => Control::ShutdownMicroprocess,
            _ => Control::ProducerFinished,
        };
        self.signal.send(last).await?;
        Ok(())
    }
}
