//! RadioServer over real loopback sockets with std clients speaking what encoders and players
//! speak: sources by PUT (with `Expect: 100-continue`) and SOURCE, credentials, one source per
//! mount, a stream that is not Ogg, listeners and their limits, ICY titles and titles in the
//! Ogg comments, a fallback and the return from it, a relay of a relay, Icecast's status JSON,
//! slowloris, and a clean stop. (Third-party encoders and players are in the examples' tests.)

use axon_core::{Control, Scheduler};
use base64::Engine as _;
use bytes::Bytes;
use kamaelia_codec::{Comments, OggDemuxer, OggEvent, OggPageReader, PageEvent, VorbisDecoder};
use kamaelia_net::http::RequestLimits;
use kamaelia_net::{Fallback, MountConfig, RadioConfig, RadioServer};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const PASSWORD: &str = "source-secret";
const ADMIN: &str = "admin-secret";

fn music() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../kamaelia-codec/testdata/bench_30s_stereo.ogg"
    ))
    .unwrap()
}

/// Makes a server's configuration, given the addresses of those started before it.
type MakeConfig = Box<dyn FnOnce(&[SocketAddr]) -> RadioConfig + Send>;

/// Servers running on their own thread, stopped by `stop`.
struct Radio {
    addrs: Vec<SocketAddr>,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Radio {
    /// One server per configuration, each given the previous one's address to make its own
    /// (for relays).
    fn start(configs: Vec<MakeConfig>) -> Radio {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let scheduler = Scheduler::new();
                let mut controls = Vec::new();
                let mut addrs = Vec::new();
                for make in configs {
                    let server = RadioServer::bind(make(&addrs)).unwrap();
                    addrs.push(server.local_addr());
                    controls.push(server.control.to_ref());
                    scheduler.activate(server);
                }
                addr_tx.send(addrs).unwrap();
                let stopper = async {
                    let _ = stopped.await;
                    for control in controls {
                        let _ = control.send(Control::ShutdownMicroprocess).await;
                    }
                };
                tokio::join!(scheduler.run(), stopper);
            })
        });
        Radio {
            addrs: addr_rx.recv().unwrap(),
            stop,
            thread,
        }
    }

    fn one(config: RadioConfig) -> Radio {
        Radio::start(vec![Box::new(move |_| config)])
    }

    fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    fn stop(self) {
        let _ = self.stop.send(());
        self.thread.join().unwrap();
    }
}

fn config() -> RadioConfig {
    let mut config = RadioConfig::new("127.0.0.1:0".parse().unwrap())
        .source_password(PASSWORD)
        .admin_password(ADMIN);
    config.request_limits = RequestLimits {
        head_timeout: Duration::from_millis(500),
        ..RequestLimits::default()
    };
    config
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Authorization: Basic {encoded}\r\n")
}

/// Sends a source's request head; returns the status of the first answer and the connection.
fn source_head(addr: SocketAddr, method: &str, mount: &str, extra: &str) -> (u16, TcpStream) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "{method} {mount} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nIce-Name: Test FM\r\n{extra}\r\n"
    )
    .unwrap();
    let status = read_status(&mut stream);
    (status, stream)
}

/// Reads one response head (up to the blank line); returns its status.
fn read_status(stream: &mut TcpStream) -> u16 {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&head);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"))
}

/// A source admitted on `mount`, ready for its body.
fn source(addr: SocketAddr, mount: &str) -> TcpStream {
    let (status, stream) = source_head(addr, "PUT", mount, &basic("source", PASSWORD));
    assert_eq!(status, 100);
    stream
}

/// The pages of `ogg`, as bytes.
fn pages(ogg: &[u8]) -> Vec<Bytes> {
    let mut reader = OggPageReader::new();
    reader.push(ogg);
    std::iter::from_fn(|| reader.next_event())
        .filter_map(|e| match e {
            PageEvent::Page(p) => Some(p.into_bytes()),
            PageEvent::Damage(_) => None,
        })
        .collect()
}

