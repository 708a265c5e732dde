//! `multicast_streaming_server --group ADDR:PORT --file F [--bitrate BPS] [--loop]
//! [--repeat-every PAGES] [--interface IP] [--ttl N]`: the paper's multicast streaming
//! server — the file at its own pace (each Ogg page when its audio is due), one page per
//! datagram, to a multicast group. The Vorbis header pages are sent again every PAGES pages
//! (default 16) so a receiver that joins late can start decoding. With `--loop` each pass is a
//! new chained link (a fresh serial number). By default everything stays on this host
//! (interface 127.0.0.1, TTL 0). Prints `sending to GROUP` first; exits 0 at the end of the
//! file; Ctrl-C or SIGTERM stops it cleanly.
//!
//! F is any Ogg file whose audio can be timed (Vorbis, Opus, FLAC, Speex); for other codecs
//! give `--bitrate` to send it at that constant rate instead.

use axon_core::components::{NullSink, map};
use axon_core::pipeline;
use bytes::Bytes;
use kamaelia_codec::OggPage;
use kamaelia_examples::{
    args_or_help, flag, multicast_group, ogg_source, pacing, run_until_ctrl_c, usage_error,
};
use kamaelia_net::{MulticastConfig, UdpTransceiver};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

const USAGE: &str = "multicast_streaming_server --group ADDR:PORT --file F [--bitrate BPS] \
                     [--loop] [--repeat-every PAGES] [--interface IP] [--ttl N] [--introspect ADDR]";

struct Options {
    group: SocketAddrV4,
    file: PathBuf,
    bitrate: Option<u64>,
    looping: bool,
    repeat_every: usize,
    interface: Ipv4Addr,
    ttl: u32,
}

fn options(args: &[String]) -> Result<Options, String> {
    let group = multicast_group(args)?;
    Ok(Options {
        group,
        file: flag(args, "--file")?.ok_or("--file F is required")?,
        bitrate: flag(args, "--bitrate")?,
        looping: args.iter().any(|a| a == "--loop"),
        repeat_every: flag(args, "--repeat-every")?.unwrap_or(16),
        interface: flag(args, "--interface")?.unwrap_or(Ipv4Addr::LOCALHOST),
        ttl: flag(args, "--ttl")?.unwrap_or(0),
    })
}

fn main() {
    let args = args_or_help(USAGE);
    let options = options(&args).unwrap_or_else(|e| usage_error(&e, USAGE));
    let fail = |message: String| -> ! {
        eprintln!("multicast_streaming_server: {message}");
        std::process::exit(1);
    };
    let pacing = pacing(&options.file, options.bitrate).unwrap_or_else(|e| fail(e));
    let result = run_until_ctrl_c(|scheduler| {
        kamaelia_examples::introspect(&args, scheduler)?;
        let config = MulticastConfig {
            interface: options.interface,
            ttl: options.ttl,
            ..MulticastConfig::local(options.group)
        };
        let sender = UdpTransceiver::multicast(&config)
            .map_err(|e| format!("cannot join {}: {e}", options.group))?;
        let pages = ogg_source(
            &options.file,
            pacing,
            options.looping,
            std::time::Duration::ZERO,
            Some(options.repeat_every),
        )?;
        // Our own datagrams come back to us (loopback is on so local receivers hear them).
        let ignore_echo = NullSink::<(SocketAddr, Bytes)>::new();
        let system = pipeline!(pages, map(OggPage::into_bytes), sender, ignore_echo)
            .map_err(|e| e.to_string())?;
        println!("sending to {}", options.group);
        scheduler.activate(system);
        Ok(())
    });
    if let Err(e) = result {
        fail(e);
    }
}
