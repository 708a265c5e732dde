//! `live_streaming_server [--bind ADDR] --file F [--loop] [--bitrate BPS] [--burst SECS]
//! [--max-listeners N]`: Icecast-style live radio over HTTP/1.1. One source — F, each Ogg page
//! released when its audio is due (`OggPacer`), so the stream runs at real time whatever its
//! bit rate does — is fanned out by `LiveHttpServer` to every listener at
//! `http://ADDR/stream.ogg` (`application/ogg`; also HEAD), without a copy per listener. A
//! listener joining at any time first receives the stream's header pages, then the last
//! `--burst` seconds (default 2, at most 5) from a page that begins a packet, then the live
//! stream, so a player can join mid-stream and start at once (tested with ffmpeg, ffplay, mpv
//! and Python's HTTP client; VLC and browsers were not available to test). With `--loop` the
//! file plays forever, each pass a new chained link (fresh serial number). Listener, byte and
//! drop counts, and connection events by reason, are at `/stats` (JSON) and in the CAT; each
//! connection event is one line on stderr. Prints `listening on ADDR` first; exits 0 at the
//! end of the file; Ctrl-C or SIGTERM stops it cleanly.
//!
//! It runs on every CPU unless `--cores N` says otherwise: the source on core 0, and a shard
//! of the server on each core (listeners spread by the kernel over `SO_REUSEPORT` listeners);
//! each chunk crosses to each core once, by reference.
//!
//! F is any Ogg file whose audio can be timed (Vorbis, Opus, FLAC, Speex); for other codecs
//! give `--bitrate` to send it at that constant rate instead.

use axon_core::components::map;
use axon_core::{CrossFanout, link, pipeline};
use kamaelia_examples::{
    args_or_help, cores_flags, flag, live_chunk, ogg_source, pacing, run_on_cores_until_ctrl_c,
    usage_error,
};
use kamaelia_net::{LiveConfig, MAX_BURST, serve_live_on_cores};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "live_streaming_server [--bind ADDR] --file F [--loop] [--bitrate BPS] \
                     [--burst SECS] [--max-listeners N] [--cores N] [--introspect ADDR]";

fn main() {
    let args = args_or_help(USAGE);
    type Options = (
        SocketAddr,
        PathBuf,
        Option<u64>,
        Option<usize>,
        Duration,
        usize,
    );
    let parsed = (|| -> Result<Options, String> {
        let burst: f64 = flag(&args, "--burst")?.unwrap_or(2.0);
        if !(0.0..=MAX_BURST.as_secs_f64()).contains(&burst) {
            return Err(format!(
                "--burst must be 0 to {} seconds",
                MAX_BURST.as_secs()
            ));
        }
        Ok((
            flag(&args, "--bind")?.unwrap_or(([127, 0, 0, 1], 8000).into()),
            flag(&args, "--file")?.ok_or("--file F is required")?,
            flag(&args, "--bitrate")?,
            flag(&args, "--max-listeners")?,
            Duration::from_secs_f64(burst),
            cores_flags(&args)?.0,
        ))
    })();
    let (bind, file, bitrate, max_listeners, burst, cores) =
        parsed.unwrap_or_else(|e| usage_error(&e, USAGE));
    let looping = args.iter().any(|a| a == "--loop");
    let fail = |message: String| -> ! {
        eprintln!("live_streaming_server: {message}");
        std::process::exit(1);
    };
    let pacing = pacing(&file, bitrate).unwrap_or_else(|e| fail(e));
    let result = run_on_cores_until_ctrl_c(&args, cores, |cores| async move {
        let mut config = LiveConfig::new(bind)
            .path("/stream.ogg")
            .content_type("application/ogg")
            .burst(burst);
        if let Some(limit) = max_listeners {
            config = config.max_connections(limit);
        }
        let (addr, shards) = serve_live_on_cores(&cores, config)
            .await
            .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
        println!("listening on {addr}");
        // The shared source runs at real time (no lead): each shard gives newcomers a burst.
        cores
            .on(0, move |scheduler| -> Result<(), String> {
                let pages = ogg_source(&file, pacing, looping, Duration::ZERO, None)?;
                let source = pipeline!(pages, map(live_chunk)).map_err(|e| e.to_string())?;
                let fanout = CrossFanout::new(shards);
                link(&source.outbox, &fanout.inbox).map_err(|e| e.to_string())?;
                link(&source.signal, &fanout.control).map_err(|e| e.to_string())?;
                scheduler.activate(fanout);
                scheduler.activate(source);
                Ok(())
            })
            .await
            .map_err(|e| e.to_string())?
    });
    if let Err(e) = result {
        fail(e);
    }
}
