//! Servers on every core: one [`TcpServer`] per core of a [`Cores`](axon_core::Cores), each
//! running its connections' components on its own thread.
//!
//! Two ways to spread connections, both here because which is better depends on the load
//! (docs/benchmarks.md, `cargo xtask bench multicore`, has the measurement):
//! - [`Spread::ReusePort`]: every core listens on the same address with `SO_REUSEPORT` and the
//!   kernel hashes each new connection to one of them. No thread touches another's socket.
//! - [`Spread::OneAcceptor`]: core 0 accepts and hands each socket to the next core in turn
//!   over a cross-core link. Even under a skewed hash, at the price of a hop per connection.

use crate::connection::ConnectionInfo;
use crate::live::{Counters, LiveChunk, LiveConfig, LiveHttpServer};
use crate::server::{ServerConfig, TcpServer, listen_with};
use axon_core::{
    Boxes, Component, ComponentError, Control, CoreError, CoresHandle, CrossInbox, Inbox, Stage,
};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;

/// How [`serve_on_cores`] spreads connections over the cores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Spread {
    /// One `SO_REUSEPORT` listener per core (the default).
    #[default]
    ReusePort,
    /// One listener on core 0 handing sockets to each core in turn.
    OneAcceptor,
}

impl std::str::FromStr for Spread {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "reuseport" | "reuse-port" => Ok(Spread::ReusePort),
            "acceptor" | "one-acceptor" => Ok(Spread::OneAcceptor),
            other => Err(format!("unknown spread {other:?}: reuseport or acceptor")),
        }
    }
}

/// `count` `SO_REUSEPORT` listeners on one address (the first fixes the port when `bind` asks
/// for any), and that address.
fn reuseport_listeners(
    bind: SocketAddr,
    backlog: u32,
    count: usize,
) -> std::io::Result<(SocketAddr, Vec<std::net::TcpListener>)> {
    let first = listen_with(bind, backlog, true)?;
    let bound = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..count {
        listeners.push(listen_with(bound, backlog, true)?);
    }
    Ok((bound, listeners))
}

fn core_failed(e: CoreError) -> std::io::Error {
    std::io::Error::other(format!("cannot start the server on a core: {e}"))
}

/// Starts a [`TcpServer`] on every core of `cores`, serving `config.bind`, and returns the
/// bound address. `factory` makes each connection's protocol component on the connection's
/// own core (the protocol need not be `Send`; the factory is shared, so it must be).
/// `config.max_connections` is shared out: each core takes its part (rounded up).
///
/// Stop them with [`CoresHandle::shutdown`]; each core's server stops with its connections.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use axon_core::{Cores, components::map};
/// use bytes::Bytes;
/// use kamaelia_net::{ServerConfig, Spread, serve_on_cores};
///
/// let cores = Cores::new()?; // one per CPU
/// let config = ServerConfig::new("127.0.0.1:1501".parse().unwrap());
/// let addr = serve_on_cores(&cores, config, Spread::ReusePort, |_| map(|b: Bytes| b)).await?;
/// println!("echo on {addr}, {} cores", cores.len());
/// cores.wait().await;
/// # Ok(()) }
/// ```
pub async fn serve_on_cores<P, F>(
    cores: &CoresHandle,
    config: ServerConfig,
    spread: Spread,
    factory: F,
) -> std::io::Result<SocketAddr>
where
    P: Stage<In = Bytes, Out = Bytes> + Component,
    F: Fn(&ConnectionInfo) -> P + Send + Sync + 'static,
{
    let factory = Arc::new(factory);
    let mut per_core = config.clone();
    per_core.max_connections = config.max_connections.map(|m| m.div_ceil(cores.len()));
    match spread {
        Spread::ReusePort => {
            let (bound, listeners) = reuseport_listeners(config.bind, config.backlog, cores.len())?;
            for (core, listener) in listeners.into_iter().enumerate() {
                let (factory, config) = (factory.clone(), per_core.clone());
                cores
                    .on(core, move |scheduler| {
                        let server =
                            TcpServer::from_listener(listener, config, move |info| factory(info))?;
                        scheduler.activate(server);
                        Ok::<(), std::io::Error>(())
                    })
                    .await
                    .map_err(core_failed)??;
            }
            Ok(bound)
        }
        Spread::OneAcceptor => {
            let listener = listen_with(config.bind, config.backlog, false)?;
            let bound = listener.local_addr()?;
            let mut servers = Vec::with_capacity(cores.len());
            for core in 0..cores.len() {
                let factory = factory.clone();
                let mut config = per_core.clone();
                config.bind = bound;
                let address = cores
                    .on(core, move |scheduler| {
                        let server = TcpServer::handoff_only(config, move |info| factory(info))?;
                        let address = CrossInbox::of(&server.handoff, &server.control)
                            .map_err(std::io::Error::other)?;
                        scheduler.activate(server);
                        Ok::<_, std::io::Error>(address)
                    })
                    .await
                    .map_err(core_failed)??;
                servers.push(address);
            }
            cores
                .on(0, move |scheduler| {
                    scheduler.activate(Acceptor {
                        control: Inbox::new(),
                        listener: Some(listener),
                        servers,
                    });
                })
                .await
                .map_err(core_failed)?;
            Ok(bound)
        }
    }
}

