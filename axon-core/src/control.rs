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
    /// The same, saying who finished and, if it likes, a last message (Axon's
    /// `producerFinished(caller, message)`). Every component treats it exactly as
    /// `ProducerFinished`: test with [`Control::is_producer_finished`]. Boxed so `Control` stays
    /// two words.
    ProducerFinishedBy(Box<Finished>),
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

    /// `ProducerFinishedBy`: `sender` finished; `last`, if given, is its final word (any
    /// `Send + Sync` value, read back with [`Finished::last`]).
    ///
    /// ```
    /// use axon_core::Control;
    /// let done = Control::finished_by("Tally", Some(42u64));
    /// assert!(done.is_producer_finished());
    /// let Control::ProducerFinishedBy(finished) = &done else { unreachable!() };
    /// assert_eq!((finished.sender.as_str(), finished.last::<u64>()), ("Tally", Some(&42)));
    /// ```
    pub fn finished_by<M: std::any::Any + Send + Sync>(
        sender: impl Into<String>,
        last: Option<M>,
    ) -> Control {
        Control::ProducerFinishedBy(Box::new(Finished {
            sender: sender.into(),
            last: last
                .map(|m| std::sync::Arc::new(m) as std::sync::Arc<dyn std::any::Any + Send + Sync>),
        }))
    }

    /// True for `ProducerFinished` and `ProducerFinishedBy`: no more data, drain and finish.
    pub fn is_producer_finished(&self) -> bool {
        matches!(
            self,
            Control::ProducerFinished | Control::ProducerFinishedBy(_)
        )
    }

    /// True for every message after which no more data will arrive.
    pub fn ends_stream(&self) -> bool {
        matches!(
            self,
            Control::ProducerFinished
                | Control::ProducerFinishedBy(_)
                | Control::ShutdownMicroprocess
                | Control::Failed(_)
        )
    }
}

/// Who sent a [`Control::ProducerFinishedBy`], and its optional last message.
#[derive(Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Finished {
    /// Who finished (a component's name, or whatever the sender chose).
    pub sender: String,
    #[cfg_attr(feature = "serde", serde(skip))]
    last: Option<std::sync::Arc<dyn std::any::Any + Send + Sync>>,
}

impl Finished {
    /// The last message, if there was one of type `M`.
    pub fn last<M: 'static>(&self) -> Option<&M> {
        self.last.as_deref()?.downcast_ref()
    }

    /// True when a last message came with it.
    pub fn has_last(&self) -> bool {
        self.last.is_some()
    }
}

impl fmt::Debug for Finished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finished")
            .field("sender", &self.sender)
            .field("has_last", &self.last.is_some())
            .finish()
    }
}

/// Equal when from the same sender with the same last message (the same value, by identity).
impl PartialEq for Finished {
    fn eq(&self, other: &Self) -> bool {
        self.sender == other.sender
            && match (&self.last, &other.last) {
                (None, None) => true,
                (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

impl Eq for Finished {}

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
