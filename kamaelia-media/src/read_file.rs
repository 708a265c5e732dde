//! `ReadFile`: a file as a stream of chunks, optionally at a constant bitrate.

use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox};
use bytes::Bytes;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// The most bitrate mode reads in one tick (1 MiB: about 80 Mbit/s at 10 ticks a second).
const MAX_TICK_READ: usize = 1 << 20;

/// How [`ReadFile`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    /// Chunks of this many bytes, as fast as the consumer takes them.
    Chunked {
        /// Bytes per chunk (at least 1).
        chunk_size: usize,
    },
    /// A constant rate: `bits_per_second`, delivered in `chunks_per_second` chunks a second.
    /// The schedule is computed from the start time, so rounding never accumulates into drift.
    Bitrate {
        /// Bits per second (at least 8).
        bits_per_second: u64,
        /// Chunks per second (at least 1).
        chunks_per_second: u32,
    },
}

/// Reads a file onto `outbox` and sends `ProducerFinished` at its end (or starts again, when
/// looping). A file that cannot be opened or read is reported as `Control::Failed` on `signal`.
/// `ShutdownMicroprocess` on `control` stops it.
#[derive(Boxes)]
#[doc(alias = "ReadFileAdaptor")]
pub struct ReadFile {
    /// `ShutdownMicroprocess` stops reading.
    pub control: Inbox<Control>,
    /// The file's bytes.
    pub outbox: Outbox<Bytes>,
    /// `ProducerFinished` at the end; `Failed` when the file cannot be read.
    pub signal: Outbox<Control>,
    path: PathBuf,
    mode: ReadMode,
    looping: bool,
}

impl ReadFile {
    /// Reads `path` in 64 KiB chunks.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ReadFile {
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            path: path.into(),
            mode: ReadMode::Chunked {
                chunk_size: 64 * 1024,
            },
            looping: false,
        }
    }

    /// Reads in `mode`.
    pub fn mode(mut self, mode: ReadMode) -> Self {
        self.mode = mode;
        self
    }

    /// Reads at `bits_per_second` in 10 chunks a second.
    pub fn bitrate(self, bits_per_second: u64) -> Self {
        self.mode(ReadMode::Bitrate {
            bits_per_second,
            chunks_per_second: 10,
        })
    }

    /// Starts again from the beginning at the end of the file, forever.
    pub fn looping(mut self, looping: bool) -> Self {
        self.looping = looping;
        self
    }
}

impl Component for ReadFile {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut file = match tokio::fs::File::open(&self.path).await {
            Ok(f) => f,
            Err(e) => {
                return self
                    .fail(format!("cannot open {}: {e}", self.path.display()))
                    .await;
            }
        };
        let start = tokio::time::Instant::now();
        let mut sent: u64 = 0;
        let mut tick: u64 = 0;
        let mut buffer = Vec::new();
        loop {
            // How much to read now, and when.
            let want = match self.mode {
                ReadMode::Chunked { chunk_size } => chunk_size.max(1),
                ReadMode::Bitrate {
                    bits_per_second,
                    chunks_per_second,
                } => {
                    let (bps, cps) = (bits_per_second.max(8), u64::from(chunks_per_second.max(1)));
                    tick += 1;
                    let due_at = start + Duration::from_nanos(tick * 1_000_000_000 / cps);
                    tokio::select! {
                        biased;
                        message = self.control.recv() => {
                            self.signal.send(message).await?;
                            return Ok(());
                        }
                        () = tokio::time::sleep_until(due_at) => {}
                    }
                    // Bytes due by this tick, from the start: no rounding carried forward.
                    let due = bps * tick / cps / 8;
                    // At most MAX_TICK_READ per tick (a huge bit rate must not mean a huge
                    // buffer); anything more is caught up on the next ticks.
                    ((due - sent.min(due)) as usize).min(MAX_TICK_READ)
                }
            };
            if let Some(message) = self.control.try_recv() {
                self.signal.send(message).await?;
                return Ok(());
            }
            if want == 0 {
                continue;
            }
            buffer.resize(want, 0);
            let mut filled = 0;
            while filled < want {
                match file.read(&mut buffer[filled..]).await {
                    Ok(0) if self.looping && filled == 0 && sent == 0 => {
                        return self.fail(format!("{} is empty", self.path.display())).await;
                    }
                    Ok(0) if self.looping => {
                        file.seek(std::io::SeekFrom::Start(0)).await?;
                    }
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) => {
                        return self
                            .fail(format!("cannot read {}: {e}", self.path.display()))
                            .await;
                    }
                }
            }
            if filled > 0 {
                self.outbox
                    .send(Bytes::copy_from_slice(&buffer[..filled]))
                    .await?;
                sent += filled as u64;
            }
            if filled < want {
                self.signal.send(Control::ProducerFinished).await?;
                return Ok(());
            }
        }
    }
}

impl ReadFile {
    async fn fail(&self, why: String) -> Result<(), ComponentError> {
        self.signal.send(Control::failed("ReadFile", why)).await?;
        Ok(())
    }
}
