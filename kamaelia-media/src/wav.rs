//! `WavWriter`: PCM blocks to WAV files.

use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Next, Outbox};
use kamaelia_codec::{PcmBlock, PcmSamples};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};

/// A 44-byte header for 16-bit PCM WAV with `frames` frames.
pub fn wav_header(sample_rate: u32, channels: u16, frames: u32) -> [u8; 44] {
    let data = frames.saturating_mul(u32::from(channels) * 2);
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data.saturating_add(36).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&sample_rate.to_le_bytes());
    h[28..32].copy_from_slice(&(sample_rate * u32::from(channels) * 2).to_le_bytes());
    h[32..34].copy_from_slice(&(channels * 2).to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

/// Writes PCM blocks as 16-bit WAV. A change of format (a chained stream's next link) starts a
/// new file: `OUT.wav`, then `OUT-2.wav`, `OUT-3.wav` … — one file per link, nothing resampled.
/// On `ProducerFinished` the headers are completed and `(path, sample rate, channels, frames)` of
/// every file written goes out on `written`, then `ProducerFinished` on `signal`. A file that
/// cannot be written is reported as `Failed` on `signal`.
#[derive(Boxes)]
pub struct WavWriter {
    /// Audio.
    pub inbox: Inbox<PcmBlock>,
    /// `ProducerFinished` completes the files.
    pub control: Inbox<Control>,
    /// What was written: `(path, sample rate, channels, frames)` per file.
    pub written: Outbox<(PathBuf, u32, u16, u64)>,
    /// The end, or why writing failed.
    pub signal: Outbox<Control>,
    path: PathBuf,
}

impl WavWriter {
    /// Writes to `path` (and numbered siblings for later formats).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        WavWriter {
            inbox: Inbox::new(),
            control: Inbox::new(),
            written: Outbox::new(),
            signal: Outbox::new(),
            path: path.into(),
        }
    }
}

fn numbered(path: &Path, n: usize) -> PathBuf {
    if n == 1 {
        return path.to_path_buf();
    }
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("out");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("wav");
    path.with_file_name(format!("{stem}-{n}.{ext}"))
}

struct Open {
    file: BufWriter<tokio::fs::File>,
    path: PathBuf,
    rate: u32,
    channels: u16,
    frames: u64,
}

impl Open {
    async fn finish(mut self) -> std::io::Result<(PathBuf, u32, u16, u64)> {
        self.file.flush().await?;
        let mut file = self.file.into_inner();
        file.seek(std::io::SeekFrom::Start(0)).await?;
        let frames = u32::try_from(self.frames).unwrap_or(u32::MAX);
        file.write_all(&wav_header(self.rate, self.channels, frames))
            .await?;
        file.flush().await?;
        Ok((self.path, self.rate, self.channels, self.frames))
    }
}

impl Component for WavWriter {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut open: Option<Open> = None;
        let mut files = 0;
        let mut done = Vec::new();
        let result: std::io::Result<Control> = async {
            loop {
                match self.inbox.next_or_control(&mut self.control).await {
                    Next::Data(block) => {
                        let same = open.as_ref().is_some_and(|o| {
                            o.rate == block.sample_rate && o.channels == block.channels
                        });
                        if !same {
                            if let Some(o) = open.take() {
                                done.push(o.finish().await?);
                            }
                            files += 1;
                            let path = numbered(&self.path, files);
                            let mut file = BufWriter::new(tokio::fs::File::create(&path).await?);
                            file.write_all(&wav_header(block.sample_rate, block.channels, 0))
                                .await?;
                            open = Some(Open {
                                file,
                                path,
                                rate: block.sample_rate,
                                channels: block.channels,
                                frames: 0,
                            });
                        }
                        let o = open.as_mut().expect("opened above");
                        let bytes: Vec<u8> = match &block.samples {
                            PcmSamples::I16(s) => s.iter().flat_map(|v| v.to_le_bytes()).collect(),
                            PcmSamples::F32(s) => s
                                .iter()
                                .flat_map(|v| {
                                    ((v.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes()
                                })
                                .collect(),
                        };
                        o.file.write_all(&bytes).await?;
                        o.frames += block.frames() as u64;
                    }
                    Next::Control(message) => return Ok(message),
                }
            }
        }
        .await;
        match result {
            Ok(message) => {
                if let Some(o) = open.take() {
                    done.push(o.finish().await?);
                }
                for file in done {
                    // A report, not data: nobody linked to `written` means nobody asked.
                    if self.written.is_linked() {
                        self.written.send(file).await?;
                    } else {
                        tracing::debug!(file = ?file, "WAV file written");
                    }
                }
                self.signal.send(message).await?;
            }
            Err(e) => {
                let why = format!("cannot write {}: {e}", self.path.display());
                let error = std::io::Error::new(e.kind(), why);
                self.signal
                    .send(Control::failed("WavWriter", error))
                    .await?;
            }
        }
        Ok(())
    }
}
