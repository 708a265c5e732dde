//! The networking examples, driven by real third-party clients (python sockets, nc) as well as
//! our own.

mod common;

use common::{Server, have, run_with_input};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Codec, sample rate and channels of the first stream at `url`, as ffprobe reports them.
fn probe(url: &str) -> String {
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,sample_rate,channels",
        ])
        .args(["-of", "csv=p=0", url])
        .output()
        .unwrap();
    String::from_utf8_lossy(&probe.stdout).trim().to_string()
}

/// ffmpeg decodes `url` (with `input_options` before it, e.g. `-t 50`) to 16-bit stereo and must
/// end cleanly, saying nothing; returns the frames it decoded.
fn ffmpeg_frames(input_options: &[&str], url: &str) -> u64 {
    let decoded = Command::new("ffmpeg")
        .args(["-v", "error"])
        .args(input_options)
        .args(["-i", url, "-f", "s16le", "-ac", "2", "-"])
        .output()
        .unwrap();
    assert!(
        decoded.status.success() && decoded.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    decoded.stdout.len() as u64 / 4
}

/// `live_streaming_server` on a free port, serving the demo file with `extra` options.
fn live_server(extra: &[&str]) -> Server {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo.ogg");
    let mut args = vec!["--bind", "127.0.0.1:0", "--file", demo];
    args.extend_from_slice(extra);
    Server::start(env!("CARGO_BIN_EXE_live_streaming_server"), &args)
}

const PYTHON_ECHO: &str = r#"
import socket, sys, threading
host, port = sys.argv[1].rsplit(":", 1)
def client(i, results):
    s = socket.create_connection((host, int(port)), timeout=10)
    msg = (f"python client {i} " * 200).encode()
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    results[i] = (got == msg)
results = {}
threads = [threading.Thread(target=client, args=(i, results)) for i in range(20)]
[t.start() for t in threads]
[t.join() for t in threads]
print("ok" if all(results.values()) and len(results) == 20 else f"bad {results}")
"#;

#[test]
fn echo_server_serves_python_clients_and_nc_and_stops_on_ctrl_c() {
    let server = Server::start(
        env!("CARGO_BIN_EXE_echo_server"),
        &["--bind", "127.0.0.1:0"],
    );
    if have("python3") {
        let out = Command::new("python3")
            .args(["-c", PYTHON_ECHO, &server.addr])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "ok",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if have("nc") {
        let (host, port) = server.addr.rsplit_once(':').unwrap();
        let out = run_with_input("nc", &["-q", "1", host, port], b"hello from nc\n");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from nc\n");
    }
    server.interrupt();
}

#[test]
fn echo_client_round_trips_stdin_through_the_server() {
    let server = Server::start(
        env!("CARGO_BIN_EXE_echo_server"),
        &["--bind", "127.0.0.1:0"],
    );
    let out = run_with_input(
        env!("CARGO_BIN_EXE_echo_client"),
        &["--connect", &server.addr],
        b"first line\nsecond line\n",
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "first line\nsecond line\n"
    );
    server.interrupt();
}

#[test]
fn echo_client_reports_a_refused_connection() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let out = Command::new(env!("CARGO_BIN_EXE_echo_client"))
        .args(["--connect", &addr])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot connect"), "{stderr}");
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

#[test]
fn the_framed_protocol_reverses_frames_and_drops_only_an_oversize_client() {
    let server = Server::start(
        env!("CARGO_BIN_EXE_framed_reverse_server"),
        &["--bind", "127.0.0.1:0", "--max-frame", "1024"],
    );
    let mut good = std::net::TcpStream::connect(&server.addr).unwrap();
    good.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // Two frames, split awkwardly across writes.
    let stream: Vec<u8> = [frame(b"kamaelia"), frame(b"axon")].concat();
    good.write_all(&stream[..3]).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    good.write_all(&stream[3..]).unwrap();
    let mut got = vec![0u8; 4 + 8 + 4 + 4];
    good.read_exact(&mut got).unwrap();
    assert_eq!(got, [frame(b"aileamak"), frame(b"noxa")].concat());

    let mut bad = std::net::TcpStream::connect(&server.addr).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    bad.write_all(&frame(&[0u8; 5000])).unwrap();
    let mut rest = Vec::new();
    let _ = bad.read_to_end(&mut rest); // closed by the server (or reset): never an answer
    assert!(rest.is_empty());

    // The good client is unaffected.
    good.write_all(&frame(b"still")).unwrap();
    let mut again = vec![0u8; 4 + 5];
    good.read_exact(&mut again).unwrap();
    assert_eq!(again, frame(b"llits"));
    server.interrupt();
}

const DEMO_FRAMES: u64 = 882_000; // examples/data/demo_facts.txt (oggdec)

#[test]
fn ffprobe_ffmpeg_and_our_client_read_the_simple_streaming_server() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo.ogg");
    let facts =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo_facts.txt"))
            .unwrap();
    assert!(
        facts.contains(&format!("demo.ogg {DEMO_FRAMES}")),
        "{facts}"
    );
    let server = Server::start(
        env!("CARGO_BIN_EXE_simple_streaming_server"),
        &[
            "--bind",
            "127.0.0.1:0",
            "--file",
            demo,
            "--bitrate",
            "20000000",
        ],
    );
    // Our own client.
    let ours = Command::new(env!("CARGO_BIN_EXE_simple_streaming_client"))
        .args(["--connect", &server.addr])
        .output()
        .unwrap();
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&ours.stdout).trim(),
        format!("44100 Hz, 2 channel(s), {DEMO_FRAMES} frames")
    );
    if have("ffprobe") {
        assert_eq!(probe(&format!("tcp://{}", server.addr)), "vorbis,44100,2");
    }
    if have("ffmpeg") {
        assert_eq!(
            ffmpeg_frames(&[], &format!("tcp://{}", server.addr)),
            DEMO_FRAMES,
            "ffmpeg decoded the whole stream"
        );
    }
    server.interrupt();
}

