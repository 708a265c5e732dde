//! Runnable examples for Kamaelia for Rust. Each example is a binary target of this crate with
//! its own documented command line; this library holds only what several of them share.
#![forbid(unsafe_code)]

use axon_core::{
    Boxes, Component, ComponentError, ComponentHandle, Control, Inbox, InboxRef, Outbox, Scheduler,
    pass_outbox,
};
use bytes::Bytes;
use kamaelia_codec::{DecodeNotice, OggDemuxer, OggEvent, OggPage};
use kamaelia_media::ReadFile;
use kamaelia_net::{ChunkKind, LiveChunk};
use std::path::{Path, PathBuf};

/// Runs `scheduler` on a current-thread runtime until every component has finished or Ctrl-C
/// is pressed (then everything is shut down cleanly). Returns whether it was interrupted.
pub fn run_until_ctrl_c(
    build: impl FnOnce(&Scheduler) -> Result<(), String>,
) -> Result<bool, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let scheduler = Scheduler::new();
        build(&scheduler)?;
        tokio::select! {
            () = scheduler.run() => Ok(false),
            _ = tokio::signal::ctrl_c() => {
                scheduler.shutdown();
                Ok(true)
            }
        }
    })
}

/// Runs `scheduler` until `main` has finished, then ends the `collectors` (components gathering
/// results, which would otherwise wait forever) with `ProducerFinished`, so `run` returns.
/// Checks every 10 ms rather than spinning.
pub async fn run_until_finished(
    scheduler: &Scheduler,
    main: &ComponentHandle,
    collectors: &[InboxRef<Control>],
) {
    let stop = async {
        while main.is_running() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        for collector in collectors {
            let _ = collector.send(Control::ProducerFinished).await;
        }
    };
    tokio::join!(scheduler.run(), stop);
}

/// The value after `flag` in the command line, parsed; `Ok(None)` when the flag is absent.
pub fn flag<T: std::str::FromStr>(args: &[String], flag: &str) -> Result<Option<T>, String> {
    match args.iter().position(|a| a == flag) {
        None => Ok(None),
        Some(i) => {
            let value = args
                .get(i + 1)
                .ok_or_else(|| format!("{flag} needs a value"))?;
            value
                .parse()
                .map(Some)
                .map_err(|_| format!("{flag}: cannot understand {value:?}"))
        }
    }
}

/// Where every example program begins: returns the command line, after printing the usage and
/// exiting 0 when it asks for `--help` or `-h`; and sends warnings (skipped damage, failed
/// components) to stderr. `KAMAELIA_LOG=error|warn|info|debug|trace` changes the level.
pub fn args_or_help(usage: &str) -> Vec<String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: {usage}");
        std::process::exit(0);
    }
    let level = std::env::var("KAMAELIA_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::WARN);
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
    args
}

/// Prints `message` and the usage on stderr, then exits with status 2.
pub fn usage_error(message: &str, usage: &str) -> ! {
    eprintln!("error: {message}\nusage: {usage}");
    std::process::exit(2);
}

/// The protocol for one connection: the file at a constant bit rate, then the end.
#[derive(Boxes)]
pub struct StreamFile {
    /// What the client sends (ignored: the stream is on demand from its start).
    pub inbox: Inbox<Bytes>,
    /// The client's end of stream.
    pub control: Inbox<Control>,
    /// The file's bytes, at the bit rate.
    pub outbox: Outbox<Bytes>,
    /// `ProducerFinished` at the end of the file.
    pub signal: Outbox<Control>,
    file: PathBuf,
    bitrate: u64,
}

impl StreamFile {
    /// Streams `file` at `bitrate` bits per second.
    pub fn new(file: PathBuf, bitrate: u64) -> Self {
        StreamFile {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            file,
            bitrate,
        }
    }
}

impl Component for StreamFile {
    async fn main(self) -> Result<(), ComponentError> {
        let reader = ReadFile::new(&self.file).bitrate(self.bitrate);
        pass_outbox(&reader.outbox, &self.outbox)?;
        pass_outbox(&reader.signal, &self.signal)?;
        axon_core::activate(reader);
        axon_core::children().all_done().await;
        let _ = (&self.inbox, &self.control);
        Ok(())
    }
}

