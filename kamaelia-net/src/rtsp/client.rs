//! `RtspClient`: plays one RTSP URL — DESCRIBE, SETUP, PLAY — and puts out the RTP packets
//! (and the configuration from the SDP) for `RtpVorbisDepay`.

use super::message::reason;
use super::transport::Delivery;
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox};
use bytes::{Buf, BytesMut};
use kamaelia_codec::rtp::{ReceptionReport, RtpPacket, VorbisConfig, is_rtcp, receiver_report};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long the client waits for each response.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Plays an `rtsp://host:port/path` URL: the stream's configuration (from the SDP's
/// `configuration=`) goes out on `config` first, then its RTP packets on `outbox`, received
/// interleaved in the RTSP connection (the default) or over UDP ([`udp`](Self::udp)). It
/// sends RTCP receiver reports and keep-alives while playing; any message on `control` makes
/// it send `TEARDOWN` and end the stream. `signal` carries `ProducerFinished` when the stream
/// ends (the server's end, or ours), and `Failed` (with the status or error) when it cannot
/// play.
#[derive(Boxes)]
pub struct RtspClient {
    /// `ShutdownMicroprocess` tears the session down.
    pub control: Inbox<Control>,
    /// RTP packets.
    pub outbox: Outbox<RtpPacket>,
    /// The configuration from the SDP.
    pub config: Outbox<VorbisConfig>,
    /// `ProducerFinished` at the end of the stream; `Failed` when it could not play.
    pub signal: Outbox<Control>,
    url: String,
    udp: bool,
}

/// A URL's parts.
struct Target {
    authority: String,
}

fn target(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("rtsp://")
        .ok_or_else(|| format!("{url:?} is not an rtsp:// URL"))?;
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:554")
    };
    Ok(Target { authority })
}

/// One response: status, headers, body.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl RtspClient {
    /// Plays `url`, with RTP interleaved in the RTSP connection.
    pub fn new(url: impl Into<String>) -> Self {
        RtspClient {
            control: Inbox::new(),
            outbox: Outbox::new(),
            config: Outbox::new(),
            signal: Outbox::new(),
            url: url.into(),
            udp: false,
        }
    }

    /// Receives RTP over UDP instead (a port pair bound on this host).
    pub fn udp(mut self) -> Self {
        self.udp = true;
        self
    }
}

/// The RTSP connection: requests out, responses (and interleaved frames) in.
struct Connection {
    stream: TcpStream,
    buffer: BytesMut,
    cseq: u32,
    session: Option<String>,
}

/// What the connection read next while playing.
enum Read {
    Frame(u8, bytes::Bytes),
    Response(Response),
}

impl Connection {
    async fn request(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<Response, String> {
        self.cseq += 1;
        let mut text = format!(
            "{method} {url} RTSP/1.0\r\nCSeq: {}\r\nUser-Agent: kamaelia-net\r\n",
            self.cseq
        );
        if let Some(session) = &self.session {
            text.push_str(&format!("Session: {session}\r\n"));
        }
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        self.stream
            .write_all(text.as_bytes())
            .await
            .map_err(|e| format!("sending {method}: {e}"))?;
        let deadline = tokio::time::Instant::now() + RESPONSE_TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, self.read()).await {
                Err(_) => return Err(format!("no answer to {method} within {RESPONSE_TIMEOUT:?}")),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(Read::Frame(..))) => continue, // data before the answer: not ours yet
                Ok(Ok(Read::Response(response))) => {
                    if response.status != 200 {
                        return Err(format!(
                            "{method} answered {} {}",
                            response.status,
                            reason(response.status)
                        ));
                    }
                    return Ok(response);
                }
            }
        }
    }

    /// The next response or interleaved frame.
    async fn read(&mut self) -> Result<Read, String> {
        loop {
            if let Some(found) = self.parse()? {
                return Ok(found);
            }
            if self.buffer.len() > 1 << 20 {
                return Err("a response larger than 1 MiB".into());
            }
            match self.stream.read_buf(&mut self.buffer).await {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(_) => {}
                Err(e) => return Err(format!("reading: {e}")),
            }
        }
    }

    fn parse(&mut self) -> Result<Option<Read>, String> {
        if self.buffer.first() == Some(&b'$') {
            if self.buffer.len() < 4 {
                return Ok(None);
            }
            let length = usize::from(u16::from_be_bytes([self.buffer[2], self.buffer[3]]));
            if self.buffer.len() < 4 + length {
                return Ok(None);
            }
            let channel = self.buffer[1];
            self.buffer.advance(4);
            let data = self.buffer.split_to(length).freeze();
            return Ok(Some(Read::Frame(channel, data)));
        }
        let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Ok(None);
        };
        let head = String::from_utf8_lossy(&self.buffer[..end]).to_string();
        let mut lines = head.lines();
        let status_line = lines.next().unwrap_or("");
        let status = status_line
            .strip_prefix("RTSP/1.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not an RTSP response: {status_line:?}"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        if length > 1 << 20 {
            return Err(format!("a response body of {length} bytes (at most 1 MiB)"));
        }
        if self.buffer.len() < end + 4 + length {
            return Ok(None);
        }
        self.buffer.advance(end + 4);
        let body = String::from_utf8_lossy(&self.buffer.split_to(length)).to_string();
        Ok(Some(Read::Response(Response {
            status,
            headers,
            body,
        })))
    }
}

