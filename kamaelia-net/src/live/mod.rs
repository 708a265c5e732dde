//! `LiveHttpServer`: one live stream, fanned out by reference to many HTTP listeners, the way
//! Icecast serves a radio stream. Codec-agnostic: the stream arrives as chunks marked as header
//! (sent first to every listener), join point (where a listener may start) or continuation.
//!
//! - `mod.rs`: the configuration and the server (accepting, admitting, ending).
//! - `audience.rs`: who listens, the header and burst a newcomer starts with, lag.
//! - `listener.rs`: one HTTP connection (request, response, streaming).
//! - `counters.rs`: statistics and connection events by reason.

pub(crate) mod audience;
pub(crate) mod counters;
pub(crate) mod listener;

use crate::access::ConnectionRecord;
use crate::access::{ConnectionEvent, Reason};
use crate::http::{RequestLimits, response};
use audience::Audience;
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Next, Outbox};
use bytes::Bytes;
pub(crate) use counters::Counters;
use counters::Open;
use kamaelia_cat::Cat;
use listener::{Listener, Refusal};
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpStream;

/// What a chunk of the live stream is to a listener.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "nats", derive(serde::Serialize, serde::Deserialize))]
pub enum ChunkKind {
    /// Part of the stream's header: every listener receives the latest run of header chunks
    /// before anything else. A header chunk after other chunks starts a new header (a new link
    /// of a chained stream); listeners already playing receive it in the stream.
    Header,
    /// A listener may start here (after the header).
    JoinPoint,
    /// Only for listeners already started.
    Continuation,
}

/// A chunk of the live stream. Its bytes are shared by every listener: no copy per listener.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "nats", derive(serde::Serialize, serde::Deserialize))]
pub struct LiveChunk {
    /// The bytes, sent as they are.
    pub bytes: Bytes,
    /// Where it stands for listeners.
    pub kind: ChunkKind,
}

impl From<kamaelia_codec::OggPage> for LiveChunk {
    /// Header pages are the header every listener gets first; pages that begin a packet are
    /// where a listener may join.
    fn from(page: kamaelia_codec::OggPage) -> Self {
        let kind = if page.is_header() {
            ChunkKind::Header
        } else if page.is_join_point() {
            ChunkKind::JoinPoint
        } else {
            ChunkKind::Continuation
        };
        LiveChunk {
            bytes: page.into_bytes(),
            kind,
        }
    }
}

/// How a [`LiveHttpServer`] listens, what it serves, and what it allows.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// The stream's path (default `/stream`); every other path but `/stats` is 404.
    pub path: String,
    /// The stream's `Content-Type` (default `application/octet-stream`).
    pub content_type: String,
    /// Listen backlog (default 4096; the kernel caps it at `net.core.somaxconn`).
    pub backlog: u32,
    /// Connections open at once; more are answered 503 and closed. `None`: no limit.
    pub max_connections: Option<usize>,
    /// Chunks a listener may fall behind (queued, not yet written to its socket) before it is
    /// disconnected (default 256). The queue holds references to shared chunks, so a slow
    /// listener costs a few bytes per chunk, never a copy.
    pub max_lag: usize,
    /// Limits on reading request heads.
    pub request_limits: RequestLimits,
    /// Once the stream ends, how long a listener has to take what was queued for it before
    /// its connection is closed anyway (default 10 s).
    pub end_grace: Duration,
    /// How much of the recent stream (by arrival time) a new listener is sent at once, after
    /// the header, so its player starts without waiting to fill its buffer (default 2 s, at
    /// most [`MAX_BURST`]; zero: start at the next join point). The source must arrive at
    /// real time (paced by audio time) for this to be seconds of audio. A burst is a fixed
    /// lead: each listener is that far ahead of the live point, never further.
    pub burst: Duration,
    /// Sets `SO_REUSEPORT` on the listening socket, so a shard per core can share the address
    /// (see [`serve_live_on_cores`](crate::serve_live_on_cores)). Default off.
    pub reuse_port: bool,
}

/// The largest per-listener burst [`LiveConfig::burst`] allows.
pub const MAX_BURST: Duration = Duration::from_secs(5);

impl LiveConfig {
    /// Serves `/stream` on `bind` as `application/octet-stream`, with the defaults above.
    pub fn new(bind: SocketAddr) -> Self {
        LiveConfig {
            bind,
            path: "/stream".into(),
            content_type: "application/octet-stream".into(),
            backlog: 4096,
            max_connections: None,
            max_lag: 256,
            request_limits: RequestLimits::default(),
            end_grace: Duration::from_secs(10),
            burst: Duration::from_secs(2),
            reuse_port: false,
        }
    }