fn wait_success(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_multicast_receiver_from_the_start_decodes_every_frame() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo.ogg");
    let group = "239.255.42.11:47011";
    let wav = std::env::temp_dir().join(format!("kamaelia-mcast-{}.wav", std::process::id()));
    let (mut client, mut stdout) = common::multicast_listener(
        group,
        &[
            "--seconds".as_ref(),
            "60".as_ref(),
            "--out".as_ref(),
            wav.as_os_str(),
        ],
    );
    // Ten times real time: the header repeats every 16 pages change nothing for this receiver.
    let server = Command::new(env!("CARGO_BIN_EXE_multicast_streaming_server"))
        .args(["--group", group, "--file", demo, "--bitrate", "900000"])
        .output()
        .unwrap();
    assert!(server.status.success(), "{server:?}");
    let mut report = String::new();
    stdout.read_to_string(&mut report).unwrap();
    let status = client.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(
        report.trim(),
        format!("44100 Hz, 2 channel(s), {DEMO_FRAMES} frames")
    );
    let wav_len = std::fs::metadata(&wav).unwrap().len();
    assert_eq!(wav_len, 44 + DEMO_FRAMES * 4);
    let _ = std::fs::remove_file(wav);
}

#[test]
fn a_multicast_receiver_joining_a_looping_stream_late_starts_at_a_header_repeat() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo.ogg");
    let group = "239.255.42.12:47012";
    let mut server = Command::new(env!("CARGO_BIN_EXE_multicast_streaming_server"))
        .args(["--group", group, "--file", demo, "--loop"])
        .args(["--bitrate", "600000", "--repeat-every", "8"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), format!("sending to {group}"));
    std::thread::sleep(Duration::from_millis(700));
    let client = Command::new(env!("CARGO_BIN_EXE_multicast_streaming_client"))
        .args(["--group", group, "--seconds", "2.5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let report = wait_success(client);
    let last = report.lines().last().unwrap();
    let frames: u64 = last
        .strip_prefix("44100 Hz, 2 channel(s), ")
        .and_then(|r| r.strip_suffix(" frames"))
        .unwrap_or_else(|| panic!("{report}"))
        .parse()
        .unwrap();
    // About 7× real time for up to 2.5 s, less the wait for a repeat: audio, but not more than
    // the sender could have sent.
    assert!(
        frames > 44_100 && frames < 44_100 * 7 * 3,
        "{frames} frames"
    );
    Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(server.wait().unwrap().success());
}

/// Frames in an Ogg Vorbis byte string by our own decoder.
fn our_frames(ogg: &[u8]) -> u64 {
    use kamaelia_codec::{OggDemuxer, OggEvent, VorbisDecoder};
    let (mut demuxer, mut decoder) = (OggDemuxer::new(), VorbisDecoder::new());
    demuxer.push(ogg);
    let mut frames = 0;
    while let Some(event) = demuxer.next_event() {
        if let OggEvent::Packet(p) = event {
            frames += decoder.packet(&p).1.map_or(0, |b| b.frames() as u64);
        }
    }
    frames
}

/// The body of `GET /stream.ogg` as an HTTP/1.0 client gets it (raw, until the close).
fn fetch_http10(addr: &str) -> Vec<u8> {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .write_all(b"GET /stream.ogg HTTP/1.0\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let head = String::from_utf8_lossy(&response[..head_end]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Type: application/ogg\r\n"), "{head}");
    response.split_off(head_end)
}

