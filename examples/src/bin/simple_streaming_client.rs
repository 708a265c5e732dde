//! `simple_streaming_client --connect ADDR [--out F.wav] [--play]`: the paper's
//! SimpleStreamingClient — TcpClient → VorbisDecode → a WAV file (`--out`), the speakers
//! (`--play`), or nowhere (just counted). Prints rate, channels and frames at the end of the
//! stream and exits 0; a connection failure is reported on stderr with exit status 1.

use axon_core::components::{Collect, NullSink};
use axon_core::{Control, Scheduler, link, pipeline};
use kamaelia_codec::PcmBlock;
use kamaelia_examples::{
    CountedDecode, args_or_help, finish_decoding, flag, run_until_finished, usage_error,
};
use kamaelia_media::{AudioPlayback, WavWriter};
use kamaelia_net::TcpClient;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "simple_streaming_client --connect ADDR [--out F.wav] [--play]";

fn main() {
    let args = args_or_help(USAGE);
    let parsed = (|| -> Result<(SocketAddr, Option<PathBuf>), String> {
        Ok((
            flag(&args, "--connect")?.ok_or("--connect ADDR is required")?,
            flag(&args, "--out")?,
        ))
    })();
    let (address, out) = parsed.unwrap_or_else(|e| usage_error(&e, USAGE));
    let play = args.iter().any(|a| a == "--play");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let CountedDecode {
        decode,
        notice_sink,
        notices,
        count,
        frames,
    } = CountedDecode::new();
    let (ending, notices) = runtime.block_on(async {
        let client = TcpClient::new(address).with_retry(3, Duration::from_millis(100));
        let scheduler = Scheduler::new();
        let (end, ending) = Collect::<Control>::new();
        let system = match (&out, play) {
            (Some(path), _) => pipeline!(client, decode, count, WavWriter::new(path)).unwrap(),
            (None, true) => pipeline!(client, decode, count, AudioPlayback::default()).unwrap(),
            (None, false) => pipeline!(client, decode, count, NullSink::<PcmBlock>::new()).unwrap(),
        };
        link(&system.signal, &end.inbox).unwrap();
        let stops = [end.control.to_ref(), notice_sink.control.to_ref()];
        let running = scheduler.activate(system);
        scheduler.activate(end);
        scheduler.activate(notice_sink);
        run_until_finished(&scheduler, &running, &stops).await;
        (ending.take(), notices.take())
    });
    finish_decoding(
        "simple_streaming_client",
        &address.to_string(),
        &ending,
        &notices,
        frames.get(),
    );
}
