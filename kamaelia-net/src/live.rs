//! `LiveHttpServer`: one live stream, fanned out by reference to many HTTP listeners, the way
//! Icecast serves a radio stream. Codec-agnostic: the stream arrives as chunks marked as header
//! (sent first to every listener), join point (where a listener may start) or continuation.

use crate::http::{RequestLimits, read_request, response, response_head};
use axon_core::{
    Boxes, Component, ComponentError, Control, FailureInfo, Inbox, InboxRef, Next, Outbox,
    TrySendError,
};
use bytes::Bytes;
use kamaelia_cat::Cat;
use std::cell::{Cell, RefCell};
use std::io::IoSlice;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a chunk of the live stream is to a listener.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
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
pub struct LiveChunk {
    /// The bytes, sent as they are.
    pub bytes: Bytes,
    /// Where it stands for listeners.
    pub kind: ChunkKind,
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
}

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
        }
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

/// The server's counters: published as CAT values `net.live.<bind>.<name>` and served as JSON
/// at `/stats`.
#[derive(Default)]
struct Counters {
    /// Connections open now.
    connections: Cell<u64>,
    /// Listeners receiving the stream now.
    listeners: Cell<u64>,
    /// Stream responses started, in all.
    served: Cell<u64>,
    /// Listeners disconnected for falling behind.
    dropped: Cell<u64>,
    /// Connections refused (503) at the connection limit.
    refused: Cell<u64>,
    /// Requests for unknown paths (404).
    not_found: Cell<u64>,
    /// Requests answered 400, 405, 408 or 431.
    bad_requests: Cell<u64>,
    /// Stream bytes written to listeners' sockets.
    bytes_out: Cell<u64>,
    /// Chunks received from the source.
    chunks: Cell<u64>,
    /// Refusals being answered now (each holds its connection about a second, at most the
    /// write grace plus the linger); not published.
    refusing: Cell<u64>,
}

impl Counters {
    fn named(&self) -> [(&'static str, u64); 9] {
        [
            ("connections", self.connections.get()),
            ("listeners", self.listeners.get()),
            ("served", self.served.get()),
            ("dropped", self.dropped.get()),
            ("refused", self.refused.get()),
            ("not_found", self.not_found.get()),
            ("bad_requests", self.bad_requests.get()),
            ("bytes_out", self.bytes_out.get()),
            ("chunks", self.chunks.get()),
        ]
    }

    fn json(&self) -> String {
        let fields: Vec<String> = self
            .named()
            .iter()
            .map(|(name, value)| format!("\"{name}\":{value}"))
            .collect();
        format!("{{{}}}\n", fields.join(","))
    }
}

fn bump(counter: &Cell<u64>, delta: i64) {
    counter.set(counter.get().saturating_add_signed(delta));
}

/// Where the server delivers to one listener.
struct Subscriber {
    data: InboxRef<Bytes>,
    control: InboxRef<Control>,
}

/// What the server and its listeners share (one thread: cells, no locks).
struct Shared {
    config: LiveConfig,
    counters: Counters,
    /// Listeners that have been sent the response head and wait for the next join point.
    waiting: RefCell<Vec<Subscriber>>,
    /// The source has ended: no listener is admitted any more.
    ended: Cell<bool>,
}

/// Serves one live stream over HTTP/1.1 to many listeners.
///
/// - `GET <path>`: `200` with the configured `Content-Type` and no length; the body is the
///   latest header chunks, then the stream from the next join point, until the stream ends or
///   the listener falls [`max_lag`](LiveConfig::max_lag) chunks behind (then it is
///   disconnected, counted in `dropped`, and nobody else is slowed down).
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
}

impl LiveHttpServer {
    /// Binds and listens now (so the address is known and a port in use is an error here);
    /// serves once activated.
    pub fn bind(config: LiveConfig) -> std::io::Result<Self> {
        let socket = crate::server::listen(config.bind, config.backlog)?;
        let local = socket.local_addr()?;
        Ok(LiveHttpServer {
            inbox: Inbox::new(),
            control: Inbox::new(),
            signal: Outbox::new(),
            socket: Some(socket),
            local,
            config,
        })
    }

