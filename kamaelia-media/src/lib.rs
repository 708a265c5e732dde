//! Files, clocks and audio devices as Kamaelia components.
//!
//! - [`ReadFile`]: a file in chunks, as fast as the consumer takes them, or at a constant
//!   bitrate (the paper's `ReadFileAdaptor(readmode="bitrate")`) paced by tokio's clock without
//!   drift; optionally looping.
//! - [`WavWriter`]: PCM blocks to WAV files (a new file for each change of format).
//!
//! - [`AudioPlayback`]: PCM to the default audio output (cpal, behind the `playback` feature;
//!   without it, or without a device, it says so clearly and stops).
#![forbid(unsafe_code)]

mod playback;
mod read_file;
mod wav;

pub use playback::{AudioPlayback, PLAYBACK_AVAILABLE, probe_output};
pub use read_file::{ReadFile, ReadMode};
pub use wav::{WavWriter, wav_header};