/// Accepts on one listener and hands each connection to the next server in turn, skipping a
/// server whose hand-off queue is full (and waiting on the next one only when all are).
#[derive(Boxes)]
struct Acceptor {
    /// `ShutdownMicroprocess` (or `ProducerFinished`) stops accepting.
    control: Inbox<Control>,
    listener: Option<std::net::TcpListener>,
    servers: Vec<CrossInbox<std::net::TcpStream>>,
}

impl Component for Acceptor {
    async fn main(mut self) -> Result<(), ComponentError> {
        let listener = match self.listener.take() {
            Some(socket) => tokio::net::TcpListener::from_std(socket)?,
            None => return Ok(()),
        };
        let mut next = 0usize;
        loop {
            let stream = tokio::select! {
                _ = self.control.recv() => return Ok(()),
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        crate::access::accept_failed(&e);
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            let Ok(stream) = stream.into_std() else {
                continue;
            };
            // The next server with room takes it; if none has, wait on the next in turn.
            let mut unplaced = Some(stream);
            for _ in 0..self.servers.len() {
                let Some(stream) = unplaced.take() else { break };
                let server = &self.servers[next % self.servers.len()];
                next = next.wrapping_add(1);
                if let Err(e) = server.try_send(stream) {
                    unplaced = Some(e.into_inner());
                }
            }
            if let Some(stream) = unplaced {
                let server = &self.servers[next % self.servers.len()];
                next = next.wrapping_add(1);
                if server.send(stream).await.is_err() {
                    tracing::warn!("a core's server has gone; connection dropped");
                }
            }
        }
    }
}

/// Starts a live HTTP server with one shard per core of `cores`: each shard listens on the
/// same address (`SO_REUSEPORT`) and serves the listeners the kernel gives it, from its own
/// core. Returns the address and each shard's input: make an [`axon_core::CrossFanout`] of them beside
/// the source (on any core) and feed the stream into it. Each chunk then crosses to each core
/// once, by reference (`Bytes`), and each shard fans it out to its listeners without a copy.
///
/// The shards share their counters, so `/stats` and the CAT values
/// (`net.live.<addr>.*`, on every core) count the whole server, and
/// `config.max_connections` limits the whole server. A listener arriving on any shard gets
/// the same header, burst and join point: every shard sees every chunk.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use axon_core::{Cores, CrossFanout, components::DataSource, link};
/// use bytes::Bytes;
/// use kamaelia_net::{ChunkKind, LiveChunk, LiveConfig, serve_live_on_cores};
///
/// let cores = Cores::new()?;
/// let (addr, shards) = serve_live_on_cores(&cores, LiveConfig::new("127.0.0.1:8000".parse().unwrap())).await?;
/// cores.spawn_on(0, move || {
///     let fanout = CrossFanout::new(shards);
///     let ticks = DataSource::new((0..1000).map(|i| LiveChunk {
///         bytes: Bytes::from(format!("tick {i}\n")),
///         kind: ChunkKind::JoinPoint,
///     }));
///     link(&ticks.outbox, &fanout.inbox).unwrap();
///     link(&ticks.signal, &fanout.control).unwrap();
///     axon_core::activate(fanout);
///     ticks
/// }).unwrap();
/// println!("listen at http://{addr}/stream");
/// cores.wait().await;
/// # Ok(()) }
/// ```
pub async fn serve_live_on_cores(
    cores: &CoresHandle,
    config: LiveConfig,
) -> std::io::Result<(SocketAddr, Vec<CrossInbox<LiveChunk>>)> {
    let (bound, sockets) = reuseport_listeners(config.bind, config.backlog, cores.len())?;
    let counters = std::sync::Arc::new(Counters::default());
    let mut shards = Vec::with_capacity(cores.len());
    for (core, socket) in sockets.into_iter().enumerate() {
        let mut config = config.clone();
        config.bind = bound;
        let counters = counters.clone();
        let address = cores
            .on(core, move |scheduler| {
                let shard = LiveHttpServer::shard(socket, config, counters, core == 0)?;
                let address =
                    CrossInbox::of(&shard.inbox, &shard.control).map_err(std::io::Error::other)?;
                scheduler.activate(shard);
                Ok::<_, std::io::Error>(address)
            })
            .await
            .map_err(core_failed)??;
        shards.push(address);
    }
    Ok((bound, shards))
}
