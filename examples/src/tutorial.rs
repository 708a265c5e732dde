//! The components docs/tutorial.md defines in its early sections, for the doc tests of its later
//! sections (which bring them in with a hidden `use`). Keep them as the tutorial shows them.

use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox};

/// Numbers each line it receives (tutorial §2).
#[derive(Boxes, Default)]
pub struct NumberLines {
    /// Lines to number.
    pub inbox: Inbox<String>,
    /// `ProducerFinished` when no more lines will come.
    pub control: Inbox<Control>,
    /// Numbered lines.
    pub outbox: Outbox<String>,
    /// Passes `ProducerFinished` on.
    pub signal: Outbox<Control>,
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

/// Passes strings on unchanged (tutorial §3).
#[derive(Boxes, Default)]
pub struct Echo {
    /// Strings.
    pub inbox: Inbox<String>,
    /// `ProducerFinished` ends it.
    pub control: Inbox<Control>,
    /// The same strings.
    pub outbox: Outbox<String>,
    /// Passes the end on.
    pub signal: Outbox<Control>,
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

/// Counts words, reporting at the end (tutorial §10).
#[derive(Boxes, Default)]
pub struct CountWords {
    /// Lines.
    pub inbox: Inbox<String>,
    /// `ProducerFinished` ends it.
    pub control: Inbox<Control>,
    /// `word count` lines, sorted.
    pub outbox: Outbox<String>,
    /// Passes the end on.
    pub signal: Outbox<Control>,
    counts: std::collections::BTreeMap<String, usize>,
}

impl Component for CountWords {
    async fn main(mut self) -> Result<(), ComponentError> {
        while let Some(line) = self.inbox_or_finished().await {
            for word in line.split_whitespace() {
                *self.counts.entry(word.to_lowercase()).or_default() += 1;
            }
        }
        for (word, n) in &self.counts {
            self.outbox.send(format!("{word} {n}")).await?;
        }
        self.signal.send(Control::ProducerFinished).await?;
        Ok(())
    }
}
