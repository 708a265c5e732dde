//! `framed_reverse_server [--bind ADDR] [--max-frame BYTES] [--idle-timeout SECS]`: a small framed protocol. Clients
//! send messages as frames (a 4-byte big-endian length, then the bytes); each comes back
//! reversed, framed the same way. The protocol for each connection is itself a pipeline:
//! Deframer → reverse → Framer. A frame longer than the maximum (default 65536) closes that
//! connection only, and so does 120 s without traffic (`--idle-timeout`, 0: never); `--max-frame` is at most 64 MiB (`MAX_FRAME_CEILING`). Prints `listening on ADDR` first; Ctrl-C stops it cleanly.

use axon_core::components::map;
use axon_core::pipeline;
use bytes::Bytes;
use kamaelia_examples::{args_or_help, flag, idle_timeout, run_until_ctrl_c, usage_error};
use kamaelia_net::framing::{Deframer, Framer, MAX_FRAME_CEILING};
use kamaelia_net::{ServerConfig, TcpServer};
use std::net::SocketAddr;

const USAGE: &str = "framed_reverse_server [--bind ADDR] [--max-frame BYTES] [--idle-timeout SECS] [--introspect ADDR]";

fn main() {
    let args = args_or_help(USAGE);
    let parsed = (|| -> Result<(ServerConfig, usize), String> {
        let max_frame = flag(&args, "--max-frame")?.unwrap_or(65_536);
        if max_frame > MAX_FRAME_CEILING {
            return Err(format!(
                "--max-frame {max_frame} is above the ceiling of {MAX_FRAME_CEILING} bytes"
            ));
        }
        let bind: SocketAddr = flag(&args, "--bind")?.unwrap_or(([127, 0, 0, 1], 1502).into());
        let mut config = ServerConfig::new(bind);
        config.idle_timeout = idle_timeout(&args)?;
        Ok((config, max_frame))
    })();
    let (config, max_frame) = parsed.unwrap_or_else(|e| usage_error(&e, USAGE));
    let bind = config.bind;
    let result = run_until_ctrl_c(|scheduler| {
        kamaelia_examples::introspect(&args, scheduler)?;
        let server = TcpServer::bind(config, move |_| {
            pipeline!(
                Deframer::new(max_frame),
                map(|message: Bytes| Bytes::from(
                    message.iter().rev().copied().collect::<Vec<u8>>()
                )),
                Framer::new(max_frame),
            )
            .expect("fresh stages link")
        })
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
        println!("listening on {}", server.local_addr());
        scheduler.activate(server);
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("framed_reverse_server: {e}");
        std::process::exit(1);
    }
}
