//! Runnable examples for Kamaelia for Rust. Each example is a binary target of this crate with
//! its own documented command line; this library holds only what several of them share.
#![forbid(unsafe_code)]

pub mod radio;

use axon_core::components::map;
use axon_core::{
    Boxes, Component, ComponentError, ComponentHandle, Control, Inbox, InboxRef, Outbox, Pipeline,
    Scheduler, pass_outbox, pipeline,
};
use bytes::Bytes;
use kamaelia_codec::{DecodeNotice, OggPage, OggPageReader, OggPager, PageEvent};
use kamaelia_media::{AudioClock, DEFAULT_BURST, OggPacer, ReadFile};
use kamaelia_net::LiveChunk;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Runs `scheduler` on a current-thread runtime until every component has finished, or Ctrl-C
/// is pressed or `SIGTERM` arrives (then everything is shut down cleanly, the same way for
/// both). Returns whether it was interrupted.
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
            () = stop_requested() => {
                scheduler.shutdown();
                Ok(true)
            }
        }
    })
}

/// `--cores N` (default: every CPU this process may use) and `--spread reuseport|acceptor`
/// (default reuseport): how many schedulers a server runs on, and how its connections are
/// spread over them (see [`kamaelia_net::serve_on_cores`]).
pub fn cores_flags(args: &[String]) -> Result<(usize, kamaelia_net::Spread), String> {
    let cores = match flag::<usize>(args, "--cores")? {
        Some(0) => return Err("--cores must be at least 1".into()),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    Ok((cores, flag(args, "--spread")?.unwrap_or_default()))
}

/// Runs a system on `count` cores (one scheduler per thread, see [`axon_core::Cores`]) until
/// every core is empty, or until Ctrl-C or SIGTERM, which shuts every core down. `build` sets
/// it up through the cores' handle; `--introspect ADDR` starts the live view on core 0.
/// Returns whether it was stopped by a signal.
pub fn run_on_cores_until_ctrl_c<F, Fut>(
    args: &[String],
    count: usize,
    build: F,
) -> Result<bool, String>
where
    F: FnOnce(axon_core::CoresHandle) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let cores = axon_core::Cores::with_count(count)
        .map_err(|e| format!("cannot start {count} cores: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let view_args = args.to_vec();
        cores
            .on(0, move |scheduler| introspect(&view_args, scheduler))
            .await
            .map_err(|e| e.to_string())??;
        build(cores.handle()).await?;
        tokio::select! {
            () = cores.wait() => Ok(false),
            () = stop_requested() => {
                cores.shutdown();
                cores.wait().await;
                Ok(true)
            }
        }
    })
}

/// The required `--group ADDR:PORT`, which must be a multicast address.
pub fn multicast_group(args: &[String]) -> Result<std::net::SocketAddrV4, String> {
    let group: std::net::SocketAddrV4 =
        flag(args, "--group")?.ok_or("--group ADDR:PORT is required")?;
    if !group.ip().is_multicast() {
        return Err(format!("{} is not a multicast address", group.ip()));
    }
    Ok(group)
}

/// `--introspect ADDR` on a server example: the live view of the running system
/// (`kamaelia_net::Introspector`) at `http://ADDR/`, announced on stderr. With it a program runs
/// until stopped, since the view itself never finishes.
pub fn introspect(args: &[String], scheduler: &Scheduler) -> Result<(), String> {
    let Some(addr) = flag::<std::net::SocketAddr>(args, "--introspect")? else {
        return Ok(());
    };
    let view = kamaelia_net::Introspector::bind(addr)
        .map_err(|e| format!("cannot serve the live view on {addr}: {e}"))?;
    eprintln!("live view at http://{}/", view.local_addr());
    scheduler.activate(view);
    Ok(())
}

/// Ctrl-C (SIGINT) or, on Unix, SIGTERM (what `kill`, systemd and container runtimes send).
pub async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
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

