//! `cargo xtask bench media`: decoding a 30 s Ogg Vorbis file through the components
//! (bytes → VorbisDecode → a sink) against bare lewton on the same bytes, in the same run
//! (overhead target ≤ 5 %), with × real time; ReadFile's real-time rate in bitrate mode; and
//! the pace of a live Ogg stream on the wall clock — audio seconds sent per second — paced by
//! audio time (OggPacer) against the old pacing at the header's nominal bit rate, side by side
//! in one scheduler.
//!
//! The file is `testdata/bench_30s_stereo.ogg` (a copy of what kamaelia-codec's make.sh made), or
//! `$KAMAELIA_BENCH_OGG`. Usage: `media [--json] [--quick]`.

use axon_core::components::{DataSource, NullSink};
use axon_core::{Scheduler, link, pipeline};
use bytes::Bytes;
use kamaelia_codec::{PcmBlock, VorbisDecode};
use kamaelia_media::ReadFile;
use std::time::{Duration, Instant};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

fn components(bytes: &[u8]) -> (Duration, u64) {
    let chunks: Vec<Bytes> = bytes.chunks(4096).map(Bytes::copy_from_slice).collect();
    runtime().block_on(async {
        let sink = NullSink::<PcmBlock>::new();
        let blocks = sink.counter();
        let system = pipeline!(DataSource::new(chunks), VorbisDecode::default(), sink).unwrap();
        let scheduler = Scheduler::new();
        let start = Instant::now();
        scheduler.activate(system);
        scheduler.run().await;
        (start.elapsed(), blocks.get())
    })
}

fn bare_lewton(bytes: &[u8]) -> (Duration, u64) {
    let start = Instant::now();
    let mut reader =
        lewton::inside_ogg::OggStreamReader::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut frames = 0u64;
    while let Some(samples) = reader.read_dec_packet_itl().unwrap() {
        frames += (samples.len() / usize::from(reader.ident_hdr.audio_channels)) as u64;
    }
    (start.elapsed(), frames)
}

/// Bytes after the first chunk, and when the first and the latest chunk arrived.
type Seen = std::rc::Rc<std::cell::Cell<(u64, Option<Instant>, Option<Instant>)>>;

/// Sums the bytes it receives after the first chunk, and when the first and latest arrived.
#[derive(axon_core::Boxes)]
struct CountBytes {
    inbox: axon_core::Inbox<Bytes>,
    seen: Seen,
}

impl axon_core::Component for CountBytes {
    async fn main(mut self) -> Result<(), axon_core::ComponentError> {
        loop {
            let chunk = self.inbox.recv().await;
            let (total, first, _) = self.seen.get();
            let now = Instant::now();
            match first {
                None => self.seen.set((0, Some(now), Some(now))),
                Some(_) => self
                    .seen
                    .set((total + chunk.len() as u64, first, Some(now))),
            }
        }
    }
}

/// ReadFile at 400 kbit/s for `seconds` of real time: the bit rate actually delivered.
fn bitrate_rate(path: &std::path::Path, seconds: u64) -> f64 {
    runtime().block_on(async {
        let reader = ReadFile::new(path).bitrate(400_000).looping(true);
        let seen: Seen = std::rc::Rc::new(std::cell::Cell::new((0u64, None, None)));
        let counter = CountBytes {
            inbox: axon_core::Inbox::new(),
            seen: seen.clone(),
        };
        link(&reader.outbox, &counter.inbox).unwrap();
        let scheduler = Scheduler::new();
        scheduler.activate(reader);
        scheduler.activate(counter);
        tokio::select! {
            () = scheduler.run() => {}
            () = tokio::time::sleep(Duration::from_secs(seconds)) => {}
        }
        scheduler.shutdown();
        // Bytes after the first chunk, over the time from the first chunk to the latest.
        match seen.get() {
            (bytes, Some(first), Some(last)) if last > first => {
                bytes as f64 * 8.0 / (last - first).as_secs_f64()
            }
            _ => 0.0,
        }
    })
}

/// For each page received: when it arrived, and the audio time at which it begins.
type Arrivals = std::rc::Rc<std::cell::RefCell<Vec<(Instant, f64)>>>;

/// Times the pages it receives with an AudioClock, as a listener would see them.
#[derive(axon_core::Boxes)]
struct CountAudio {
    inbox: axon_core::Inbox<kamaelia_codec::OggPage>,
    arrivals: Arrivals,
}

impl axon_core::Component for CountAudio {
    async fn main(mut self) -> Result<(), axon_core::ComponentError> {
        let mut clock = kamaelia_media::AudioClock::new();
        loop {
            let page = self.inbox.recv().await;
            let begins = clock.due(&page).as_secs_f64();
            self.arrivals.borrow_mut().push((Instant::now(), begins));
        }
    }
}

