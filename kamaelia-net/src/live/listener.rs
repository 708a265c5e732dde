//! One HTTP connection to the live server: read the request, then answer it or stream to it;
//! and the short-lived component that answers a connection past the limit.

use super::Shared;
use super::audience::subscriber;
use super::counters::{Open, bump};
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
pub(super) struct Refusal {
    /// Shutdown.
    pub(super) control: Inbox<Control>,
    pub(super) stream: Option<TcpStream>,
    pub(super) answer: String,
    /// Counted while it lives.
    pub(super) _refusing: Open,
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
struct Ending {
    event: ConnectionEvent,
    reason: Reason,
    detail: String,
}

impl Ending {
    fn new(event: ConnectionEvent, reason: Reason, detail: impl Into<String>) -> Self {
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
                let (ending, sent) = match error.status() {
                    Some(status) => {
                        let body = format!("{error}\n");
                        let sent =
                            reply(&mut stream, response(status, "text/plain", &body, false)).await;
                        let detail = format!("{status}: {error}");
                        (
                            Ending::new(ConnectionEvent::Rejected, Reason::BadRequest, detail),
                            sent,
                        )
                    }
                    None => (
                        Ending::new(
                            ConnectionEvent::Closed,
                            Reason::ClientLeft,
                            "before its request",
                        ),
                        0,
                    ),
                };
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
                let sent = reply(&mut stream, answer).await;
                let detail = format!("405: method {}", request.method.escape_debug());
                let ending = Ending::new(ConnectionEvent::Rejected, Reason::BadRequest, detail);
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
        self.shared.counters.record(ConnectionRecord {
            peer: self.peer,
            path,
            event: ending.event,
            reason: ending.reason,
            detail: &ending.detail,
            bytes,
        });
    }

    /// Sends the head, joins the stream and writes it until the end, a lag, or the client
    /// leaving. Returns how it ended and the bytes written.
    async fn stream_to(
        &mut self,
        mut stream: TcpStream,
        head: String,
        chunked: bool,
        path: &str,
    ) -> (Ending, u64) {
        let shared = self.shared.clone();
        let counters = &shared.counters;
        // Joined before the head goes out, so a client that has read the head is in the
        // stream (with the burst, or from the next join point).
        shared
            .audience
            .borrow_mut()
            .join(subscriber(self.inbox.to_ref(), self.control.to_ref()));
        let _listening = Open::new(counters, |c| &c.listeners);
        let mut sent = 0u64;
        match tokio::time::timeout(WRITE_GRACE, stream.write_all(head.as_bytes())).await {
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
        self.log(
            Some(path),
            Ending::new(ConnectionEvent::Joined, Reason::Listening, ""),
            sent,
        );
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
                message = self.control.recv() => {
                    return match message {
                        message if message.is_producer_finished() => {
                            // The stream has ended: what was queued still goes out.
                            let finished = tokio::time::timeout(shared.config.end_grace, async {
                                while let Some(bytes) = self.inbox.try_recv() {
                                    write_piece(&mut to_client, &bytes, chunked).await?;
                                    bump(&counters.bytes_out, bytes.len() as i64);
                                    sent += bytes.len() as u64;
                                }
                                if chunked {
                                    to_client.write_all(b"0\r\n\r\n").await?;
                                }
                                to_client.shutdown().await
                            })
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
                                if let Err(e) = written {
                                    return (left(e.to_string()), sent);
                                }
                                bump(&counters.bytes_out, bytes.len() as i64);
                                sent += bytes.len() as u64;
                                break;
                            }
                            message = self.control.recv(), if !ending => match message {
                                message if message.is_producer_finished() => {
                                    ending = true;
                                    give_up = tokio::time::Instant::now() + shared.config.end_grace;
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
                        let _ = self.control.to_ref().try_send(Control::ProducerFinished);
                    }
                }
            }
        }
    }
}

/// Writes a small response and closes, giving up after [`WRITE_GRACE`]; returns the bytes
/// written. The close lingers: what the client still sends (the rest of an oversize head) is
/// read and dropped for a moment, because closing with unread bytes would reset the connection
/// and the client might never see the response.
pub(super) async fn reply(stream: &mut TcpStream, answer: String) -> u64 {
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
