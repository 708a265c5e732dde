//! One TCP connection as a component: socket → `outbox`, `inbox` → socket.

use crate::access::{ConnectionEvent, ConnectionRecord, Reason};
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Next, Outbox};
use bytes::Bytes;
use kamaelia_cat::Cat;
use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Who is on the other end, given to a server's protocol factory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// A number unique within the server.
    pub id: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// The server's address for this connection.
    pub local: SocketAddr,
}

/// What `ProducerFinished` on `control` means for the socket.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum OnFinish {
    /// Server side: the protocol is done; flush, then close.
    Close,
    /// Client side: nothing more to send; flush, half-close, keep reading until the peer closes.
    HalfClose,
}

/// Counters a connection keeps in the CAT, named `<prefix>.bytes_in` etc.
#[derive(Clone)]
pub(crate) struct Stats {
    pub(crate) bytes_in: Rc<str>,
    pub(crate) bytes_out: Rc<str>,
    pub(crate) connections: Rc<str>,
    pub(crate) open: Rc<Cell<usize>>,
}

const READ_CHUNK: usize = 16 * 1024;

thread_local! {
    /// Every connection on a thread reads through this one buffer (a read never waits while
    /// holding it), and what was read is copied out at its own size.
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; READ_CHUNK]);
}

/// How many bytes one connection may hold in its queues (see
/// [`ServerConfig::connection_budget`](crate::ServerConfig::connection_budget)), split evenly
/// between bytes read (for the protocol) and bytes to write.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Budget {
    /// Bytes per read: at most [`READ_CHUNK`], and at most the read half.
    pub(crate) read_chunk: usize,
    half: usize,
    /// Messages in the write queue, at most.
    write_queue: usize,
}

impl Budget {
    pub(crate) fn new(bytes: usize, write_queue: usize) -> Self {
        let half = (bytes / 2).max(1024);
        Budget {
            read_chunk: READ_CHUNK.min(half),
            half,
            write_queue: write_queue.max(1),
        }
    }

    /// Read chunks that fit in the read half.
    pub(crate) fn read_slots(&self) -> usize {
        (self.half / self.read_chunk).max(1)
    }

    /// Replies of `largest` bytes that fit in the write half (at least one).
    fn write_slots(&self, largest: usize) -> usize {
        (self.half / largest.max(1)).clamp(1, self.write_queue)
    }
}

/// The socket of one TCP connection. Bytes read go out on `outbox` as they arrive;
/// `ProducerFinished` on `signal` at end of stream. What arrives on `inbox` is written; the end
/// of the writing side (`ProducerFinished` on `control`, after the data) flushes and closes.
/// A reset, an I/O error or the idle timeout is reported as `Control::Failed` on `signal`;
/// none of them affects any other connection.
#[derive(Boxes)]
pub struct TcpConnection {
    /// Bytes to write.
    pub inbox: Inbox<Bytes>,
    /// `ProducerFinished`: flush and close; `ShutdownMicroprocess`: close now.
    pub control: Inbox<Control>,
    /// Bytes read.
    pub outbox: Outbox<Bytes>,
    /// `ProducerFinished` at end of stream; `Failed` on reset, error or idle timeout.
    pub signal: Outbox<Control>,
    stream: Option<TcpStream>,
    on_finish: OnFinish,
    idle_timeout: Option<Duration>,
    stats: Option<Stats>,
    budget: Budget,
}

/// What ended a connection, for its log line: the first cause found wins.
#[derive(Default)]
struct EndCause(std::cell::RefCell<Option<(Reason, String)>>);

impl EndCause {
    fn set(&self, reason: Reason, detail: impl std::fmt::Display) {
        let mut cause = self.0.borrow_mut();
        if cause.is_none() {
            *cause = Some((reason, detail.to_string()));
        }
    }
}

