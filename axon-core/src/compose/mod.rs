//! Composition: systems built like unix pipelines, nested and rewired at run time.
//!
//! - [`Pipeline`] chains stages outbox→inbox and signal→control, and is itself a stage.
//! - [`Graphline`] wires named children by a table of `(name, box)` pairs.
//! - [`Carousel`] replaces its child on demand; [`Seq`] runs children one after another;
//!   [`Par`] runs a group in parallel.

mod carousel;
mod graphline;
mod par;
mod pipeline;
mod seq;

pub use carousel::{Carousel, DEFAULT_FINISH_TIMEOUT};
pub use graphline::{Graphline, GraphlineBuilder};
pub use par::Par;
pub use pipeline::{Pipeline, PipelineBuilder};
pub use seq::Seq;

use crate::{Component, ComponentHandle};

/// A component not yet activated, boxed so chassis can hold children of different types.
pub(crate) type Activator = Box<dyn FnOnce() -> ComponentHandle>;

pub(crate) fn activator<C: Component>(component: C) -> Activator {
    Box::new(move || crate::activate(component))
}
