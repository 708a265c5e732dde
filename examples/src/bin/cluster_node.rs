//! `cluster_node MODE --nats URL ...`: one process of a Kamaelia system spread over machines on
//! NATS (the `nats` feature). Every mode is a handful of components; only the links between
//! processes go through NATS.
//!
//! - `source --nats URL --file F [--name radio] [--loop] [--bitrate BPS]`: plays F at its own
//!   pace and exports it as the live stream `radio` to every edge.
//! - `edge --nats URL [--name radio] [--bind ADDR]`: joins the live stream and serves it over
//!   HTTP at `http://ADDR/stream.ogg` to any number of listeners (a late edge gets the header
//!   first, so its listeners start like a local server's). Prints `listening on ADDR`.
//! - `echo --nats URL --from LINK --to LINK`: receives strings on one link and sends each back,
//!   upper-cased, on another; the end of the stream goes through too.
//! - `service --nats URL --name NAME --id ID`: offers the service NAME to the cluster: each call
//!   (a string) is answered `ID:STRING-UPPER-CASED`. Run several: calls are spread over them.
//! - `demo [--edges N] [--file F] [--port P]`: starts `nats-server` on loopback (a clear message
//!   if it is not installed), one source and N edges (default 3) as separate processes, prints
//!   where to listen, and stops them all on Ctrl-C. This is `cargo xtask demo cluster`.
//!
//! Ctrl-C or SIGTERM stops any mode cleanly.

use axon_core::components::map;
use axon_core::{link, pipeline};
use kamaelia_examples::{
    args_or_help, flag, live_chunk, ogg_source, pacing, stop_requested, usage_error,
};
use kamaelia_net::axon_core::{Boxes, Component, ComponentError, Control, Inbox};
use kamaelia_net::nats::{
    Cluster, ClusterService, LiveEdge, LiveExport, RemoteInbox, RemoteOutbox, ServiceCall,
};
use kamaelia_net::{LiveConfig, LiveHttpServer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "cluster_node source --nats URL --file F [--name NAME] [--loop] [--bitrate BPS]\n       \
                     cluster_node edge --nats URL [--name NAME] [--bind ADDR]\n       \
                     cluster_node echo --nats URL --from LINK --to LINK\n       \
                     cluster_node service --nats URL --name NAME --id ID\n       \
                     cluster_node demo [--edges N] [--file F] [--port P]";

fn main() {
    let args = args_or_help(USAGE);
    let result = match args.first().map(String::as_str) {
        Some("source") => source(&args),
        Some("edge") => edge(&args),
        Some("echo") => echo(&args),
        Some("service") => service(&args),
        Some("demo") => demo(&args),
        _ => usage_error("say which: source, edge, echo, service or demo", USAGE),
    };
    if let Err(e) = result {
        eprintln!("cluster_node: {e}");
        std::process::exit(1);
    }
}

fn nats_url(args: &[String]) -> String {
    flag(args, "--nats")
        .unwrap_or_else(|e| usage_error(&e, USAGE))
        .unwrap_or_else(|| usage_error("--nats URL is required", USAGE))
}

fn stream_name(args: &[String]) -> String {
    flag(args, "--name")
        .unwrap_or_else(|e| usage_error(&e, USAGE))
        .unwrap_or_else(|| "radio".to_string())
}

fn source(args: &[String]) -> Result<(), String> {
    let url = nats_url(args);
    let name = stream_name(args);
    let file: PathBuf = flag(args, "--file")?.ok_or("--file F is required")?;
    let looping = args.iter().any(|a| a == "--loop");
    let pacing = pacing(&file, flag(args, "--bitrate")?)?;
    run_with_cluster(&url, move |cluster, scheduler| {
        let pages = ogg_source(&file, pacing, looping, Duration::ZERO, None)?;
        let source = pipeline!(pages, map(live_chunk)).map_err(|e| e.to_string())?;
        let export = LiveExport::new(cluster, &name).map_err(|e| e.to_string())?;
        link(&source.outbox, &export.inbox).map_err(|e| e.to_string())?;
        link(&source.signal, &export.control).map_err(|e| e.to_string())?;
        scheduler.activate(export);
        scheduler.activate(source);
        println!("exporting {} as the live stream {name:?}", file.display());
        Ok(())
    })
}

fn edge(args: &[String]) -> Result<(), String> {
    let url = nats_url(args);
    let name = stream_name(args);
    let bind: SocketAddr = flag(args, "--bind")?.unwrap_or(([127, 0, 0, 1], 8001).into());
    run_with_cluster(&url, move |cluster, scheduler| {
        let edge = LiveEdge::join(cluster, &name).map_err(|e| e.to_string())?;
        let config = LiveConfig::new(bind)
            .path("/stream.ogg")
            .content_type("application/ogg");
        let server =
            LiveHttpServer::bind(config).map_err(|e| format!("cannot listen on {bind}: {e}"))?;
        println!("listening on {}", server.local_addr());
        link(&edge.outbox, &server.inbox).map_err(|e| e.to_string())?;
        link(&edge.signal, &server.control).map_err(|e| e.to_string())?;
        scheduler.activate(edge);
        scheduler.activate(server);
        Ok(())
    })
}

fn echo(args: &[String]) -> Result<(), String> {
    let url = nats_url(args);
    let from: String = flag(args, "--from")?.ok_or("--from LINK is required")?;
    let to: String = flag(args, "--to")?.ok_or("--to LINK is required")?;
    run_with_cluster(&url, move |cluster, scheduler| {
        let inbound = RemoteInbox::<String>::new(cluster, &from).map_err(|e| e.to_string())?;
        let outbound = RemoteOutbox::<String>::new(cluster, &to).map_err(|e| e.to_string())?;
        let shout = map(|s: String| s.to_uppercase());
        link(&inbound.outbox, &shout.inbox).map_err(|e| e.to_string())?;
        link(&inbound.signal, &shout.control).map_err(|e| e.to_string())?;
        link(&shout.outbox, &outbound.inbox).map_err(|e| e.to_string())?;
        link(&shout.signal, &outbound.control).map_err(|e| e.to_string())?;
        scheduler.activate(inbound);
        scheduler.activate(shout);
        scheduler.activate(outbound);
        println!("echoing {from:?} to {to:?}");
        Ok(())
    })
}

/// Answers each call with `ID:REQUEST-UPPER-CASED`.
#[derive(Boxes)]
#[boxes(crate = kamaelia_net::axon_core)]
struct Upper {
    inbox: Inbox<ServiceCall<String, String>>,
    control: Inbox<Control>,
    id: String,
}

impl Component for Upper {
    async fn main(mut self) -> Result<(), ComponentError> {
        while let Some(call) = self.inbox.recv_or_finished(&mut self.control).await {
            let answer = format!("{}:{}", self.id, call.request.to_uppercase());
            if let Err(e) = call.reply(&answer).await {
                tracing::warn!(error = %e, "an answer was not sent");
            }
        }
        Ok(())
    }
}

fn service(args: &[String]) -> Result<(), String> {
    let url = nats_url(args);
    let name: String = flag(args, "--name")?.ok_or("--name NAME is required")?;
    let id: String = flag(args, "--id")?.ok_or("--id ID is required")?;
    run_with_cluster(&url, move |cluster, scheduler| {
        let service =
            ClusterService::<String, String>::new(cluster, &name).map_err(|e| e.to_string())?;
        let upper = Upper {
            inbox: Inbox::new(),
            control: Inbox::new(),
            id,
        };
        link(&service.outbox, &upper.inbox).map_err(|e| e.to_string())?;
        link(&service.signal, &upper.control).map_err(|e| e.to_string())?;
        scheduler.activate(service);
        scheduler.activate(upper);
        println!("offering {name:?}");
        Ok(())
    })
}

/// Connects, builds, runs until every component ended or Ctrl-C (or SIGTERM).
fn run_with_cluster(
    url: &str,
    build: impl FnOnce(&Cluster, &axon_core::Scheduler) -> Result<(), String>,
) -> Result<(), String> {
    // One thread: the NATS client's connection task and our scheduler share its runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let cluster = Cluster::connect(url).await.map_err(|e| e.to_string())?;
        let scheduler = axon_core::Scheduler::new();
        build(&cluster, &scheduler)?;
        tokio::select! {
            () = scheduler.run() => {}
            () = stop_requested() => scheduler.shutdown(),
        }
        // What was published last (an end of stream) leaves before the process does.
        let _ = tokio::time::timeout(Duration::from_secs(2), cluster.client().flush()).await;
        Ok(())
    })
}

