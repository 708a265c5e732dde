//! One HTTP connection to the live server: read the request, then answer it or stream to it;
//! and the short-lived component that answers a connection past the limit.

use super::Shared;
use super::audience::subscriber;
use super::counters::{Counters, Open, bump};
use crate::access::{ConnectionEvent, ConnectionRecord, Reason};
use crate::http::{read_request, response, response_head};
use axon_core::{Boxes, Component, ComponentError, Control, Inbox};
use bytes::Bytes;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Time allowed to write a small response or a response head.
const WRITE_GRACE: Duration = Duration::from_secs(10);

/// How long a closing connection reads what the client still sends.
const LINGER: Duration = Duration::from_secs(1);

/// Answers one connection past the limit with 503 and closes it.
#[derive(Boxes)]
pub(crate) struct Refusal {
    /// Shutdown.
    pub(crate) control: Inbox<Control>,
    pub(crate) stream: Option<TcpStream>,
    pub(crate) answer: String,
    /// Counted while it lives.
    pub(crate) _refusing: Open,
}

impl Component for Refusal {
    async fn main(mut self) -> Result<(), ComponentError> {
        if let Some(mut stream) = self.stream.take() {
            let answer = std::mem::take(&mut self.answer);
            tokio::select! {
                _ = reply(&mut stream, answer) => {}
                _ = self.control.recv() => {}
            }
        }
        Ok(())
    }
}

/// One HTTP connection: reads the request, then answers it or streams to it.
#[derive(Boxes)]
pub(super) struct Listener {
    /// Stream chunks from the server.
    pub(super) inbox: Inbox<Bytes>,
    /// `ProducerFinished`: the stream has ended; `Failed`: fell behind; shutdown.
    pub(super) control: Inbox<Control>,
    pub(super) stream: Option<TcpStream>,
    pub(super) peer: SocketAddr,
    /// Counted while this listener lives.
    pub(super) _connection: Open,
    pub(super) shared: Rc<Shared>,
}

/// How a connection ended, for its log line.
pub(crate) struct Ending {
    pub(crate) event: ConnectionEvent,
    pub(crate) reason: Reason,
    pub(crate) detail: String,
}

impl Ending {
    /// Counts the event in `counters` and writes its log line.
    pub(crate) fn record(
        &self,
        counters: &Counters,
        peer: SocketAddr,
        path: Option<&str>,
        bytes: u64,
    ) {
        counters.record(ConnectionRecord {
            peer,
            path,
            event: self.event,
            reason: self.reason,
            detail: &self.detail,
            bytes,
        });
    }

    pub(crate) fn new(event: ConnectionEvent, reason: Reason, detail: impl Into<String>) -> Self {
        Ending {
            event,
            reason,
            detail: detail.into(),
        }
    }
}

impl Component for Listener {
    async fn main(mut self) -> Result<(), ComponentError> {
        let Some(mut stream) = self.stream.take() else {
            return Ok(());
        };
        let shared = self.shared.clone();
        let read = tokio::select! {
            read = read_request(&mut stream, shared.config.request_limits) => read,
            _ = self.control.recv() => {
                self.log(None, Ending::new(ConnectionEvent::Closed, Reason::Shutdown, "before its request"), 0);
                return Ok(());
            }
        };
        let request = match read {
            Ok(request) => request,
            Err(error) => {
                let (ending, sent) = answer_unreadable(&mut stream, &error).await;
                self.log(None, ending, sent);
                return Ok(());
            }
        };
        let path = request.path.as_str();
        tracing::debug!(
            target: crate::access::CONNECTION_LOG,
            peer = %self.peer,
            method = %request.method.escape_debug(),
            path = %path.escape_debug(),
            version = request.minor_version,
            "request"
        );
        let head_only = match request.method.as_str() {
            "GET" => false,
            "HEAD" => true,
            _ => {
                let (ending, sent) =
                    answer_method_not_allowed(&mut stream, &request.method, "GET, HEAD").await;
                self.log(Some(path), ending, sent);
                return Ok(());
            }
        };
        let (ending, sent) = if path == shared.config.path {
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
                let sent = reply(&mut stream, head + end).await;
                let detail = if head_only {
                    "HEAD"
                } else {
                    "the stream has ended"
                };
                let reason = if head_only {
                    Reason::Served
                } else {
                    Reason::Finished
                };
                (Ending::new(ConnectionEvent::Answered, reason, detail), sent)
            } else {
                self.stream_to(stream, head, chunked, path).await
            }
        } else if path == "/stats" {
            let json = shared.counters.json();
            let sent = reply(
                &mut stream,
                response(200, "application/json", &json, head_only),
            )
            .await;
            (
                Ending::new(ConnectionEvent::Answered, Reason::Served, "statistics"),
                sent,
            )
        } else {
            let answer = response(404, "text/plain", "no such stream\n", head_only);
            let sent = reply(&mut stream, answer).await;
            (
                Ending::new(ConnectionEvent::Rejected, Reason::NotFound, "404"),
                sent,
            )
        };
        self.log(Some(path), ending, sent);
        Ok(())
    }
}