/// The configuration and the track's control URL from an SDP.
fn from_sdp(sdp: &str, base: &str) -> Result<(VorbisConfig, String), String> {
    let mut config = None;
    let mut control = None;
    let mut in_media = false;
    for line in sdp.lines() {
        if line.starts_with("m=") {
            in_media = line.starts_with("m=audio");
        }
        if let Some(fmtp) = line.strip_prefix("a=fmtp:")
            && fmtp.contains("configuration=")
        {
            let parameters = fmtp.split_once(' ').map_or(fmtp, |(_, p)| p);
            config = Some(VorbisConfig::from_fmtp(parameters).map_err(|e| e.to_string())?);
        }
        if in_media && let Some(c) = line.strip_prefix("a=control:") {
            control = Some(c.trim().to_string());
        }
    }
    let config = config.ok_or("the SDP has no Vorbis configuration")?;
    let track = match control {
        Some(c) if c.starts_with("rtsp://") => c,
        Some(c) if c != "*" => format!("{}/{c}", base.trim_end_matches('/')),
        _ => base.to_string(),
    };
    Ok((config, track))
}

impl Component for RtspClient {
    async fn main(mut self) -> Result<(), ComponentError> {
        let outcome = self.play().await;
        let message = match outcome {
            Ok(message) => message,
            Err(why) => Control::failed("RtspClient", why),
        };
        self.signal.send(message).await?;
        Ok(())
    }
}

