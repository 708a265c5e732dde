//! `Seq`: children one after another.

use super::Activator;
use crate::{
    Boxes, Component, ComponentError, Control, Inbox, Outbox, Stage, pass_inbox, pass_outbox,
    unpass_inbox,
};

/// Runs its children one after another (occam's SEQ): each in turn gets the `inbox` passed
/// through and its `outbox` surfaced; the next starts when it exits. `ProducerFinished` on
/// `signal` after the last. A `ShutdownMicroprocess` on `control` goes to the running child
/// and stops the sequence.
///
/// ```
/// use axon_core::components::{Collect, DataSource};
/// use axon_core::{Scheduler, Seq, link};
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// rt.block_on(async {
///     let seq = Seq::new()
///         .then(DataSource::new(["one", "two"]))
///         .then(DataSource::new(["three"]));
///     let (sink, out) = Collect::new();
///     link(&seq.outbox, &sink.inbox).unwrap();
///     link(&seq.signal, &sink.control).unwrap();
///     let scheduler = Scheduler::new();
///     scheduler.activate(seq);
///     scheduler.activate(sink);
///     scheduler.run().await;
///     assert_eq!(out.take(), ["one", "two", "three"]);
/// });
/// ```
#[derive(Boxes)]
pub struct Seq<I: 'static, O: 'static> {
    /// Passed through to the running child.
    pub inbox: Inbox<I>,
    /// `ShutdownMicroprocess` stops the sequence.
    pub control: Inbox<Control>,
    /// The running child's output.
    pub outbox: Outbox<O>,
    /// `ProducerFinished` after the last child (or the shutdown received).
    pub signal: Outbox<Control>,
    steps: Vec<Step<Self>>,
}

/// Installs and activates one child of a sequence.
type Step<S> = Box<dyn FnOnce(&S) -> Result<(), ComponentError>>;

impl<I: 'static, O: 'static> Default for Seq<I, O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I: 'static, O: 'static> Seq<I, O> {
    /// An empty sequence.
    pub fn new() -> Self {
        Seq {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            steps: Vec::new(),
        }
    }

    /// Appends a child. Its own end (`signal`) is its business; the sequence moves on when it
    /// exits.
    #[allow(clippy::should_implement_trait)]
    pub fn then<C>(mut self, child: C) -> Self
    where
        C: Stage + Component,
        C: Stage<In = I>,
        C: Stage<Out = O>,
    {
        self.steps.push(Box::new(move |seq: &Self| {
            unpass_inbox(&seq.inbox);
            if let Some(inbox) = child.stage_inbox() {
                pass_inbox(&seq.inbox, inbox)?;
            }
            if let Some(outbox) = child.stage_outbox() {
                pass_outbox(outbox, &seq.outbox)?;
            }
            let activate: Activator = super::activator(child);
            activate();
            Ok(())
        }));
        self
    }
}

impl<I: 'static, O: 'static> Component for Seq<I, O> {
    async fn main(mut self) -> Result<(), ComponentError> {
        let steps = std::mem::take(&mut self.steps);
        let children = crate::children();
        for step in steps {
            step(&self)?;
            let mut stop = None;
            tokio::select! {
                () = children.all_done() => {}
                message = self.control.recv() => {
                    if matches!(message, Control::ShutdownMicroprocess) {
                        stop = Some(message);
                    }
                }
            }
            if let Some(message) = stop {
                children.shutdown(std::time::Duration::from_secs(1)).await;
                self.signal.send(message).await?;
                return Ok(());
            }
            children.all_done().await;
        }
        self.signal.send(Control::ProducerFinished).await?;
        Ok(())
    }
}
