//! `Par`: a group run in parallel.

use super::{Activator, activator};
use crate::{Boxes, Component, ComponentError, Control, Inbox, Outbox};

/// Runs a group of components in parallel (occam's PAR) and finishes when all of them have:
/// `ProducerFinished` on `signal` then. `ShutdownMicroprocess` on `control` is passed to every
/// child that is still running.
///
/// ```
/// use axon_core::components::{Collect, DataSource};
/// use axon_core::{Par, Scheduler, link};
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// rt.block_on(async {
///     let (a, b) = (DataSource::new([1, 2]), DataSource::new([3]));
///     let (sink, out) = Collect::new();
///     link(&a.outbox, &sink.inbox).unwrap();
///     link(&b.outbox, &sink.inbox).unwrap();
///     let par = Par::new().with(a).with(b);
///     link(&par.signal, &sink.control).unwrap();
///     let scheduler = Scheduler::new();
///     scheduler.activate(par);
///     scheduler.activate(sink);
///     scheduler.run().await;
///     let mut got = out.take();
///     got.sort();
///     assert_eq!(got, [1, 2, 3]);
/// });
/// ```
#[derive(Boxes, Default)]
pub struct Par {
    /// `ShutdownMicroprocess` stops every child.
    pub control: Inbox<Control>,
    /// `ProducerFinished` once every child is done.
    pub signal: Outbox<Control>,
    children: Vec<Activator>,
}

impl Par {
    /// An empty group.
    pub fn new() -> Self {
        Par::default()
    }

    /// Adds a child.
    pub fn with<C: Component>(mut self, child: C) -> Self {
        self.children.push(activator(child));
        self
    }
}

impl Component for Par {
    async fn main(mut self) -> Result<(), ComponentError> {
        for child in std::mem::take(&mut self.children) {
            child();
        }
        let children = crate::children();
        loop {
            tokio::select! {
                () = children.all_done() => break,
                message = self.control.recv() => {
                    if matches!(message, Control::ShutdownMicroprocess) {
                        children.shutdown(std::time::Duration::from_secs(1)).await;
                        self.signal.send(message).await?;
                        return Ok(());
                    }
                }
            }
        }
        self.signal.send(Control::ProducerFinished).await?;
        Ok(())
    }
}