impl Listener {
    fn log(&self, path: Option<&str>, ending: Ending, bytes: u64) {
        ending.record(&self.shared.counters, self.peer, path, bytes);
    }

    /// Joins the stream, sends the head and writes the stream until the end, a lag, or the
    /// client leaving. Returns how it ended and the bytes written.
    async fn stream_to(
        &mut self,
        stream: TcpStream,
        head: String,
        chunked: bool,
        path: &str,
    ) -> (Ending, u64) {
        let shared = self.shared.clone();
        // Joined before the head goes out, so a client that has read the head is in the
        // stream (with the burst, or from the next join point).
        shared
            .audience
            .borrow_mut()
            .join(subscriber(self.inbox.to_ref(), self.control.to_ref()));
        let _listening = Open::new(&shared.counters, |c| &c.listeners);
        let pump = Pump {
            counters: &shared.counters,
            end_grace: shared.config.end_grace,
            chunked,
            icy: None,
            coalesce: Duration::ZERO,
        };
        let peer = self.peer;
        let joined = |sent| {
            Ending::new(ConnectionEvent::Joined, Reason::Listening, "").record(
                &shared.counters,
                peer,
                Some(path),
                sent,
            )
        };
        pump.run(stream, head, &mut self.inbox, &mut self.control, joined)
            .await
    }
}

/// Writes a live stream to one listener: the response head, then each chunk queued for it,
/// until the stream ends, the server drops it for lag, or the client leaves.
pub(crate) struct Pump<'a> {
    pub(crate) counters: &'a Counters,
    /// Once the stream has ended, how long the listener has to take the rest.
    pub(crate) end_grace: Duration,
    /// HTTP/1.1 chunked encoding (else the body runs until the connection closes).
    pub(crate) chunked: bool,
    /// ICY metadata blocks woven into the body, for a client that asked for them.
    pub(crate) icy: Option<crate::icy::IcyWeaver>,
    /// How long a chunk may wait for the next ones, so they go out in one write: fewer writes
    /// (each a system call and a wake of the reader) for a little more latency. Zero: each
    /// chunk is written as it comes.
    pub(crate) coalesce: Duration,
}

/// A batch of at least this many bytes is written without waiting for more.
const COALESCE_BYTES: usize = 64 * 1024;

