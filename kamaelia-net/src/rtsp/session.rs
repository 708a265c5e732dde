//! One RTSP connection and the session on it: requests answered in order, and while playing,
//! the stream's packets sent interleaved or over UDP with a sender report every 5 s.

use super::message::{Incoming, RtspRequest, parse_message, response};
use super::sdp::describe;
use super::server::Shared;
use super::stream::{Frame, StreamState, normalise};
use super::transport::{Delivery, choose_transport, transport_reply};
use axon_core::{Boxes, Component, ComponentError, Control, Inbox};
use bytes::BytesMut;
use kamaelia_codec::rtp::{SenderReport, ntp_time};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};

/// Time allowed to write a response or a packet before the client counts as gone.
const WRITE_GRACE: Duration = Duration::from_secs(10);

/// Time a PLAY waits for the first packet (to give its `RTP-Info`) before answering without.
const PLAY_WAIT: Duration = Duration::from_secs(2);

/// How often a playing session sends an RTCP sender report.
const REPORT_EVERY: Duration = Duration::from_secs(5);

const PUBLIC: &str =
    "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER";

/// A set-up session.
struct Session {
    id: String,
    stream: Rc<StreamState>,
    /// The track URL the client set up (for `RTP-Info`).
    url: String,
    delivery: Delivery,
    playing: bool,
    /// A PLAY to answer with the first packet (its CSeq), and until when to wait for it.
    pending_play: Option<(Option<String>, Instant)>,
    packets: u32,
    octets: u32,
}

/// One client's connection.
#[derive(Boxes)]
pub(crate) struct RtspSession {
    /// The stream's packets, while playing.
    inbox: Inbox<Frame>,
    /// The stream's end, a disconnection for lagging, or shutdown.
    control: Inbox<Control>,
    stream: Option<TcpStream>,
    peer: SocketAddr,
    shared: Rc<Shared>,
}

impl RtspSession {
    pub(crate) fn new(stream: TcpStream, peer: SocketAddr, shared: Rc<Shared>) -> Self {
        RtspSession {
            inbox: Inbox::with_capacity(shared.config.max_lag),
            control: Inbox::new(),
            stream: Some(stream),
            peer,
            shared,
        }
    }
}

