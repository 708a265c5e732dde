//! `TcpServer`: a protocol component per connection.

use crate::access::{ConnectionEvent, ConnectionRecord, Reason};
use crate::connection::{Budget, ConnectionInfo, OnFinish, Stats, TcpConnection};
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox, Stage, link};
use bytes::Bytes;
use kamaelia_cat::Cat;
use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

/// How a [`TcpServer`] listens and what it allows.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on (examples use 127.0.0.1).
    pub bind: SocketAddr,
    /// Listen backlog: connections the kernel queues before `accept` (at least 1024 by
    /// default, so thousands of clients arriving at once are not turned away).
    pub backlog: u32,
    /// Connections open at once; an extra one is accepted and closed at once (counted in
    /// `refused`). `None`: no limit.
    pub max_connections: Option<usize>,
    /// A connection on which no byte moves in either direction for this long is closed, and
    /// its protocol told why (`Control::Failed`). This is also what frees a client that stops
    /// reading: its writes stall, so nothing moves. `None`: never.
    pub idle_timeout: Option<Duration>,
    /// Messages queued for writing per connection before the protocol's sends wait, at most
    /// (the byte budget below usually allows fewer).
    pub write_queue: usize,
    /// Bytes one connection may hold in its two queues, beyond the kernel's socket buffers:
    /// half for bytes read and not yet taken by the protocol (the socket is not read while
    /// that half is full), half for replies waiting to be written (the protocol's sends wait
    /// while it is full). A client that sends and never reads therefore pins about this much,
    /// however much it sends. The write half is counted in messages the size of the largest
    /// reply seen so far, so one reply larger than the half still goes through, alone.
    /// Default [`DEFAULT_CONNECTION_BUDGET`] (256 KiB).
    pub connection_budget: usize,
    /// Sets `SO_REUSEPORT` on the listening socket, so several listeners (one per core, see
    /// [`serve_on_cores`](crate::serve_on_cores)) share one address and the kernel spreads
    /// connections over them. Default off.
    pub reuse_port: bool,
}

/// Bytes a connection may hold in its queues by default: 256 KiB.
pub const DEFAULT_CONNECTION_BUDGET: usize = 256 * 1024;

impl ServerConfig {
    /// Listen on `bind` with the defaults: backlog 1024, no connection limit, no idle timeout,
    /// a write queue of at most 64 messages, a connection budget of 256 KiB.
    pub fn new(bind: SocketAddr) -> Self {
        ServerConfig {
            bind,
            backlog: 1024,
            max_connections: None,
            idle_timeout: None,
            write_queue: axon_core::DEFAULT_CAPACITY,
            connection_budget: DEFAULT_CONNECTION_BUDGET,
            reuse_port: false,
        }
    }

    /// Sets the bytes one connection may hold in its queues (see
    /// [`connection_budget`](Self::connection_budget); at least 2 KiB).
    pub fn connection_budget(mut self, bytes: usize) -> Self {
        self.connection_budget = bytes;
        self
    }

    /// Sets the connection limit.
    pub fn max_connections(mut self, limit: usize) -> Self {
        self.max_connections = Some(limit);
        self
    }

    /// Sets the idle timeout.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }
}

/// A non-blocking listening socket on `bind` with the given backlog (the kernel caps it at
/// `net.core.somaxconn`).
pub(crate) fn listen(bind: SocketAddr, backlog: u32) -> std::io::Result<std::net::TcpListener> {
    listen_with(bind, backlog, false)
}

