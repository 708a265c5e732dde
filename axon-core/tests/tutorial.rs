//! The code of docs/tutorial.md, compiled and run so the tutorial stays true.

use axon_core::components::{Collect, DataSource};
use axon_core::{
    Boxes, Component, ComponentError, Control, Inbox, LinkError, Outbox, Scheduler, link,
};

fn number_lines(lines: impl Iterator<Item = String>) -> Vec<String> {
    lines
        .enumerate()
        .map(|(i, l)| format!("{:>4} {l}", i + 1))
        .collect()
}

/// Numbers each line it receives.
#[derive(Boxes, Default)]
struct NumberLines {
    /// Lines to number.
    inbox: Inbox<String>,
    /// `ProducerFinished` when no more lines will come.
    control: Inbox<Control>,
    /// Numbered lines.
    outbox: Outbox<String>,
    /// Passes `ProducerFinished` on.
    signal: Outbox<Control>,
    count: usize,
}

impl Component for NumberLines {
    async fn main(mut self) -> Result<(), ComponentError> {
        while let Some(line) = self.inbox_or_finished().await {
            self.count += 1;
            self.outbox
                .send(format!("{:>4} {line}", self.count))
                .await?;
        }
        self.signal.send(Control::ProducerFinished).await?;
        Ok(())
    }
}

#[derive(Boxes, Default)]
struct Echo {
    inbox: Inbox<String>,
    control: Inbox<Control>,
    outbox: Outbox<String>,
    signal: Outbox<Control>,
}

impl Component for Echo {
    async fn main(mut self) -> Result<(), ComponentError> {
        while let Some(data) = self.inbox_or_finished().await {
            self.outbox.send(data).await?;
        }
        self.signal.send(Control::ProducerFinished).await?;
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_component_does_what_the_plain_loop_does() {
    let input = ["to be".to_string(), "or not".to_string()];
    let source = DataSource::new(input.clone());
    let number = NumberLines::default();
    let echo = Echo::default();
    let (sink, lines) = Collect::new();

    link(&source.outbox, &number.inbox).unwrap();
    link(&source.signal, &number.control).unwrap();
    link(&number.outbox, &echo.inbox).unwrap();
    link(&number.signal, &echo.control).unwrap();
    link(&echo.outbox, &sink.inbox).unwrap();
    link(&echo.signal, &sink.control).unwrap();

    let scheduler = Scheduler::new();
    scheduler.activate(source);
    scheduler.activate(number);
    scheduler.activate(echo);
    scheduler.activate(sink);
    scheduler.run().await;

    let got = lines.take();
    assert_eq!(got, ["   1 to be", "   2 or not"]);
    assert_eq!(got, number_lines(input.into_iter()));
}

#[tokio::test(flavor = "current_thread")]
async fn linking_by_name_reports_both_types() {
    let scheduler = Scheduler::new();
    let a = scheduler.activate(DataSource::new(0..3u32));
    let b = scheduler.activate(NumberLines::default());
    let err = axon_core::link_named((&a, "outbox"), (&b, "inbox")).unwrap_err();
    assert!(matches!(err, LinkError::TypeMismatch { .. }));
    let text = err.to_string();
    assert!(text.contains("u32") && text.contains("String"), "{text}");
    scheduler.shutdown();
}