#[test]
fn late_listeners_of_the_live_server_decode_in_ffmpeg_oggdec_and_ours_alike() {
    // Ten times real time: the 20 s file lasts 2 s. No burst, so a late joiner starts late.
    let server = live_server(&["--bitrate", "860000", "--burst", "0"]);
    std::thread::sleep(Duration::from_millis(500));
    let addr = server.addr.clone();
    let ffmpeg = have("ffmpeg").then(|| {
        Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(format!("http://{addr}/stream.ogg"))
            .args(["-f", "s16le", "-"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    });
    let late = fetch_http10(&server.addr);
    // A late joiner's stream: the header pages, then audio from a page that begins a packet.
    assert!(
        late.starts_with(b"OggS") && late[5] & 2 != 0,
        "starts at a BOS page"
    );
    let ours = our_frames(&late);
    assert!(
        ours > 0 && ours < DEMO_FRAMES * 95 / 100,
        "joined late: {ours} frames"
    );
    if have("oggdec") {
        let path = std::env::temp_dir().join(format!("kamaelia-late-{}.ogg", std::process::id()));
        std::fs::write(&path, &late).unwrap();
        let raw = Command::new("oggdec")
            .args(["-Q", "-R", "-o", "-"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(raw.status.success());
        assert_eq!(raw.stdout.len() as u64 / 4, ours, "oggdec and ours agree");
        let _ = std::fs::remove_file(path);
    }
    if let Some(ffmpeg) = ffmpeg {
        let decoded = ffmpeg.wait_with_output().unwrap();
        assert!(
            decoded.status.success() && decoded.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&decoded.stderr)
        );
        let frames = decoded.stdout.len() as u64 / 4;
        assert!(
            frames > 0 && frames < DEMO_FRAMES * 95 / 100,
            "ffmpeg joined late: {frames} frames"
        );
    }
    // The file has ended, so the server has too.
    server.wait_for_exit();
}

#[test]
fn a_looping_live_stream_plays_on_across_links_in_ffmpeg() {
    let server = live_server(&["--loop", "--bitrate", "1720000"]);
    if have("ffprobe") {
        assert_eq!(
            probe(&format!("http://{}/stream.ogg", server.addr)),
            "vorbis,44100,2"
        );
    }
    if have("ffmpeg") {
        // 50 s of audio from a 20 s file: three links, each with a fresh serial.
        let frames = ffmpeg_frames(&["-t", "50"], &format!("http://{}/stream.ogg", server.addr));
        assert!(
            (frames as i64 - 50 * 44_100).abs() < 44_100,
            "{frames} frames"
        );
    }
    // Statistics as JSON.
    let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
    stream.write_all(b"GET /stats HTTP/1.1\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.contains("\"chunks\":"), "{answer}");
    server.interrupt();
}

const PYTHON_HTTP: &str = r#"
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=30) as r:
    assert r.status == 200 and r.headers["Content-Type"] == "application/ogg", r.headers
    assert r.headers["Transfer-Encoding"] == "chunked", r.headers
    body = r.read()  # raises IncompleteRead unless the chunked body ends properly
sys.stdout.buffer.write(body)
"#;

#[test]
fn python_reads_the_live_stream_as_a_properly_ended_chunked_body() {
    if !have("python3") {
        return;
    }
    let server = live_server(&["--bitrate", "1720000"]);
    let out = Command::new("python3")
        .args(["-c", PYTHON_HTTP])
        .arg(format!("http://{}/stream.ogg", server.addr))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let frames = our_frames(&out.stdout);
    assert!(frames > 0 && frames <= DEMO_FRAMES, "{frames} frames");
    server.wait_for_exit();
}

#[test]
fn ffplay_plays_the_live_stream_to_its_end_headless() {
    if !have("ffplay") {
        return;
    }
    // One second of tone (kamaelia-codec's test media): ffplay plays in real time.
    let tone = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../kamaelia-codec/testdata/tone_44k_stereo.ogg"
    );
    let server = Server::start(
        env!("CARGO_BIN_EXE_live_streaming_server"),
        &["--bind", "127.0.0.1:0", "--file", tone],
    );
    // No display, and SDL's dummy audio driver standing in for a sound card.
    let played = Command::new("ffplay")
        .args(["-nodisp", "-autoexit", "-loglevel", "error", "-stats"])
        .arg(format!("http://{}/stream.ogg", server.addr))
        .env("SDL_AUDIODRIVER", "dummy")
        .output()
        .unwrap();
    let stats = String::from_utf8_lossy(&played.stderr);
    assert!(played.status.success(), "{stats}");
    // ffplay's status line shows the playing clock; it must have reached most of the second.
    let clock = common::ffplay_clock(&stats);
    assert!(clock > 0.7, "ffplay stopped at {clock} s");
    server.wait_for_exit();
}