impl RtspClient {
    /// Plays until the stream ends (`ProducerFinished`), a shutdown, or an error.
    async fn play(&mut self) -> Result<Control, String> {
        let target = target(&self.url)?;
        let stream = TcpStream::connect(&target.authority)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", target.authority))?;
        let _ = stream.set_nodelay(true);
        let mut rtsp = Connection {
            stream,
            buffer: BytesMut::new(),
            cseq: 0,
            session: None,
        };
        let url = self.url.clone();
        rtsp.request("OPTIONS", &url, &[]).await?;
        let described = rtsp
            .request("DESCRIBE", &url, &[("Accept", "application/sdp".into())])
            .await?;
        let base = described.header("Content-Base").unwrap_or(&url).to_string();
        let (config, track) = from_sdp(&described.body, &base)?;
        let ssrc = config.ident() ^ 0x5a5a_5a5a;
        if self.config.is_linked() {
            self.config.send(config).await.map_err(|e| e.to_string())?;
        }
        let udp = if self.udp {
            let local = rtsp.stream.local_addr().map_err(|e| e.to_string())?.ip();
            let rtp = UdpSocket::bind((local, 0))
                .await
                .map_err(|e| e.to_string())?;
            let rtcp = UdpSocket::bind((local, 0))
                .await
                .map_err(|e| e.to_string())?;
            Some((rtp, rtcp))
        } else {
            None
        };
        let transport = match &udp {
            Some((rtp, rtcp)) => format!(
                "RTP/AVP;unicast;client_port={}-{}",
                rtp.local_addr().map_err(|e| e.to_string())?.port(),
                rtcp.local_addr().map_err(|e| e.to_string())?.port()
            ),
            None => "RTP/AVP/TCP;unicast;interleaved=0-1".to_string(),
        };
        let set_up = rtsp
            .request("SETUP", &track, &[("Transport", transport)])
            .await?;
        let session = set_up
            .header("Session")
            .ok_or("SETUP answered without a Session")?;
        let timeout = session
            .split(';')
            .find_map(|p| p.trim().strip_prefix("timeout="))
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(60);
        rtsp.session = Some(session.split(';').next().unwrap_or("").trim().to_string());
        let server_rtcp = set_up.header("Transport").and_then(|t| {
            let ports = t
                .split(';')
                .find_map(|p| p.trim().strip_prefix("server_port="))?;
            ports.split('-').nth(1)?.parse::<u16>().ok()
        });
        let delivery = match &udp {
            Some(_) => Delivery::Udp {
                rtp: 0,
                rtcp: server_rtcp.unwrap_or(0),
            },
            None => Delivery::Tcp { rtp: 0, rtcp: 1 },
        };
        rtsp.request("PLAY", &url, &[("Range", "npt=0.000-".into())])
            .await?;
        let mut keepalive = tokio::time::interval(Duration::from_secs((timeout / 2).max(1)));
        keepalive.tick().await;
        let mut reports = tokio::time::interval(Duration::from_secs(5));
        let mut reception = ReceptionReport::default();
        let mut datagram = vec![0u8; 65536];
        let server_ip = rtsp.stream.peer_addr().map_err(|e| e.to_string())?.ip();
        loop {
            tokio::select! {
                biased;
                _ = self.control.recv() => {
                    // Asked to stop: the session is torn down and, downstream, the stream
                    // simply ends (so a decoder drains and a WAV file is finished).
                    let _ = tokio::time::timeout(Duration::from_secs(2), rtsp.request("TEARDOWN", &url, &[])).await;
                    return Ok(Control::ProducerFinished);
                }
                read = rtsp.read() => match read {
                    Ok(Read::Frame(channel, data)) => {
                        if channel == 0 && !is_rtcp(&data) {
                            self.packet(&data, &mut reception).await?;
                        }
                    }
                    Ok(Read::Response(_)) => {} // a keep-alive's answer
                    // The server closing is the end of the stream.
                    Err(_) => return Ok(Control::ProducerFinished),
                },
                received = async {
                    match &udp {
                        Some((rtp, _)) => rtp.recv_from(&mut datagram).await,
                        None => std::future::pending().await,
                    }
                } => {
                    // Only the server's datagrams: anyone else could inject packets.
                    if let Ok((n, from)) = received
                        && from.ip() == server_ip
                    {
                        let data = datagram[..n].to_vec();
                        self.packet(&data, &mut reception).await?;
                    }
                }
                _ = keepalive.tick() => {
                    rtsp.cseq += 1;
                    let text = format!(
                        "GET_PARAMETER {url} RTSP/1.0\r\nCSeq: {}\r\nSession: {}\r\n\r\n",
                        rtsp.cseq,
                        rtsp.session.as_deref().unwrap_or("")
                    );
                    rtsp.stream.write_all(text.as_bytes()).await.map_err(|e| e.to_string())?;
                }
                _ = reports.tick() => {
                    let report = receiver_report(ssrc, &reception, "kamaelia-client");
                    match (delivery, &udp) {
                        (Delivery::Tcp { rtcp, .. }, _) => {
                            let length = (report.len() as u16).to_be_bytes();
                            let mut framed = vec![b'$', rtcp, length[0], length[1]];
                            framed.extend_from_slice(&report);
                            rtsp.stream.write_all(&framed).await.map_err(|e| e.to_string())?;
                        }
                        (Delivery::Udp { rtcp, .. }, Some((_, socket))) if rtcp != 0 => {
                            let _ = socket.send_to(&report, (server_ip, rtcp)).await;
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// One received RTP packet: counted for reports, sent on.
    async fn packet(&mut self, data: &[u8], reception: &mut ReceptionReport) -> Result<(), String> {
        let Ok(packet) = RtpPacket::parse(data) else {
            return Ok(()); // not RTP: ignored
        };
        let first = reception.ssrc != packet.ssrc;
        reception.ssrc = packet.ssrc;
        let highest = reception.highest_sequence;
        let (cycles, low) = (highest & 0xffff_0000, highest & 0xffff);
        let sequence = u32::from(packet.sequence);
        let mut extended = cycles | sequence;
        if sequence < low && low - sequence > 0x8000 {
            extended = extended.wrapping_add(0x1_0000); // the 16-bit number wrapped
        }
        if first {
            reception.highest_sequence = extended;
        } else if extended > highest {
            reception.lost = reception.lost.saturating_add(extended - highest - 1);
            reception.highest_sequence = extended;
        }
        self.outbox.send(packet).await.map_err(|e| e.to_string())
    }
}