impl TcpConnection {
    pub(crate) fn new(
        stream: TcpStream,
        on_finish: OnFinish,
        idle_timeout: Option<Duration>,
        stats: Option<Stats>,
        budget: Budget,
    ) -> Self {
        TcpConnection {
            inbox: Inbox::with_capacity(budget.write_queue),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            stream: Some(stream),
            on_finish,
            idle_timeout,
            stats,
            budget,
        }
    }
}

/// `Failed` from the socket: `error` kept as the cause, `what` happened said first.
fn failed(what: &str, error: std::io::Error) -> Control {
    let message = format!("{what}: {error}");
    let cause = std::io::Error::new(error.kind(), message);
    Control::failed("TcpConnection", cause)
}

/// Counts an open connection for its whole life, however it ends.
struct OpenGuard {
    stats: Option<Stats>,
    cat: Option<Rc<Cat>>,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        if let (Some(stats), Some(cat)) = (&self.stats, &self.cat) {
            stats.open.set(stats.open.get().saturating_sub(1));
            let _ = cat.set_value(&stats.connections, stats.open.get());
        }
    }
}

impl Component for TcpConnection {
    async fn main(mut self) -> Result<(), ComponentError> {
        let Some(stream) = self.stream.take() else {
            return Ok(());
        };
        let settings = Settings {
            on_finish: self.on_finish,
            idle_timeout: self.idle_timeout,
            stats: self.stats.clone(),
            log_events: self.on_finish == OnFinish::Close,
            budget: Some(self.budget),
        };
        run_socket(
            stream,
            &mut self.inbox,
            &mut self.control,
            &self.outbox,
            &self.signal,
            settings,
        )
        .await
    }
}

/// How a socket is run.
pub(crate) struct Settings {
    pub(crate) on_finish: OnFinish,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) stats: Option<Stats>,
    /// Write one connection-event line when it closes (server side).
    pub(crate) log_events: bool,
    /// Server side: the queues' byte budget. Client side: none (the user sized its boxes).
    pub(crate) budget: Option<Budget>,
}