/// Why a connection ends.
enum End {
    Closed,
    Done(&'static str),
}

async fn write_all<W: AsyncWrite + Unpin>(to: &mut W, bytes: &[u8]) -> Result<(), End> {
    match tokio::time::timeout(WRITE_GRACE, to.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(End::Closed),
    }
}

/// One interleaved frame (`$`, channel, length, bytes) in one vectored write: a packet per
/// session is the hot path, so not two writes.
async fn write_interleaved<W: AsyncWrite + Unpin>(
    to: &mut W,
    channel: u8,
    bytes: &[u8],
) -> Result<(), End> {
    use bytes::Buf;
    let length = (bytes.len() as u16).to_be_bytes();
    let header = [b'$', channel, length[0], length[1]];
    let mut frame = Buf::chain(&header[..], bytes);
    match tokio::time::timeout(WRITE_GRACE, to.write_all_buf(&mut frame)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(End::Closed),
    }
}

impl Component for RtspSession {
    async fn main(mut self) -> Result<(), ComponentError> {
        let Some(mut stream) = self.stream.take() else {
            return Ok(());
        };
        let shared = self.shared.clone();
        if shared
            .config
            .max_connections
            .is_some_and(|max| shared.open.get() >= max)
        {
            let answer = response(503, None, &[], "");
            let _ = write_all(&mut stream, answer.as_bytes()).await;
            return Ok(());
        }
        shared.open.set(shared.open.get() + 1);
        let end = self.serve(&mut stream).await;
        shared.open.set(shared.open.get() - 1);
        match end {
            End::Closed => tracing::debug!(peer = %self.peer, "RTSP connection closed"),
            End::Done(why) => tracing::debug!(peer = %self.peer, why, "RTSP connection ended"),
        }
        Ok(())
    }
}

impl RtspSession {
    async fn serve(&mut self, stream: &mut TcpStream) -> End {
        let shared = self.shared.clone();
        let (mut reader, mut writer) = stream.split();
        let mut buffer = BytesMut::with_capacity(1024);
        let mut session: Option<Session> = None;
        let mut idle_until = Instant::now() + shared.config.request_timeout;
        let mut report = tokio::time::interval(REPORT_EVERY);
        report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let result: Result<(), End> = async {
            loop {
                let playing = session.as_ref().is_some_and(|s| s.playing);
                let answered = session.as_ref().is_some_and(|s| s.pending_play.is_none());
                let play_deadline = session
                    .as_ref()
                    .and_then(|s| s.pending_play.as_ref().map(|p| p.1));
                tokio::select! {
                    biased;
                    message = self.control.recv() => {
                        return Err(match message {
                            Control::Failed(_) => End::Done("fell behind the live stream"),
                            m if m.is_producer_finished() => End::Done("the stream ended"),
                            _ => End::Done("shut down"),
                        });
                    }
                    read = reader.read_buf(&mut buffer) => {
                        match read {
                            Ok(0) | Err(_) => return Err(End::Closed),
                            Ok(_) => {}
                        }
                        // Anything from a client with a session keeps it alive (its RTCP
                        // receiver reports, interleaved, count as RFC 2326 allows).
                        if session.is_some() {
                            idle_until = Instant::now() + shared.config.session_timeout;
                        }
                        while let Some(request) = self.next_request(&mut buffer, &mut writer).await? {
                            let was_playing = session.as_ref().is_some_and(|s| s.playing);
                            let answer = self.answer(&request, &mut session).await;
                            if !was_playing && session.as_ref().is_some_and(|s| s.playing) {
                                // The first report comes a period after PLAY, not at once.
                                report.reset();
                            }
                            if was_playing && !session.as_ref().is_some_and(|s| s.playing) {
                                // Paused: what was queued is stale; a later PLAY starts live.
                                while self.inbox.try_recv().is_some() {}
                            }
                            // A session lives while its client keeps talking; before one, a
                            // connection gets a little longer than one request's time.
                            idle_until = Instant::now() + if session.is_some() {
                                shared.config.session_timeout
                            } else {
                                shared.config.request_timeout.max(Duration::from_secs(30))
                            };
                            let torn_down = request.method == "TEARDOWN"
                                && answer.as_deref().is_some_and(|a| a.starts_with("RTSP/1.0 200"));
                            if let Some(answer) = answer {
                                write_all(&mut writer, answer.as_bytes()).await?;
                            }
                            if torn_down {
                                return Err(End::Done("teardown"));
                            }
                        }
                    }
                    frame = self.inbox.recv(), if playing => {
                        let Some(s) = session.as_mut() else { continue };
                        if let Some((cseq, _)) = &s.pending_play {
                            if !frame.join {
                                continue; // start at a whole packet
                            }
                            let answer = play_response(s, cseq.as_deref(), Some(&frame));
                            s.pending_play = None;
                            write_all(&mut writer, answer.as_bytes()).await?;
                        }
                        self.send(s, &frame, &mut writer).await?;
                    }
                    _ = sleep_until(play_deadline.unwrap_or_else(Instant::now)), if play_deadline.is_some() => {
                        if let Some(s) = session.as_mut()
                            && let Some((cseq, _)) = s.pending_play.take()
                        {
                            let answer = play_response(s, cseq.as_deref(), None);
                            write_all(&mut writer, answer.as_bytes()).await?;
                        }
                    }
                    _ = report.tick(), if playing && answered => {
                        if let Some(s) = session.as_ref() {
                            self.report(s, &mut writer).await?;
                        }
                    }
                    _ = sleep_until(idle_until) => return Err(End::Done("timed out")),
                }
            }
        }
        .await;
        if let Some(s) = &session {
            s.stream.leave(&self.inbox);
        }
        match result {
            Ok(()) => End::Closed,
            Err(end) => end,
        }
    }

    /// The next complete request in `buffer` (interleaved frames from the client are read
    /// and set aside); a malformed one is answered and ends the connection.
    async fn next_request<W: AsyncWrite + Unpin>(
        &self,
        buffer: &mut BytesMut,
        writer: &mut W,
    ) -> Result<Option<RtspRequest>, End> {
        loop {
            match parse_message(buffer, self.shared.config.max_request) {
                Ok(None) => return Ok(None),
                Ok(Some((message, used))) => {
                    let _ = buffer.split_to(used);
                    match message {
                        Incoming::Request(request) => return Ok(Some(request)),
                        Incoming::Frame { .. } => continue, // an RTCP receiver report
                    }
                }
                Err(error) => {
                    let answer = response(error.status(), None, &[], "");
                    let _ = write_all(writer, answer.as_bytes()).await;
                    return Err(End::Done("a malformed request"));
                }
            }
        }
    }