/// How long an example server keeps a connection on which no byte moves either way: a client
/// that stops reading (or a forgotten telnet) is freed after this. `--idle-timeout SECS`
/// changes it; `--idle-timeout 0` turns it off.
pub const DEFAULT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The idle timeout asked for with `--idle-timeout SECS` (default [`DEFAULT_IDLE_TIMEOUT`];
/// 0: never).
pub fn idle_timeout(args: &[String]) -> Result<Option<std::time::Duration>, String> {
    Ok(match flag::<u64>(args, "--idle-timeout")? {
        None => Some(DEFAULT_IDLE_TIMEOUT),
        Some(0) => None,
        Some(secs) => Some(std::time::Duration::from_secs(secs)),
    })
}

/// Where every example program begins: returns the command line, after printing the usage and
/// exiting 0 when it asks for `--help` or `-h`; and sends warnings (skipped damage, failed
/// components) and connection events (one line per connection joined, closed, dropped or
/// refused) to stderr. `KAMAELIA_LOG=error|warn|info|debug|trace` changes the level (`error`
/// also silences connection events).
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
    // Connection events (one line each: joined, closed, dropped, refused…) are shown unless
    // the level asked for is quieter than INFO's opposite, i.e. always but at ERROR.
    let connections = if level == tracing::Level::ERROR {
        tracing::Level::ERROR
    } else {
        level.max(tracing::Level::INFO)
    };
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(level)
        .with_target(kamaelia_net::CONNECTION_LOG, connections);
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .without_time(),
        )
        .with(filter)
        .try_init();
    args
}

/// Prints `message` and the usage on stderr, then exits with status 2.
pub fn usage_error(message: &str, usage: &str) -> ! {
    eprintln!("error: {message}\nusage: {usage}");
    std::process::exit(2);
}

/// How a file is sent live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// Each Ogg page when its audio is due (its granule position): real time whatever the
    /// codec's bit rate does. The default for any Ogg file whose audio we can time.
    AudioTime,
    /// A constant number of bits a second (`--bitrate`): for bytes of a format we cannot time.
    Bitrate(u64),
}

/// How to send `file`: at `bitrate` when one is given (any Ogg file), else by audio time when
/// its audio can be timed (Ogg Vorbis, Opus, FLAC or Speex).
pub fn pacing(file: &Path, bitrate: Option<u64>) -> Result<Pacing, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    if !bytes.starts_with(b"OggS") {
        return Err(format!("{} is not an Ogg file", file.display()));
    }
    match bitrate {
        Some(0) => Err("--bitrate must be above 0".into()),
        Some(bitrate) => Ok(Pacing::Bitrate(bitrate.max(8))),
        None if audio_duration(&bytes) > Duration::ZERO => Ok(Pacing::AudioTime),
        None => Err(format!(
            "cannot time the audio of {} (not Ogg Vorbis, Opus, FLAC or Speex): give --bitrate",
            file.display()
        )),
    }
}

/// How long the audio in an Ogg file plays, by its granule positions (zero when it cannot be
/// timed).
pub fn audio_duration(bytes: &[u8]) -> Duration {
    let mut reader = OggPageReader::new();
    reader.push(bytes);
    let mut clock = AudioClock::new();
    while let Some(event) = reader.next_event() {
        if let PageEvent::Page(page) = event {
            clock.due(&page);
        }
    }
    clock.elapsed()
}

/// `file` as marked Ogg pages sent live: paced by `pacing`, `lead` ahead of real time (at most
/// 5 s), each pass a new chain link when `looping`, the header pages repeated every
/// `repeat_headers` pages when asked (for multicast).
pub fn ogg_source(
    file: &Path,
    pacing: Pacing,
    looping: bool,
    lead: Duration,
    repeat_headers: Option<usize>,
) -> Result<Pipeline<(), OggPage>, String> {
    let mut pager = OggPager::new().unique_serials();
    if let Some(every) = repeat_headers {
        pager = pager.repeat_headers(every);
    }
    let built = match pacing {
        Pacing::AudioTime => pipeline!(
            ReadFile::new(file).looping(looping),
            pager,
            OggPacer::new().lead(lead)
        ),
        Pacing::Bitrate(bits) => {
            pipeline!(ReadFile::new(file).bitrate(bits).looping(looping), pager)
        }
    };
    built.map_err(|e| e.to_string())
}

/// The protocol for one connection: the file from its start at its own pace (the first 2 s at
/// once, for a quick start), then the end.
#[derive(Boxes)]
pub struct StreamFile {
    /// What the client sends (ignored: the stream is on demand from its start).
    pub inbox: Inbox<Bytes>,
    /// The client's end of stream.
    pub control: Inbox<Control>,
    /// The file's bytes, at its pace.
    pub outbox: Outbox<Bytes>,
    /// `ProducerFinished` at the end of the file.
    pub signal: Outbox<Control>,
    file: PathBuf,
    pacing: Pacing,
}

impl StreamFile {
    /// Streams `file` paced by `pacing`.
    pub fn new(file: PathBuf, pacing: Pacing) -> Self {
        StreamFile {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            file,
            pacing,
        }
    }
}