impl Pump<'_> {
    /// `joined` is told the bytes of the head once it has gone out.
    pub(crate) async fn run(
        mut self,
        mut stream: TcpStream,
        head: String,
        inbox: &mut Inbox<Bytes>,
        control: &mut Inbox<Control>,
        joined: impl FnOnce(u64),
    ) -> (Ending, u64) {
        let counters = self.counters;
        let mut sent = 0u64;
        match Box::pin(tokio::time::timeout(
            WRITE_GRACE,
            stream.write_all(head.as_bytes()),
        ))
        .await
        {
            Ok(Ok(())) => sent += head.len() as u64,
            Ok(Err(e)) => {
                let detail = format!("writing the head: {e}");
                return (
                    Ending::new(ConnectionEvent::Closed, Reason::ClientLeft, detail),
                    0,
                );
            }
            Err(_) => {
                let ending =
                    Ending::new(ConnectionEvent::Closed, Reason::Timeout, "writing the head");
                return (ending, 0);
            }
        }
        bump(&counters.served, 1);
        joined(sent);
        let head_length = sent;
        let (mut from_client, mut to_client) = stream.split();
        // A listener sends nothing after its request; reading only notices it leaving.
        let mut ignored = [0u8; 64];
        // A client may half-close after its request and still listen: only an error (a reset)
        // means it has gone; after its end of stream we stop reading.
        let mut client_open = true;
        let left =
            |detail: String| Ending::new(ConnectionEvent::Closed, Reason::ClientLeft, detail);
        loop {
            tokio::select! {
                biased;
                message = control.recv() => {
                    return match message {
                        message if message.is_producer_finished() => {
                            // The stream has ended: what was queued still goes out.
                            // Boxed, as the head's write: rare paths stay out of the
                            // future a listener holds for as long as it listens.
                            let finished = Box::pin(tokio::time::timeout(self.end_grace, async {
                                while let Some(bytes) = inbox.try_recv() {
                                    sent += self.write(&mut to_client, &bytes).await?;
                                }
                                if self.chunked {
                                    to_client.write_all(b"0\r\n\r\n").await?;
                                }
                                to_client.shutdown().await
                            }))
                            .await;
                            let ending = match finished {
                                Ok(Ok(())) => Ending::new(ConnectionEvent::Closed, Reason::Finished, "the stream ended"),
                                Ok(Err(e)) => left(e.to_string()),
                                Err(_) => Ending::new(ConnectionEvent::Closed, Reason::Timeout, "the stream ended; the rest was not taken in time"),
                            };
                            (ending, sent)
                        }
                        Control::Failed(info) => {
                            (Ending::new(ConnectionEvent::Dropped, Reason::Lagging, info.message.clone()), sent)
                        }
                        _ => (Ending::new(ConnectionEvent::Closed, Reason::Shutdown, ""), sent),
                    };
                }
                read = from_client.read(&mut ignored), if client_open => match read {
                    Ok(0) => client_open = false,
                    Ok(_) => {}
                    Err(e) => return (left(e.to_string()), sent), // the listener has gone
                },
                bytes = inbox.recv() => {
                    // The first chunk (a newcomer's header and burst) goes at once.
                    let gathered = if !self.coalesce.is_zero() && sent > head_length {
                        self.gather(inbox, bytes.len()).await
                    } else {
                        Vec::new()
                    };
                    // This chunk and what came with it; nothing is allocated for a lone chunk
                    // (this runs once per chunk per listener).
                    let joined;
                    let batch: &[Bytes] = if gathered.is_empty() {
                        std::slice::from_ref(&bytes)
                    } else {
                        joined = [std::slice::from_ref(&bytes), &gathered].concat();
                        &joined
                    };
                    // A write waits while the client is slow; meanwhile the server may give
                    // up on it (a lag) or the stream may end.
                    let chunked = self.chunked;
                    let woven;
                    let parts = match &mut self.icy {
                        Some(icy) => {
                            woven = batch.iter().flat_map(|b| icy.weave(b)).collect::<Vec<_>>();
                            &woven[..]
                        }
                        None => batch,
                    };
                    let write = write_parts(&mut to_client, parts, chunked);
                    tokio::pin!(write);
                    let mut ending = false;
                    // Once the stream has ended, a stuck write gets the end grace, like the rest.
                    let mut give_up = tokio::time::Instant::now() + Duration::from_secs(86_400);
                    loop {
                        tokio::select! {
                            written = &mut write => {
                                match written {
                                    Err(e) => return (left(e.to_string()), sent),
                                    Ok(n) => {
                                        bump(&counters.bytes_out, n as i64);
                                        sent += n;
                                    }
                                }
                                break;
                            }
                            message = control.recv(), if !ending => match message {
                                message if message.is_producer_finished() => {
                                    ending = true;
                                    give_up = tokio::time::Instant::now() + self.end_grace;
                                }
                                Control::Failed(info) => {
                                    return (Ending::new(ConnectionEvent::Dropped, Reason::Lagging, info.message.clone()), sent);
                                }
                                _ => return (Ending::new(ConnectionEvent::Closed, Reason::Shutdown, ""), sent),
                            },
                            () = tokio::time::sleep_until(give_up), if ending => {
                                let ending = Ending::new(ConnectionEvent::Closed, Reason::Timeout, "the stream ended; the rest was not taken in time");
                                return (ending, sent);
                            }
                        }
                    }
                    if ending {
                        // Finish the way the end of the stream does.
                        let _ = control.to_ref().try_send(Control::ProducerFinished);
                    }
                }
            }
        }
    }

    /// What arrives within [`coalesce`](Self::coalesce) after a chunk of `first` bytes, up to
    /// [`COALESCE_BYTES`] in all. (Control messages wait for the write: at most that long.)
    async fn gather(&self, inbox: &mut Inbox<Bytes>, first: usize) -> Vec<Bytes> {
        let due = tokio::time::Instant::now() + self.coalesce;
        let mut batch = Vec::new();
        let mut queued = first;
        while queued < COALESCE_BYTES {
            let more = match inbox.try_recv() {
                Some(more) => more,
                None => tokio::select! {
                    more = inbox.recv() => more,
                    () = tokio::time::sleep_until(due) => break,
                },
            };
            queued += more.len();
            batch.push(more);
        }
        batch
    }

    /// Writes one chunk of the stream (with ICY metadata woven in when asked); returns the
    /// bytes written.
    async fn write<W: AsyncWrite + Unpin>(
        &mut self,
        to: &mut W,
        bytes: &Bytes,
    ) -> std::io::Result<u64> {
        let woven;
        let parts = match &mut self.icy {
            Some(icy) => {
                woven = icy.weave(bytes);
                &woven[..]
            }
            None => std::slice::from_ref(bytes),
        };
        let n = write_parts(to, parts, self.chunked).await?;
        bump(&self.counters.bytes_out, n as i64);
        Ok(n)
    }
}

