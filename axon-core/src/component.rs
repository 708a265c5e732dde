//! The component trait.

use crate::error::ComponentError;
use crate::registry::Boxes;
use std::borrow::Cow;
use std::future::Future;

/// A component: a value owning its typed boxes and state, with an `async fn main`. Every `.await`
/// is where Axon's generator yielded; returning from `main` is exit.
///
/// ```
/// use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox};
///
/// #[derive(Boxes, Default)]
/// struct Echo {
///     inbox: Inbox<String>,
///     control: Inbox<Control>,
///     outbox: Outbox<String>,
///     signal: Outbox<Control>,
/// }
///
/// impl Component for Echo {
///     async fn main(mut self) -> Result<(), ComponentError> {
///         while let Some(line) = self.inbox_or_finished().await {
///             self.outbox.send(line).await?;
///         }
///         self.signal.send(Control::ProducerFinished).await?;
///         Ok(())
///     }
/// }
/// ```
pub trait Component: Boxes + Sized + 'static {
    /// The component's body. Runs once, when the component is activated.
    fn main(self) -> impl Future<Output = Result<(), ComponentError>> + 'static;

    /// The name shown in traces, errors and the topology snapshot. Defaults to the type name
    /// without its module path.
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(short_type_name(std::any::type_name::<Self>()))
    }
}

/// `a::b::Echo<c::D>` → `Echo<c::D>`.
pub(crate) fn short_type_name(full: &'static str) -> &'static str {
    let end = full.find('<').unwrap_or(full.len());
    match full[..end].rfind("::") {
        Some(i) => &full[i + 2..],
        None => full,
    }
}