/// Audio seconds per wall-clock second: the least-squares slope of audio time against arrival
/// time over the pages that arrived after `from`.
fn audio_per_second(arrivals: &[(Instant, f64)], from: Instant) -> f64 {
    let points: Vec<(f64, f64)> = arrivals
        .iter()
        .filter(|(at, _)| *at >= from)
        .map(|(at, audio)| ((*at - from).as_secs_f64(), *audio))
        .collect();
    let n = points.len() as f64;
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    sxy / sxx
}

/// The header's nominal bit rate of a Vorbis file.
fn nominal_bitrate(bytes: &[u8]) -> u64 {
    let at = bytes
        .windows(7)
        .position(|w| w == b"\x01vorbis")
        .expect("a Vorbis file");
    let field: [u8; 4] = bytes[at + 20..at + 24].try_into().unwrap();
    u64::from(i32::from_le_bytes(field).max(8) as u32)
}

/// A looping live source paced by audio time, and one paced at the nominal bit rate, run side
/// by side for `seconds`: audio seconds sent per wall-clock second by each (the slope of the
/// audio time pages begin at against when they arrived), from 2 s in to the end.
fn live_pace(path: &std::path::Path, seconds: u64) -> (f64, f64) {
    let nominal = nominal_bitrate(&std::fs::read(path).unwrap());
    runtime().block_on(async {
        let by_audio: Arrivals = Default::default();
        let by_bytes: Arrivals = Default::default();
        let ours = pipeline!(
            kamaelia_media::paced_ogg_file(path, true, Duration::ZERO).unwrap(),
            CountAudio {
                inbox: axon_core::Inbox::new(),
                arrivals: by_audio.clone()
            }
        )
        .unwrap();
        let old = pipeline!(
            ReadFile::new(path).bitrate(nominal).looping(true),
            kamaelia_codec::OggPager::new().unique_serials(),
            CountAudio {
                inbox: axon_core::Inbox::new(),
                arrivals: by_bytes.clone()
            }
        )
        .unwrap();
        let scheduler = Scheduler::new();
        scheduler.activate(ours);
        scheduler.activate(old);
        let from = Instant::now() + Duration::from_secs(2);
        tokio::select! {
            () = scheduler.run() => {}
            () = tokio::time::sleep(Duration::from_secs(seconds.max(4))) => {}
        }
        scheduler.shutdown();
        (
            audio_per_second(&by_audio.borrow(), from),
            audio_per_second(&by_bytes.borrow(), from),
        )
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    let path = std::env::var_os("KAMAELIA_BENCH_OGG")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("testdata/bench_30s_stereo.ogg")
        });
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let repeats = if quick { 3 } else { 9 };
    let (mut ours, mut theirs, mut frames) = (Vec::new(), Vec::new(), 0);
    for _ in 0..repeats {
        ours.push(components(&bytes).0.as_secs_f64());
        let (t, f) = bare_lewton(&bytes);
        theirs.push(t.as_secs_f64());
        frames = f;
    }
    let (ours, theirs) = (median(ours), median(theirs));
    let audio_seconds = frames as f64 / 44_100.0;
    let rate = bitrate_rate(&path, if quick { 3 } else { 10 });
    let (paced, nominal) = live_pace(&path, if quick { 6 } else { 20 });
    let rows = [
        (
            "live-pace",
            "audio-time",
            paced,
            "s/s",
            "nominal-bitrate",
            nominal,
        ),
        (
            "readfile-rate",
            "bitrate-mode",
            rate,
            "bit/s",
            "target",
            400_000.0,
        ),
        (
            "decode-30s",
            "components",
            ours * 1000.0,
            "ms",
            "bare-lewton",
            theirs * 1000.0,
        ),
        (
            "decode-30s",
            "components-x-realtime",
            audio_seconds / ours,
            "x",
            "bare-lewton-x-realtime",
            audio_seconds / theirs,
        ),
    ];
    for (bench, system, value, unit, baseline, base) in rows {
        if json {
            println!(
                "{{\"bench\":\"{bench}\",\"system\":\"{system}\",\"value\":{value:.3},\"unit\":\"{unit}\",\"baseline\":\"{baseline}\",\"baseline_value\":{base:.3},\"ratio\":{:.4}}}",
                value / base
            );
        } else {
            println!(
                "{bench:<12} {system:<24} {value:>10.2} {unit:<3} {baseline:<24} {base:>10.2}   ratio {:.3}",
                value / base
            );
        }
    }
}