    /// Sets the per-listener burst (capped at [`MAX_BURST`]).
    pub fn burst(mut self, burst: Duration) -> Self {
        self.burst = burst.min(MAX_BURST);
        self
    }

    /// Sets the stream's path.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Sets the stream's content type.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = content_type.into();
        self
    }

    /// Sets the connection limit.
    pub fn max_connections(mut self, limit: usize) -> Self {
        self.max_connections = Some(limit);
        self
    }

    /// Sets how far (in chunks) a listener may fall behind.
    pub fn max_lag(mut self, chunks: usize) -> Self {
        self.max_lag = chunks.max(1);
        self
    }

    /// Sets how long listeners get to take the rest once the stream ends.
    pub fn end_grace(mut self, grace: Duration) -> Self {
        self.end_grace = grace;
        self
    }

    /// Sets the request-head limits.
    pub fn request_limits(mut self, limits: RequestLimits) -> Self {
        self.request_limits = limits;
        self
    }
}

/// What the server and its listeners share (one thread: cells, no locks).
struct Shared {
    config: LiveConfig,
    counters: Arc<Counters>,
    audience: RefCell<Audience>,
    /// The source has ended: no listener is admitted any more.
    ended: Cell<bool>,
}

/// Serves one live stream over HTTP/1.1 to many listeners.
///
/// - `GET <path>`: `200` with the configured `Content-Type` and no length; the body is the
///   latest header chunks, then the recent [`burst`](LiveConfig::burst) of the stream from a
///   join point (or, with none in the burst, the stream from the next join point), until the
///   stream ends or the listener falls [`max_lag`](LiveConfig::max_lag) chunks behind (then it
///   is disconnected, counted in `dropped`, and nobody else is slowed down).
/// - Every connection event (joined, closed, dropped, refused, rejected, answered) is one log
///   line (see [`ConnectionRecord`](crate::ConnectionRecord)) and counted by its reason in
///   `/stats` (`by_reason`) and the CAT (`net.live.<bind>.reason.<reason>`).
/// - `HEAD <path>`: the same head, no body. `GET /stats`: the counters as JSON.
/// - Anything else: `404`, `405` (other methods), `400` (malformed), `408` (head not received
///   within the time limit: slowloris), `431` (head too large), `503` (connection limit).
///
/// The stream arrives on `inbox`. `ProducerFinished` on `control` ends the stream: listeners
/// receive what was queued for them, then their connections close, and the server stops once
/// every connection has closed. `ShutdownMicroprocess` closes everything at once.
///
/// ```no_run
/// use axon_core::{Scheduler, components::DataSource, link};
/// use bytes::Bytes;
/// use kamaelia_net::{ChunkKind, LiveChunk, LiveConfig, LiveHttpServer};
///
/// # async fn example() -> std::io::Result<()> {
/// let config = LiveConfig::new("127.0.0.1:8000".parse().unwrap()).path("/ticks");
/// let server = LiveHttpServer::bind(config)?;
/// let ticks = DataSource::new((0..1000).map(|i| LiveChunk {
///     bytes: Bytes::from(format!("tick {i}\n")),
///     kind: ChunkKind::JoinPoint,
/// }));
/// link(&ticks.outbox, &server.inbox).unwrap();
/// link(&ticks.signal, &server.control).unwrap();
/// let scheduler = Scheduler::new();
/// scheduler.activate(server);
/// scheduler.activate(ticks);
/// scheduler.run().await;
/// # Ok(()) }
/// ```
#[derive(Boxes)]
#[doc(alias("Icecast", "radio"))]
pub struct LiveHttpServer {
    /// The live stream.
    pub inbox: Inbox<LiveChunk>,
    /// `ProducerFinished`: the stream has ended; `ShutdownMicroprocess`: stop now.
    pub control: Inbox<Control>,
    /// The message that stopped it, once every connection has closed.
    pub signal: Outbox<Control>,
    socket: Option<std::net::TcpListener>,
    local: SocketAddr,
    config: LiveConfig,
    counters: Arc<Counters>,
    /// Whether this server counts the source's chunks (of several shards, one does).
    counts_chunks: bool,
}

impl LiveHttpServer {
    /// Binds and listens now (so the address is known and a port in use is an error here);
    /// serves once activated.
    pub fn bind(config: LiveConfig) -> std::io::Result<Self> {
        let socket = crate::server::listen_with(config.bind, config.backlog, config.reuse_port)?;
        Self::shard(socket, config, Arc::default(), true)
    }

