//! LiveHttpServer over real loopback sockets, with std clients: late joiners start with the
//! header then a join point, a new header reaches everyone, the error statuses, the limits
//! (slowloris, oversize heads, connection count), a listener that stops reading is dropped
//! while the others get every byte, and the end of the stream closes everyone cleanly.

use axon_core::{Control, Scheduler};
use bytes::Bytes;
use kamaelia_cat::Cat;
use kamaelia_net::http::RequestLimits;
use kamaelia_net::{ChunkKind, LiveChunk, LiveConfig, LiveHttpServer};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

enum Command {
    Chunk(ChunkKind, Bytes),
    End,
}

struct Harness {
    addr: SocketAddr,
    commands: tokio::sync::mpsc::UnboundedSender<Command>,
    thread: std::thread::JoinHandle<String>,
}

impl Harness {
    /// A server on its own thread, fed by `send`; `finish` returns the CAT values as JSON.
    fn start(config: LiveConfig) -> Harness {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (commands, mut incoming) = tokio::sync::mpsc::unbounded_channel::<Command>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let server = LiveHttpServer::bind(config).unwrap();
                addr_tx.send(server.local_addr()).unwrap();
                let (data, control) = (server.inbox.to_ref(), server.control.to_ref());
                let scheduler = Scheduler::new();
                scheduler.activate(server);
                let pump = async {
                    while let Some(command) = incoming.recv().await {
                        match command {
                            Command::Chunk(kind, bytes) => {
                                data.send(LiveChunk { bytes, kind }).await.unwrap()
                            }
                            Command::End => break,
                        }
                    }
                    control.send(Control::ProducerFinished).await.unwrap();
                };
                tokio::join!(scheduler.run(), pump);
                Cat::of(&scheduler).values_json().to_string()
            })
        });
        Harness {
            addr: addr_rx.recv().unwrap(),
            commands,
            thread,
        }
    }

    fn send(&self, kind: ChunkKind, bytes: &str) {
        self.commands
            .send(Command::Chunk(
                kind,
                Bytes::copy_from_slice(bytes.as_bytes()),
            ))
            .unwrap();
    }

    /// Waits until the server has taken `chunks` chunks in all (as `/stats` reports).
    fn settle(&self, chunks: u64) {
        self.wait_for("chunks", chunks);
    }

    /// Waits until `/stats` shows `value` for `name`.
    fn wait_for(&self, name: &str, value: u64) {
        let wanted = format!("\"{name}\":{value}");
        for _ in 0..2000 {
            let (_, _, body) = request(self.addr, "GET /stats HTTP/1.1\r\n\r\n");
            let stats = rest(body);
            if stats.contains(&format!("{wanted},")) || stats.contains(&format!("{wanted}}}")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("the server never showed {wanted}");
    }

    fn finish(self) -> String {
        self.commands.send(Command::End).unwrap();
        self.thread.join().unwrap()
    }
}

/// The tests' server: no burst, so a newcomer starts at the next join point (the burst has
/// its own test).
fn config() -> LiveConfig {
    LiveConfig::new("127.0.0.1:0".parse().unwrap())
        .path("/radio.ogg")
        .content_type("application/ogg")
        .burst(Duration::ZERO)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// Sends `request`, reads the response head; returns (status line, head, reader for the body).
fn request(addr: SocketAddr, request: &str) -> (String, String, BufReader<TcpStream>) {
    let mut stream = connect(addr);
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head.lines().next().unwrap_or_default().to_string();
    (status, head, reader)
}

/// An HTTP/1.1 listener: the body arrives chunked.
fn listen(addr: SocketAddr) -> Chunked {
    let (status, head, body) = request(addr, "GET /radio.ogg HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(head.contains("Content-Type: application/ogg\r\n"), "{head}");
    assert!(head.contains("Transfer-Encoding: chunked\r\n"), "{head}");
    assert!(!head.contains("Content-Length"), "{head}");
    Chunked {
        reader: body,
        pending: Vec::new(),
    }
}

/// An HTTP/1.0 listener: the body is everything until the connection closes.
fn listen_http10(addr: SocketAddr) -> BufReader<TcpStream> {
    let (status, head, body) = request(addr, "GET /radio.ogg HTTP/1.0\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(!head.contains("Transfer-Encoding"), "{head}");
    body
}

/// Reads a chunked body.
struct Chunked {
    reader: BufReader<TcpStream>,
    pending: Vec<u8>,
}

impl Chunked {
    /// The next chunk's data; `None` at the last (empty) chunk.
    fn chunk(&mut self) -> Option<Vec<u8>> {
        let mut size = String::new();
        self.reader.read_line(&mut size).unwrap();
        let size = usize::from_str_radix(size.trim_end(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size line {size:?}"));
        let mut data = vec![0u8; size + 2];
        self.reader.read_exact(&mut data).unwrap();
        assert_eq!(&data[size..], b"\r\n");
        data.truncate(size);
        (size > 0).then_some(data)
    }

    fn read_exactly(&mut self, expected: &str) {
        while self.pending.len() < expected.len() {
            let chunk = self.chunk().expect("the stream ended early");
            self.pending.extend(chunk);
        }
        let got: Vec<u8> = self.pending.drain(..expected.len()).collect();
        assert_eq!(String::from_utf8_lossy(&got), expected);
    }

    /// Everything up to the last chunk, which must come (a clean end), then the close.
    fn rest(mut self) -> String {
        let mut all = std::mem::take(&mut self.pending);
        while let Some(chunk) = self.chunk() {
            all.extend(chunk);
        }
        let mut after = Vec::new();
        self.reader.read_to_end(&mut after).unwrap();
        assert!(after.is_empty(), "bytes after the last chunk");
        String::from_utf8(all).unwrap()
    }
}

fn rest(mut body: BufReader<TcpStream>) -> String {
    let mut rest = String::new();
    body.read_to_string(&mut rest).unwrap();
    rest
}

#[test]
fn late_joiners_get_the_header_then_the_stream_from_the_next_join_point() {
    use ChunkKind::*;
    let server = Harness::start(config());
    server.send(Header, "H1.");
    server.send(Header, "H2.");
    server.send(JoinPoint, "J1.");
    server.send(Continuation, "c1.");
    server.settle(4);
    let mut first = listen(server.addr);
    server.send(Continuation, "c2.");
    server.send(JoinPoint, "J2.");
    server.send(Continuation, "c3.");
    first.read_exactly("H1.H2.J2.c3.");
    server.settle(7);
    let mut second = listen(server.addr);
    server.send(Continuation, "c4.");
    server.send(JoinPoint, "J3.");
    second.read_exactly("H1.H2.J3.");
    // A new header (the next link of a chain) goes to everyone in the stream, and replaces the
    // header a newcomer gets.
    server.send(Header, "H3.");
    server.send(JoinPoint, "J4.");
    server.settle(11);
    let third = listen(server.addr);
    server.send(Continuation, "c5.");
    server.send(JoinPoint, "J5.");
    let stats = server.finish();
    assert_eq!(first.rest(), "c4.J3.H3.J4.c5.J5.");
    assert_eq!(second.rest(), "H3.J4.c5.J5.");
    assert_eq!(third.rest(), "H3.J5.");
    assert!(stats.contains(".served\":3"), "{stats}");
    assert!(stats.contains(".listeners\":0"), "{stats}");
}

#[test]
fn head_stats_unknown_paths_and_methods_get_proper_answers() {
    let server = Harness::start(config());
    let (status, head, _) = request(server.addr, "HEAD /radio.ogg HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(head.contains("Content-Type: application/ogg"), "{head}");
    let (status, _, body) = request(server.addr, "GET /nothing.ogg HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    assert_eq!(rest(body), "no such stream\n");
    let (status, head, _) = request(server.addr, "POST /radio.ogg HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    assert!(head.contains("Allow: GET, HEAD"), "{head}");
    let (status, _, _) = request(server.addr, "\x16\x03\x01\x02\x00\x01\x00\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    let _listener = listen(server.addr);
    let (status, head, body) = request(server.addr, "GET /stats?now HTTP/1.0\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(head.contains("Content-Type: application/json"), "{head}");
    let json = rest(body);
    assert!(json.contains("\"listeners\":1"), "{json}");
    assert!(json.contains("\"not_found\":1"), "{json}");
    assert!(json.contains("\"bad_requests\":2"), "{json}");
    server.finish();
}

#[test]
fn slow_and_oversize_request_heads_are_answered_and_closed() {
    let limits = RequestLimits {
        max_head_bytes: 1024,
        head_timeout: Duration::from_millis(300),
    };
    let server = Harness::start(config().request_limits(limits));
    // Slowloris: half a request line, then nothing.
    let started = std::time::Instant::now();
    let (status, _, _) = request(server.addr, "GET /radio.ogg HT");
    assert_eq!(status, "HTTP/1.1 408 Request Timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
    let huge = format!(
        "GET /radio.ogg HTTP/1.1\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(4000)
    );
    let (status, _, _) = request(server.addr, &huge);
    assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");
    let many: String = (0..100).map(|i| format!("X-{i}: y\r\n")).collect();
    let (status, _, _) = request(server.addr, &format!("GET / HTTP/1.1\r\n{many}\r\n"));
    assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");
    let stats = server.finish();
    assert!(stats.contains(".bad_requests\":3"), "{stats}");
}

#[test]
fn past_the_connection_limit_a_client_is_told_503() {
    let server = Harness::start(config().max_connections(2));
    let _a = listen(server.addr);
    let _b = listen(server.addr);
    // A client that sends its request and then reads sees the 503, not a reset.
    let mut refused = connect(server.addr);
    refused
        .write_all(b"GET /radio.ogg HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    refused.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let stats = server.finish();
    assert!(stats.contains(".refused\":1"), "{stats}");
    assert!(stats.contains(".reason.server_full\":1"), "{stats}");
}

#[test]
fn a_listener_that_stops_reading_is_dropped_and_nobody_else_loses_a_byte() {
    let server = Harness::start(config().max_lag(32));
    server.send(ChunkKind::Header, "HEAD.");
    // A listener that never reads (with a small receive window).
    let stalled = {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.connect(&server.addr.into()).unwrap();
        let mut stream = TcpStream::from(socket);
        stream
            .write_all(b"GET /radio.ogg HTTP/1.0\r\n\r\n")
            .unwrap();
        stream
    };
    let mut reader = listen_http10(server.addr);
    let chunk = "x".repeat(16 * 1024);
    let (chunks, per_tick) = (1500usize, 4usize);
    let counter = std::thread::spawn(move || {
        let mut total = 0usize;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => return total,
                Ok(n) => total += n,
                Err(e) => panic!("the reading listener lost its connection: {e}"),
            }
        }
    });
    for i in 0..chunks {
        server.send(ChunkKind::JoinPoint, &chunk);
        if i % per_tick == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let stats = server.finish();
    assert_eq!(
        counter.join().unwrap(),
        "HEAD.".len() + chunks * chunk.len()
    );
    assert!(stats.contains(".dropped\":1"), "{stats}");
    // The stalled listener's connection was closed: after what was buffered, the end.
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut drained = Vec::new();
    let ended = (&stalled).read_to_end(&mut drained);
    assert!(
        ended.is_ok() || ended.is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the stalled connection was closed"
    );
    assert!(drained.len() < chunks * chunk.len());
}

/// A listener whose socket will not take much: a small receive window, never read.
fn stalled_listener(addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream = TcpStream::from(socket);
    stream
        .write_all(b"GET /radio.ogg HTTP/1.0\r\n\r\n")
        .unwrap();
    stream
}

#[test]
fn at_the_end_a_listener_that_stopped_reading_is_closed_after_the_grace() {
    let config = config()
        .max_lag(100_000)
        .end_grace(Duration::from_millis(300));
    let server = Harness::start(config);
    server.send(ChunkKind::Header, "HEAD.");
    let _stalled = stalled_listener(server.addr);
    let chunk = "y".repeat(64 * 1024);
    for _ in 0..200 {
        server.send(ChunkKind::JoinPoint, &chunk);
    }
    server.settle(201);
    // Stuck in a write, far from its lag bound, when the stream ends: the server still stops.
    let started = std::time::Instant::now();
    let stats = server.finish();
    assert!(started.elapsed() < Duration::from_secs(10), "{stats}");
    assert!(stats.contains(".dropped\":0"), "{stats}");
}

#[test]
fn a_long_header_empty_chunks_and_a_half_closed_client_are_all_fine() {
    use ChunkKind::*;
    // Ten header chunks against a lag bound of four: a newcomer still gets them all.
    let server = Harness::start(config().max_lag(4));
    for i in 0..10 {
        server.send(Header, &format!("H{i}."));
    }
    server.send(JoinPoint, "J1.");
    server.settle(11);
    let mut listener = listen(server.addr);
    // A client that half-closes after its request keeps listening (HTTP/1.0, raw body).
    let mut half = connect(server.addr);
    half.write_all(b"GET /radio.ogg HTTP/1.0\r\n\r\n").unwrap();
    half.shutdown(std::net::Shutdown::Write).unwrap();
    server.wait_for("listeners", 2);
    server.send(Continuation, "");
    server.send(JoinPoint, "J2.");
    server.send(Continuation, "");
    server.send(Continuation, "c2.");
    listener.read_exactly("H0.H1.H2.H3.H4.H5.H6.H7.H8.H9.J2.");
    server.finish();
    assert_eq!(listener.rest(), "c2.");
    let mut answer = String::new();
    half.read_to_string(&mut answer).unwrap();
    assert!(
        answer.ends_with("\r\n\r\nH0.H1.H2.H3.H4.H5.H6.H7.H8.H9.J2.c2."),
        "{answer}"
    );
}

#[test]
fn a_listener_that_resets_mid_stream_is_gone_and_the_others_play_on() {
    use ChunkKind::*;
    let server = Harness::start(config());
    server.send(Header, "H.");
    let mut staying = listen(server.addr);
    let leaving = listen(server.addr);
    server.wait_for("listeners", 2);
    server.send(JoinPoint, "J1.");
    staying.read_exactly("H.J1.");
    // SO_LINGER 0: close() sends a reset instead of a FIN.
    let socket = socket2::Socket::from(leaving.reader.into_inner());
    socket.set_linger(Some(Duration::ZERO)).unwrap();
    drop(socket);
    for i in 0..50 {
        server.send(Continuation, &format!("c{i}."));
    }
    server.wait_for("listeners", 1);
    server.send(JoinPoint, "J2.");
    let stats = server.finish();
    let expected: String = (0..50).map(|i| format!("c{i}.")).collect::<String>() + "J2.";
    assert_eq!(staying.rest(), expected);
    assert!(stats.contains(".dropped\":0"), "{stats}");
}

#[test]
fn a_newcomer_starts_at_once_with_the_recent_burst_from_a_join_point() {
    use ChunkKind::*;
    let server = Harness::start(config().burst(Duration::from_millis(1500)));
    server.send(Header, "H.");
    server.send(JoinPoint, "J1.");
    server.send(Continuation, "c1.");
    server.settle(3);
    // Older than the burst by the time anyone joins: not sent again.
    std::thread::sleep(Duration::from_millis(1700));
    server.send(Continuation, "c2.");
    server.send(JoinPoint, "J2.");
    server.send(Continuation, "c3.");
    server.settle(6);
    // The header, then the burst from its first join point — at once, before any new chunk.
    let mut listener = listen(server.addr);
    listener.read_exactly("H.J2.c3.");
    server.send(Continuation, "c4.");
    let stats = server.finish();
    assert_eq!(listener.rest(), "c4.");
    assert!(stats.contains(".served\":1"), "{stats}");
}

#[test]
fn every_connection_event_is_counted_by_its_reason() {
    use ChunkKind::*;
    let server = Harness::start(config());
    server.send(Header, "H.");
    let _ = request(server.addr, "GET /nothing HTTP/1.1\r\n\r\n");
    let _ = request(server.addr, "BREW /radio.ogg HTTP/1.1\r\n\r\n");
    let mut listener = listen(server.addr);
    server.wait_for("listeners", 1);
    server.send(JoinPoint, "J.");
    listener.read_exactly("H.J.");
    let (status, _, body) = request(server.addr, "GET /stats HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let json = rest(body);
    assert!(json.contains("\"by_reason\":{"), "{json}");
    assert!(json.contains("\"not_found\":1"), "{json}");
    assert!(json.contains("\"bad_request\":1"), "{json}");
    assert!(json.contains("\"listening\":1"), "{json}");
    let stats = server.finish();
    assert_eq!(listener.rest(), "");
    // The listener's end is counted too.
    assert!(stats.contains(".reason.finished\":1"), "{stats}");
    assert!(stats.contains(".reason.lagging\":0"), "{stats}");
}
