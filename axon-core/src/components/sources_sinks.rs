//! Sources and sinks: DataSource, Collect, NullSink.

use crate::{Boxes, Component, ComponentError, Control, Inbox, Outbox};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

/// Sends every item of an iterator on `outbox`, then `ProducerFinished` on `signal`.
/// Stops early on `ShutdownMicroprocess`.
///
/// ```
/// use axon_core::{Scheduler, link, components::{Collect, DataSource}};
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// rt.block_on(async {
///     let scheduler = Scheduler::new();
///     let source = DataSource::new(1..=3);
///     let (sink, items) = Collect::new();
///     link(&source.outbox, &sink.inbox).unwrap();
///     link(&source.signal, &sink.control).unwrap();
///     scheduler.activate(source);
///     scheduler.activate(sink);
///     scheduler.run().await;
///     assert_eq!(items.take(), vec![1, 2, 3]);
/// });
/// ```
#[derive(Boxes)]
pub struct DataSource<I: Iterator + 'static> {
    /// Shutdown requests.
    pub control: Inbox<Control>,
    /// The items, in order.
    pub outbox: Outbox<I::Item>,
    /// `ProducerFinished` after the last item.
    pub signal: Outbox<Control>,
    items: I,
}

impl<I: Iterator + 'static> DataSource<I> {
    /// A source of `items`.
    pub fn new(items: impl IntoIterator<IntoIter = I>) -> Self {
        DataSource {
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            items: items.into_iter(),
        }
    }
}

impl<I: Iterator + 'static> Component for DataSource<I> {
    async fn main(mut self) -> Result<(), ComponentError> {
        for item in self.items.by_ref() {
            if let Some(Control::ShutdownMicroprocess) = self.control.try_recv() {
                self.signal.send(Control::ShutdownMicroprocess).await?;
                return Ok(());
            }
            self.outbox.send(item).await?;
        }
        self.signal.send(Control::ProducerFinished).await?;
        Ok(())
    }
}

/// Collects everything that arrives on `inbox` until the producer finishes; read the result
/// through the [`Collected`] handle. Meant for tests and examples.
#[derive(Boxes)]
pub struct Collect<T: 'static> {
    /// Values to collect.
    pub inbox: Inbox<T>,
    /// `ProducerFinished` ends collection.
    pub control: Inbox<Control>,
    /// Forwards the control message that ended collection.
    pub signal: Outbox<Control>,
    items: Collected<T>,
}

/// The values a [`Collect`] has gathered so far. `Send` when `T` is, so a collector built on
/// one core (see [`Cores`](crate::Cores)) can be read from another thread.
pub struct Collected<T> {
    items: Arc<Mutex<Vec<T>>>,
}

impl<T> std::fmt::Debug for Collected<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collected")
            .field("len", &self.len())
            .finish()
    }
}

impl<T> Clone for Collected<T> {
    fn clone(&self) -> Self {
        Collected {
            items: self.items.clone(),
        }
    }
}

impl<T> Collected<T> {
    /// Takes what has been collected so far.
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.lock())
    }
    /// How many values have been collected so far.
    pub fn len(&self) -> usize {
        self.lock().len()
    }
    /// True when nothing has been collected.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<T>> {
        // A panic elsewhere while pushing leaves a valid Vec.
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T: 'static> Collect<T> {
    /// A collector and the handle to read what it collects.
    pub fn new() -> (Self, Collected<T>) {
        let items = Collected {
            items: Arc::new(Mutex::new(Vec::new())),
        };
        (
            Collect {
                inbox: Inbox::new(),
                control: Inbox::new(),
                signal: Outbox::new(),
                items: items.clone(),
            },
            items,
        )
    }
}

impl<T: 'static> Component for Collect<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        loop {
            match self.inbox.next_or_control(&mut self.control).await {
                crate::Next::Data(v) => self.items.lock().push(v),
                crate::Next::Control(c) => {
                    let _ = self.signal.try_send(c);
                    return Ok(());
                }
            }
        }
    }
}

/// Discards what arrives on `inbox`, on purpose, and counts it (so nothing vanishes unseen).
#[derive(Boxes)]
pub struct NullSink<T: 'static> {
    /// Values to discard.
    pub inbox: Inbox<T>,
    /// `ProducerFinished` or `ShutdownMicroprocess` ends it.
    pub control: Inbox<Control>,
    discarded: Rc<std::cell::Cell<u64>>,
}

impl<T: 'static> Default for NullSink<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static> NullSink<T> {
    /// A sink that discards.
    pub fn new() -> Self {
        NullSink {
            inbox: Inbox::new(),
            control: Inbox::new(),
            discarded: Rc::default(),
        }
    }

    /// A handle to the number of values discarded so far.
    pub fn counter(&self) -> Rc<std::cell::Cell<u64>> {
        self.discarded.clone()
    }
}

impl<T: 'static> Component for NullSink<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        while let Some(value) = self.inbox_or_finished().await {
            drop(value);
            self.discarded.set(self.discarded.get() + 1);
        }
        Ok(())
    }
}
