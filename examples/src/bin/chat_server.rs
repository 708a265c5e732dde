//! `chat_server [--bind ADDR]`: a line chat. Every line a client sends goes to every other
//! client, as `[N] line` (N numbers the sender's connection). Each connection's protocol is a
//! Graphline — lines in → tagged → published on the `chat` Backplane; the Backplane →
//! everyone else's lines → out — so connections never know of each other. Lines are at most
//! 4 KiB (a longer one closes that connection); a listener that falls 256 lines behind loses the
//! oldest. Prints `listening on ADDR` first; Ctrl-C stops it. Try it with `nc ADDR PORT` twice.

use axon_core::components::{filter, map};
use axon_core::{Graphline, LinkError};
use bytes::Bytes;
use kamaelia_cat::{Backplane, Policy, PublishTo, SubscribeTo};
use kamaelia_examples::{args_or_help, flag, idle_timeout, run_until_ctrl_c, usage_error};
use kamaelia_net::framing::LineSplitter;
use kamaelia_net::{ServerConfig, TcpServer};

/// One connection: its lines go to the bus tagged with `id`; the bus's lines, but its own, come
/// back to it.
fn chatter(id: u64) -> Result<Graphline<Bytes, Bytes>, LinkError> {
    Graphline::builder()
        .child("lines", LineSplitter::new(4096))
        .child("tag", map(move |line: Bytes| (id, line)))
        .child("say", PublishTo::<(u64, Bytes)>::new("chat"))
        .child(
            "hear",
            SubscribeTo::<(u64, Bytes)>::new("chat", Policy::DropOldest, 256),
        )
        .child(
            "others",
            filter(move |(from, _): &(u64, Bytes)| *from != id),
        )
        .child(
            "show",
            map(|(from, line): (u64, Bytes)| {
                Bytes::from([format!("[{from}] ").as_bytes(), &line, b"\n"].concat())
            }),
        )
        .link(("self", "inbox"), ("lines", "inbox"))
        .link(("lines", "outbox"), ("tag", "inbox"))
        .link(("lines", "signal"), ("tag", "control"))
        .link(("tag", "outbox"), ("say", "inbox"))
        .link(("tag", "signal"), ("say", "control"))
        .link(("hear", "outbox"), ("others", "inbox"))
        .link(("hear", "signal"), ("others", "control"))
        .link(("others", "outbox"), ("show", "inbox"))
        .link(("others", "signal"), ("show", "control"))
        .link(("show", "outbox"), ("self", "outbox"))
        .build()
}

const USAGE: &str = "chat_server [--bind ADDR] [--idle-timeout SECS] [--introspect ADDR]";

fn main() {
    let args = args_or_help(USAGE);
    let parsed = (|| -> Result<ServerConfig, String> {
        let mut config =
            ServerConfig::new(flag(&args, "--bind")?.unwrap_or(([127, 0, 0, 1], 1503).into()));
        config.idle_timeout = idle_timeout(&args)?;
        Ok(config)
    })();
    let config = parsed.unwrap_or_else(|e| usage_error(&e, USAGE));
    let result = run_until_ctrl_c(|scheduler| {
        kamaelia_examples::introspect(&args, scheduler)?;
        scheduler.activate(Backplane::<(u64, Bytes)>::new("chat"));
        let server = TcpServer::bind_fallible(config.clone(), |connection| chatter(connection.id))
            .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
        println!("listening on {}", server.local_addr());
        scheduler.activate(server);
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("chat_server: {e}");
        std::process::exit(1);
    }
}
