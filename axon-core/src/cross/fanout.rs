//! `CrossFanout`: one stream to a consumer on each of several cores.

use super::CrossInbox;
use crate::{Boxes, Component, ComponentError, Control, Inbox, Next, Outbox};

/// Sends every value to each of its [`CrossInbox`] targets (typically one per core) in order,
/// then forwards the control message that ends the stream to each of them and on `signal`.
/// A value crosses to each core once: for `bytes::Bytes` (or anything behind an `Arc`) the
/// clone is a reference-count increment, and the consumer on each core fans it out further to
/// its own components without another copy. A target whose consumer has gone is dropped.
///
/// Backpressure: a value waits until every target has room (the slowest core sets the pace),
/// as a [`Splitter`](crate::components::Splitter) does for local sinks.
#[derive(Boxes)]
pub struct CrossFanout<T: Clone + Send + 'static> {
    /// Values to send to every core.
    pub inbox: Inbox<T>,
    /// `ProducerFinished` (or `ShutdownMicroprocess`) ends it, after passing it on.
    pub control: Inbox<Control>,
    /// The control message that ended it.
    pub signal: Outbox<Control>,
    targets: Vec<CrossInbox<T>>,
}

impl<T: Clone + Send + 'static> CrossFanout<T> {
    /// A fan-out to `targets`.
    pub fn new(targets: Vec<CrossInbox<T>>) -> Self {
        CrossFanout {
            inbox: Inbox::new(),
            control: Inbox::new(),
            signal: Outbox::new(),
            targets,
        }
    }
}

impl<T: Clone + Send + 'static> Component for CrossFanout<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        loop {
            match self.inbox.next_or_control(&mut self.control).await {
                Next::Data(value) => {
                    let mut gone = Vec::new();
                    for (i, target) in self.targets.iter().enumerate() {
                        if target.send(value.clone()).await.is_err() {
                            gone.push(i);
                        }
                    }
                    for i in gone.into_iter().rev() {
                        self.targets.remove(i);
                    }
                }
                Next::Control(message) => {
                    for target in &self.targets {
                        let _ = target.send_control(message.clone()).await;
                    }
                    let _ = self.signal.send(message).await;
                    return Ok(());
                }
            }
        }
    }
}