    /// The answer to one request (`None` when it is deferred: a PLAY waits for a packet).
    async fn answer(&self, request: &RtspRequest, session: &mut Option<Session>) -> Option<String> {
        let shared = &self.shared;
        let cseq = request.cseq();
        let ok = |headers: &[(&str, String)], body: &str| response(200, cseq, headers, body);
        let fail = |status: u16| response(status, cseq, &[], "");
        let same_session = |s: &Option<Session>| match (s, request.header("Session")) {
            (Some(s), Some(given)) => given.split(';').next().is_some_and(|id| id.trim() == s.id),
            _ => false,
        };
        let session_header = |s: &Session| {
            format!(
                "{};timeout={}",
                s.id,
                shared.config.session_timeout.as_secs()
            )
        };
        match request.method.as_str() {
            "OPTIONS" => Some(ok(&[("Public", PUBLIC.to_string())], "")),
            "DESCRIBE" => {
                let path = normalise(&uri_path(&request.uri));
                let Some(stream) = shared.streams.borrow().get(&path).cloned() else {
                    return Some(fail(404));
                };
                // A stream that has not yet seen its headers is waited for, briefly.
                let give_up = Instant::now() + Duration::from_secs(5);
                while stream.config.borrow().is_none()
                    && !stream.ended.get()
                    && Instant::now() < give_up
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let Some(config) = stream.config.borrow().clone() else {
                    return Some(fail(503));
                };
                let local = shared.rtp.local_addr().map_or(self.peer.ip(), |a| a.ip());
                let sdp = describe(&config, &path, local);
                let base = format!("{}/", request.uri.trim_end_matches('/'));
                Some(ok(
                    &[
                        ("Content-Type", "application/sdp".into()),
                        ("Content-Base", base),
                    ],
                    &sdp,
                ))
            }
            "SETUP" => {
                if session.is_some() && !same_session(session) {
                    return Some(fail(459));
                }
                let path = normalise(&track_path(&uri_path(&request.uri)));
                let Some(stream) = shared.streams.borrow().get(&path).cloned() else {
                    return Some(fail(404));
                };
                let Some(delivery) = request.header("Transport").and_then(choose_transport) else {
                    return Some(fail(461));
                };
                let id = session
                    .as_ref()
                    .map_or_else(new_session_id, |s| s.id.clone());
                // SETUP again on the same stream (a transport change) keeps it playing;
                // another stream replaces the old one.
                let keep_playing = session
                    .as_ref()
                    .is_some_and(|s| s.playing && Rc::ptr_eq(&s.stream, &stream));
                if let Some(old) = session.as_ref()
                    && !keep_playing
                {
                    old.stream.leave(&self.inbox);
                }
                // The SSRC is known once the stream has sent a packet.
                let ssrc = stream.last.get().map(|_| stream.ssrc.get());
                let transport = transport_reply(delivery, ssrc, shared.server_ports());
                let (packets, octets) = session.as_ref().map_or((0, 0), |s| (s.packets, s.octets));
                let fresh = Session {
                    id,
                    stream,
                    url: request.uri.clone(),
                    delivery,
                    playing: keep_playing,
                    pending_play: None,
                    packets,
                    octets,
                };
                let header = session_header(&fresh);
                *session = Some(fresh);
                Some(ok(&[("Transport", transport), ("Session", header)], ""))
            }
            "PLAY" => {
                if !same_session(session) {
                    return Some(fail(454));
                }
                let s = session.as_mut()?;
                if s.stream.ended.get() {
                    return Some(fail(404));
                }
                if s.playing {
                    return Some(play_response(s, cseq, None));
                }
                s.playing = true;
                s.stream.join(&self.inbox, &self.control);
                s.pending_play = Some((cseq.map(str::to_string), Instant::now() + PLAY_WAIT));
                None
            }
            "PAUSE" => {
                if !same_session(session) {
                    return Some(fail(454));
                }
                let s = session.as_mut()?;
                let mut answers = String::new();
                if let Some((play_cseq, _)) = s.pending_play.take() {
                    // The PLAY still waiting for its first packet is answered first.
                    answers.push_str(&play_response(s, play_cseq.as_deref(), None));
                }
                if s.playing {
                    s.playing = false;
                    s.stream.leave(&self.inbox);
                }
                answers.push_str(&ok(&[("Session", session_header(s))], ""));
                Some(answers)
            }
            "TEARDOWN" => {
                if !same_session(session) {
                    return Some(fail(454));
                }
                Some(ok(&[], ""))
            }
            "GET_PARAMETER" | "SET_PARAMETER" => {
                let headers: Vec<(&str, String)> = session
                    .iter()
                    .map(|s| ("Session", session_header(s)))
                    .collect();
                Some(ok(&headers, ""))
            }
            _ => Some(response(501, cseq, &[("Public", PUBLIC.to_string())], "")),
        }
    }

