//! A source connection: an encoder pushing a live stream into a mount, by `PUT` or the legacy
//! `SOURCE` method, its body read until close, by length, or chunked.

use super::body::BodyReader;
use super::mount::{Feed, Mount, StreamInfo, codec};
use super::{Station, authorized};
use crate::access::{ConnectionEvent, Reason};
use crate::http::{Request, response};
use crate::live::listener::{Ending, reply};
use axon_core::{Control, Inbox};
use bytes::Bytes;
use kamaelia_codec::{OggPageReader, PageEvent};
use std::rc::Rc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Answers a source request and, once admitted, feeds its mount until it stops. Returns how
/// it ended and the bytes sent to it.
pub(super) async fn serve(
    station: &Rc<Station>,
    mut stream: TcpStream,
    peer: std::net::SocketAddr,
    request: &Request,
    start: Bytes,
    control: &mut Inbox<Control>,
) -> (Ending, u64) {
    let path = request.path.as_str();
    if let Err(why) = super::config::check_mount_path(path) {
        return refuse(&mut stream, 400, Reason::BadRequest, &why).await;
    }
    let password = station.source_password_for(path);
    if !password.is_some_and(|p| authorized(request, None, p)) {
        let sent = unauthorized(&mut stream).await;
        let detail = if password.is_none() {
            "no source password is set for this mount"
        } else {
            "wrong or missing source credentials"
        };
        return (
            Ending::new(ConnectionEvent::Rejected, Reason::Unauthorized, detail),
            sent,
        );
    }
    let mount = station.mount_for_source(path);
    if mount.config.relay.is_some() {
        return refuse(
            &mut stream,
            403,
            Reason::Forbidden,
            "this mount is fed by a relay",
        )
        .await;
    }
    let mut body = match BodyReader::for_request(request) {
        Ok(body) => body,
        Err(why) => return refuse(&mut stream, 400, Reason::BadRequest, &why).await,
    };
    let id = station.next_id();
    let feed = Feed::Source(id);
    if !mount.claim(feed) {
        return refuse(
            &mut stream,
            403,
            Reason::Forbidden,
            "this mount already has a source",
        )
        .await;
    }
    // Given back (the mount falls back) however this ends.
    let _claim = Claim {
        station: station.clone(),
        mount: mount.clone(),
        feed,
    };
    *mount.info.borrow_mut() = stream_info(request);
    // A client that waits for 100 Continue (ffmpeg's PUT, curl) gets it; any other is told
    // at once that it may send, as Icecast does.
    let expects_continue = request
        .header("Expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
    let go_ahead: &[u8] = if expects_continue {
        b"HTTP/1.1 100 Continue\r\n\r\n"
    } else {
        b"HTTP/1.0 200 OK\r\n\r\n"
    };
    let mut sent = go_ahead.len() as u64;
    if let Err(e) = stream.write_all(go_ahead).await {
        return (
            Ending::new(ConnectionEvent::Closed, Reason::ClientLeft, e.to_string()),
            0,
        );
    }
    Ending::new(ConnectionEvent::Joined, Reason::Source, "source connected").record(
        &station.counters,
        peer,
        Some(path),
        sent,
    );
    let mut feeding = Feeding {
        mount: &mount,
        feed,
        pages: OggPageReader::new(),
        decoded: Vec::new(),
        checked: false,
    };
    let ending = async {
        if let Err(ending) = feeding.take(&mut body, &start) {
            return ending;
        }
        let mut buffer = vec![0u8; 16 * 1024];
        while !body.done() {
            let read = tokio::select! {
                read = tokio::time::timeout(station.config.source_timeout, stream.read(&mut buffer)) => read,
                _ = control.recv() => return Ending::new(ConnectionEvent::Closed, Reason::Shutdown, "source"),
            };
            match read {
                Err(_) => {
                    let detail = format!("source sent nothing for {:?}", station.config.source_timeout);
                    return Ending::new(ConnectionEvent::Closed, Reason::Timeout, detail);
                }
                Ok(Err(e)) => return Ending::new(ConnectionEvent::Closed, Reason::ClientLeft, format!("source: {e}")),
                Ok(Ok(0)) => {
                    let detail = if body.until_close() {
                        "source disconnected"
                    } else {
                        "source disconnected before the end of its body"
                    };
                    return Ending::new(ConnectionEvent::Closed, Reason::ClientLeft, detail);
                }
                Ok(Ok(n)) => {
                    if let Err(ending) = feeding.take(&mut body, &buffer[..n]) {
                        return ending;
                    }
                }
            }
        }
        Ending::new(ConnectionEvent::Closed, Reason::Finished, "source stream ended")
    }
    .await;
    // A client told to continue (not yet answered) gets its final answer: success after a
    // whole body, or why its stream was refused.
    let final_answer = match ending.reason {
        _ if !expects_continue => None,
        Reason::Finished => Some(response(200, "text/plain", "", false)),
        Reason::Unsupported | Reason::BadRequest => {
            let status = if ending.reason == Reason::Unsupported {
                415
            } else {
                400
            };
            Some(response(
                status,
                "text/plain",
                &format!("{}\n", ending.detail),
                false,
            ))
        }
        _ => None,
    };
    if let Some(answer) = final_answer {
        sent += reply(&mut stream, answer).await;
    }
    (ending, sent)
}

/// A source's hold on its mount, given back when dropped.
struct Claim {
    station: Rc<Station>,
    mount: Rc<Mount>,
    feed: Feed,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.station.release(&self.mount, self.feed);
    }
}

