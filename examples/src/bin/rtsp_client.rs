//! `rtsp_client URL [--out F.wav] [--udp] [--seconds S] [--sessions N]`: plays an RTSP URL
//! serving Ogg Vorbis over RTP — `RtspClient` → `RtpVorbisDepay` → `VorbisDecode` → a WAV file
//! (`--out`) or nowhere (counted) — for `--seconds` (default: until the stream ends), over RTP
//! interleaved in the RTSP connection, or over UDP with `--udp`. Prints rate, channels and
//! frames at the end and exits 0; a failure is reported on stderr with exit status 1.
//!
//! `--sessions N` is a load generator: N sessions from this one process, each counting the
//! packets and bytes it receives and the packets it never received (sequence gaps); prints
//! `sessions N failed F packets P bytes B gaps G min_kbps K median_kbps M` at the end.

use axon_core::components::{Collect, NullSink};
use axon_core::{
    Boxes, Component, ComponentError, Control, Inbox, InboxRef, Scheduler, link, pipeline,
};
use kamaelia_codec::PcmBlock;
use kamaelia_codec::rtp::{RtpPacket, RtpVorbisDepay};
use kamaelia_examples::{
    CountedDecode, args_or_help, finish_decoding, flag, run_until_finished, usage_error,
};
use kamaelia_media::WavWriter;
use kamaelia_net::rtsp::RtspClient;
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

const USAGE: &str = "rtsp_client URL [--out F.wav] [--udp] [--seconds S] [--sessions N]";

