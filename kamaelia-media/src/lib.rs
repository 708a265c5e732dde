//! Files, clocks and audio devices as Kamaelia components: ReadFile at a constant bitrate, audio playback, WAV writing.
//!
//! **Not built yet.** This crate will hold ReadFile (chunked and constant-bitrate modes), AudioPlayback (cpal, behind a `playback` feature), WavWriter and NullSink. Nothing in it works yet; see issue 7 of the project.
#![forbid(unsafe_code)]
