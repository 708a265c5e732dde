//! Files, clocks and audio devices as Kamaelia components.
//!
//! An Ogg Vorbis file to WAV, as a pipeline (one WAV per chained link):
//!
//! ```
//! use axon_core::pipeline;
//! use kamaelia_codec::VorbisDecode;
//! use kamaelia_media::{ReadFile, WavWriter};
//!
//! let input = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/chained_stereo_mono.ogg");
//! let output = std::env::temp_dir().join(format!("kamaelia-media-doc-{}.wav", std::process::id()));
//! let convert = pipeline!(ReadFile::new(input), VorbisDecode::default(), WavWriter::new(&output))?;
//! axon_core::run(convert)?;
//! assert_eq!(std::fs::metadata(&output)?.len(), 44 + 44_100 * 2 * 2); // 1 s of 16-bit stereo
//! # let _ = std::fs::remove_file(&output);
//! # let _ = std::fs::remove_file(output.with_file_name(format!("kamaelia-media-doc-{}-2.wav", std::process::id())));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`ReadFile`]: a file in chunks, as fast as the consumer takes them, or at a constant
//!   bitrate (the paper's `ReadFileAdaptor(readmode="bitrate")`) paced by tokio's clock without
//!   drift, for bytes of a format that cannot be timed; optionally looping. Media is paced by
//!   audio time instead ([`OggPacer`]).
//! - [`OggPacer`]: Ogg pages released when their audio is due (granule positions), so VBR,
//!   chained and looping files stream at real time; [`paced_ogg_file`] composes it with
//!   `ReadFile` and the pager. [`AudioClock`] is its clock on its own.
//! - [`WavWriter`]: PCM blocks to WAV files (a new file for each change of format).
//!
//! - [`AudioPlayback`]: PCM to the default audio output (cpal, behind the `playback` feature;
//!   without it, or without a device, it says so clearly and stops).
#![forbid(unsafe_code)]

mod pacer;
mod playback;
mod read_file;
mod wav;

pub use pacer::{AudioClock, OggPacer, paced_ogg_file};
pub use playback::{AudioPlayback, PLAYBACK_AVAILABLE, probe_output};
pub use read_file::{ReadFile, ReadMode};
pub use wav::{WavWriter, wav_header};

/// The lead a listener gets by default for a fast start: this much audio at once, then real
/// time. Servers use it for their per-listener burst.
pub const DEFAULT_BURST: std::time::Duration = std::time::Duration::from_secs(2);

/// The most lead any pacer or burst allows: a bounded, fixed lead — never a growing one.
pub const MAX_BURST: std::time::Duration = std::time::Duration::from_secs(5);