fn main() {
    let args = args_or_help(USAGE);
    type Options = (String, Option<PathBuf>, Option<f64>, Option<usize>);
    let parsed = (|| -> Result<Options, String> {
        let url = args
            .iter()
            .find(|a| a.starts_with("rtsp://"))
            .cloned()
            .ok_or("an rtsp:// URL is required")?;
        let seconds: Option<f64> = flag(&args, "--seconds")?;
        if seconds.is_some_and(|s| s.is_nan() || s <= 0.0) {
            return Err("--seconds must be above 0".into());
        }
        let sessions: Option<usize> = flag(&args, "--sessions")?;
        if sessions.is_some_and(|n| n == 0 || n > 20_000) {
            return Err("--sessions must be 1 to 20000".into());
        }
        Ok((url, flag(&args, "--out")?, seconds, sessions))
    })();
    let (url, out, seconds, sessions) = parsed.unwrap_or_else(|e| usage_error(&e, USAGE));
    let udp = args.iter().any(|a| a == "--udp");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let client = |url: &str| {
        let client = RtspClient::new(url);
        if udp { client.udp() } else { client }
    };
    if let Some(n) = sessions {
        runtime.block_on(load(n, &url, seconds.unwrap_or(10.0), client));
        return;
    }
    let CountedDecode {
        decode,
        notice_sink,
        notices,
        count,
        frames,
    } = CountedDecode::new();
    let (ending, notices) = runtime.block_on(async {
        let client = client(&url);
        let depay = RtpVorbisDepay::default();
        link(&client.config, &depay.config).unwrap();
        let stop = client.control.to_ref();
        let scheduler = Scheduler::new();
        let (end, ending) = Collect::<Control>::new();
        // RTP → Vorbis packets → PCM: the decoder takes packets on its `packets` inbox.
        link(&client.outbox, &depay.inbox).unwrap();
        link(&client.signal, &depay.control).unwrap();
        link(&depay.outbox, &decode.packets).unwrap();
        link(&depay.signal, &decode.control).unwrap();
        let back = match &out {
            Some(path) => pipeline!(decode, count, WavWriter::new(path)).unwrap(),
            None => pipeline!(decode, count, NullSink::<PcmBlock>::new()).unwrap(),
        };
        link(&back.signal, &end.inbox).unwrap();
        let stops = [end.control.to_ref(), notice_sink.control.to_ref()];
        scheduler.activate(client);
        scheduler.activate(depay);
        let running = scheduler.activate(back);
        scheduler.activate(end);
        scheduler.activate(notice_sink);
        let stop_after = async {
            match seconds {
                Some(seconds) => {
                    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
                    let _ = stop.try_send(Control::ShutdownMicroprocess);
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = run_until_finished(&scheduler, &running, &stops) => {}
            () = async { stop_after.await; std::future::pending::<()>().await } => {}
        }
        (ending.take(), notices.take())
    });
    finish_decoding("rtsp_client", &url, &ending, &notices, frames.get());
}

/// What one load session received.
#[derive(Default)]
struct Tally {
    packets: Cell<u64>,
    bytes: Cell<u64>,
    gaps: Cell<u64>,
    last: Cell<Option<u16>>,
    failed: Cell<bool>,
}

/// Counts one session's packets, bytes and sequence gaps.
#[derive(Boxes)]
struct Count {
    inbox: Inbox<RtpPacket>,
    control: Inbox<Control>,
    tally: Rc<Tally>,
}

impl Component for Count {
    async fn main(mut self) -> Result<(), ComponentError> {
        while let Some(packet) = self.inbox_or_finished().await {
            let t = &self.tally;
            if let Some(last) = t.last.get() {
                let step = packet.sequence.wrapping_sub(last);
                if (2..0x8000).contains(&step) {
                    t.gaps.set(t.gaps.get() + u64::from(step - 1));
                }
            }
            t.last.set(Some(packet.sequence));
            t.packets.set(t.packets.get() + 1);
            t.bytes.set(t.bytes.get() + packet.payload.len() as u64);
        }
        Ok(())
    }
}

/// Notes a session that ended in failure.
#[derive(Boxes)]
struct Outcome {
    inbox: Inbox<Control>,
    tally: Rc<Tally>,
}

impl Component for Outcome {
    async fn main(mut self) -> Result<(), ComponentError> {
        if let Control::Failed(_) = self.inbox.recv().await {
            self.tally.failed.set(true);
        }
        Ok(())
    }
}

async fn load(n: usize, url: &str, seconds: f64, client: impl Fn(&str) -> RtspClient) {
    let scheduler = Scheduler::new();
    let tallies: Vec<Rc<Tally>> = (0..n).map(|_| Rc::default()).collect();
    let stops: Rc<RefCell<Vec<InboxRef<Control>>>> = Rc::default();
    for tally in &tallies {
        let session = client(url);
        let count = Count {
            inbox: Inbox::with_capacity(1024),
            control: Inbox::new(),
            tally: tally.clone(),
        };
        let outcome = Outcome {
            inbox: Inbox::new(),
            tally: tally.clone(),
        };
        link(&session.outbox, &count.inbox).unwrap();
        link(&session.signal, &outcome.inbox).unwrap();
        stops.borrow_mut().push(session.control.to_ref());
        stops.borrow_mut().push(count.control.to_ref());
        scheduler.activate(session);
        scheduler.activate(count);
        scheduler.activate(outcome);
    }
    let started = Instant::now();
    let stop = async {
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        for stop in stops.borrow().iter() {
            let _ = stop.try_send(Control::ShutdownMicroprocess);
        }
    };
    tokio::join!(scheduler.run(), stop);
    let elapsed = started.elapsed().as_secs_f64().max(seconds);
    let mut rates: Vec<f64> = tallies
        .iter()
        .map(|t| t.bytes.get() as f64 * 8.0 / elapsed / 1000.0)
        .collect();
    rates.sort_by(f64::total_cmp);
    let sum = |f: fn(&Tally) -> u64| tallies.iter().map(|t| f(t)).sum::<u64>();
    println!(
        "sessions {n} failed {} packets {} bytes {} gaps {} min_kbps {:.1} median_kbps {:.1}",
        tallies.iter().filter(|t| t.failed.get()).count(),
        sum(|t| t.packets.get()),
        sum(|t| t.bytes.get()),
        sum(|t| t.gaps.get()),
        rates.first().copied().unwrap_or(0.0),
        rates.get(rates.len() / 2).copied().unwrap_or(0.0),
    );
}
