//! `live_streaming_server [--bind ADDR] --file F [--loop] [--bitrate BPS] [--max-listeners N]`:
//! Icecast-style live radio over HTTP/1.1. One source — F read at its bit rate (default: the
//! file's nominal rate) — is paged by `OggPager` and fanned out by `LiveHttpServer` to every
//! listener at `http://ADDR/stream.ogg` (`application/ogg`; also HEAD), without a copy per
//! listener. A listener joining at any time first receives the stream's Vorbis header pages,
//! then live pages from the next page that begins a packet, so a player can join mid-stream
//! (tested with ffmpeg, ffplay, mpv and Python's HTTP client; VLC and browsers were not
//! available to test). With `--loop` the file plays forever, each pass a new chained link
//! (fresh serial number). Listener, byte and drop counts are at `/stats` (JSON) and in the CAT.
//! Prints `listening on ADDR` first; exits 0 at the end of the file; Ctrl-C stops it cleanly.
//!
//! F is any Ogg file: its bit rate is read from an Ogg Vorbis or Opus file (Vorbis's nominal
//! rate, else size over duration); for other codecs give `--bitrate`.

use axon_core::components::map;
use axon_core::{link, pipeline};
use kamaelia_codec::OggPager;
use kamaelia_examples::{
    args_or_help, flag, live_chunk, run_until_ctrl_c, stream_bitrate, usage_error,
};
use kamaelia_media::ReadFile;
use kamaelia_net::{LiveConfig, LiveHttpServer};
use std::net::SocketAddr;
use std::path::PathBuf;

const USAGE: &str =
    "live_streaming_server [--bind ADDR] --file F [--loop] [--bitrate BPS] [--max-listeners N]";

fn main() {
    let args = args_or_help(USAGE);
    let parsed = (|| -> Result<(SocketAddr, PathBuf, Option<u64>, Option<usize>), String> {
        Ok((
            flag(&args, "--bind")?.unwrap_or(([127, 0, 0, 1], 8000).into()),
            flag(&args, "--file")?.ok_or("--file F is required")?,
            flag(&args, "--bitrate")?,
            flag(&args, "--max-listeners")?,
        ))
    })();
    let (bind, file, bitrate, max_listeners) = parsed.unwrap_or_else(|e| usage_error(&e, USAGE));
    let looping = args.iter().any(|a| a == "--loop");
    let fail = |message: String| -> ! {
        eprintln!("live_streaming_server: {message}");
        std::process::exit(1);
    };
    let bitrate = stream_bitrate(&file, bitrate).unwrap_or_else(|e| fail(e));
    let result = run_until_ctrl_c(|scheduler| {
        let mut config = LiveConfig::new(bind)
            .path("/stream.ogg")
            .content_type("application/ogg");
        if let Some(limit) = max_listeners {
            config = config.max_connections(limit);
        }
        let server =
            LiveHttpServer::bind(config).map_err(|e| format!("cannot listen on {bind}: {e}"))?;
        println!("listening on {}", server.local_addr());
        let source = pipeline!(
            ReadFile::new(&file).bitrate(bitrate).looping(looping),
            OggPager::new().unique_serials(),
            map(live_chunk)
        )
        .map_err(|e| e.to_string())?;
        link(&source.outbox, &server.inbox).map_err(|e| e.to_string())?;
        link(&source.signal, &server.control).map_err(|e| e.to_string())?;
        scheduler.activate(server);
        scheduler.activate(source);
        Ok(())
    });
    if let Err(e) = result {
        fail(e);
    }
}
