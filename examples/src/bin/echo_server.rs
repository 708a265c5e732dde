//! `echo_server [--bind ADDR] [--max-connections N] [--idle-timeout SECS]`: the paper's
//! SimpleServer with the Echo protocol — every connection gets its own Echo component, and
//! what a client sends comes back. Prints `listening on ADDR` first; Ctrl-C stops it cleanly.
//! The default address is 127.0.0.1:1501; a connection idle for 120 s is closed (0: never).

use axon_core::components::map;
use bytes::Bytes;
use kamaelia_examples::{args_or_help, flag, idle_timeout, run_until_ctrl_c, usage_error};
use kamaelia_net::{ServerConfig, TcpServer};
use std::net::SocketAddr;

const USAGE: &str =
    "echo_server [--bind ADDR] [--max-connections N] [--idle-timeout SECS] [--introspect ADDR]";

fn main() {
    let args = args_or_help(USAGE);
    let parsed = (|| -> Result<ServerConfig, String> {
        let bind: SocketAddr = flag(&args, "--bind")?.unwrap_or(([127, 0, 0, 1], 1501).into());
        let mut config = ServerConfig::new(bind);
        config.max_connections = flag(&args, "--max-connections")?;
        config.idle_timeout = idle_timeout(&args)?;
        Ok(config)
    })();
    let config = parsed.unwrap_or_else(|e| usage_error(&e, USAGE));
    let result = run_until_ctrl_c(|scheduler| {
        kamaelia_examples::introspect(&args, scheduler)?;
        let server = TcpServer::bind(config.clone(), |_connection| map(|data: Bytes| data))
            .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
        println!("listening on {}", server.local_addr());
        scheduler.activate(server);
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("echo_server: {e}");
        std::process::exit(1);
    }
}
