//! The RTSP server's session state machine over real loopback sockets, with a std client
//! speaking the protocol by hand: PLAY's RTP-Info names the first packet it gets, PAUSE stops
//! the packets and PLAY resumes them, an idle session times out, the connection limit answers
//! 503, TEARDOWN closes.

use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox, Scheduler, link};
use bytes::Bytes;
use kamaelia_codec::rtp::RtpPacket;
use kamaelia_net::rtsp::{RtspConfig, RtspServer};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Sends a numbered RTP packet every 10 ms (each a whole Vorbis packet, so any is a join point).
#[derive(Boxes)]
struct Ticker {
    control: Inbox<Control>,
    outbox: Outbox<RtpPacket>,
    ssrc: u32,
}

impl Component for Ticker {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut sequence = 1000u16;
        loop {
            tokio::select! {
                _ = self.control.recv() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_millis(10)) => {
                    let payload = Bytes::from(vec![0, 0, 1, 0x01, 0, 2, 0xAB, 0xCD]);
                    let packet = RtpPacket {
                        marker: false,
                        payload_type: 96,
                        sequence,
                        timestamp: u32::from(sequence) * 100,
                        ssrc: self.ssrc,
                        payload,
                    };
                    sequence = sequence.wrapping_add(1);
                    self.outbox.send(packet).await?;
                }
            }
        }
    }
}

/// A server on its own thread with one stream at `/` fed by a `Ticker`; runs until the test
/// process ends.
fn start(config: RtspConfig) -> SocketAddr {
    start_paths(config, &["/"])
}

/// A server with a stream at each of `paths`, the i-th with SSRC i.
fn start_paths(config: RtspConfig, paths: &[&'static str]) -> SocketAddr {
    let paths = paths.to_vec();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = RtspServer::bind(config).unwrap();
            tx.send(server.local_addr()).unwrap();
            let scheduler = Scheduler::new();
            for (ssrc, path) in paths.iter().enumerate() {
                let stream = server.stream(path);
                let ticker = Ticker {
                    control: Inbox::new(),
                    outbox: Outbox::new(),
                    ssrc: ssrc as u32,
                };
                link(&ticker.outbox, &stream.inbox).unwrap();
                scheduler.activate(stream);
                scheduler.activate(ticker);
            }
            scheduler.activate(server);
            scheduler.run().await;
        });
    });
    rx.recv().unwrap()
}

/// A hand-driven RTSP client.
struct Client {
    stream: TcpStream,
    buffer: Vec<u8>,
    cseq: u32,
}

/// What the server sent next.
#[derive(Debug)]
enum Got {
    Response(String),
    /// Sequence number and SSRC.
    Rtp(u16, u32),
    Other,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Client {
            stream,
            buffer: Vec::new(),
            cseq: 0,
        }
    }

    fn send(&mut self, method: &str, uri: &str, headers: &str) {
        self.cseq += 1;
        let text = format!(
            "{method} {uri} RTSP/1.0\r\nCSeq: {}\r\n{headers}\r\n",
            self.cseq
        );
        self.stream.write_all(text.as_bytes()).unwrap();
    }

    /// The next response or frame; `None` once the server has closed the connection.
    fn next(&mut self) -> Option<Got> {
        loop {
            if self.buffer.first() == Some(&b'$') && self.buffer.len() >= 4 {
                let length = usize::from(u16::from_be_bytes([self.buffer[2], self.buffer[3]]));
                if self.buffer.len() >= 4 + length {
                    let frame: Vec<u8> = self.buffer.drain(..4 + length).collect();
                    return Some(match RtpPacket::parse(&frame[4..]) {
                        Ok(p) if frame[1] == 0 => Got::Rtp(p.sequence, p.ssrc),
                        _ => Got::Other,
                    });
                }
            } else if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buffer.drain(..end + 4).collect();
                return Some(Got::Response(String::from_utf8_lossy(&head).to_string()));
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// The next response, skipping frames.
    fn response(&mut self) -> String {
        loop {
            match self.next() {
                Some(Got::Response(r)) => return r,
                Some(_) => continue,
                None => panic!("connection closed while waiting for a response"),
            }
        }
    }

    /// Sets up a session over TCP; returns its id.
    fn setup(&mut self, addr: SocketAddr) -> String {
        self.setup_path(addr, "")
    }

    /// Sets up a session on the stream at `path` over TCP; returns its id.
    fn setup_path(&mut self, addr: SocketAddr, path: &str) -> String {
        self.send(
            "SETUP",
            &format!("rtsp://{addr}{path}/trackID=0"),
            "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n",
        );
        let answer = self.response();
        assert!(answer.starts_with("RTSP/1.0 200"), "{answer}");
        header(&answer, "Session")
            .split(';')
            .next()
            .unwrap()
            .to_string()
    }
}

fn header<'a>(response: &'a str, name: &str) -> &'a str {
    response
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {response}"))
}