/// Body bytes → pages → the mount.
struct Feeding<'a> {
    mount: &'a Rc<Mount>,
    feed: Feed,
    pages: OggPageReader,
    decoded: Vec<u8>,
    /// The stream's first page has been checked.
    checked: bool,
}

impl Feeding<'_> {
    fn take(&mut self, body: &mut BodyReader, bytes: &[u8]) -> Result<(), Ending> {
        self.decoded.clear();
        body.push(bytes, &mut self.decoded)
            .map_err(|why| Ending::new(ConnectionEvent::Rejected, Reason::BadRequest, why))?;
        if !self.checked && self.decoded.len() >= 4 && !self.decoded.starts_with(b"OggS") {
            return Err(unsupported("the stream is not Ogg"));
        }
        self.pages.push(&self.decoded);
        while let Some(event) = self.pages.next_event() {
            match event {
                PageEvent::Page(page) => {
                    if page.is_bos() {
                        if codec(page.body()).is_none() {
                            return Err(unsupported(
                                "the stream is neither Ogg Vorbis nor Ogg Opus",
                            ));
                        }
                        self.checked = true;
                    }
                    self.mount.take_page(self.feed, &page);
                }
                PageEvent::Damage(damage) => {
                    tracing::warn!(mount = %self.mount.path, %damage, "damaged source stream: skipped");
                }
            }
        }
        Ok(())
    }
}

fn unsupported(why: &str) -> Ending {
    Ending::new(ConnectionEvent::Rejected, Reason::Unsupported, why)
}

/// What a source's `ice-*` headers say about its stream, made safe once for every listener's
/// response head (no line breaks).
fn stream_info(request: &Request) -> StreamInfo {
    let header = |name: &str| {
        request
            .header(name)
            .filter(|v| !v.is_empty())
            .map(|v| v.replace(['\r', '\n'], " "))
    };
    StreamInfo {
        name: header("ice-name"),
        description: header("ice-description"),
        genre: header("ice-genre"),
        url: header("ice-url"),
        public: header("ice-public").is_some_and(|v| v == "1"),
        ..StreamInfo::default()
    }
}

/// Answers `status` with `why` as the body, and says so in the connection's ending.
async fn refuse(stream: &mut TcpStream, status: u16, reason: Reason, why: &str) -> (Ending, u64) {
    let sent = reply(
        stream,
        response(status, "text/plain", &format!("{why}\n"), false),
    )
    .await;
    (Ending::new(ConnectionEvent::Rejected, reason, why), sent)
}

/// A 401 asking for Basic credentials.
pub(super) async fn unauthorized(stream: &mut TcpStream) -> u64 {
    let body = "authentication required\n";
    let length = body.len().to_string();
    let mut answer = crate::http::response_head(
        401,
        &[
            ("WWW-Authenticate", "Basic realm=\"Kamaelia radio\""),
            ("Content-Type", "text/plain"),
            ("Content-Length", &length),
        ],
    );
    answer.push_str(body);
    reply(stream, answer).await
}
