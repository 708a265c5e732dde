//! `Splitter`: fan-out to sinks added and removed at run time.

use super::transform::until_end;
use crate::{
    Boxes, Component, ComponentError, Control, Fanout, Inbox, InboxRef, Outbox, Policy,
    Subscription,
};

/// Sends a clone of every value to each of its sinks (an outbox feeds one destination, so
/// fan-out is this component's job, as in Axon), through a [`Fanout`] whose sinks all
/// [`Block`](Policy::Block). Sinks are inboxes given on `add_sink` and
/// taken away on `remove_sink`, at any time. For `bytes::Bytes` a clone is a reference-count
/// increment, not a copy. A sink whose owner has exited is dropped from the list.
///
/// Backpressure: each value waits until every sink has room (the slowest sink sets the pace).
#[derive(Boxes)]
pub struct Splitter<T: Clone + 'static> {
    /// Values to fan out.
    pub inbox: Inbox<T>,
    /// `ProducerFinished` ends it after the inbox is drained; forwarded on `signal`.
    pub control: Inbox<Control>,
    /// Inboxes to add as sinks.
    pub add_sink: Inbox<InboxRef<T>>,
    /// Inboxes to remove (matched by identity).
    pub remove_sink: Inbox<InboxRef<T>>,
    /// Also receives every value, if linked (a sink of its own).
    pub outbox: Outbox<T>,
    /// Forwards the end of the stream.
    pub signal: Outbox<Control>,
}

impl<T: Clone + 'static> Default for Splitter<T> {
    fn default() -> Self {
        Splitter {
            inbox: Inbox::new(),
            control: Inbox::new(),
            add_sink: Inbox::new(),
            remove_sink: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
        }
    }
}

impl<T: Clone + 'static> Component for Splitter<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut sinks = Fanout::new();
        let (add, remove, outbox) = (&mut self.add_sink, &mut self.remove_sink, &self.outbox);
        until_end(
            &mut self.inbox,
            &mut self.control,
            &self.signal,
            async |value| {
                // Membership changes apply before the next value.
                while let Some(sink) = add.try_recv() {
                    sinks.subscribe(Subscription::new(sink, Policy::Block));
                }
                while let Some(gone) = remove.try_recv() {
                    sinks.unsubscribe(&gone);
                }
                sinks.publish(value.clone()).await;
                if outbox.is_linked() {
                    outbox.send(value).await?;
                }
                Ok(())
            },
        )
        .await
    }
}
