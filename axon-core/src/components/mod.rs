//! Small components every Kamaelia user reaches for.
//!
//! | component | does |
//! |---|---|
//! | [`DataSource`] | an iterator → `outbox`, then `ProducerFinished` |
//! | [`Collect`] | `inbox` → a `Vec` you can read (tests, examples) |
//! | [`NullSink`] | explicit discard, counted |
//! | [`map`] / [`Map`] | a closure applied to each value (Kamaelia's PureTransformer) |
//! | [`filter`] / [`Filter`] | keeps values a predicate accepts |
//! | [`Detuple`] | `(A, B)` → `B` |
//! | [`Splitter`] | fan-out to sinks added and removed at run time |
//! | `ConsoleReader` / `ConsoleEchoer` (feature `console`) | stdin lines → `outbox`; `inbox` → stdout |
//! | `UnixProcess` (feature `process`) | a subprocess: `inbox` → its stdin, its stdout → `outbox`, exit status → `status` |

#[cfg(feature = "console")]
mod console;
#[cfg(feature = "process")]
mod process;
mod sources_sinks;
mod splitter;
mod transform;

#[cfg(feature = "console")]
pub use console::{ConsoleEchoer, ConsoleReader};
#[cfg(feature = "process")]
pub use process::UnixProcess;
pub use sources_sinks::{Collect, Collected, DataSource, NullSink};
pub use splitter::Splitter;
pub use transform::{Detuple, Filter, Map, filter, map};