impl Component for StreamFile {
    async fn main(self) -> Result<(), ComponentError> {
        match self.pacing {
            Pacing::AudioTime => {
                let pages = ogg_source(&self.file, self.pacing, false, DEFAULT_BURST, None)
                    .map_err(ComponentError::msg)?;
                let source = pipeline!(pages, map(OggPage::into_bytes))?;
                pass_outbox(&source.outbox, &self.outbox)?;
                pass_outbox(&source.signal, &self.signal)?;
                axon_core::activate(source);
            }
            Pacing::Bitrate(bits) => {
                let reader = ReadFile::new(&self.file).bitrate(bits);
                pass_outbox(&reader.outbox, &self.outbox)?;
                pass_outbox(&reader.signal, &self.signal)?;
                axon_core::activate(reader);
            }
        }
        axon_core::children().all_done().await;
        let _ = (&self.inbox, &self.control);
        Ok(())
    }
}

/// An Ogg page as a chunk of a live stream: header pages are the header every listener gets
/// first, pages that begin a packet are where a listener may join.
pub fn live_chunk(page: OggPage) -> LiveChunk {
    LiveChunk::from(page)
}

/// The line a client prints at the end — `RATE Hz, CHANNELS channel(s), FRAMES frames` — from
/// the last format its decoder announced; `None` when no audio arrived.
pub fn decoded_summary(notices: &[DecodeNotice], frames: u64) -> Option<String> {
    decoded_line(notices, frames)
}

/// A Vorbis decoder with its notices collected and its frames counted: what the decoding
/// clients share. Link `decode`'s input, put `decode` then `count` in the chain, activate
/// `notice_sink`, and read `notices` and `frames` at the end.
#[allow(missing_debug_implementations)] // a bundle of components, taken apart at once
pub struct CountedDecode {
    /// The decoder.
    pub decode: kamaelia_codec::VorbisDecode,
    /// Collects the decoder's notices (end it with `ProducerFinished` on its control).
    pub notice_sink: axon_core::components::Collect<DecodeNotice>,
    /// The notices, once collected.
    pub notices: axon_core::components::Collected<DecodeNotice>,
    /// Passes PCM blocks on, counting their frames.
    pub count: axon_core::components::Map<kamaelia_codec::PcmBlock, kamaelia_codec::PcmBlock>,
    /// Frames decoded so far.
    pub frames: std::rc::Rc<std::cell::Cell<u64>>,
}

impl CountedDecode {
    /// A fresh decoder, notice collector and counter, linked.
    pub fn new() -> Self {
        let decode = kamaelia_codec::VorbisDecode::default();
        let (notice_sink, notices) = axon_core::components::Collect::new();
        axon_core::link(&decode.notices, &notice_sink.inbox).expect("fresh boxes");
        let frames = std::rc::Rc::new(std::cell::Cell::new(0u64));
        let counted = frames.clone();
        let count = map(move |block: kamaelia_codec::PcmBlock| {
            counted.set(counted.get() + block.frames() as u64);
            block
        });
        CountedDecode {
            decode,
            notice_sink,
            notices,
            count,
            frames,
        }
    }
}

impl Default for CountedDecode {
    fn default() -> Self {
        Self::new()
    }
}

/// How a decoding client ends: the failure that stopped it on stderr (exit 1); else the
/// summary line on stdout (exit 0), or "no Vorbis audio arrived from SOURCE" (exit 1).
pub fn finish_decoding(
    program: &str,
    source: &str,
    ending: &[Control],
    notices: &[DecodeNotice],
    frames: u64,
) -> ! {
    if let Some(Control::Failed(info)) = ending.first() {
        eprintln!("{program}: {}", info.message);
        std::process::exit(1);
    }
    match decoded_line(notices, frames) {
        Some(summary) => {
            println!("{summary}");
            std::process::exit(0)
        }
        None => {
            eprintln!("{program}: no Vorbis audio arrived from {source}");
            std::process::exit(1);
        }
    }
}

fn decoded_line(notices: &[DecodeNotice], frames: u64) -> Option<String> {
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

#[doc(hidden)]
pub mod tutorial;

/// The Rust blocks of the project's README, compiled (and run, unless marked `no_run`) as doc
/// tests, so the snippets a reader copies cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeSnippets;

/// The Rust blocks of docs/tutorial.md, compiled (and run, unless marked `no_run`) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/tutorial.md")]
pub struct TutorialSnippets;
