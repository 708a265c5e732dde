//! `simple_streaming_server [--bind ADDR] --file F [--bitrate BPS] [--idle-timeout SECS]`: the paper's
//! SimpleStreamingServer, on demand — every client that connects gets F from its start at the
//! audio's own pace (each Ogg page when its audio is due, the first 2 s at once for a quick
//! start), then the connection closes. Prints `listening on ADDR` first; each connection's end
//! is one line on stderr; Ctrl-C or SIGTERM stops it cleanly. Any TCP client can listen:
//! `ffplay tcp://ADDR`, or `simple_streaming_client --connect ADDR`. A client that stops
//! reading is dropped once nothing has moved for 120 s (`--idle-timeout`, 0: never).
//!
//! It runs on every CPU unless `--cores N` says otherwise (a server per core; `--spread
//! reuseport|acceptor` chooses how connections are spread over them).
//!
//! F is any Ogg file whose audio can be timed (Vorbis, Opus, FLAC, Speex); for anything else
//! give `--bitrate` to send its bytes at that constant rate instead.

use kamaelia_examples::{
    StreamFile, args_or_help, cores_flags, flag, idle_timeout, pacing, run_on_cores_until_ctrl_c,
    usage_error,
};
use kamaelia_net::{ServerConfig, serve_on_cores};
use std::net::SocketAddr;
use std::path::PathBuf;

const USAGE: &str = "simple_streaming_server [--bind ADDR] --file F [--bitrate BPS] [--idle-timeout SECS] [--cores N] [--spread reuseport|acceptor] [--introspect ADDR]";

fn main() {
    let args = args_or_help(USAGE);
    let parsed = (|| -> Result<_, String> {
        let bind: SocketAddr = flag(&args, "--bind")?.unwrap_or(([127, 0, 0, 1], 1600).into());
        let mut config = ServerConfig::new(bind);
        config.idle_timeout = idle_timeout(&args)?;
        Ok((
            config,
            flag::<PathBuf>(&args, "--file")?.ok_or("--file F is required")?,
            flag(&args, "--bitrate")?,
            cores_flags(&args)?,
        ))
    })();
    let (config, file, bitrate, (cores, spread)) =
        parsed.unwrap_or_else(|e| usage_error(&e, USAGE));
    let bind = config.bind;
    let pacing = pacing(&file, bitrate).unwrap_or_else(|e| {
        eprintln!("simple_streaming_server: {e}");
        std::process::exit(1);
    });
    let result = run_on_cores_until_ctrl_c(&args, cores, |cores| async move {
        let addr = serve_on_cores(&cores, config, spread, move |_| {
            StreamFile::new(file.clone(), pacing)
        })
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
        println!("listening on {addr}");
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("simple_streaming_server: {e}");
        std::process::exit(1);
    }
}