/// Answers a request head that could not be read: its error status when the client can still
/// be told (400, 408, 431), nothing when it has gone.
pub(crate) async fn answer_unreadable(
    stream: &mut TcpStream,
    error: &crate::http::RequestError,
) -> (Ending, u64) {
    match error.status() {
        Some(status) => {
            let body = format!("{error}\n");
            let sent = reply(stream, response(status, "text/plain", &body, false)).await;
            let detail = format!("{status}: {error}");
            let ending = Ending::new(ConnectionEvent::Rejected, Reason::BadRequest, detail);
            (ending, sent)
        }
        None => (
            Ending::new(
                ConnectionEvent::Closed,
                Reason::ClientLeft,
                "before its request",
            ),
            0,
        ),
    }
}

/// Answers a method the server does not take: 405, with the ones it does (`allow`).
pub(crate) async fn answer_method_not_allowed(
    stream: &mut TcpStream,
    method: &str,
    allow: &str,
) -> (Ending, u64) {
    let body = format!("{allow} only\n");
    let length = body.len().to_string();
    let mut answer = response_head(
        405,
        &[
            ("Allow", allow),
            ("Content-Type", "text/plain"),
            ("Content-Length", &length),
        ],
    );
    answer.push_str(&body);
    let sent = reply(stream, answer).await;
    let detail = format!("405: method {}", method.escape_debug());
    (
        Ending::new(ConnectionEvent::Rejected, Reason::BadRequest, detail),
        sent,
    )
}

/// Writes a small response and closes, giving up after [`WRITE_GRACE`]; returns the bytes
/// written. The close lingers: what the client still sends (the rest of an oversize head) is
/// read and dropped for a moment, because closing with unread bytes would reset the connection
/// and the client might never see the response.
pub(crate) async fn reply(stream: &mut TcpStream, answer: String) -> u64 {
    let written = tokio::time::timeout(WRITE_GRACE, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        return 0;
    }
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
    answer.len() as u64
}

/// Writes pieces of the stream: as they are, or as one HTTP chunk (size line, the pieces,
/// CRLF) in vectored writes — the shared bytes are never copied. Returns the bytes of stream
/// written (not counting the chunk framing).
async fn write_parts<W: AsyncWrite + Unpin>(
    to: &mut W,
    parts: &[Bytes],
    chunked: bool,
) -> std::io::Result<u64> {
    let length: usize = parts.iter().map(Bytes::len).sum();
    let size = format!("{length:x}\r\n");
    let framing: [&[u8]; 2] = if chunked {
        [size.as_bytes(), b"\r\n"]
    } else {
        [b"", b""]
    };
    let all = std::iter::once(framing[0])
        .chain(parts.iter().map(|p| &p[..]))
        .chain(std::iter::once(framing[1]))
        .filter(|p| !p.is_empty());
    // On the stack for the usual few pieces: this runs once per chunk per listener.
    let mut stack = [IoSlice::new(&[]); 8];
    let mut heap = Vec::new();
    let slices: &mut [IoSlice<'_>] = if parts.len() + 2 <= stack.len() {
        let mut n = 0;
        for (slot, piece) in stack.iter_mut().zip(all) {
            *slot = IoSlice::new(piece);
            n += 1;
        }
        &mut stack[..n]
    } else {
        heap.extend(all.map(IoSlice::new));
        &mut heap
    };
    let mut remaining: &mut [IoSlice<'_>] = slices;
    while !remaining.is_empty() {
        let n = to.write_vectored(remaining).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut remaining, n);
    }
    Ok(length as u64)
}