/// Rate, channels, bit rate and duration of an Ogg Vorbis or Ogg Opus file, from its first
/// and last packets (the bit rate is Vorbis's nominal one when it states it, else size over
/// duration). `None` for anything else.
pub fn describe(bytes: &[u8]) -> Option<(u32, u16, u64, f64)> {
    let mut demuxer = OggDemuxer::new();
    demuxer.push(bytes);
    // The first Vorbis or Opus stream (a file may begin with another, such as Skeleton).
    let (mut ident, mut serial, mut last_granule) = (None, None, 0i64);
    while let Some(event) = demuxer.next_event() {
        if let OggEvent::Packet(p) = event {
            let audio = p.data.starts_with(b"\x01vorbis") || p.data.starts_with(b"OpusHead");
            if serial.is_none() && p.bos && audio {
                (ident, serial) = (Some(p.data.clone()), Some(p.serial));
            }
            if serial == Some(p.serial) {
                last_granule = last_granule.max(p.granule);
            }
        }
    }
    let first = ident?;
    // (sample rate, channels, nominal bit rate, granule positions per second)
    let (rate, channels, nominal, granule_rate) =
        if first.starts_with(b"\x01vorbis") && first.len() >= 24 {
            let rate = u32::from_le_bytes(first[12..16].try_into().ok()?);
            let nominal = i32::from_le_bytes(first[20..24].try_into().ok()?);
            (
                rate,
                u16::from(first[11]),
                u64::try_from(nominal).ok(),
                rate,
            )
        } else if first.starts_with(b"OpusHead") && first.len() >= 16 {
            // Opus plays at 48 kHz and its granule positions count 48 kHz samples.
            (48_000, u16::from(first[9]), None, 48_000)
        } else {
            return None;
        };
    let seconds = last_granule.max(0) as f64 / f64::from(granule_rate.max(1));
    let bitrate = match nominal {
        Some(n) if n > 0 => n,
        _ => (bytes.len() as f64 * 8.0 / seconds.max(0.01)) as u64,
    };
    Some((rate, channels, bitrate, seconds))
}

/// The bit rate to stream `file` at: `given` if there is one (any Ogg file will do), else the
/// rate `describe` finds for an Ogg Vorbis or Opus file.
pub fn stream_bitrate(file: &Path, given: Option<u64>) -> Result<u64, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    if !bytes.starts_with(b"OggS") {
        return Err(format!("{} is not an Ogg file", file.display()));
    }
    match (given, describe(&bytes)) {
        (Some(0), _) => Err("--bitrate must be above 0".into()),
        (Some(bitrate), _) => Ok(bitrate),
        (None, Some((_, _, bitrate, _))) => Ok(bitrate.max(8)),
        (None, None) => Err(format!(
            "cannot tell the bit rate of {} (not Ogg Vorbis or Opus): give --bitrate",
            file.display()
        )),
    }
}

/// An Ogg page as a chunk of a live stream: header pages are the header every listener gets
/// first, pages that begin a packet are where a listener may join.
pub fn live_chunk(page: OggPage) -> LiveChunk {
    let kind = if page.is_header() {
        ChunkKind::Header
    } else if page.is_join_point() {
        ChunkKind::JoinPoint
    } else {
        ChunkKind::Continuation
    };
    LiveChunk {
        bytes: page.into_bytes(),
        kind,
    }
}

/// The line a client prints at the end — `RATE Hz, CHANNELS channel(s), FRAMES frames` — from
/// the last format its decoder announced; `None` when no audio arrived.
pub fn decoded_summary(notices: &[DecodeNotice], frames: u64) -> Option<String> {
    let (rate, channels) = notices.iter().rev().find_map(|n| match n {
        DecodeNotice::Format {
            sample_rate,
            channels,
            ..
        } => Some((*sample_rate, *channels)),
        _ => None,
    })?;
    (frames > 0).then(|| format!("{rate} Hz, {channels} channel(s), {frames} frames"))
}