    /// One shard of a server on several cores: its own listening socket, counters shared
    /// with the other shards.
    pub(crate) fn shard(
        socket: std::net::TcpListener,
        config: LiveConfig,
        counters: Arc<Counters>,
        counts_chunks: bool,
    ) -> std::io::Result<Self> {
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        Ok(LiveHttpServer {
            inbox: Inbox::new(),
            control: Inbox::new(),
            signal: Outbox::new(),
            socket: Some(socket),
            local,
            config,
            counters,
            counts_chunks,
        })
    }

    /// The address it is bound to (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Component for LiveHttpServer {
    async fn main(mut self) -> Result<(), ComponentError> {
        let socket = self.socket.take().expect("a server runs once");
        let listener = tokio::net::TcpListener::from_std(socket)?;
        let cat = Cat::current()?;
        let prefix = format!("net.live.{}", self.local);
        let shared = Rc::new(Shared {
            audience: RefCell::new(Audience::new(self.config.burst, self.config.max_lag)),
            config: self.config.clone(),
            counters: self.counters.clone(),
            ended: Cell::new(false),
        });
        let publish_stats = || {
            for (name, value) in shared.counters.named() {
                let _ = cat.set_value(&format!("{prefix}.{name}"), value);
            }
        };
        publish_stats();
        let mut stats_tick = tokio::time::interval(Duration::from_millis(500));
        let ending = loop {
            tokio::select! {
                next = self.inbox.next_or_control(&mut self.control) => match next {
                    Next::Data(chunk) => shared.audience.borrow_mut().publish(chunk, &shared.counters, self.counts_chunks),
                    Next::Control(message) => break message,
                },
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => admit(stream, peer, &shared),
                    Err(e) => {
                        // Out of file descriptors and the like: say so (once a second at
                        // most), keep serving.
                        crate::access::accept_failed(&e);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                _ = stats_tick.tick() => publish_stats(),
            }
        };
        drop(listener);
        shared.ended.set(true);
        let children = axon_core::children();
        if ending.is_producer_finished() {
            for listener in shared.audience.borrow().everyone() {
                listener.tell(Control::ProducerFinished);
            }
            children.all_done().await;
        } else {
            children.shutdown(Duration::from_secs(1)).await;
        }
        publish_stats();
        self.signal.send(ending).await?;
        Ok(())
    }
}

/// A new connection: a listener component, or 503 at the connection limit.
fn admit(stream: TcpStream, peer: SocketAddr, shared: &Rc<Shared>) {
    let Some(stream) = within_limit(
        stream,
        peer,
        &shared.counters,
        shared.config.max_connections,
    ) else {
        return;
    };
    // Counted from acceptance, so a burst of arrivals cannot pass the limit.
    let connection = Open::new(&shared.counters, |c| &c.connections);
    axon_core::activate(Listener {
        inbox: Inbox::with_capacity(shared.config.max_lag),
        control: Inbox::new(),
        stream: Some(stream),
        peer,
        _connection: connection,
        shared: shared.clone(),
    });
}

/// The connection back when fewer than `max` are open (with `TCP_NODELAY` set); else it is
/// answered 503, counted and logged, and `None` comes back.
pub(crate) fn within_limit(
    stream: TcpStream,
    peer: SocketAddr,
    counters: &Arc<Counters>,
    max: Option<usize>,
) -> Option<TcpStream> {
    let open = counters.connections.load(Ordering::Relaxed);
    if max.is_none_or(|max| open < max as u64) {
        let _ = stream.set_nodelay(true);
        return Some(stream);
    }
    let detail = format!("503: {open} connections open");
    counters.record(ConnectionRecord {
        peer,
        path: None,
        event: ConnectionEvent::Refused,
        reason: Reason::ServerFull,
        detail: &detail,
        bytes: 0,
    });
    let answer = response(503, "text/plain", "server full\n", false);
    if counters.refusing.load(Ordering::Relaxed) < MAX_REFUSING {
        // Answered with a lingering close (so the client sees the 503 rather than a reset)
        // by a short-lived component of its own.
        axon_core::activate(Refusal {
            control: Inbox::new(),
            stream: Some(stream),
            answer,
            _refusing: Open::new(counters, |c| &c.refusing),
        });
    } else {
        // A flood: answer without waiting and close at once.
        let _ = stream.try_write(answer.as_bytes());
    }
    None
}

/// Refusals answered with a lingering close at once; past this, refusals close at once.
const MAX_REFUSING: u64 = 64;
