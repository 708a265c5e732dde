//! The console as components: stdin lines in, values out to stdout.

use crate::{Boxes, Component, ComponentError, Control, Inbox, Outbox};
use std::fmt::Display;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Reads standard input line by line (without the line ending) onto `outbox`;
/// `ProducerFinished` on `signal` at end of input. `ShutdownMicroprocess` stops it.
#[derive(Boxes, Default)]
pub struct ConsoleReader {
    /// `ShutdownMicroprocess` stops reading.
    pub control: Inbox<Control>,
    /// One value per line.
    pub outbox: Outbox<String>,
    /// `ProducerFinished` at end of input.
    pub signal: Outbox<Control>,
}

impl Component for ConsoleReader {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        loop {
            tokio::select! {
                line = lines.next_line() => match line? {
                    Some(line) => self.outbox.send(line).await?,
                    None => break,
                },
                message = self.control.recv() => {
                    if message.ends_stream() {
                        self.signal.send(message).await?;
                        return Ok(());
                    }
                }
            }
        }
        self.signal.send(Control::ProducerFinished).await?;
        Ok(())
    }
}

/// Writes each value on `inbox` to standard output (each followed by a newline unless made with
/// [`ConsoleEchoer::raw`]). Forwards the end of the stream on `signal`.
#[derive(Boxes)]
pub struct ConsoleEchoer<T: Display + 'static> {
    /// Values to print.
    pub inbox: Inbox<T>,
    /// `ProducerFinished` ends it after the inbox is drained.
    pub control: Inbox<Control>,
    /// Forwards the end of the stream.
    pub signal: Outbox<Control>,
    newline: bool,
}

impl<T: Display + 'static> Default for ConsoleEchoer<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Display + 'static> ConsoleEchoer<T> {
    /// Prints each value on its own line.
    pub fn new() -> Self {
        ConsoleEchoer {
            inbox: Inbox::new(),
            control: Inbox::new(),
            signal: Outbox::new(),
            newline: true,
        }
    }

    /// Prints each value exactly as it formats, adding nothing.
    pub fn raw() -> Self {
        ConsoleEchoer {
            newline: false,
            ..Self::new()
        }
    }
}

impl<T: Display + 'static> Component for ConsoleEchoer<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut stdout = tokio::io::stdout();
        let newline = self.newline;
        super::transform::until_end(
            &mut self.inbox,
            &mut self.control,
            &self.signal,
            async |value| {
                let text = if newline {
                    format!("{value}\n")
                } else {
                    value.to_string()
                };
                stdout.write_all(text.as_bytes()).await?;
                stdout.flush().await?;
                Ok(())
            },
        )
        .await
    }
}