    /// Sends one packet to the session's client.
    async fn send<W: AsyncWrite + Unpin>(
        &self,
        session: &mut Session,
        frame: &Frame,
        writer: &mut W,
    ) -> Result<(), End> {
        match session.delivery {
            Delivery::Tcp { rtp, .. } => write_interleaved(writer, rtp, &frame.wire).await?,
            Delivery::Udp { rtp, .. } => {
                // A datagram the socket cannot take now is lost, as on any UDP path.
                let _ = self
                    .shared
                    .rtp
                    .try_send_to(&frame.wire, SocketAddr::new(self.peer.ip(), rtp));
            }
        }
        session.packets = session.packets.wrapping_add(1);
        session.octets = session.octets.wrapping_add(frame.payload_len as u32);
        Ok(())
    }

    /// An RTCP sender report for the session.
    async fn report<W: AsyncWrite + Unpin>(
        &self,
        session: &Session,
        writer: &mut W,
    ) -> Result<(), End> {
        let Some(rtp_time) = session.stream.rtp_now() else {
            return Ok(());
        };
        let report = SenderReport {
            ssrc: session.stream.ssrc.get(),
            ntp: ntp_time(std::time::SystemTime::now()),
            rtp_time,
            packets: session.packets,
            octets: session.octets,
        }
        .to_bytes(&self.shared.cname);
        match session.delivery {
            Delivery::Tcp { rtcp, .. } => write_interleaved(writer, rtcp, &report).await?,
            Delivery::Udp { rtcp, .. } => {
                let _ = self
                    .shared
                    .rtcp
                    .try_send_to(&report, SocketAddr::new(self.peer.ip(), rtcp));
            }
        }
        Ok(())
    }
}

/// PLAY's answer: live from now, and where the stream starts for this client.
fn play_response(session: &Session, cseq: Option<&str>, first: Option<&Frame>) -> String {
    let mut headers = vec![
        ("Session", session.id.clone()),
        ("Range", "npt=0.000-".to_string()),
    ];
    if let Some(frame) = first {
        headers.push((
            "RTP-Info",
            format!(
                "url={};seq={};rtptime={}",
                session.url, frame.sequence, frame.timestamp
            ),
        ));
    }
    response(200, cseq, &headers, "")
}

/// The path of an `rtsp://host:port/path` URI (or of a bare path).
fn uri_path(uri: &str) -> String {
    let rest = uri
        .strip_prefix("rtsp://")
        .or_else(|| uri.strip_prefix("rtspu://"))
        .map_or(uri, |r| r.find('/').map_or("/", |i| &r[i..]));
    rest.split(['?', '#']).next().unwrap_or("/").to_string()
}

/// A SETUP URL names the track under the stream: drop the `trackID=0` the SDP gave it.
fn track_path(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some((stream, track)) if track.starts_with("trackID=") => stream.to_string(),
        _ => trimmed.to_string(),
    }
}

/// A fresh session id: 16 hex digits from the process's random hashing keys.
fn new_session_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016X}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_from_uris() {
        assert_eq!(uri_path("rtsp://127.0.0.1:8554/"), "/");
        assert_eq!(uri_path("rtsp://127.0.0.1:8554"), "/");
        assert_eq!(uri_path("rtsp://h/live.ogg?x=1"), "/live.ogg");
        assert_eq!(track_path("/live.ogg/trackID=0"), "/live.ogg");
        assert_eq!(track_path("/trackID=0"), "");
        assert_eq!(normalise(&track_path("/trackID=0")), "/");
    }
}
