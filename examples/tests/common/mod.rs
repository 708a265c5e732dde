//! What the example tests share: starting a server program and stopping it as a user would.

use kamaelia_codec::{OggDemuxer, OggEvent, VorbisDecoder};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `program` with `args`, `input` on its stdin (then closed), and returns what it did.
#[allow(dead_code)] // not every test binary uses it
pub(crate) fn run_with_input(program: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// A server program that prints `listening on ADDR` as its first line.
pub(crate) struct Server {
    pub child: Child,
    pub addr: String,
    /// The rest of its stdout, kept open (a closed pipe would fail its next line).
    #[allow(dead_code)] // not every test binary reads it
    pub stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    pub(crate) fn start(bin: &str, args: &[&str]) -> Server {
        let mut child = Command::new(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line was {line:?}"))
            .to_string();
        Server {
            child,
            addr,
            stdout,
        }
    }

    /// Waits for the server to end by itself; the exit status must be success.
    #[allow(dead_code)] // not every test binary uses it
    pub(crate) fn wait_for_exit(mut self) {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
    }

    /// Ctrl-C, then the exit status must be success.
    pub(crate) fn interrupt(mut self) {
        Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
    }
}

/// Starts `multicast_streaming_client --group GROUP ARGS…` and waits until it has joined the
/// group (its first line); the rest of its stdout is returned for reading.
#[allow(dead_code)] // not every test binary uses it
pub(crate) fn multicast_listener(
    group: &str,
    args: &[&std::ffi::OsStr],
) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut client = Command::new(env!("CARGO_BIN_EXE_multicast_streaming_client"))
        .args(["--group", group])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(client.stdout.take().unwrap());
    let mut joined = String::new();
    stdout.read_line(&mut joined).unwrap();
    assert_eq!(joined.trim(), format!("listening to {group}"));
    (client, stdout)
}

/// True when `tool` is installed; else says the test is skipped (or fails, when
/// `KAMAELIA_REQUIRE_ALL` is set, as CI sets it).
#[allow(dead_code)] // not every test binary uses it
pub(crate) fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var_os("KAMAELIA_REQUIRE_ALL").is_some() {
            panic!("{tool} is required (KAMAELIA_REQUIRE_ALL is set)");
        }
        eprintln!("SKIPPED: {tool} is not installed");
    }
    found
}

/// The last playing clock in ffplay's `-stats` output (seconds), as its status line shows it.
#[allow(dead_code)] // not every test binary uses it
pub(crate) fn ffplay_clock(stats: &str) -> f64 {
    stats
        .rsplit("M-A:")
        .nth(1)
        .and_then(|before| before.split_whitespace().last())
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no clock in {stats:?}"))
}

// Listening as a user would: what arrived, decoded, against the wall clock.

/// A live stream goes out page by page, each as its audio begins, so a listener may be ahead
/// by up to one page more than its burst: the longest page of `file`, in seconds.
#[allow(dead_code)] // not every test binary uses it
pub(crate) fn one_page(file: &str) -> f64 {
    use kamaelia_codec::{OggPageReader, PageEvent};
    let mut reader = OggPageReader::new();
    reader.push(&std::fs::read(data(file)).unwrap());
    let mut clock = kamaelia_media::AudioClock::new();
    let mut longest = Duration::ZERO;
    while let Some(PageEvent::Page(page)) = reader.next_event() {
        let begins = clock.due(&page);
        longest = longest.max(clock.page_end().saturating_sub(begins));
    }
    longest.as_secs_f64()
}

#[allow(dead_code)] // not every test binary uses it
pub(crate) fn data(name: &str) -> String {
    format!("{}/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Seconds of audio in Ogg Vorbis bytes, by our decoder: each chain link at its own rate.
#[allow(dead_code)] // not every test binary uses it
pub(crate) fn audio_seconds(ogg: &[u8]) -> f64 {
    let (mut demuxer, mut decoder) = (OggDemuxer::new(), VorbisDecoder::new());
    demuxer.push(ogg);
    let mut seconds = 0.0;
    while let Some(event) = demuxer.next_event() {
        if let OggEvent::Packet(p) = event
            && let Some(block) = decoder.packet(&p).1
        {
            seconds += block.frames() as f64 / f64::from(block.sample_rate);
        }
    }
    seconds
}

/// Everything that arrives on `stream` within `wall` of wall-clock time, read as it comes.
#[allow(dead_code)] // not every test binary uses it
pub(crate) fn read_for(mut stream: TcpStream, wall: Duration) -> Vec<u8> {
    let deadline = Instant::now() + wall;
    let mut got = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return got;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buffer[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return got;
            }
            Err(e) => panic!("reading the stream: {e}"),
        }
    }
}

/// `GET /stream.ogg` over HTTP/1.0 (a body read until the close), read for `wall`; the body.
#[allow(dead_code)] // not every test binary uses it
pub(crate) fn listen_http(addr: &str, wall: Duration) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /stream.ogg HTTP/1.0\r\n\r\n")
        .unwrap();
    let mut response = read_for(stream, wall);
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
    response.split_off(head_end)
}

/// `got` seconds of audio for `wall` seconds of listening: within ±3 % of `wall`, plus at most
/// `burst` (the burst itself is at most what it is configured to be).
#[allow(dead_code)] // not every test binary uses it
pub(crate) fn assert_real_time(what: &str, got: f64, wall: f64, burst: f64) {
    let (low, high) = (wall * 0.97, wall * 1.03 + burst);
    assert!(
        got >= low && got <= high,
        "{what}: {got:.2} s of audio in {wall} s of wall clock (allowed {low:.2}–{high:.2} s)"
    );
    eprintln!("{what}: {got:.2} s of audio in {wall} s (allowed {low:.2}–{high:.2} s)");
}