/// The processes of the demo, killed when it ends.
struct Processes(Vec<(String, Child)>);

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn demo(args: &[String]) -> Result<(), String> {
    let edges: usize = flag(args, "--edges")?.unwrap_or(3);
    let default_file = concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo.ogg");
    let file: PathBuf = flag(args, "--file")?.unwrap_or_else(|| default_file.into());
    let Some(broker) = kamaelia_net::nats::find_nats_server() else {
        return Err(
            "nats-server is not installed; the cluster demo needs it (Debian: apt-get install \
             nats-server, or see https://nats.io/download)"
                .to_string(),
        );
    };
    let nats_port = match flag::<u16>(args, "--port")? {
        Some(port) => port,
        None => free_port()?,
    };
    let url = format!("nats://127.0.0.1:{nats_port}");
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut processes = Processes(Vec::new());
    let server = Command::new(&broker)
        .args(["-a", "127.0.0.1", "-p", &nats_port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", broker.display()))?;
    processes.0.push(("nats-server".into(), server));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", nats_port)).is_err() {
        if Instant::now() > deadline {
            return Err("nats-server did not start listening".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("nats-server on {url}");
    let source = Command::new(&me)
        .args(["source", "--nats", &url, "--loop", "--file"])
        .arg(&file)
        .spawn()
        .map_err(|e| e.to_string())?;
    processes.0.push(("source".into(), source));
    for i in 0..edges {
        let bind = format!("127.0.0.1:{}", free_port()?);
        let edge = Command::new(&me)
            .args(["edge", "--nats", &url, "--bind", &bind])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        processes.0.push((format!("edge {}", i + 1), edge));
        println!(
            "edge {}: listen at http://{bind}/stream.ogg (ffplay, mpv, a browser)",
            i + 1
        );
    }
    println!("Ctrl-C stops the demo.");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        loop {
            tokio::select! {
                () = stop_requested() => return Ok(()),
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    for (name, child) in &mut processes.0 {
                        if let Ok(Some(status)) = child.try_wait() {
                            return Err(format!("{name} stopped ({status})"));
                        }
                    }
                }
            }
        }
    })
}
