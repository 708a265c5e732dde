//! A test kit for components, as the paper tested protocols by joining their boxes together:
//! script what arrives on each inbox (data and control, at given times), collect what leaves
//! each outbox, run, assert. Run it under tokio's paused clock
//! (`#[tokio::test(start_paused = true)]`) and scripted times cost no real time.
//!
//! ```
//! use axon_core::components::filter;
//! use axon_core::testkit::TestKit;
//! use axon_core::Control;
//! use std::time::Duration;
//!
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
//! # rt.block_on(async {
//! let mut outcome = TestKit::new(filter(|n: &u32| n % 2 == 0))
//!     .deliver_all(Duration::ZERO, "inbox", [1u32, 2, 3, 4])?
//!     .control(Duration::from_secs(1), Control::ProducerFinished)?
//!     .collect::<u32>("outbox")?
//!     .collect::<Control>("signal")?
//!     .run_for(Duration::from_secs(5))
//!     .await;
//! assert!(outcome.finished());
//! assert_eq!(outcome.take::<u32>("outbox"), [2, 4]);
//! assert_eq!(outcome.take::<Control>("signal"), [Control::ProducerFinished]);
//! # Ok::<(), axon_core::LinkError>(())
//! # }).unwrap();
//! ```

use crate::{
    Boxes, Component, ComponentError, ComponentHandle, Control, Inbox, LinkError, Scheduler, link,
};
use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

type Action = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>>>;

/// A component under test, with its script and collectors.
pub struct TestKit {
    scheduler: Scheduler,
    target: ComponentHandle,
    script: Vec<(Duration, Action)>,
    collectors: Vec<(String, Box<dyn Any>)>,
}

impl std::fmt::Debug for TestKit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestKit").finish_non_exhaustive()
    }
}

/// What a [`TestKit`] run produced.
pub struct Outcome {
    finished: bool,
    collectors: Vec<(String, Box<dyn Any>)>,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outcome").finish_non_exhaustive()
    }
}

impl TestKit {
    /// Puts `component` under test (activated in a scheduler of its own).
    pub fn new<C: Component>(component: C) -> Self {
        let scheduler = Scheduler::new();
        let target = scheduler.activate(component);
        TestKit {
            scheduler,
            target,
            script: Vec::new(),
            collectors: Vec::new(),
        }
    }

    /// Delivers `value` to the inbox named `inbox` at `at` after the run starts.
    pub fn deliver<T: 'static>(
        self,
        at: Duration,
        inbox: &str,
        value: T,
    ) -> Result<Self, LinkError> {
        self.deliver_all(at, inbox, [value])
    }

    /// Delivers `values`, in order, to the inbox named `inbox` at `at`.
    pub fn deliver_all<T: 'static>(
        mut self,
        at: Duration,
        inbox: &str,
        values: impl IntoIterator<Item = T>,
    ) -> Result<Self, LinkError> {
        let destination = self.target.inbox::<T>(inbox)?;
        let values: Vec<T> = values.into_iter().collect();
        self.script.push((
            at,
            Box::new(move || {
                Box::pin(async move {
                    for value in values {
                        // A closed inbox means the component has exited: the script stops
                        // mattering, and `finished()` will say so.
                        let _ = destination.send(value).await;
                    }
                })
            }),
        ));
        Ok(self)
    }

    /// Delivers a control message to the `control` inbox at `at`.
    pub fn control(self, at: Duration, message: Control) -> Result<Self, LinkError> {
        self.deliver(at, "control", message)
    }

    /// Collects everything the component sends on the outbox named `outbox`.
    pub fn collect<T: 'static>(mut self, outbox: &str) -> Result<Self, LinkError> {
        let source = self.target.outbox::<T>(outbox)?;
        let collector: Inbox<T> = Inbox::with_capacity(usize::MAX);
        link(&source, &collector)?;
        self.collectors
            .push((outbox.to_string(), Box::new(collector)));
        Ok(self)
    }

    /// Runs the script and the component until the component exits or `limit` passes (in
    /// tokio time: with a paused clock, instantly), then stops everything.
    pub async fn run_for(mut self, limit: Duration) -> Outcome {
        self.script.sort_by_key(|(at, _)| *at);
        self.scheduler.activate(Script {
            steps: std::mem::take(&mut self.script),
        });
        let target = self.target.clone();
        let scheduler = &self.scheduler;
        let watch = async {
            while target.is_running() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        let _ = tokio::time::timeout(limit, async {
            tokio::select! {
                () = scheduler.run() => {}
                () = watch => {}
            }
        })
        .await;
        let finished = !self.target.is_running();
        self.scheduler.shutdown();
        Outcome {
            finished,
            collectors: self.collectors,
        }
    }
}

impl Outcome {
    /// True when the component exited by itself within the limit.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// What the component sent on `outbox` (which must have been collected as `T`).
    ///
    /// # Panics
    /// If `outbox` was not collected, or was collected as another type: a mistake in the test.
    pub fn take<T: 'static>(&mut self, outbox: &str) -> Vec<T> {
        let (_, collector) = self
            .collectors
            .iter_mut()
            .find(|(name, _)| name == outbox)
            .unwrap_or_else(|| panic!("outbox {outbox:?} was not collected"));
        let inbox = collector
            .downcast_mut::<Inbox<T>>()
            .unwrap_or_else(|| panic!("outbox {outbox:?} was collected as another type"));
        std::iter::from_fn(|| inbox.try_recv()).collect()
    }
}

/// Plays the script: each step at its time.
#[derive(Boxes)]
struct Script {
    steps: Vec<(Duration, Action)>,
}

impl Component for Script {
    async fn main(self) -> Result<(), ComponentError> {
        let start = tokio::time::Instant::now();
        for (at, action) in self.steps {
            tokio::time::sleep_until(start + at).await;
            action().await;
        }
        Ok(())
    }
}
