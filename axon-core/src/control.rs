//! Control messages: what travels on `control` inboxes and `signal` outboxes.

use serde::Serialize;
use std::fmt;

/// A control message, sent on a component's `signal` outbox and received on `control` inboxes.
///
/// The convention every shipped component follows (and [`Inbox::recv_or_finished`] implements):
/// on `ProducerFinished`, drain `inbox`, send `ProducerFinished` on `signal`, return; on
/// `ShutdownMicroprocess`, stop now.
///
/// [`Inbox::recv_or_finished`]: crate::Inbox::recv_or_finished
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Control {
    /// The producer upstream has sent everything it will send.
    ProducerFinished,
    /// Stop now; messages still queued may go undelivered (they are counted, never silently lost).
    ShutdownMicroprocess,
    /// The component upstream failed (panicked or returned an error); sent by the scheduler on the
    /// failed component's `signal` link. Boxed so `Control` stays two words: it travels in
    /// every data loop's hot path.
    Failed(Box<FailureInfo>),
}

impl Control {
    /// True for every message after which no more data will arrive.
    pub fn ends_stream(&self) -> bool {
        matches!(
            self,
            Control::ProducerFinished | Control::ShutdownMicroprocess | Control::Failed(_)
        )
    }
}

/// What the scheduler knows about a failed component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FailureInfo {
    /// The component's name.
    pub component: String,
    /// The component's id, as shown in the topology snapshot.
    pub id: String,
    /// The panic message or the error the component returned.
    pub message: String,
}

impl FailureInfo {
    /// A failure report from code outside the scheduler (a component telling its consumers why
    /// it stopped): `component` says who, `message` says why; `id` starts empty.
    pub fn new(component: impl Into<String>, message: impl Into<String>) -> Self {
        FailureInfo {
            component: component.into(),
            id: String::new(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FailureInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "component {} ({}) failed: {}",
            self.component, self.id, self.message
        )
    }
}
