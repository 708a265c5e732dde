//! `echo_server [--bind ADDR] [--max-connections N] [--idle-timeout SECS] [--cores N]
//! [--spread reuseport|acceptor]`: the paper's SimpleServer with the Echo protocol — every
//! connection gets its own Echo component, and what a client sends comes back. Prints
//! `listening on ADDR` first; Ctrl-C stops it cleanly. The default address is 127.0.0.1:1501;
//! a connection idle for 120 s is closed (0: never). It runs on every CPU unless `--cores`
//! says otherwise: a server per core, connections spread by the kernel (`reuseport`) or
//! handed out by one acceptor (`acceptor`).

use axon_core::components::map;
use bytes::Bytes;
use kamaelia_examples::{
    args_or_help, cores_flags, flag, idle_timeout, run_on_cores_until_ctrl_c, usage_error,
};
use kamaelia_net::{ServerConfig, serve_on_cores};
use std::net::SocketAddr;

const USAGE: &str = "echo_server [--bind ADDR] [--max-connections N] [--idle-timeout SECS] [--cores N] [--spread reuseport|acceptor] [--introspect ADDR]";

fn main() {
    let args = args_or_help(USAGE);
    let parsed = (|| -> Result<_, String> {
        let bind: SocketAddr = flag(&args, "--bind")?.unwrap_or(([127, 0, 0, 1], 1501).into());
        let mut config = ServerConfig::new(bind);
        config.max_connections = flag(&args, "--max-connections")?;
        config.idle_timeout = idle_timeout(&args)?;
        Ok((config, cores_flags(&args)?))
    })();
    let (config, (cores, spread)) = parsed.unwrap_or_else(|e| usage_error(&e, USAGE));
    let result = run_on_cores_until_ctrl_c(&args, cores, |cores| async move {
        let bind = config.bind;
        let addr = serve_on_cores(&cores, config, spread, |_connection| {
            map(|data: Bytes| data)
        })
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
        println!("listening on {addr}");
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("echo_server: {e}");
        std::process::exit(1);
    }
}
