//! Errors of box operations, linkages and components.

use std::fmt;

/// A send that could not complete; the value is handed back, never lost.
#[derive(PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError<T> {
    /// The destination's owner has exited.
    Closed(T),
}

impl<T> SendError<T> {
    /// The value that was not delivered.
    pub fn into_inner(self) -> T {
        match self {
            SendError::Closed(v) => v,
        }
    }
}

/// A `try_send` that could not complete now; the value is handed back.
#[derive(PartialEq, Eq)]
#[non_exhaustive]
pub enum TrySendError<T> {
    /// The destination (or, on an unlinked outbox, the hold queue) is at capacity.
    Full(T),
    /// The destination's owner has exited.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The value that was not delivered.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) => v,
        }
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closed(..)")
    }
}
impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the destination inbox is closed (its component exited)")
    }
}
impl<T> std::error::Error for SendError<T> {}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}
impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("the destination inbox is full"),
            TrySendError::Closed(_) => {
                f.write_str("the destination inbox is closed (its component exited)")
            }
        }
    }
}
impl<T> std::error::Error for TrySendError<T> {}

/// One end of a linkage, as named in errors: component name, id and box name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The owning component's name and id, or `(not activated)`.
    pub component: Box<str>,
    /// The box name.
    pub box_name: Box<str>,
}

impl Endpoint {
    pub(crate) fn new(component: impl Into<Box<str>>, box_name: impl Into<Box<str>>) -> Self {
        Endpoint {
            component: component.into(),
            box_name: box_name.into(),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {:?})", self.component, self.box_name)
    }
}

/// Why a linkage could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkError {
    /// The component is not (or no longer) running in this scheduler.
    NoSuchComponent {
        /// The component asked for.
        component: Box<str>,
    },
    /// The component has no box of that name and direction.
    NoSuchBox {
        /// The end that was asked for.
        endpoint: Endpoint,
        /// The boxes it does have.
        available: Box<[String]>,
    },
    /// The two boxes carry different types.
    TypeMismatch {
        /// The sending end.
        from: Endpoint,
        /// The type it carries.
        from_type: &'static str,
        /// The receiving end.
        to: Endpoint,
        /// The type it carries.
        to_type: &'static str,
    },
    /// The source is already linked (fan-out from one box is not allowed: use a Splitter).
    AlreadyLinked {
        /// The source of the new link.
        from: Endpoint,
        /// Where it is linked now.
        existing: Endpoint,
    },
    /// A passthrough link must join a parent's box to its own child's box (inbox→inbox runs
    /// parent→child, outbox→outbox runs child→parent), and no link may form a loop.
    WrongHierarchy {
        /// The source.
        from: Endpoint,
        /// The destination.
        to: Endpoint,
        /// What was wrong.
        reason: &'static str,
    },
    /// The operation needs a running scheduler on this thread, and there is none.
    NoScheduler {
        /// What needed it, and where to call it instead.
        what: &'static str,
    },
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::NoSuchComponent { component } => {
                write!(f, "no such component: {component}")
            }
            LinkError::NoSuchBox {
                endpoint,
                available,
            } => write!(
                f,
                "no such box {endpoint}; it has: {}",
                available.join(", ")
            ),
            LinkError::TypeMismatch {
                from,
                from_type,
                to,
                to_type,
            } => write!(
                f,
                "type mismatch linking {from} carrying {from_type} to {to} carrying {to_type}"
            ),
            LinkError::AlreadyLinked { from, existing } => write!(
                f,
                "{from} is already linked to {existing}; one outbox feeds one destination \
                 (use a Splitter or a Backplane to fan out)"
            ),
            LinkError::WrongHierarchy { from, to, reason } => {
                write!(f, "cannot link {from} to {to}: {reason}")
            }
            LinkError::NoScheduler { what } => write!(f, "no scheduler on this thread: {what}"),
        }
    }
}

impl std::error::Error for LinkError {}

/// Why a component stopped with an error.
#[derive(Debug)]
#[non_exhaustive]
pub enum ComponentError {
    /// A send found its destination closed (the component there exited).
    Closed,
    /// An I/O error.
    Io(std::io::Error),
    /// Anything else: the error itself, so its cause chain (`source()`) is kept.
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl ComponentError {
    /// An error carrying only a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        ComponentError::Other(message.to_string().into())
    }

    /// An error carrying `error` itself (its message and its `source()` chain).
    ///
    /// ```
    /// use axon_core::ComponentError;
    /// let parse = "x".parse::<u32>().unwrap_err();
    /// let error = ComponentError::new(parse.clone());
    /// assert_eq!(error.to_string(), parse.to_string());
    /// ```
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ComponentError::Other(Box::new(error))
    }
}

impl fmt::Display for ComponentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComponentError::Closed => f.write_str("sent to a closed inbox"),
            ComponentError::Io(e) => write!(f, "I/O error: {e}"),
            ComponentError::Other(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for ComponentError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ComponentError::Io(e) => Some(e),
            // Transparent: the message is the inner error's, so its cause comes next.
            ComponentError::Other(e) => e.source(),
            ComponentError::Closed => None,
        }
    }
}

impl<T> From<SendError<T>> for ComponentError {
    fn from(_: SendError<T>) -> Self {
        ComponentError::Closed
    }
}

impl From<std::io::Error> for ComponentError {
    fn from(e: std::io::Error) -> Self {
        ComponentError::Io(e)
    }
}

impl From<LinkError> for ComponentError {
    fn from(e: LinkError) -> Self {
        ComponentError::Other(Box::new(e))
    }
}
