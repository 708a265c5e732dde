//! `simple_streaming_server [--bind ADDR] --file F [--bitrate BPS]`: the paper's
//! SimpleStreamingServer, on demand — every client that connects gets F from its start at BPS
//! bits per second (default: the file's nominal bit rate), then the connection closes. Prints
//! `listening on ADDR` first; Ctrl-C stops it cleanly. Any TCP client can listen:
//! `ffplay tcp://ADDR`, or `simple_streaming_client --connect ADDR`.
//!
//! F is any Ogg file: its bit rate is read from an Ogg Vorbis or Opus file (Vorbis's nominal
//! rate, else size over duration); for other codecs give `--bitrate`.

use kamaelia_examples::{
    StreamFile, args_or_help, flag, run_until_ctrl_c, stream_bitrate, usage_error,
};
use kamaelia_net::{ServerConfig, TcpServer};
use std::net::SocketAddr;
use std::path::PathBuf;

const USAGE: &str = "simple_streaming_server [--bind ADDR] --file F [--bitrate BPS]";

fn main() {
    let args = args_or_help(USAGE);
    let parsed = (|| -> Result<(SocketAddr, PathBuf, Option<u64>), String> {
        Ok((
            flag(&args, "--bind")?.unwrap_or(([127, 0, 0, 1], 1600).into()),
            flag(&args, "--file")?.ok_or("--file F is required")?,
            flag(&args, "--bitrate")?,
        ))
    })();
    let (bind, file, bitrate) = parsed.unwrap_or_else(|e| usage_error(&e, USAGE));
    let bitrate = stream_bitrate(&file, bitrate).unwrap_or_else(|e| {
        eprintln!("simple_streaming_server: {e}");
        std::process::exit(1);
    });
    let result = run_until_ctrl_c(|scheduler| {
        let server = TcpServer::bind(ServerConfig::new(bind), move |_| {
            StreamFile::new(file.clone(), bitrate)
        })
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
        println!("listening on {}", server.local_addr());
        scheduler.activate(server);
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("simple_streaming_server: {e}");
        std::process::exit(1);
    }
}