/// A listener: the response head as text, and the body's reader.
fn listen(addr: SocketAddr, path: &str, extra: &str) -> (String, BufReader<TcpStream>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // HTTP/1.0: the body is the stream as it is, until the connection closes.
    write!(stream, "GET {path} HTTP/1.0\r\n{extra}\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    (head, reader)
}

/// Reads until `bytes` have come or `within` has passed.
fn read_for(reader: &mut impl Read, bytes: usize, within: Duration) -> Vec<u8> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut piece = [0u8; 8192];
    while got.len() < bytes && Instant::now() < deadline {
        match reader.read(&mut piece) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&piece[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    got
}

/// Decodes an Ogg capture: (links, frames, damage reports, titles in its comment headers).
fn decode(ogg: &[u8]) -> (usize, u64, usize, Vec<String>) {
    let mut demuxer = OggDemuxer::new();
    demuxer.push(ogg);
    let mut decoder = VorbisDecoder::new();
    let (mut links, mut frames, mut damage, mut titles) = (0, 0, 0, Vec::new());
    while let Some(event) = demuxer.next_event() {
        match event {
            OggEvent::Packet(packet) => {
                if packet.bos {
                    links += 1;
                }
                if let Some(comments) = Comments::parse(&packet.data) {
                    titles.push(comments.get("TITLE").unwrap_or_default().to_string());
                }
                if let (_, Some(pcm)) = decoder.packet(&packet) {
                    frames += pcm.frames() as u64;
                }
            }
            OggEvent::Damage(_) => damage += 1,
        }
    }
    (links, frames, damage, titles)
}

/// `GET path` answered as a whole: (status, body).
fn get(addr: SocketAddr, path: &str, extra: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\n{extra}\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// Waits until `/stats` says `needle`.
fn wait_for_stats(addr: SocketAddr, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, stats) = get(addr, "/stats", "");
        if stats.contains(needle) {
            return;
        }
        assert!(Instant::now() < deadline, "{needle} never in {stats}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sources_need_the_password_and_a_mount_takes_one_source_of_ogg_vorbis_or_opus() {
    let radio = Radio::one(config());
    let addr = radio.addr();
    assert_eq!(source_head(addr, "PUT", "/live.ogg", "").0, 401);
    assert_eq!(
        source_head(addr, "PUT", "/live.ogg", &basic("source", "wrong")).0,
        401
    );
    let mut first = source(addr, "/live.ogg");
    let (second, _) = source_head(addr, "SOURCE", "/live.ogg", &basic("source", PASSWORD));
    assert_eq!(second, 403);
    // Not Ogg at all: told why, with 415, after the 100 Continue.
    let mut junk = source(addr, "/junk.ogg");
    junk.write_all(&[0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 0])
        .unwrap();
    assert_eq!(read_status(&mut junk), 415);
    // The first source still feeds its mount.
    for page in pages(&music()).iter().take(6) {
        first.write_all(page).unwrap();
    }
    wait_for_stats(addr, "\"feed\":\"source\"");
    let (head, mut body) = listen(addr, "/live.ogg", "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("icy-name: Test FM"), "{head}");
    assert!(read_for(&mut body, 4, Duration::from_secs(2)).starts_with(b"OggS"));
    radio.stop();
}

#[test]
fn listeners_get_the_stream_a_mount_limit_turns_others_away_and_a_stop_ends_the_body() {
    let radio = Radio::one(config().mount(MountConfig::new("/live.ogg").max_listeners(1)));
    let addr = radio.addr();
    assert_eq!(get(addr, "/live.ogg", "").0, 404, "nothing on the air yet");
    let mut source = source(addr, "/live.ogg");
    let all = pages(&music());
    for page in &all[..10] {
        source.write_all(page).unwrap();
    }
    wait_for_stats(addr, "\"feed\":\"source\"");
    let (head, mut body) = listen(addr, "/live.ogg", "");
    assert!(head.contains("200"), "{head}");
    assert_eq!(get(addr, "/live.ogg", "").0, 503, "one listener allowed");
    for page in &all[10..] {
        source.write_all(page).unwrap();
    }
    let got = read_for(&mut body, 40_000, Duration::from_secs(5));
    let (links, frames, damage, _) = decode(&got);
    assert_eq!((links, damage), (1, 0));
    assert!(frames > 44_100, "{frames}");
    // Slowloris: a head that never ends is answered 408.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /live.ogg HTTP/1.1\r\nX: ").unwrap();
    assert_eq!(read_status(&mut slow), 408);
    // Stopping the server ends the listener's body.
    radio.stop();
    let rest = read_for(&mut body, usize::MAX, Duration::from_secs(5));
    let _ = rest;
    assert_eq!(body.read(&mut [0u8; 1]).unwrap_or(0), 0);
}

/// Reads an ICY stream: (audio bytes, titles announced), until a title says `wanted`.
fn read_icy(reader: &mut impl Read, metaint: usize, wanted: &str) -> (usize, Vec<String>) {
    let (mut audio, mut seen) = (0, Vec::<String>::new());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.last().is_some_and(|t| t.contains(wanted)) && Instant::now() < deadline {
        let mut block = vec![0u8; metaint];
        reader.read_exact(&mut block).unwrap();
        audio += metaint;
        let mut n = [0u8; 1];
        reader.read_exact(&mut n).unwrap();
        if n[0] > 0 {
            let mut text = vec![0u8; n[0] as usize * 16];
            reader.read_exact(&mut text).unwrap();
            seen.push(
                String::from_utf8_lossy(&text)
                    .trim_end_matches('\0')
                    .to_string(),
            );
        }
    }
    (audio, seen)
}

#[test]
fn a_new_title_reaches_icy_listeners_and_late_joiners_ogg_comments() {
    let mut config = config();
    config.icy_metaint = 4000;
    let radio = Radio::one(config);
    let addr = radio.addr();
    let mut source = source(addr, "/live.ogg");
    let all = pages(&music());
    let (head, tail) = all.split_at(all.len() / 2);
    for page in head {
        source.write_all(page).unwrap();
    }
    wait_for_stats(addr, "\"feed\":\"source\"");
    let (response, mut icy) = listen(addr, "/live.ogg", "Icy-MetaData: 1\r\n");
    assert!(response.contains("icy-metaint: 4000"), "{response}");
    // Only the admin (or the mount's source) may set the title.
    let update = "/admin/metadata?mount=/live.ogg&mode=updinfo&song=Song+Two%21";
    assert_eq!(get(addr, update, &basic("admin", "wrong")).0, 401);
    let (status, answer) = get(addr, update, &basic("admin", ADMIN));
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("<return>1</return>"));
    for page in tail {
        source.write_all(page).unwrap();
    }
    let (_, titles) = read_icy(&mut icy, 4000, "Song Two");
    assert_eq!(
        titles.last().map(String::as_str),
        Some("StreamTitle='Song Two!';")
    );
    // A late joiner's stream names the title in its comment header, and decodes cleanly.
    let (_, mut late) = listen(addr, "/live.ogg", "");
    let got = read_for(&mut late, 20_000, Duration::from_secs(3));
    let (_, frames, damage, comment_titles) = decode(&got);
    assert_eq!(comment_titles, ["Song Two!"]);
    assert_eq!(damage, 0);
    assert!(frames > 0);
    let (_, status) = get(addr, "/status-json.xsl", "");
    assert!(status.contains("\"title\":\"Song Two!\""), "{status}");
    radio.stop();
}

#[test]
fn a_mount_falls_back_while_its_source_is_away_and_returns_to_it() {
    let config = config()
        .mount(MountConfig::new("/live.ogg").fallback(Fallback::Mount("/backup.ogg".into())))
        .mount(MountConfig::new("/backup.ogg"));
    let radio = Radio::one(config);
    let addr = radio.addr();
    let all = pages(&music());
    // The backup plays all along, slowly.
    let mut backup = source(addr, "/backup.ogg");
    let backup_pages = all.clone();
    let backup_thread = std::thread::spawn(move || {
        for page in backup_pages.iter().cycle().take(200) {
            if backup.write_all(page).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    wait_for_stats(addr, "\"/backup.ogg\":{\"bitrate\"");
    let (_, mut listener) = listen(addr, "/live.ogg", "");
    let mut capture = read_for(&mut listener, 8_000, Duration::from_secs(3));
    // The live source comes, sends part of its stream, and drops mid-stream.
    let mut live = source(addr, "/live.ogg");
    for page in &all[..all.len() / 2] {
        live.write_all(&page[..]).unwrap();
    }
    live.write_all(&all[all.len() / 2][..100]).unwrap(); // half a page, then gone
    drop(live);
    capture.extend(read_for(&mut listener, 30_000, Duration::from_secs(3)));
    // And comes back.
    let mut live = source(addr, "/live.ogg");
    for page in &all {
        live.write_all(page).unwrap();
    }
    capture.extend(read_for(&mut listener, 80_000, Duration::from_secs(3)));
    let (links, frames, damage, _) = decode(&capture);
    assert_eq!(damage, 0, "every switch is a clean new link");
    assert!(links >= 4, "backup, live, backup, live: {links} links");
    assert!(frames > 44_100, "{frames}");
    radio.stop();
    let _ = backup_thread.join();
}

#[test]
fn a_relay_of_a_relay_carries_the_stream_and_status_json_has_icecasts_shape() {
    let first: MakeConfig = Box::new(|_| config());
    let relay = |addrs: &[SocketAddr]| {
        let upstream = format!("http://{}/live.ogg", addrs.last().unwrap());
        config().mount(MountConfig::new("/live.ogg").relay(upstream))
    };
    let radio = Radio::start(vec![first, Box::new(relay), Box::new(relay)]);
    let (origin, last) = (radio.addrs[0], radio.addrs[2]);
    // A source cannot push into a relayed mount.
    assert_eq!(
        source_head(last, "PUT", "/live.ogg", &basic("source", PASSWORD)).0,
        403
    );
    let mut source = source(origin, "/live.ogg");
    let all = pages(&music());
    let writer = std::thread::spawn(move || {
        for page in &all {
            source.write_all(page).unwrap();
            std::thread::sleep(Duration::from_millis(10));
        }
        source
    });
    wait_for_stats(last, "\"feed\":\"relay\"");
    let (_, mut listener) = listen(last, "/live.ogg", "");
    let got = read_for(&mut listener, 20_000, Duration::from_secs(5));
    let (links, frames, damage, _) = decode(&got);
    assert_eq!((links, damage), (1, 0));
    assert!(frames > 0);
    let (_, status) = get(origin, "/status-json.xsl", "");
    let json: serde_json::Value = serde_json::from_str(&status).unwrap();
    let source_stats = &json["icestats"]["source"];
    assert_eq!(source_stats["listeners"], 1, "{status}");
    assert_eq!(source_stats["server_name"], "Test FM");
    assert_eq!(source_stats["subtype"], "Vorbis");
    assert_eq!(source_stats["audio_channels"], 2);
    assert_eq!(source_stats["audio_samplerate"], 44_100);
    assert!(
        json["icestats"]["server_start_iso8601"]
            .as_str()
            .unwrap()
            .ends_with("+0000")
    );
    assert!(
        source_stats["listenurl"]
            .as_str()
            .unwrap()
            .ends_with("/live.ogg")
    );
    drop(writer.join());
    radio.stop();
}
