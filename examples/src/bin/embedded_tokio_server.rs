//! `embedded_tokio_server --bind ADDR`: an existing multi-threaded tokio application — a plain
//! TCP line server — whose request handling goes through an axon-core Pipeline, reached through
//! a `Handle`. The scheduler runs pinned to one thread of a `LocalPoolHandle`; connections are
//! ordinary tokio tasks on any worker thread.
//!
//! Each line a client sends comes back upper-cased with a request number. Prints
//! `listening on ADDR` first; stops cleanly on Ctrl-C.

use axon_core::components::map;
use axon_core::{Handle, Scheduler, pipeline};
use std::net::SocketAddr;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A request travelling through the pipeline with its reply address.
type Request = (String, oneshot::Sender<String>);

fn usage() -> ! {
    eprintln!("usage: embedded_tokio_server [--bind ADDR]   (default 127.0.0.1:0)");
    std::process::exit(2);
}

fn parse_args() -> SocketAddr {
    let mut args = std::env::args().skip(1);
    let mut bind: SocketAddr = "127.0.0.1:0".parse().expect("valid default");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bind" => {
                bind = args
                    .next()
                    .and_then(|a| a.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--help" | "-h" => usage(),
            _ => usage(),
        }
    }
    bind
}

/// Builds the request-handling pipeline on the scheduler's own thread and hands back a handle.
async fn start_pipeline(pool: &tokio_util::task::LocalPoolHandle) -> Handle<Request, ()> {
    let (handle_tx, handle_rx) = oneshot::channel();
    pool.spawn_pinned(move || async move {
        let scheduler = Scheduler::new();
        let mut served = 0u64;
        let system = pipeline!(
            map(|(line, reply): Request| (line.trim().to_uppercase(), reply)),
            map(move |(line, reply): Request| {
                served += 1;
                let _ = reply.send(format!("{served}: {line}"));
            }),
        )
        .expect("fresh stages link");
        let handle = scheduler.handle(system).expect("fresh pipeline links");
        let _ = handle_tx.send(handle);
        scheduler.run().await;
    });
    handle_rx.await.expect("the scheduler thread started")
}

async fn serve(
    stream: tokio::net::TcpStream,
    pipeline: Handle<Request, ()>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        let (reply_tx, reply_rx) = oneshot::channel();
        if pipeline.put((line, reply_tx)).await.is_err() {
            break;
        }
        let Ok(reply) = reply_rx.await else { break };
        write.write_all(reply.as_bytes()).await?;
        write.write_all(b"\n").await?;
    }
    Ok(())
}

fn main() {
    let bind = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result: std::io::Result<()> = runtime.block_on(async {
        let pool = tokio_util::task::LocalPoolHandle::new(1);
        let handle = start_pipeline(&pool).await;
        let listener = TcpListener::bind(bind).await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = accepted?;
                    let handle = handle.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve(stream, handle).await {
                            eprintln!("{peer}: {e}");
                        }
                    });
                }
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("stopping");
                    handle.finish().await;
                    return Ok(());
                }
            }
        }
    });
    if let Err(e) = result {
        eprintln!("embedded_tokio_server: {e}");
        std::process::exit(1);
    }
}