/// Moves bytes between a socket and a component's boxes until the connection ends (see
/// [`TcpConnection`] for what ends it).
pub(crate) async fn run_socket(
    stream: TcpStream,
    inbox: &mut Inbox<Bytes>,
    control: &mut Inbox<Control>,
    outbox: &Outbox<Bytes>,
    signal: &Outbox<Control>,
    settings: Settings,
) -> Result<(), ComponentError> {
    {
        let cat = Cat::current().ok();
        let _open = OpenGuard {
            stats: settings.stats.clone(),
            cat: cat.clone(),
        };
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr().ok();
        let (read_half, mut write_half) = stream.into_split();
        let last_activity = Cell::new(Instant::now());
        // Byte counts go to the CAT in batches (every 250 ms and at the end), not per read.
        let (bytes_in, bytes_out) = (Cell::new(0i64), Cell::new(0i64));
        let last_flush = Cell::new(Instant::now());
        let flush = || {
            if let (Some(stats), Some(cat)) = (&settings.stats, &cat) {
                cat.add_to_value(&stats.bytes_in, bytes_in.replace(0));
                cat.add_to_value(&stats.bytes_out, bytes_out.replace(0));
            }
        };
        let track = settings.idle_timeout.is_some() || settings.stats.is_some();
        let cause = EndCause::default();
        let total_out = Cell::new(0u64);
        let moved = |counter: &Cell<i64>, n: usize| {
            counter.set(counter.get() + n as i64);
            if track {
                let now = Instant::now();
                last_activity.set(now);
                if now - last_flush.get() > Duration::from_millis(250) {
                    last_flush.set(now);
                    flush();
                }
            }
        };
        let reader = async {
            let chunk = settings.budget.map_or(READ_CHUNK, |b| b.read_chunk);
            loop {
                if let Err(e) = read_half.readable().await {
                    cause.set(Reason::ClientLeft, &e);
                    let _ = signal.send(failed("connection lost", e)).await;
                    return false;
                }
                // Read into the thread's one buffer and copy out at the size read: no buffer
                // is kept per connection, so ten thousand idle connections cost none.
                // (Readiness can be spurious: a would-block read just waits again.)
                let read = READ_BUFFER.with(|buffer| {
                    let mut buffer = buffer.borrow_mut();
                    let buffer = &mut buffer[..chunk];
                    read_half
                        .try_read(buffer)
                        .map(|n| Bytes::copy_from_slice(&buffer[..n]))
                });
                match read {
                    Ok(bytes) if bytes.is_empty() => {
                        return signal.send(Control::ProducerFinished).await.is_ok();
                    }
                    Ok(bytes) => {
                        moved(&bytes_in, bytes.len());
                        if outbox.send(bytes).await.is_err() {
                            return false; // nobody is listening any more
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => {
                        cause.set(Reason::ClientLeft, &e);
                        let _ = signal.send(failed("connection lost", e)).await;
                        return false;
                    }
                }
            }
        };
        let on_finish = settings.on_finish;
        let writer = async {
            let mut largest = 0;
            loop {
                match inbox.next_or_control(control).await {
                    Next::Data(bytes) => {
                        if let Some(budget) = settings.budget.filter(|_| bytes.len() > largest) {
                            // Fewer queued replies, so that they stay within the budget.
                            largest = bytes.len();
                            inbox.set_capacity(budget.write_slots(largest));
                        }
                        if let Err(e) = write_half.write_all(&bytes).await {
                            cause.set(Reason::ClientLeft, &e);
                            let _ = signal.try_send(failed("write failed", e));
                            return;
                        }
                        total_out.set(total_out.get() + bytes.len() as u64);
                        moved(&bytes_out, bytes.len());
                    }
                    Next::Control(c) if c.is_producer_finished() => {
                        let _ = write_half.flush().await;
                        let _ = write_half.shutdown().await;
                        cause.set(Reason::Finished, "the protocol finished");
                        return;
                    }
                    Next::Control(Control::ShutdownMicroprocess) => {
                        cause.set(Reason::Shutdown, "");
                        return;
                    }
                    Next::Control(other) => {
                        cause.set(Reason::Finished, format!("the protocol ended: {other:?}"));
                        return;
                    }
                }
            }
        };
        tokio::pin!(reader, writer);
        let (mut reading, mut writing) = (true, true);
        // Server side ends when the protocol has finished writing (or the peer reset); client
        // side ends when the peer has finished sending (or reset).
        loop {
            let idle_deadline = settings
                .idle_timeout
                .map(|t| last_activity.get() + t)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
            tokio::select! {
                still_open = &mut reader, if reading => {
                    reading = false;
                    if on_finish == OnFinish::Close {
                        // The client's end of stream; the protocol may still answer.
                        cause.set(Reason::ClientLeft, "the client closed");
                    }
                    if !still_open || on_finish == OnFinish::HalfClose {
                        break;
                    }
                }
                () = &mut writer, if writing => {
                    writing = false;
                    if on_finish == OnFinish::Close {
                        break;
                    }
                }
                () = tokio::time::sleep_until(idle_deadline), if settings.idle_timeout.is_some() => {
                    let timeout = settings.idle_timeout.unwrap_or_default();
                    if Instant::now() >= last_activity.get() + timeout {
                        cause.set(Reason::Timeout, format!("idle for {timeout:?}"));
                        let _ = signal.try_send(Control::failed(
                            "TcpConnection",
                            format!("idle timeout: no bytes moved for {timeout:?}"),
                        ));
                        break;
                    }
                }
            }
            if !reading && !writing {
                break;
            }
        }
        flush();
        if let (true, Some(peer)) = (settings.log_events, peer) {
            let (reason, detail) = cause.0.take().unwrap_or((Reason::Shutdown, String::new()));
            ConnectionRecord {
                peer,
                path: None,
                event: ConnectionEvent::Closed,
                reason,
                detail: &detail,
                bytes: total_out.get(),
            }
            .log();
        }
        Ok(())
    }
}
