//! One connection to the radio server: its request read, then served as a listener, a source,
//! an administration request or a status page.

use super::mount::Mount;
use super::{Station, authorized, source, status};
use crate::access::{ConnectionEvent, Reason};
use crate::http::{Request, read_request_head, response, response_head};
use crate::icy::IcyWeaver;
use crate::live::audience::subscriber;
use crate::live::counters::Open;
use crate::live::listener::{Ending, Pump, answer_method_not_allowed, answer_unreadable, reply};
use axon_core::{Boxes, Component, ComponentError, Control, Inbox};
use bytes::Bytes;
use std::net::SocketAddr;
use std::rc::Rc;
use tokio::net::TcpStream;

/// One connection, whatever it turns out to be.
#[derive(Boxes)]
pub(crate) struct Connection {
    /// Stream chunks, once it listens to a mount.
    pub(crate) inbox: Inbox<Bytes>,
    /// `ProducerFinished`: the stream has ended; `Failed`: fell behind; shutdown.
    pub(crate) control: Inbox<Control>,
    pub(crate) stream: Option<TcpStream>,
    pub(crate) peer: SocketAddr,
    /// Counted while it lives.
    pub(crate) _connection: Open,
    pub(crate) station: Rc<Station>,
}

impl Component for Connection {
    async fn main(mut self) -> Result<(), ComponentError> {
        let Some(mut stream) = self.stream.take() else {
            return Ok(());
        };
        let limits = self.station.config.request_limits;
        let read = tokio::select! {
            // Boxed, like the other rare paths below: a connection's future is held for as
            // long as it listens, so only the listening path is kept inline.
            read = Box::pin(read_request_head(&mut stream, limits)) => read,
            _ = self.control.recv() => {
                self.log(None, Ending::new(ConnectionEvent::Closed, Reason::Shutdown, "before its request"), 0);
                return Ok(());
            }
        };
        let (request, start) = match read {
            Ok(read) => read,
            Err(error) => {
                let (ending, sent) = answer_unreadable(&mut stream, &error).await;
                self.log(None, ending, sent);
                return Ok(());
            }
        };
        let (ending, sent) = self.serve(stream, &request, start).await;
        self.log(Some(&request.path), ending, sent);
        Ok(())
    }
}

impl Connection {
    fn log(&self, path: Option<&str>, ending: Ending, bytes: u64) {
        ending.record(&self.station.counters, self.peer, path, bytes);
    }

    async fn serve(
        &mut self,
        mut stream: TcpStream,
        request: &Request,
        start: Bytes,
    ) -> (Ending, u64) {
        let station = self.station.clone();
        let head_only = match request.method.as_str() {
            "PUT" | "SOURCE" => {
                return Box::pin(source::serve(
                    &station,
                    stream,
                    self.peer,
                    request,
                    start,
                    &mut self.control,
                ))
                .await;
            }
            "GET" => false,
            "HEAD" => true,
            _ => {
                return answer_method_not_allowed(
                    &mut stream,
                    &request.method,
                    "GET, HEAD, PUT, SOURCE",
                )
                .await;
            }
        };
        let answered = |sent, what: &str| {
            (
                Ending::new(ConnectionEvent::Answered, Reason::Served, what),
                sent,
            )
        };
        match request.path.as_str() {
            "/status-json.xsl" => {
                let json = status::icecast_json(&station);
                let sent = reply(
                    &mut stream,
                    response(200, "application/json", &json, head_only),
                )
                .await;
                answered(sent, "status")
            }
            "/stats" => {
                let json = status::stats_json(&station);
                let sent = reply(
                    &mut stream,
                    response(200, "application/json", &json, head_only),
                )
                .await;
                answered(sent, "statistics")
            }
            "/admin/metadata" => Box::pin(admin_metadata(&station, &mut stream, request)).await,
            path => match station.mount(path) {
                Some(mount) if mount.on_air() && !station.ended.get() => {
                    self.listen(stream, request, &mount, head_only).await
                }
                _ => {
                    let answer =
                        response(404, "text/plain", "no stream on this mount\n", head_only);
                    let sent = reply(&mut stream, answer).await;
                    (
                        Ending::new(ConnectionEvent::Rejected, Reason::NotFound, "404"),
                        sent,
                    )
                }
            },
        }
    }