/// [`listen`], optionally with `SO_REUSEPORT`.
pub(crate) fn listen_with(
    bind: SocketAddr,
    backlog: u32,
    reuse_port: bool,
) -> std::io::Result<std::net::TcpListener> {
    let domain = socket2::Domain::for_address(bind);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    #[cfg(not(all(unix, not(any(target_os = "solaris", target_os = "illumos")))))]
    if reuse_port {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "SO_REUSEPORT is not available on this platform",
        ));
    }
    socket.bind(&bind.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

type Factory<P> = Box<dyn FnMut(&ConnectionInfo) -> Result<P, String>>;

/// Accepts TCP connections; for each, a [`TcpConnection`] (the socket) and a protocol component
/// from the factory, linked both ways: the protocol sees the client's bytes on its `inbox` and
/// what it sends on its `outbox` goes to the client. Client end of stream → `ProducerFinished`
/// to the protocol's `control`; protocol exit (`ProducerFinished` on its `signal`) → the socket
/// flushes and closes. Resets, half-closes and abrupt disconnects end only their own connection.
///
/// `ShutdownMicroprocess` on `control` stops accepting and shuts every connection down.
#[derive(Boxes)]
#[doc(alias("SimpleServer", "ServerCore", "FastRestartServer"))]
pub struct TcpServer<P: Stage<In = Bytes, Out = Bytes> + Component> {
    /// `ShutdownMicroprocess` stops the server; `ProducerFinished` stops accepting and lets
    /// open connections finish.
    pub control: Inbox<Control>,
    /// The message that stopped it, once every connection has closed.
    pub signal: Outbox<Control>,
    /// Connections accepted elsewhere (by an acceptor on another core, see
    /// [`serve_on_cores`](crate::serve_on_cores)), served here like the server's own.
    pub handoff: Inbox<std::net::TcpStream>,
    socket: Option<std::net::TcpListener>,
    local: SocketAddr,
    config: ServerConfig,
    factory: Factory<P>,
}

impl<P: Stage<In = Bytes, Out = Bytes> + Component> TcpServer<P> {
    /// Binds and listens now (so the address is known, clients can connect at once, and a port
    /// in use is an error here); accepts once activated. `factory` makes the protocol component
    /// for each connection.
    pub fn bind(
        config: ServerConfig,
        mut factory: impl FnMut(&ConnectionInfo) -> P + 'static,
    ) -> std::io::Result<Self> {
        Self::bind_fallible(config, move |info| {
            Ok::<P, std::convert::Infallible>(factory(info))
        })
    }

    /// As [`bind`](Self::bind), with a factory that may fail (a `pipeline!` that does not link,
    /// a resource it cannot open): that connection is refused — closed at once, logged with
    /// reason `protocol_error` and counted in `refused` — and the server goes on. A factory
    /// that panics is treated the same way.
    ///
    /// ```no_run
    /// use axon_core::{components::map, pipeline};
    /// use bytes::Bytes;
    /// use kamaelia_net::{ServerConfig, TcpServer};
    ///
    /// let server = TcpServer::bind_fallible(ServerConfig::new("127.0.0.1:0".parse().unwrap()), |_| {
    ///     pipeline!(map(|b: Bytes| b), map(|b: Bytes| b)) // Result<Pipeline, LinkError>
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_fallible<E: std::fmt::Display>(
        config: ServerConfig,
        factory: impl FnMut(&ConnectionInfo) -> Result<P, E> + 'static,
    ) -> std::io::Result<Self> {
        let socket = listen_with(config.bind, config.backlog, config.reuse_port)?;
        Self::with_socket(Some(socket), config, factory)
    }

    /// A server that serves an already listening socket (for example one of several
    /// `SO_REUSEPORT` listeners made elsewhere).
    pub fn from_listener(
        socket: std::net::TcpListener,
        config: ServerConfig,
        mut factory: impl FnMut(&ConnectionInfo) -> P + 'static,
    ) -> std::io::Result<Self> {
        socket.set_nonblocking(true)?;
        Self::with_socket(Some(socket), config, move |info| {
            Ok::<P, std::convert::Infallible>(factory(info))
        })
    }

    /// A server with no listener of its own: it serves the connections that arrive on its
    /// [`handoff`](Self::handoff) inbox (`config.bind` names the address they were accepted on).
    pub fn handoff_only(
        config: ServerConfig,
        mut factory: impl FnMut(&ConnectionInfo) -> P + 'static,
    ) -> std::io::Result<Self> {
        Self::with_socket(None, config, move |info| {
            Ok::<P, std::convert::Infallible>(factory(info))
        })
    }

    fn with_socket<E: std::fmt::Display>(
        socket: Option<std::net::TcpListener>,
        config: ServerConfig,
        mut factory: impl FnMut(&ConnectionInfo) -> Result<P, E> + 'static,
    ) -> std::io::Result<Self> {
        let local = match &socket {
            Some(socket) => socket.local_addr()?,
            None => config.bind,
        };
        Ok(TcpServer {
            control: Inbox::new(),
            signal: Outbox::new(),
            handoff: Inbox::new(),
            socket,
            local,
            config,
            factory: Box::new(move |info| factory(info).map_err(|e| e.to_string())),
        })
    }

    /// The address it is bound to (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl<P: Stage<In = Bytes, Out = Bytes> + Component> Component for TcpServer<P> {
    async fn main(mut self) -> Result<(), ComponentError> {
        let listener = match self.socket.take() {
            Some(socket) => Some(tokio::net::TcpListener::from_std(socket)?),
            None => None,
        };
        let cat = Cat::current()?;
        let prefix = format!("net.tcp.{}", self.local);
        let name = |what: &str| -> Rc<str> { format!("{prefix}.{what}").into() };
        let stats = Stats {
            bytes_in: name("bytes_in"),
            bytes_out: name("bytes_out"),
            connections: name("connections"),
            open: Rc::new(Cell::new(0)),
        };
        let (accepted, refused) = (name("accepted"), name("refused"));
        for value in [
            &stats.bytes_in,
            &stats.bytes_out,
            &stats.connections,
            &accepted,
            &refused,
        ] {
            cat.set_value(value, 0)?;
        }
        let mut next_id = 0u64;
        let ending = loop {
            let (stream, peer) = tokio::select! {
                message = self.control.recv() => break message,
                accepted_connection = accept(listener.as_ref()) => match accepted_connection {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: say so (once a second at
                        // most), keep serving.
                        crate::access::accept_failed(&e);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
                handed = self.handoff.recv() => match adopt(handed) {
                    Some(pair) => pair,
                    None => continue, // gone before it got here: nothing to serve
                },
            };
            if self
                .config
                .max_connections
                .is_some_and(|max| stats.open.get() >= max)
            {
                let detail = format!("{} connections open", stats.open.get());
                refuse(&cat, &refused, peer, Reason::ServerFull, &detail);
                drop(stream); // closed at once: the client sees EOF, not a hang
                continue;
            }
            next_id += 1;
            let info = ConnectionInfo {
                id: next_id,
                peer,
                local: stream.local_addr().unwrap_or(self.local),
            };
            // A factory that fails, or panics, refuses this one connection.
            let made =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.factory)(&info)))
                    .unwrap_or_else(|panic| {
                        Err(panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "the protocol factory panicked".into()))
                    });
            let protocol = match made {
                Ok(protocol) => protocol,
                Err(why) => {
                    refuse(&cat, &refused, peer, Reason::ProtocolError, &why);
                    continue;
                }
            };
            cat.add_to_value(&accepted, 1);
            ConnectionRecord {
                peer,
                path: None,
                event: ConnectionEvent::Accepted,
                reason: Reason::Listening,
                detail: "",
                bytes: 0,
            }
            .log();
            let budget = Budget::new(self.config.connection_budget, self.config.write_queue);
            let connection = TcpConnection::new(
                stream,
                OnFinish::Close,
                self.config.idle_timeout,
                Some(stats.clone()),
                budget,
            );
            if let Some(inbox) = protocol.stage_inbox() {
                // Read bytes are sent in chunks of at most `read_chunk`: this many
                // queued keep them within the read half of the budget.
                inbox.set_capacity(inbox.capacity().min(budget.read_slots()));
                link(&connection.outbox, inbox)?;
            }
            if let Some(control) = protocol.stage_control() {
                link(&connection.signal, control)?;
            }
            if let Some(outbox) = protocol.stage_outbox() {
                link(outbox, &connection.inbox)?;
            }
            if let Some(signal) = protocol.stage_signal() {
                link(signal, &connection.control)?;
            }
            stats.open.set(stats.open.get() + 1);
            cat.set_value(&stats.connections, stats.open.get())?;
            axon_core::activate(connection);
            axon_core::activate(protocol);
        };
        drop(listener);
        let children = axon_core::children();
        if ending.is_producer_finished() {
            children.all_done().await;
        } else {
            children.shutdown(Duration::from_secs(1)).await;
        }
        self.signal.send(ending).await?;
        Ok(())
    }
}

/// The next connection on `listener`; never, for a server with no listener of its own.
async fn accept(
    listener: Option<&tokio::net::TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// A connection accepted on another thread, made ready for this one's runtime.
fn adopt(stream: std::net::TcpStream) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    stream.set_nonblocking(true).ok()?;
    let peer = stream.peer_addr().ok()?;
    Some((tokio::net::TcpStream::from_std(stream).ok()?, peer))
}

/// A connection turned away (the stream is dropped by the caller, so it closes at once):
/// counted in `refused` and logged with why.
fn refuse(cat: &Cat, refused: &str, peer: SocketAddr, reason: Reason, detail: &str) {
    cat.add_to_value(refused, 1);
    ConnectionRecord {
        peer,
        path: None,
        event: ConnectionEvent::Refused,
        reason,
        detail,
        bytes: 0,
    }
    .log();
}
