//! `streaming_demo [--file F] [--bitrate BPS] [--out F.wav] [--seconds N]` — what
//! `cargo xtask demo streaming` runs: the paper's streaming system in one process.
//!
//! Server: a TcpServer whose protocol for each connection sends the file at the audio's own
//! pace (ReadFile → OggPager → OggPacer, the first 2 s at once), or at `--bitrate` if given. Client: TcpClient → VorbisDecode → AudioPlayback (the speakers),
//! or, with no audio device or no ALSA development files, a WAV file (said in one line).
//! A progress line shows elapsed/total time, kbit/s received, how far decoding is ahead of real
//! time (at most the 2 s burst: it does not grow), and a level meter. Ctrl-C or SIGTERM stops
//! it cleanly.

use axon_core::components::map;
use axon_core::{Control, Scheduler, pipeline};
use bytes::Bytes;
use kamaelia_codec::{AudioCodec, PcmBlock, PcmSamples, StreamInfo, VorbisDecode, probe};
use kamaelia_examples::{
    Pacing, StreamFile, args_or_help, flag, pacing, stop_requested, usage_error,
};
use kamaelia_media::{AudioPlayback, WavWriter, probe_output};
use kamaelia_net::{ServerConfig, TcpClient, TcpServer};
use std::cell::Cell;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

const USAGE: &str = "streaming_demo [--file F] [--bitrate BPS] [--out F.wav] [--seconds N]";

#[derive(Default)]
struct Stats {
    bytes: Cell<u64>,
    decoded_seconds: Cell<f64>,
    level: Cell<f32>,
    done: Cell<bool>,
}

fn level(block: &PcmBlock) -> f32 {
    let (sum, n) = match &block.samples {
        PcmSamples::I16(s) => (
            s.iter()
                .map(|&v| (f32::from(v) / 32768.0).powi(2))
                .sum::<f32>(),
            s.len(),
        ),
        PcmSamples::F32(s) => (s.iter().map(|v| v * v).sum::<f32>(), s.len()),
    };
    (sum / n.max(1) as f32).sqrt()
}

fn main() {
    let args = args_or_help(USAGE);
    let default_file = concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo.ogg");
    let parsed = (|| -> Result<_, String> {
        Ok((
            flag::<PathBuf>(&args, "--file")?.unwrap_or_else(|| default_file.into()),
            flag::<u64>(&args, "--bitrate")?,
            flag::<PathBuf>(&args, "--out")?.unwrap_or_else(|| "demo.wav".into()),
            flag::<f64>(&args, "--seconds")?,
        ))
    })();
    let (file, bitrate, out, seconds) = parsed.unwrap_or_else(|e| usage_error(&e, USAGE));
    let bytes = std::fs::read(&file).unwrap_or_else(|e| {
        eprintln!("streaming_demo: cannot read {}: {e}", file.display());
        std::process::exit(1);
    });
    let probed = probe(&bytes).filter(|info| info.codec == AudioCodec::Vorbis);
    let Some(StreamInfo {
        sample_rate: rate,
        channels,
        bitrate: nominal,
        seconds: total,
        ..
    }) = probed
    else {
        eprintln!(
            "streaming_demo: {} is not an Ogg Vorbis file",
            file.display()
        );
        std::process::exit(1);
    };
    let pacing = pacing(&file, bitrate).unwrap_or_else(|e| {
        eprintln!("streaming_demo: {e}");
        std::process::exit(1);
    });
    let pace = match pacing {
        Pacing::AudioTime => format!("at its own pace, nominally {} kbit/s", nominal / 1000),
        Pacing::Bitrate(bits) => format!("at {} kbit/s", bits / 1000),
    };
    let speakers = probe_output(rate, channels);
    match &speakers {
        Ok(()) => println!(
            "playing {} through the speakers ({rate} Hz, {channels} ch, {pace})",
            file.display(),
        ),
        Err(why) => println!("no audio output ({why}): writing {} instead", out.display()),
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let stats = Rc::new(Stats::default());
    let result: Result<(), String> = runtime.block_on(async {
        let scheduler = Scheduler::new();
        let stream_file = file.clone();
        let server = TcpServer::bind(ServerConfig::new("127.0.0.1:0".parse().unwrap()), move |_| {
            StreamFile::new(stream_file.clone(), pacing)
        })
        .map_err(|e| format!("cannot start the server: {e}"))?;
        let address = server.local_addr();
        scheduler.activate(server);
        let (received, decoded) = (stats.clone(), stats.clone());
        let client = pipeline!(
            TcpClient::new(address).with_retry(5, Duration::from_millis(50)),
            map(move |chunk: Bytes| {
                received.bytes.set(received.bytes.get() + chunk.len() as u64);
                chunk
            }),
            VorbisDecode::default(),
            map(move |block: PcmBlock| {
                decoded.decoded_seconds.set(decoded.decoded_seconds.get() + block.frames() as f64 / f64::from(block.sample_rate));
                decoded.level.set(level(&block));
                block
            }),
        )
        .map_err(|e| e.to_string())?;
        // The sink's control is kept so a stop can let it finish properly (complete the WAV
        // header, or let the speakers play out) before everything is shut down.
        let (listening, sink_control) = if speakers.is_ok() {
            let sink = AudioPlayback::default();
            let control = sink.control.to_ref();
            let system = pipeline!(client, sink).map_err(|e| e.to_string())?;
            (scheduler.activate(system), control)
        } else {
            let sink = WavWriter::new(&out);
            let control = sink.control.to_ref();
            let system = pipeline!(client, sink).map_err(|e| e.to_string())?;
            (scheduler.activate(system), control)
        };
        let start = Instant::now();
        let progress = async {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let elapsed = start.elapsed().as_secs_f64();
                let kbps = stats.bytes.get() as f64 * 8.0 / elapsed.max(0.001) / 1000.0;
                let ahead = (stats.decoded_seconds.get() - elapsed).max(0.0);
                let bars = ((stats.level.get() * 60.0).min(20.0)) as usize;
                print!(
                    "\r{elapsed:5.1} / {total:5.1} s  {kbps:5.0} kbit/s  buffer {ahead:4.1} s  [{:<20}]",
                    "#".repeat(bars)
                );
                let _ = std::io::stdout().flush();
                if !listening.is_running() || seconds.is_some_and(|s| elapsed >= s) {
                    stats.done.set(true);
                    return;
                }
            }
        };
        let run = scheduler.run();
        tokio::pin!(run);
        tokio::select! {
            () = progress => {}
            () = stop_requested() => {}
            () = &mut run => {}
        }
        if listening.is_running() {
            // Stopped early: the sink finishes what it has, then everything stops.
            let _ = sink_control.try_send(Control::ProducerFinished);
            let _ = tokio::time::timeout(Duration::from_millis(2000), async {
                while !sink_control.is_closed() {
                    tokio::select! {
                        () = &mut run => break,
                        () = tokio::time::sleep(Duration::from_millis(20)) => {}
                    }
                }
            })
            .await;
        }
        scheduler.shutdown();
        println!();
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("streaming_demo: {e}");
        std::process::exit(1);
    }
    println!(
        "received {:.0} kB, decoded {:.1} s of audio{}",
        stats.bytes.get() as f64 / 1000.0,
        stats.decoded_seconds.get(),
        if speakers.is_err() {
            format!(" into {}", out.display())
        } else {
            String::new()
        }
    );
}