    /// Streams `mount` to this connection.
    async fn listen(
        &mut self,
        mut stream: TcpStream,
        request: &Request,
        mount: &Rc<Mount>,
        head_only: bool,
    ) -> (Ending, u64) {
        let station = self.station.clone();
        if mount
            .config
            .max_listeners
            .is_some_and(|max| mount.listeners.get() >= max as u64)
        {
            let answer = response(
                503,
                "text/plain",
                "too many listeners on this mount\n",
                head_only,
            );
            let sent = reply(&mut stream, answer).await;
            let detail = format!("503: {} listeners on the mount", mount.listeners.get());
            return (
                Ending::new(ConnectionEvent::Refused, Reason::ServerFull, detail),
                sent,
            );
        }
        let icy = request
            .header("Icy-MetaData")
            .is_some_and(|v| v.trim() == "1");
        let chunked = request.minor_version >= 1 && !head_only;
        // Built outside this future, which a listener holds for as long as it listens.
        let head = stream_head(mount, icy, chunked, station.config.icy_metaint);
        if head_only {
            let sent = reply(&mut stream, head).await;
            return (
                Ending::new(ConnectionEvent::Answered, Reason::Served, "HEAD"),
                sent,
            );
        }
        // Joined before the head goes out, so a client that has read the head is in the
        // stream (with the burst, or from the next join point).
        mount
            .audience
            .borrow_mut()
            .join(subscriber(self.inbox.to_ref(), self.control.to_ref()));
        let _listening = Open::new(&station.counters, |c| &c.listeners);
        let _on_mount = mount.listening();
        let pump = Pump {
            counters: &station.counters,
            end_grace: std::time::Duration::from_secs(10),
            chunked,
            icy: icy.then(|| IcyWeaver::new(station.config.icy_metaint, mount.title.clone())),
            coalesce: station.config.coalesce,
        };
        let (peer, path) = (self.peer, mount.path.as_str());
        let detail = if icy { "icy metadata" } else { "" };
        let joined = |sent| {
            Ending::new(ConnectionEvent::Joined, Reason::Listening, detail).record(
                &station.counters,
                peer,
                Some(path),
                sent,
            )
        };
        pump.run(stream, head, &mut self.inbox, &mut self.control, joined)
            .await
    }
}

/// The response head of a listener's stream: the mount's `icy-*` headers, `icy-metaint` when
/// the client asked for titles, chunked encoding for HTTP/1.1.
fn stream_head(mount: &Mount, icy: bool, chunked: bool, icy_metaint: usize) -> String {
    let metaint = icy_metaint.to_string();
    let info = mount.info.borrow();
    let mut headers: Vec<(&str, &str)> = vec![
        ("Content-Type", "application/ogg"),
        ("Cache-Control", "no-cache, no-store"),
        ("Access-Control-Allow-Origin", "*"),
        (
            "Server",
            concat!("Kamaelia radio/", env!("CARGO_PKG_VERSION")),
        ),
    ];
    for (name, value) in [
        ("icy-name", &info.name),
        ("icy-description", &info.description),
        ("icy-genre", &info.genre),
        ("icy-url", &info.url),
    ] {
        if let Some(value) = value {
            headers.push((name, value));
        }
    }
    headers.push(("icy-pub", if info.public { "1" } else { "0" }));
    if icy {
        headers.push(("icy-metaint", &metaint));
    }
    if chunked {
        headers.push(("Transfer-Encoding", "chunked"));
    }
    response_head(200, &headers)
}

/// `GET /admin/metadata?mount=/m&mode=updinfo&song=T`: sets a mount's title.
async fn admin_metadata(
    station: &Station,
    stream: &mut TcpStream,
    request: &Request,
) -> (Ending, u64) {
    let mount_path = request.query_param("mount").unwrap_or_default();
    let admin = station
        .config
        .admin_password
        .as_deref()
        .is_some_and(|p| authorized(request, Some("admin"), p));
    let source = station
        .source_password_for(&mount_path)
        .is_some_and(|p| authorized(request, None, p));
    if !admin && !source {
        let sent = source::unauthorized(stream).await;
        return (
            Ending::new(ConnectionEvent::Rejected, Reason::Unauthorized, "admin"),
            sent,
        );
    }
    let answer = |message: &str, ok: bool| {
        format!(
            "<?xml version=\"1.0\"?>\n<iceresponse><message>{message}</message><return>{}</return></iceresponse>\n",
            u8::from(ok)
        )
    };
    let (status, body, ending) = match (
        request.query_param("mode").as_deref(),
        request.query_param("song"),
        station.mount(&mount_path),
    ) {
        (Some("updinfo"), Some(song), Some(mount)) => {
            tracing::info!(mount = %mount.path, title = %song.escape_debug(), "title updated");
            mount.set_title(&song);
            let ending = Ending::new(
                ConnectionEvent::Answered,
                Reason::Served,
                "metadata updated",
            );
            (200, answer("Metadata update successful", true), ending)
        }
        (_, _, None) => {
            let ending = Ending::new(
                ConnectionEvent::Rejected,
                Reason::NotFound,
                "admin: no such mount",
            );
            (400, answer("Source does not exist", false), ending)
        }
        _ => {
            let ending = Ending::new(
                ConnectionEvent::Rejected,
                Reason::BadRequest,
                "admin: mode=updinfo and song are needed",
            );
            (
                400,
                answer("mode=updinfo and song are needed", false),
                ending,
            )
        }
    };
    let sent = reply(stream, response(status, "text/xml", &body, false)).await;
    (ending, sent)
}

#[cfg(test)]
mod size_guard {
    /// A listener holds its connection's future for as long as it listens: 18,000 listeners
    /// hold 18,000 of them. Rare paths (a source, the request, the end) are boxed to keep it
    /// small (2,296 bytes before they were: 4.9 KiB of memory per listener, now 3.8).
    #[tokio::test]
    async fn a_listening_connection_stays_small() {
        use axon_core::Component;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        let config = super::super::RadioConfig::new(addr);
        let station = std::rc::Rc::new(super::Station::new(config, addr));
        let connection = super::Connection {
            inbox: axon_core::Inbox::new(),
            control: axon_core::Inbox::new(),
            stream: Some(stream),
            peer,
            _connection: crate::live::counters::Open::new(&station.counters, |c| &c.connections),
            station,
        };
        let size = std::mem::size_of_val(&connection.main());
        assert!(size <= 2048, "a connection's future is {size} bytes");
    }
}