#[test]
fn play_names_the_first_packet_and_pause_stops_the_packets() {
    let addr = start(RtspConfig::new("127.0.0.1:0".parse().unwrap()));
    let mut client = Client::connect(addr);
    let session = client.setup(addr);
    let url = format!("rtsp://{addr}/");
    client.send("PLAY", &url, &format!("Session: {session}\r\n"));
    let answer = client.response();
    assert!(answer.starts_with("RTSP/1.0 200"), "{answer}");
    let info = header(&answer, "RTP-Info");
    let seq: u16 = info
        .split(';')
        .find_map(|p| p.strip_prefix("seq="))
        .unwrap()
        .parse()
        .unwrap();
    // The packets follow the answer, from the one it named, in order.
    for expected in seq..seq + 5 {
        match client.next() {
            Some(Got::Rtp(got, _)) => assert_eq!(got, expected),
            other => panic!("expected RTP {expected}, got {other:?}"),
        }
    }
    client.send("PAUSE", &url, &format!("Session: {session}\r\n"));
    assert!(client.response().starts_with("RTSP/1.0 200"));
    client
        .stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(
        client.next().is_none(),
        "no packet after PAUSE was answered"
    );
    client
        .stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client.send("PLAY", &url, &format!("Session: {session}\r\n"));
    assert!(client.response().starts_with("RTSP/1.0 200"));
    assert!(matches!(client.next(), Some(Got::Rtp(..))), "resumed");
    client.send("TEARDOWN", &url, &format!("Session: {session}\r\n"));
    assert!(client.response().starts_with("RTSP/1.0 200"));
    while let Some(got) = client.next() {
        assert!(!matches!(got, Got::Response(_)), "closed after TEARDOWN");
    }
}

#[test]
fn an_idle_session_times_out() {
    let config =
        RtspConfig::new("127.0.0.1:0".parse().unwrap()).session_timeout(Duration::from_secs(1));
    let addr = start(config);
    let mut client = Client::connect(addr);
    client.setup(addr);
    let started = std::time::Instant::now();
    assert!(client.next().is_none(), "closed by the server");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
}

#[test]
fn past_the_connection_limit_a_client_is_told_503() {
    let addr = start(RtspConfig::new("127.0.0.1:0".parse().unwrap()).max_connections(1));
    let mut first = Client::connect(addr);
    first.setup(addr);
    let mut second = Client::connect(addr);
    let answer = second.response();
    assert!(answer.starts_with("RTSP/1.0 503"), "{answer}");
    first.send("OPTIONS", "*", "");
    assert!(
        first.response().starts_with("RTSP/1.0 200"),
        "the first one is unaffected"
    );
}

#[test]
fn each_path_is_its_own_stream() {
    let addr = start_paths(
        RtspConfig::new("127.0.0.1:0".parse().unwrap()),
        &["/a", "/b"],
    );
    for (path, ssrc) in [("/a", 0u32), ("/b", 1)] {
        let mut client = Client::connect(addr);
        let session = client.setup_path(addr, path);
        client.send(
            "PLAY",
            &format!("rtsp://{addr}{path}"),
            &format!("Session: {session}\r\n"),
        );
        assert!(client.response().starts_with("RTSP/1.0 200"));
        match client.next() {
            Some(Got::Rtp(_, got)) => assert_eq!(got, ssrc, "{path} carries its own stream"),
            other => panic!("expected a packet, got {other:?}"),
        }
    }
    let mut client = Client::connect(addr);
    client.send(
        "SETUP",
        &format!("rtsp://{addr}/c/trackID=0"),
        "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n",
    );
    assert!(client.response().starts_with("RTSP/1.0 404"));
}

#[test]
fn transport_and_header_edge_cases_are_refused_not_panicked_on() {
    use kamaelia_net::rtsp::{choose_transport, parse_message};
    assert_eq!(choose_transport("RTP/AVP;unicast;client_port=65535"), None);
    assert_eq!(choose_transport("RTP/AVP/TCP;interleaved=4294967295"), None);
    assert_eq!(choose_transport("RTP/AVP;unicast;client_port=0-1"), None);
    // A bare CR in a value would let an echoed header split the response.
    assert!(parse_message(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\rX: y\r\n\r\n", 8192).is_err());
}
