//! `Pipeline`: stages chained like a unix pipeline.

use super::{Activator, activator};
use crate::{
    Boxes, Component, ComponentError, Control, Inbox, InboxRef, LinkError, Outbox, OutboxRef,
    Stage, link, pass_inbox, pass_outbox,
};

/// Stages chained outbox→inbox and signal→control. The pipeline's own `inbox` and `control` are
/// passed through to the first stage, the last stage's `outbox` and `signal` surface as the
/// pipeline's own. It is a component (and a [`Stage`]), so pipelines nest; passthrough costs
/// nothing per message.
///
/// Stages whose types do not fit do not compile. Build with [`pipeline!`](crate::pipeline) or
/// [`Pipeline::builder`]:
///
/// ```
/// use axon_core::components::{Collect, DataSource, map};
/// use axon_core::{Scheduler, link, pipeline};
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// rt.block_on(async {
///     let (sink, out) = Collect::new();
///     let numbers = pipeline!(
///         DataSource::new(1..=3u64),
///         map(|n: u64| n * 10),
///         map(|n: u64| format!("#{n}")),
///         sink,
///     )
///     .unwrap();
///     let scheduler = Scheduler::new();
///     scheduler.activate(numbers);
///     scheduler.run().await;
///     assert_eq!(out.take(), ["#10", "#20", "#30"]);
/// });
/// ```
#[derive(Boxes)]
pub struct Pipeline<I: 'static, O: 'static> {
    /// Passed through to the first stage's `inbox`.
    pub inbox: Inbox<I>,
    /// Passed through to the first stage's `control`.
    pub control: Inbox<Control>,
    /// The last stage's `outbox`.
    pub outbox: Outbox<O>,
    /// The last stage's `signal`.
    pub signal: Outbox<Control>,
    stages: Vec<Activator>,
}

/// Collects stages for a [`Pipeline`]; linking errors surface at [`PipelineBuilder::build`].
pub struct PipelineBuilder<I: 'static, O: 'static> {
    first_inbox: Option<InboxRef<I>>,
    first_control: Option<InboxRef<Control>>,
    last_outbox: Option<OutboxRef<O>>,
    last_signal: Option<OutboxRef<Control>>,
    stages: Vec<Activator>,
    error: Option<LinkError>,
}

impl<I: 'static, O: 'static> std::fmt::Debug for PipelineBuilder<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineBuilder").finish_non_exhaustive()
    }
}

impl<I: 'static, O: 'static> Pipeline<I, O> {
    /// Starts a pipeline with its first stage.
    pub fn builder<S: Stage<In = I, Out = O> + Component>(first: S) -> PipelineBuilder<I, O> {
        PipelineBuilder {
            first_inbox: first.stage_inbox().map(Inbox::to_ref),
            first_control: first.stage_control().map(Inbox::to_ref),
            last_outbox: first.stage_outbox().map(Outbox::to_ref),
            last_signal: first.stage_signal().map(Outbox::to_ref),
            stages: vec![activator(first)],
            error: None,
        }
    }

    /// Number of stages.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// True when the pipeline has no stages (never, once built).
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }
}

impl<I: 'static, O: 'static> PipelineBuilder<I, O> {
    /// Appends a stage whose input type is this pipeline's output type.
    #[allow(clippy::should_implement_trait)]
    pub fn then<S: Stage<In = O> + Component>(mut self, next: S) -> PipelineBuilder<I, S::Out> {
        if self.error.is_none() {
            self.error = self.link_to(&next).err();
        }
        let mut stages = self.stages;
        let last_outbox = next.stage_outbox().map(Outbox::to_ref);
        let last_signal = next.stage_signal().map(Outbox::to_ref);
        stages.push(activator(next));
        PipelineBuilder {
            first_inbox: self.first_inbox,
            first_control: self.first_control,
            last_outbox,
            last_signal,
            stages,
            error: self.error,
        }
    }

    fn link_to<S: Stage<In = O>>(&self, next: &S) -> Result<(), LinkError> {
        if let (Some(out), Some(inbox)) = (&self.last_outbox, next.stage_inbox()) {
            link(out, inbox)?;
        }
        if let (Some(signal), Some(control)) = (&self.last_signal, next.stage_control()) {
            link(signal, control)?;
        }
        Ok(())
    }

    /// The pipeline, or the first linking error (a stage whose boxes were already linked).
    pub fn build(self) -> Result<Pipeline<I, O>, LinkError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let pipeline = Pipeline {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            stages: self.stages,
        };
        if let Some(first) = &self.first_inbox {
            pass_inbox(&pipeline.inbox, first)?;
        }
        if let Some(first) = &self.first_control {
            pass_inbox(&pipeline.control, first)?;
        }
        if let Some(last) = &self.last_outbox {
            pass_outbox(last, &pipeline.outbox)?;
        }
        if let Some(last) = &self.last_signal {
            pass_outbox(last, &pipeline.signal)?;
        }
        Ok(pipeline)
    }
}

impl<I: 'static, O: 'static> Component for Pipeline<I, O> {
    async fn main(self) -> Result<(), ComponentError> {
        for stage in self.stages {
            stage();
        }
        crate::children().all_done().await;
        Ok(())
    }
}

/// Chains components into a [`Pipeline`]: `pipeline!(a, b, c)` links `a`'s outbox to `b`'s inbox
/// and `a`'s signal to `b`'s control, and so on. Returns `Result<Pipeline<_, _>, LinkError>`.
/// Stages whose types do not fit do not compile.
#[macro_export]
macro_rules! pipeline {
    ($first:expr $(, $rest:expr)* $(,)?) => {
        $crate::Pipeline::builder($first)$(.then($rest))*.build()
    };
}