    /// The address it is bound to (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

/// The fan-out: who is listening, and the header a new listener is sent first.
struct Fanout {
    streaming: Vec<Subscriber>,
    header: Vec<Bytes>,
    /// The header as one chunk (made once per header, not per listener), so a header of many
    /// chunks never counts against a newcomer's lag bound.
    joined_header: Option<Bytes>,
    in_header: bool,
}

impl Fanout {
    fn publish(&mut self, chunk: LiveChunk, shared: &Shared) {
        bump(&shared.counters.chunks, 1);
        if chunk.bytes.is_empty() {
            return; // nothing to send (and an empty HTTP chunk would end the body)
        }
        match chunk.kind {
            ChunkKind::Header => {
                if !self.in_header {
                    self.header.clear();
                    self.in_header = true;
                }
                self.header.push(chunk.bytes.clone());
                self.joined_header = None;
            }
            ChunkKind::JoinPoint => {
                self.in_header = false;
                let waiting = std::mem::take(&mut *shared.waiting.borrow_mut());
                if !waiting.is_empty() {
                    let header = self
                        .joined_header
                        .get_or_insert_with(|| Bytes::from(self.header.concat()))
                        .clone();
                    for listener in waiting {
                        if header.is_empty() || deliver(&listener, &header, shared) {
                            self.streaming.push(listener);
                        }
                    }
                }
            }
            ChunkKind::Continuation => self.in_header = false,
        }
        self.streaming
            .retain(|listener| deliver(listener, &chunk.bytes, shared));
    }
}

/// Queues `bytes` for one listener; false when it has gone or has fallen too far behind (then
/// it is told to close).
fn deliver(listener: &Subscriber, bytes: &Bytes, shared: &Shared) -> bool {
    match listener.data.try_send(bytes.clone()) {
        Ok(()) => true,
        Err(TrySendError::Full(_)) => {
            bump(&shared.counters.dropped, 1);
            let why = format!(
                "fell more than {} chunks behind the live stream",
                shared.config.max_lag
            );
            let _ = listener
                .control
                .try_send(Control::Failed(Box::new(FailureInfo::new(
                    "LiveHttpServer",
                    why,
                ))));
            false
        }
        Err(_) => false, // it has gone
    }
}

impl Component for LiveHttpServer {
    async fn main(mut self) -> Result<(), ComponentError> {
        let socket = self.socket.take().expect("a server runs once");
        let listener = tokio::net::TcpListener::from_std(socket)?;
        let cat = Cat::current()?;
        let prefix = format!("net.live.{}", self.local);
        let shared = Rc::new(Shared {
            config: self.config.clone(),
            counters: Counters::default(),
            waiting: RefCell::new(Vec::new()),
            ended: Cell::new(false),
        });
        let publish_stats = || {
            for (name, value) in shared.counters.named() {
                let _ = cat.set_value(&format!("{prefix}.{name}"), value);
            }
        };
        publish_stats();
        let mut fanout = Fanout {
            streaming: Vec::new(),
            header: Vec::new(),
            joined_header: None,
            in_header: false,
        };
        let mut stats_tick = tokio::time::interval(Duration::from_millis(500));
        let ending = loop {
            tokio::select! {
                next = self.inbox.next_or_control(&mut self.control) => match next {
                    Next::Data(chunk) => fanout.publish(chunk, &shared),
                    Next::Control(message) => break message,
                },
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => admit(stream, &shared),
                    Err(e) => {
                        // Out of file descriptors and the like: say so, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                _ = stats_tick.tick() => publish_stats(),
            }
        };
        drop(listener);
        shared.ended.set(true);
        let children = axon_core::children();
        if matches!(ending, Control::ProducerFinished) {
            let waiting = std::mem::take(&mut *shared.waiting.borrow_mut());
            for listener in fanout.streaming.iter().chain(&waiting) {
                let _ = listener.control.try_send(Control::ProducerFinished);
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
fn admit(stream: TcpStream, shared: &Rc<Shared>) {
    let open = shared.counters.connections.get();
    if shared
        .config
        .max_connections
        .is_some_and(|max| open >= max as u64)
    {
        bump(&shared.counters.refused, 1);
        let answer = response(503, "text/plain", "server full\n", false);
        if shared.counters.refusing.get() < MAX_REFUSING {
            // Answered with a lingering close (so the client sees the 503 rather than a reset)
            // by a short-lived component of its own.
            axon_core::activate(Refusal {
                control: Inbox::new(),
                stream: Some(stream),
                answer,
                _refusing: Open::new(shared, |c| &c.refusing),
            });
        } else {
            // A flood: answer without waiting and close at once.
            let _ = stream.try_write(answer.as_bytes());
        }
        return;
    }
    let _ = stream.set_nodelay(true);
    // Counted from acceptance, so a burst of arrivals cannot pass the limit.
    let connection = Open::new(shared, |c| &c.connections);
    // Listeners that left while waiting for a join point are forgotten here too, so a source
    // that rarely sends one cannot make the waiting list grow.
    let mut waiting = shared.waiting.borrow_mut();
    if waiting.len() > 64 + shared.counters.connections.get() as usize {
        waiting.retain(|listener| !listener.data.is_closed());
    }
    drop(waiting);
    axon_core::activate(Listener {
        inbox: Inbox::with_capacity(shared.config.max_lag),
        control: Inbox::new(),
        stream: Some(stream),
        _connection: connection,
        shared: shared.clone(),
    });
}

/// Counts something open (a connection, a listener) for as long as it lives.
struct Open {
    shared: Rc<Shared>,
    counter: fn(&Counters) -> &Cell<u64>,
}

impl Open {
    fn new(shared: &Rc<Shared>, counter: fn(&Counters) -> &Cell<u64>) -> Self {
        bump(counter(&shared.counters), 1);
        Open {
            shared: shared.clone(),
            counter,
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        bump((self.counter)(&self.shared.counters), -1);
    }
}

/// Refusals answered with a lingering close at once; past this, refusals close at once.
const MAX_REFUSING: u64 = 64;

/// Answers one connection past the limit with 503 and closes it.
#[derive(Boxes)]
struct Refusal {
    /// Shutdown.
    control: Inbox<Control>,
    stream: Option<TcpStream>,
    answer: String,
    /// Counted while it lives.
    _refusing: Open,
}

impl Component for Refusal {
    async fn main(mut self) -> Result<(), ComponentError> {
        if let Some(mut stream) = self.stream.take() {
            let answer = std::mem::take(&mut self.answer);
            tokio::select! {
                () = reply(&mut stream, answer) => {}
                _ = self.control.recv() => {}
            }
        }
        Ok(())
    }
}

/// Time allowed to write a small response or a response head.
const WRITE_GRACE: Duration = Duration::from_secs(10);

/// One HTTP connection: reads the request, then answers it or streams to it.
#[derive(Boxes)]
struct Listener {
    /// Stream chunks from the server.
    inbox: Inbox<Bytes>,
    /// `ProducerFinished`: the stream has ended; `Failed`: fell behind; shutdown.
    control: Inbox<Control>,
    stream: Option<TcpStream>,
    /// Counted while this listener lives.
    _connection: Open,
    shared: Rc<Shared>,
}

impl Component for Listener {
    async fn main(mut self) -> Result<(), ComponentError> {
        let Some(mut stream) = self.stream.take() else {
            return Ok(());
        };
        let shared = self.shared.clone();
        let counters = &shared.counters;
        let read = tokio::select! {
            read = read_request(&mut stream, shared.config.request_limits) => read,
            _ = self.control.recv() => return Ok(()),
        };
        let request = match read {
            Ok(request) => request,
            Err(error) => {
                if let Some(status) = error.status() {
                    bump(&counters.bad_requests, 1);
                    let body = format!("{error}\n");
                    reply(&mut stream, response(status, "text/plain", &body, false)).await;
                }
                return Ok(());
            }
        };
        let head_only = match request.method.as_str() {
            "GET" => false,
            "HEAD" => true,
            _ => {
                bump(&counters.bad_requests, 1);
                let body = "GET or HEAD only\n";
                let length = body.len().to_string();
                let mut answer = response_head(
                    405,
                    &[
                        ("Allow", "GET, HEAD"),
                        ("Content-Type", "text/plain"),
                        ("Content-Length", &length),
                    ],
                );
                answer.push_str(body);
                reply(&mut stream, answer).await;
                return Ok(());
            }
        };
        if request.path == shared.config.path {
            // HTTP/1.1 clients get chunked encoding, so the end of the stream is told apart
            // from a lost connection; HTTP/1.0 clients read until the connection closes.
            let chunked = request.minor_version >= 1 && !head_only;
            let mut headers = vec![
                ("Content-Type", shared.config.content_type.as_str()),
                ("Cache-Control", "no-cache, no-store"),
                ("Access-Control-Allow-Origin", "*"),
            ];
            if chunked {
                headers.push(("Transfer-Encoding", "chunked"));
            }
            let head = response_head(200, &headers);
            if head_only || shared.ended.get() {
                // After the end of the stream: an empty body, properly ended.
                let end = if chunked { "0\r\n\r\n" } else { "" };
                reply(&mut stream, head + end).await;
                return Ok(());
            }
            self.stream_to(stream, head, chunked).await;
        } else if request.path == "/stats" {
            let json = counters.json();
            reply(
                &mut stream,
                response(200, "application/json", &json, head_only),
            )
            .await;
        } else {
            bump(&counters.not_found, 1);
            let answer = response(404, "text/plain", "no such stream\n", head_only);
            reply(&mut stream, answer).await;
        }
        Ok(())
    }
}

/// Writes a small response and closes, giving up after [`WRITE_GRACE`]. The close lingers:
/// what the client still sends (the rest of an oversize head) is read and dropped for a
/// moment, because closing with unread bytes would reset the connection and the client might
/// never see the response.
async fn reply(stream: &mut TcpStream, answer: String) {
    let written = tokio::time::timeout(WRITE_GRACE, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    if matches!(written, Ok(Ok(()))) {
        let _ = tokio::time::timeout(LINGER, async {
            let mut ignored = [0u8; 512];
            let mut left: usize = 64 * 1024;
            while left > 0 {
                match stream.read(&mut ignored).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => left = left.saturating_sub(n),
                }
            }
        })
        .await;
    }
}

/// How long a closing connection reads what the client still sends.
const LINGER: Duration = Duration::from_secs(1);

impl Listener {
    /// Sends the head, joins the stream and writes it until the end, a lag, or the client
    /// leaving.
    async fn stream_to(&mut self, mut stream: TcpStream, head: String, chunked: bool) {
        let shared = self.shared.clone();
        let counters = &shared.counters;
        // Joined before the head goes out, so a client that has read the head is in the
        // stream from the next join point on.
        shared.waiting.borrow_mut().push(Subscriber {
            data: self.inbox.to_ref(),
            control: self.control.to_ref(),
        });
        let _listening = Open::new(&shared, |c| &c.listeners);
        if tokio::time::timeout(WRITE_GRACE, stream.write_all(head.as_bytes()))
            .await
            .map_or(true, |written| written.is_err())
        {
            return;
        }
        bump(&counters.served, 1);
        let (mut from_client, mut to_client) = stream.split();
        // A listener sends nothing after its request; reading only notices it leaving.
        let mut ignored = [0u8; 64];
        // A client may half-close after its request and still listen: only an error (a reset)
        // means it has gone; after its end of stream we stop reading.
        let mut client_open = true;
        loop {
            tokio::select! {
                biased;
                message = self.control.recv() => {
                    if matches!(message, Control::ProducerFinished) {
                        // The stream has ended: what was queued still goes out.
                        let _ = tokio::time::timeout(shared.config.end_grace, async {
                            while let Some(bytes) = self.inbox.try_recv() {
                                write_piece(&mut to_client, &bytes, chunked).await?;
                                bump(&counters.bytes_out, bytes.len() as i64);
                            }
                            if chunked {
                                to_client.write_all(b"0\r\n\r\n").await?;
                            }
                            to_client.shutdown().await
                        })
                        .await;
                    }
                    return;
                }
                read = from_client.read(&mut ignored), if client_open => match read {
                    Ok(0) => client_open = false,
                    Ok(_) => {}
                    Err(_) => return, // the listener has gone
                },
                bytes = self.inbox.recv() => {
                    // A write waits while the client is slow; meanwhile the server may give
                    // up on it (a lag) or the stream may end.
                    let write = write_piece(&mut to_client, &bytes, chunked);
                    tokio::pin!(write);
                    let mut ending = false;
                    // Once the stream has ended, a stuck write gets the end grace, like the rest.
                    let mut give_up = tokio::time::Instant::now() + Duration::from_secs(86_400);
                    loop {
                        tokio::select! {
                            written = &mut write => {
                                if written.is_err() {
                                    return;
                                }
                                bump(&counters.bytes_out, bytes.len() as i64);
                                break;
                            }
                            message = self.control.recv(), if !ending => {
                                if matches!(message, Control::ProducerFinished) {
                                    ending = true;
                                    give_up = tokio::time::Instant::now() + shared.config.end_grace;
                                } else {
                                    return;
                                }
                            }
                            () = tokio::time::sleep_until(give_up), if ending => return,
                        }
                    }
                    if ending {
                        // Finish the way the end of the stream does.
                        let _ = self.control.to_ref().try_send(Control::ProducerFinished);
                    }
                }
            }
        }
    }
}

/// Writes one piece of the stream: as it is, or as one HTTP chunk (size line, bytes, CRLF) in
/// a single vectored write where the socket takes it all — the shared bytes are never copied.
async fn write_piece<W: AsyncWrite + Unpin>(
    to: &mut W,
    bytes: &[u8],
    chunked: bool,
) -> std::io::Result<()> {
    if !chunked {
        return to.write_all(bytes).await;
    }
    let size = format!("{:x}\r\n", bytes.len());
    let mut slices = [
        IoSlice::new(size.as_bytes()),
        IoSlice::new(bytes),
        IoSlice::new(b"\r\n"),
    ];
    let mut remaining: &mut [IoSlice<'_>] = &mut slices;
    while !remaining.is_empty() {
        let n = to.write_vectored(remaining).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut remaining, n);
    }
    Ok(())
}
