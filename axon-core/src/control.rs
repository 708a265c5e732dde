//! Control messages: what travels on `control` inboxes and `signal` outboxes.

use std::fmt;

/// A control message, sent on a component's `signal` outbox and received on `control` inboxes.
///
/// The convention every shipped component follows (and [`Inbox::recv_or_finished`] implements):
/// on `ProducerFinished`, drain `inbox`, send `ProducerFinished` on `signal`, return; on
/// `ShutdownMicroprocess`, stop now.
///
/// [`Inbox::recv_or_finished`]: crate::Inbox::recv_or_finished
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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
    /// `Failed`, from a component telling its consumers why it stopped: `error` may be an error
    /// (kept, with its cause chain: [`FailureInfo::cause`]) or a plain message.
    ///
    /// ```
    /// use axon_core::Control;
    /// let stop = Control::failed("Deframer", "a frame's length prefix exceeds the maximum");
    /// let Control::Failed(info) = &stop else { unreachable!() };
    /// assert_eq!(info.component, "Deframer");
    /// let io = Control::failed("TcpConnection", std::io::Error::other("reset"));
    /// let Control::Failed(info) = &io else { unreachable!() };
    /// assert!(info.cause().unwrap().downcast_ref::<std::io::Error>().is_some());
    /// ```
    pub fn failed(
        component: impl Into<String>,
        error: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Control {
        Control::Failed(Box::new(FailureInfo::from_error(component, error)))
    }

    /// True for every message after which no more data will arrive.
    pub fn ends_stream(&self) -> bool {
        matches!(
            self,
            Control::ProducerFinished | Control::ShutdownMicroprocess | Control::Failed(_)
        )
    }
}

/// What is known about a failed component: who, and why — as a message, and (when there is
/// one) the error itself, so its cause chain survives the trip down the `signal` links.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct FailureInfo {
    /// The component's name.
    pub component: String,
    /// The component's id, as shown in the topology snapshot.
    pub id: String,
    /// The panic message or the error the component returned.
    pub message: String,
    #[cfg_attr(feature = "serde", serde(skip))]
    cause: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl FailureInfo {
    /// A failure report from code outside the scheduler (a component telling its consumers why
    /// it stopped): `component` says who, `message` says why; `id` starts empty.
    pub fn new(component: impl Into<String>, message: impl Into<String>) -> Self {
        FailureInfo {
            component: component.into(),
            id: String::new(),
            message: message.into(),
            cause: None,
        }
    }

    /// A failure report carrying `error` itself; the message is its `Display`.
    pub fn from_error(
        component: impl Into<String>,
        error: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        let error: Box<dyn std::error::Error + Send + Sync> = error.into();
        FailureInfo {
            component: component.into(),
            id: String::new(),
            message: error.to_string(),
            cause: Some(error.into()),
        }
    }

    /// The error itself, when the failure carried one (with its `source()` chain).
    pub fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.cause.as_deref()
    }

    pub(crate) fn with_id(mut self, id: String) -> Self {
        self.id = id;
        self
    }
}

/// Two reports are equal when they say the same (who, which, why); the error objects are not
/// compared.
impl PartialEq for FailureInfo {
    fn eq(&self, other: &Self) -> bool {
        (&self.component, &self.id, &self.message) == (&other.component, &other.id, &other.message)
    }
}

impl Eq for FailureInfo {}

impl fmt::Display for FailureInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "component {} ({}) failed: {}",
            self.component, self.id, self.message
        )
    }
}