#[test]
fn mpv_joins_a_looping_live_stream_late_and_plays_across_links() {
    if !have("mpv") {
        return;
    }
    // Ten times real time, looping: 25 s of audio crosses into the next chain link.
    let server = live_server(&["--loop", "--bitrate", "860000"]);
    std::thread::sleep(Duration::from_millis(500));
    let pcm = std::env::temp_dir().join(format!("kamaelia-mpv-{}.f32", std::process::id()));
    // No configuration, no video, and a raw PCM file standing in for the sound card.
    let played = Command::new("mpv")
        .args([
            "--no-config",
            "--no-video",
            "--untimed",
            "--length=25",
            "--ao=pcm",
            "--ao-pcm-waveheader=no",
        ])
        .arg(format!("--ao-pcm-file={}", pcm.display()))
        .arg(format!("http://{}/stream.ogg", server.addr))
        .output()
        .unwrap();
    assert!(
        played.status.success(),
        "{}",
        String::from_utf8_lossy(&played.stdout)
    );
    // 32-bit float stereo: 8 bytes a frame.
    let frames = std::fs::metadata(&pcm).unwrap().len() / 8;
    let _ = std::fs::remove_file(&pcm);
    assert!(
        (frames as i64 - 25 * 44_100).abs() < 44_100,
        "mpv played {frames} frames"
    );
    server.interrupt();
}

