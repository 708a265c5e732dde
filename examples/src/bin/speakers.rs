//! `speakers PLAY.txt OUTDIR`: the paper's trainee project, as components. Reads a play,
//! filters out headings and stage directions, identifies who speaks each line, and
//! demultiplexes the lines into one file per speaker (`OUTDIR/NAME.txt`). Prints, per speaker,
//! the number of lines written.
//!
//! A speaker's turn starts with the name in capitals followed by `.` or `:`
//! (`HAMLET. To be…`); following lines belong to that speaker until the next name, a blank
//! line or a stage direction.

use axon_core::components::{DataSource, filter};
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, InboxRef, Outbox, pipeline};
use std::collections::BTreeMap;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

/// A line of the play, or the end of a speech (a blank line or a stage direction).
#[derive(Debug, Clone)]
enum Text {
    Line(String),
    Break,
}

/// A stage direction: `[Enter …]` or `(aside)`.
fn is_stage_direction(line: &str) -> bool {
    let trimmed = line.trim_start();
    trimmed.starts_with('[') || trimmed.starts_with('(')
}

fn classify(line: String) -> Text {
    let trimmed = line.trim();
    let heading = (trimmed.to_uppercase() == trimmed && !trimmed.contains(['.', ':']))
        || trimmed.starts_with("SCENE")
        || trimmed.starts_with("ACT ");
    if trimmed.is_empty() || heading {
        Text::Break
    } else {
        Text::Line(trimmed.to_string())
    }
}

/// Splits `NAME. words` / `NAME: words` into the name and the words.
fn speaker_prefix(line: &str) -> Option<(&str, &str)> {
    let end = line.find(['.', ':'])?;
    let name = &line[..end];
    let is_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c == ' ' || c == '\'')
        && name.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    is_name.then(|| (name.trim(), line[end + 1..].trim()))
}

/// Tags each line with its speaker.
#[derive(Boxes, Default)]
struct IdentifySpeakers {
    inbox: Inbox<Text>,
    control: Inbox<Control>,
    outbox: Outbox<(String, String)>,
    signal: Outbox<Control>,
}

impl Component for IdentifySpeakers {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut current: Option<String> = None;
        while let Some(text) = self.inbox_or_finished().await {
            match text {
                Text::Break => current = None,
                Text::Line(line) => {
                    if let Some((name, words)) = speaker_prefix(&line) {
                        current = Some(name.to_string());
                        if !words.is_empty() {
                            self.outbox
                                .send((name.to_string(), words.to_string()))
                                .await?;
                        }
                    } else if let Some(name) = &current {
                        self.outbox.send((name.clone(), line)).await?;
                    }
                }
            }
        }
        self.signal.send(Control::ProducerFinished).await?;
        Ok(())
    }
}

/// Sends each speaker's lines to a writer of their own, made on first sight (children
/// activated at run time).
#[derive(Boxes)]
struct Demultiplex {
    inbox: Inbox<(String, String)>,
    control: Inbox<Control>,
    dir: PathBuf,
}

impl Component for Demultiplex {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut writers: BTreeMap<String, (InboxRef<String>, InboxRef<Control>)> = BTreeMap::new();
        while let Some((speaker, line)) = self.inbox_or_finished().await {
            let (lines, _) = writers.entry(speaker.clone()).or_insert_with(|| {
                let file_name: String = speaker
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                let writer = WriteLines {
                    inbox: Inbox::new(),
                    control: Inbox::new(),
                    path: self.dir.join(format!("{file_name}.txt")),
                    speaker,
                };
                let refs = (writer.inbox.to_ref(), writer.control.to_ref());
                axon_core::activate(writer);
                refs
            });
            lines.send(line).await?;
        }
        for (_, control) in writers.values() {
            control.send(Control::ProducerFinished).await?;
        }
        axon_core::children().all_done().await;
        Ok(())
    }
}

/// Appends lines to one file; reports the count when done.
#[derive(Boxes)]
struct WriteLines {
    inbox: Inbox<String>,
    control: Inbox<Control>,
    path: PathBuf,
    speaker: String,
}

impl Component for WriteLines {
    async fn main(mut self) -> Result<(), ComponentError> {
        let file = tokio::fs::File::create(&self.path).await.map_err(|e| {
            ComponentError::msg(format!("cannot create {}: {e}", self.path.display()))
        })?;
        let mut file = tokio::io::BufWriter::new(file);
        let mut count = 0;
        while let Some(line) = self.inbox_or_finished().await {
            file.write_all(line.as_bytes()).await?;
            file.write_all(b"\n").await?;
            count += 1;
        }
        file.flush().await?;
        println!("{}: {count} lines -> {}", self.speaker, self.path.display());
        Ok(())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [play, dir] = &args[..] else {
        eprintln!("usage: speakers PLAY.txt OUTDIR");
        std::process::exit(2);
    };
    let text = match std::fs::read_to_string(play) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("speakers: cannot read {play}: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("speakers: cannot create {dir}: {e}");
        std::process::exit(1);
    }
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let system = pipeline!(
        DataSource::new(lines),
        filter(|line: &String| !is_stage_direction(line)),
        axon_core::components::map(classify),
        IdentifySpeakers::default(),
        Demultiplex {
            inbox: Inbox::new(),
            control: Inbox::new(),
            dir: PathBuf::from(dir),
        },
    )
    .expect("fresh stages link");
    if let Err(e) = axon_core::run(system) {
        eprintln!("speakers: {e}");
        std::process::exit(1);
    }
}
