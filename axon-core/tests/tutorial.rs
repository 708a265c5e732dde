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

#[test]
fn chapter_8_pipelines() -> Result<(), Box<dyn std::error::Error>> {
    use axon_core::components::map;
    use axon_core::pipeline;
    let (sink, lines) = Collect::new();
    let numbered = pipeline!(
        DataSource::new(["to be".to_string(), "or not".to_string()]),
        NumberLines::default(),
        map(|s: String| s.to_uppercase()),
        sink,
    )?;
    axon_core::run(numbered)?;
    assert_eq!(lines.take(), ["   1 TO BE", "   2 OR NOT"]);
    Ok(())
}

#[test]
fn chapter_9_graphlines() -> Result<(), Box<dyn std::error::Error>> {
    use axon_core::Graphline;
    use axon_core::components::map;
    let graph = Graphline::<u32, String>::builder()
        .child("double", map(|n: u32| n * 2))
        .child("text", map(|n: u32| n.to_string()))
        .link(("self", "inbox"), ("double", "inbox"))
        .link(("double", "outbox"), ("text", "inbox"))
        .link(("double", "signal"), ("text", "control"))
        .link(("text", "outbox"), ("self", "outbox"))
        .build()?;
    let (sink, out) = Collect::new();
    let system = axon_core::pipeline!(DataSource::new([1u32, 5]), graph, sink)?;
    axon_core::run(system)?;
    assert_eq!(out.take(), ["2", "10"]);
    Ok(())
}

/// Plain logic: no boxes, no async, trivially unit-testable.
#[derive(Default)]
struct WordCounter {
    counts: std::collections::BTreeMap<String, usize>,
}

impl WordCounter {
    fn add_line(&mut self, line: &str) {
        for word in line.split_whitespace() {
            *self.counts.entry(word.to_lowercase()).or_default() += 1;
        }
    }
    fn report(&self) -> Vec<String> {
        self.counts
            .iter()
            .map(|(w, n)| format!("{w} {n}"))
            .collect()
    }
}

#[derive(Boxes, Default)]
struct CountWords {
    inbox: Inbox<String>,
    control: Inbox<Control>,
    outbox: Outbox<String>,
    signal: Outbox<Control>,
    counter: WordCounter,
}

impl Component for CountWords {
    async fn main(mut self) -> Result<(), ComponentError> {
        while let Some(line) = self.inbox_or_finished().await {
            self.counter.add_line(&line);
        }
        for line in self.counter.report() {
            self.outbox.send(line).await?;
        }
        self.signal.send(Control::ProducerFinished).await?;
        Ok(())
    }
}

#[test]
fn chapter_10_the_plain_type_alone() {
    let mut counter = WordCounter::default();
    counter.add_line("To be or not to be");
    assert_eq!(counter.report(), ["be 2", "not 1", "or 1", "to 2"]);
}

#[tokio::test(start_paused = true)]
async fn chapter_11_counts_words() -> Result<(), LinkError> {
    use axon_core::testkit::TestKit;
    use std::time::Duration;
    let mut outcome = TestKit::new(CountWords::default())
        .deliver_all(
            Duration::ZERO,
            "inbox",
            ["a b".to_string(), "b".to_string()],
        )?
        .control(Duration::from_secs(1), Control::ProducerFinished)?
        .collect::<String>("outbox")?
        .run_for(Duration::from_secs(5))
        .await;
    assert_eq!(outcome.take::<String>("outbox"), ["a 1", "b 2"]);
    Ok(())
}