#[test]
fn the_live_server_reports_damage_in_its_file_and_serves_the_rest() {
    let damaged = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../kamaelia-codec/testdata/damaged_middle.ogg"
    );
    let server = Server::start(
        env!("CARGO_BIN_EXE_live_streaming_server"),
        &[
            "--bind",
            "127.0.0.1:0",
            "--file",
            damaged,
            "--bitrate",
            "400000",
        ],
    );
    let body = fetch_http10(&server.addr);
    let mut child = server.child;
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        stderr.contains("damaged Ogg input skipped"),
        "the damage was reported: {stderr:?}"
    );
    // What was served is clean Ogg that decodes.
    let mut reader = kamaelia_codec::OggPageReader::new();
    reader.push(&body);
    while let Some(event) = reader.next_event() {
        assert!(
            matches!(event, kamaelia_codec::PageEvent::Page(_)),
            "{event:?}"
        );
    }
    assert!(our_frames(&body) > 0);
}

#[test]
fn the_live_server_serves_ogg_opus_too_and_ffmpeg_joins_it_late() {
    if !have("ffmpeg") {
        return;
    }
    // Three seconds of Ogg Opus, made here by ffmpeg (our crates decode only Vorbis, but the
    // pager and the live server serve any Ogg: Opus has two header packets).
    let opus = std::env::temp_dir().join(format!("kamaelia-opus-{}.ogg", std::process::id()));
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=3",
        ])
        .args(["-ac", "2", "-c:a", "libopus", "-b:a", "96k"])
        .arg(&opus)
        .status()
        .unwrap();
    assert!(made.success());
    // No --bitrate: the server paces it by its granule positions (48 kHz, after the
    // pre-skip). No burst, so a listener joining after a second starts late.
    let server = Server::start(
        env!("CARGO_BIN_EXE_live_streaming_server"),
        &[
            "--bind",
            "127.0.0.1:0",
            "--burst",
            "0",
            "--file",
            opus.to_str().unwrap(),
        ],
    );
    std::thread::sleep(Duration::from_millis(1000));
    let url = format!("http://{}/stream.ogg", server.addr);
    if have("ffprobe") {
        assert_eq!(probe(&url), "opus,48000,2");
    }
    let frames = ffmpeg_frames(&[], &url);
    assert!(frames > 0 && frames < 3 * 48_000, "{frames} frames");
    server.wait_for_exit();
    let _ = std::fs::remove_file(opus);
}

/// Three clients on the chat server: a line from one reaches the two others (tagged with its
/// sender), never the sender itself; a client that leaves does not disturb the rest.
#[test]
fn chat_server_sends_each_line_to_every_other_client() {
    let server = Server::start(
        env!("CARGO_BIN_EXE_chat_server"),
        &["--bind", "127.0.0.1:0"],
    );
    let connect = || {
        let stream = std::net::TcpStream::connect(&server.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    };
    let (mut alice, bob, carol) = (connect(), connect(), connect());
    // Each subscribes as its connection starts: give the three a moment to be on the bus.
    std::thread::sleep(Duration::from_millis(300));
    alice.write_all(b"hello, all\r\n").unwrap();
    let mut bob_lines = BufReader::new(bob.try_clone().unwrap());
    let mut carol_lines = BufReader::new(carol);
    for reader in [&mut bob_lines, &mut carol_lines] {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.ends_with("] hello, all\n"), "{line:?}");
        assert!(line.starts_with('['), "{line:?}");
    }
    // Bob answers and leaves; Alice hears him, and does not hear herself.
    let mut bob = bob;
    bob.write_all(b"hi alice\n").unwrap();
    drop(bob_lines);
    drop(bob);
    let mut alice_lines = BufReader::new(alice.try_clone().unwrap());
    let mut line = String::new();
    alice_lines.read_line(&mut line).unwrap();
    assert!(line.ends_with("] hi alice\n"), "{line:?}");
    carol_lines.read_line(&mut String::new()).unwrap();
    // Carol still reaches Alice after Bob has gone.
    carol_lines.get_mut().write_all(b"still here\n").unwrap();
    let mut line = String::new();
    alice_lines.read_line(&mut line).unwrap();
    assert!(line.ends_with("] still here\n"), "{line:?}");
    server.interrupt();
}
