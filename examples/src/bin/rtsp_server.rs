//! `rtsp_server [--bind ADDR] --file F [--loop] [--path P] [--inband-config SECS]
//! [--max-clients N]`: live Ogg Vorbis over RTSP/RTP (RFC 2326, RFC 5215). F is released at the
//! pace of its audio (`OggPacer`), its packets payloaded once (`RtpVorbisPay`) and shared by
//! reference with every session; clients play it over RTP interleaved in the RTSP connection
//! or over UDP. Prints `listening on ADDR`, then `serving rtsp://ADDR/PATH` (default `127.0.0.1:8554`, path `/`);
//! exits 0 at the end of the file (`--loop`: never, each pass a new chain link); Ctrl-C or
//! SIGTERM stops it cleanly. `--inband-config SECS` also sends the stream's configuration
//! in-band every SECS seconds of audio, for receivers without the SDP (ffmpeg does not read
//! it and logs one line each time).
//!
//! Tested with ffmpeg/ffprobe (UDP and TCP) and this project's `rtsp_client`.

use axon_core::components::map;
use axon_core::{link, pipeline};
use kamaelia_codec::rtp::RtpVorbisPay;
use kamaelia_codec::{OggDemux, OggPage};
use kamaelia_examples::{args_or_help, flag, ogg_source, pacing, run_until_ctrl_c, usage_error};
use kamaelia_net::rtsp::{RtspConfig, RtspServer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "rtsp_server [--bind ADDR] --file F [--loop] [--path P] \
                     [--inband-config SECS] [--max-clients N] [--introspect ADDR]";

fn main() {
    let args = args_or_help(USAGE);
    type Options = (SocketAddr, PathBuf, String, Option<f64>, Option<usize>);
    let parsed = (|| -> Result<Options, String> {
        let inband: Option<f64> = flag(&args, "--inband-config")?;
        if inband.is_some_and(|s| !(s > 0.0 && s <= 3600.0)) {
            return Err("--inband-config must be above 0 and at most 3600 seconds".into());
        }
        Ok((
            flag(&args, "--bind")?.unwrap_or(([127, 0, 0, 1], 8554).into()),
            flag(&args, "--file")?.ok_or("--file F is required")?,
            flag(&args, "--path")?.unwrap_or_else(|| "/".to_string()),
            inband,
            flag(&args, "--max-clients")?,
        ))
    })();
    let (bind, file, path, inband, max_clients) = parsed.unwrap_or_else(|e| usage_error(&e, USAGE));
    let looping = args.iter().any(|a| a == "--loop");
    let fail = |message: String| -> ! {
        eprintln!("rtsp_server: {message}");
        std::process::exit(1);
    };
    let pacing = pacing(&file, None).unwrap_or_else(|e| fail(e));
    let result = run_until_ctrl_c(|scheduler| {
        kamaelia_examples::introspect(&args, scheduler)?;
        let mut config = RtspConfig::new(bind);
        if let Some(limit) = max_clients {
            config = config.max_connections(limit);
        }
        let server =
            RtspServer::bind(config).map_err(|e| format!("cannot listen on {bind}: {e}"))?;
        println!("listening on {}", server.local_addr());
        println!("serving {}", server.url(&path));
        let stream = server.stream(&path);
        let mut pay = RtpVorbisPay::new();
        if let Some(seconds) = inband {
            pay = pay.inband_config(Duration::from_secs_f64(seconds));
        }
        link(&pay.config, &stream.config).map_err(|e| e.to_string())?;
        let pages = ogg_source(&file, pacing, looping, Duration::ZERO, None)?;
        let source = pipeline!(pages, map(OggPage::into_bytes), OggDemux::default(), pay)
            .map_err(|e| e.to_string())?;
        link(&source.outbox, &stream.inbox).map_err(|e| e.to_string())?;
        link(&source.signal, &stream.control).map_err(|e| e.to_string())?;
        // The end of the file ends the stream, and the stream's end stops the server.
        link(&stream.signal, &server.control).map_err(|e| e.to_string())?;
        scheduler.activate(server);
        scheduler.activate(stream);
        scheduler.activate(source);
        Ok(())
    });
    if let Err(e) = result {
        fail(e);
    }
}
