//! `multicast_streaming_client --group ADDR:PORT [--out F.wav] [--play] [--seconds S]
//! [--interface IP]`: the paper's multicast client — a multicast transceiver → detuple →
//! Vorbis decode pipeline, into a WAV file (`--out`), the speakers (`--play`) or nowhere (just
//! counted). It may join at any time: it decodes from the next repeat of the stream's headers.
//! Stops after S seconds, when the stream has been silent for 5 s after audio arrived (a page of near-silence can last 2 s), or on
//! Ctrl-C. Prints `listening to GROUP` once joined, then at the end rate, channels and frames and exits 0 (1 if no audio arrived).

use axon_core::components::{Collect, Detuple, NullSink, map};
use axon_core::{Control, Scheduler, link, pipeline};
use bytes::Bytes;
use kamaelia_codec::{DecodeNotice, PcmBlock, VorbisDecode};
use kamaelia_examples::{args_or_help, decoded_summary, flag, multicast_group, usage_error};
use kamaelia_media::{AudioPlayback, WavWriter};
use kamaelia_net::{MulticastConfig, UdpTransceiver};
use std::cell::Cell;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;
use tokio::time::Instant;

const USAGE: &str = "multicast_streaming_client --group ADDR:PORT [--out F.wav] [--play] \
                     [--seconds S] [--interface IP]";
/// Silence after audio that means the sender has finished.
const QUIET: Duration = Duration::from_secs(5);

fn main() {
    let args = args_or_help(USAGE);
    let parsed = (|| -> Result<_, String> {
        let group = multicast_group(&args)?;
        let out: Option<PathBuf> = flag(&args, "--out")?;
        let seconds: Option<f64> = flag(&args, "--seconds")?;
        if seconds.is_some_and(|s| !(s.is_finite() && s > 0.0 && s < 1e9)) {
            return Err("--seconds must be a positive number of seconds".into());
        }
        let interface: Ipv4Addr = flag(&args, "--interface")?.unwrap_or(Ipv4Addr::LOCALHOST);
        Ok((group, out, seconds, interface))
    })();
    let (group, out, seconds, interface) = parsed.unwrap_or_else(|e| usage_error(&e, USAGE));
    let play = args.iter().any(|a| a == "--play");
    let fail = |message: String| -> ! {
        eprintln!("multicast_streaming_client: {message}");
        std::process::exit(1);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(format!("cannot start the runtime: {e}")));
    let frames = Rc::new(Cell::new(0u64));
    let config = MulticastConfig {
        interface,
        ..MulticastConfig::local(group)
    };
    let receiver = UdpTransceiver::multicast(&config)
        .unwrap_or_else(|e| fail(format!("cannot join {group}: {e}")));
    println!("listening to {group}");
    let notices = runtime.block_on(async {
        let stop = receiver.control.to_ref();
        let decode = VorbisDecode::default();
        let (notice_sink, notices) = Collect::<DecodeNotice>::new();
        link(&decode.notices, &notice_sink.inbox).expect("same type");
        let counted = frames.clone();
        let count = map(move |block: PcmBlock| {
            counted.set(counted.get() + block.frames() as u64);
            block
        });
        let detuple = Detuple::<SocketAddr, Bytes>::default();
        let built = match (&out, play) {
            (Some(path), _) => pipeline!(receiver, detuple, decode, count, WavWriter::new(path)),
            (None, true) => pipeline!(receiver, detuple, decode, count, AudioPlayback::default()),
            (None, false) => {
                pipeline!(
                    receiver,
                    detuple,
                    decode,
                    count,
                    NullSink::<PcmBlock>::new()
                )
            }
        };
        let system = built.unwrap_or_else(|e| fail(e.to_string()));
        let scheduler = Scheduler::new();
        let running = scheduler.activate(system);
        let notice_stop = notice_sink.control.to_ref();
        scheduler.activate(notice_sink);
        let watch = async {
            let started = Instant::now();
            let (mut last_frames, mut last_change) = (0u64, Instant::now());
            let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
            loop {
                tokio::select! {
                    _ = &mut interrupted => break,
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
                let now = Instant::now();
                if frames.get() != last_frames {
                    (last_frames, last_change) = (frames.get(), now);
                }
                let timed_out =
                    seconds.is_some_and(|s| now - started >= Duration::from_secs_f64(s));
                if timed_out || (last_frames > 0 && now - last_change >= QUIET) {
                    break;
                }
                if !running.is_running() {
                    break;
                }
            }
            // The end of input flows down the pipeline: the WAV file is completed.
            let _ = stop.send(Control::ProducerFinished).await;
            while running.is_running() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let _ = notice_stop.send(Control::ProducerFinished).await;
        };
        tokio::join!(scheduler.run(), watch);
        notices.take()
    });
    match decoded_summary(&notices, frames.get()) {
        Some(summary) => println!("{summary}"),
        None => fail(format!("no Vorbis audio arrived from {group}")),
    }
}
