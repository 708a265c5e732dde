//! The component trait.

use crate::erased::Boxes;
use crate::error::ComponentError;
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
#[doc(alias = "microprocess")]
pub trait Component: Boxes + Sized + 'static {
    /// The component's body. Runs once, when the component is activated.
    fn main(self) -> impl Future<Output = Result<(), ComponentError>> + 'static;

    /// The name shown in traces, errors and the topology snapshot. Defaults to the type name
    /// without its module path (shortened only when shown, so activation pays nothing for it).
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(std::any::type_name::<Self>())
    }
}

/// A component's name as stored by the scheduler: a type name is shortened when displayed.
#[derive(Clone, Debug)]
pub(crate) enum ComponentName {
    TypeName(&'static str),
    Given(Cow<'static, str>),
}

impl ComponentName {
    pub(crate) fn of<C: Component>(component: &C) -> Self {
        match component.name() {
            Cow::Borrowed(s) if s == std::any::type_name::<C>() => ComponentName::TypeName(s),
            other => ComponentName::Given(other),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            ComponentName::TypeName(s) => short_type_name(s),
            ComponentName::Given(s) => s,
        }
    }
}

impl std::fmt::Display for ComponentName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `a::b::Echo<c::D>` → `Echo<c::D>`.
#[inline(never)]
pub(crate) fn short_type_name(full: &'static str) -> &'static str {
    let end = full.find('<').unwrap_or(full.len());
    match full[..end].rfind("::") {
        Some(i) => &full[i + 2..],
        None => full,
    }
}

/// A component seen as a pipeline stage: its standard boxes, typed. `#[derive(Boxes)]`
/// implements it from the `inbox`, `control`, `outbox` and `signal` fields; a component without
/// an `inbox` (a source) has `In = ()`, one without an `outbox` (a sink) has `Out = ()`.
///
/// [`Pipeline`](crate::Pipeline) uses it to link stages with their types checked at compile time.
pub trait Stage: crate::Boxes {
    /// What the stage's `inbox` carries.
    type In: 'static;
    /// What the stage's `outbox` carries.
    type Out: 'static;
    /// The `inbox`, if the stage has one.
    fn stage_inbox(&self) -> Option<&crate::Inbox<Self::In>>;
    /// The `control` inbox, if the stage has one.
    fn stage_control(&self) -> Option<&crate::Inbox<crate::Control>>;
    /// The `outbox`, if the stage has one.
    fn stage_outbox(&self) -> Option<&crate::Outbox<Self::Out>>;
    /// The `signal` outbox, if the stage has one.
    fn stage_signal(&self) -> Option<&crate::Outbox<crate::Control>>;
}
