//! RTSP/RTP (RFC 2326, RFC 5215) served by `rtsp_server` to real clients — ffmpeg and ffprobe
//! over TCP and UDP, GStreamer's `rtspsrc ! rtpvorbisdepay ! vorbisdec`, our `rtsp_client` —
//! with the decoded audio held against the source's own decode: a client joining the live
//! stream gets a contiguous stretch of it, sample for sample (±1, decoder rounding).

mod common;

use common::{Server, have};
use kamaelia_codec::{OggDemuxer, OggEvent, PcmSamples, VorbisDecoder};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo.ogg");

/// `rtsp_server` on a free port serving the demo file; returns it with the URL it printed.
fn rtsp_server(extra: &[&str]) -> (Server, String) {
    let mut args = vec!["--bind", "127.0.0.1:0", "--file", DEMO];
    args.extend_from_slice(extra);
    let server = Server::start(env!("CARGO_BIN_EXE_rtsp_server"), &args);
    // The URL it prints next is the address it listens on and the path.
    let path = extra
        .iter()
        .position(|a| *a == "--path")
        .map_or("/", |i| extra[i + 1]);
    let url = format!("rtsp://{}{path}", server.addr);
    (server, url)
}

/// The demo file decoded by our decoder (which matches oggdec exactly: see kamaelia-codec's
/// tests), interleaved 16-bit.
fn reference() -> Vec<i16> {
    let mut demuxer = OggDemuxer::new();
    demuxer.push(&std::fs::read(DEMO).unwrap());
    let mut decoder = VorbisDecoder::new();
    let mut samples = Vec::new();
    while let Some(OggEvent::Packet(packet)) = demuxer.next_event() {
        if let (_, Some(block)) = decoder.packet(&packet)
            && let PcmSamples::I16(s) = block.samples
        {
            samples.extend(s);
        }
    }
    samples
}

fn pcm(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Where `received` sits in `reference` (stereo frames aligned), if it is a contiguous stretch
/// of it within `tolerance` per sample; returns (offset, samples compared, largest difference).
fn locate(reference: &[i16], received: &[i16], tolerance: i32) -> Option<(usize, usize, i32)> {
    // Skip the first block (a decoder's start may differ at its very first samples) and find a
    // stretch of 64 samples that is not silence.
    let probe_at = (4096..received.len().saturating_sub(64))
        .step_by(2)
        .find(|&i| received[i..i + 64].iter().any(|s| s.unsigned_abs() > 200))?;
    let probe = &received[probe_at..probe_at + 64];
    let close = |a: i16, b: i16| (i32::from(a) - i32::from(b)).abs() <= tolerance;
    let found = (0..reference.len().saturating_sub(64))
        .step_by(2)
        .find(|&k| {
            probe
                .iter()
                .zip(&reference[k..])
                .all(|(a, b)| close(*a, *b))
        })?;
    let offset = found.checked_sub(probe_at)?;
    let compared = received.len().min(reference.len() - offset);
    let worst = received[..compared]
        .iter()
        .zip(&reference[offset..])
        .skip(4096)
        .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
        .max()?;
    Some((offset, compared, worst))
}

/// Checks a client's audio against the source: a long enough, contiguous, exact stretch.
fn assert_matches_source(who: &str, received: &[i16], seconds: f64, tolerance: i32) {
    let reference = reference();
    let wanted = (seconds * 44_100.0 * 2.0) as usize;
    assert!(
        received.len() >= wanted,
        "{who}: {} samples, wanted {wanted}",
        received.len()
    );
    let (offset, compared, worst) = locate(&reference, received, tolerance)
        .unwrap_or_else(|| panic!("{who}: the audio is not a stretch of the source"));
    assert!(compared >= wanted, "{who}: compared {compared}");
    assert!(
        worst <= tolerance,
        "{who}: off by {worst} at most (offset {offset})"
    );
    eprintln!(
        "{who}: {} samples at source offset {offset}, largest difference {worst}",
        compared
    );
}

fn ffmpeg_pcm(url: &str, transport: &str, seconds: &str) -> Vec<i16> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-rtsp_transport", transport, "-i", url])
        .args(["-t", seconds, "-f", "s16le", "-ac", "2", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    pcm(&out.stdout)
}

#[test]
fn ffmpeg_plays_the_live_stream_over_tcp_and_udp() {
    if !have("ffmpeg") || !have("ffprobe") {
        return;
    }
    let (server, url) = rtsp_server(&["--loop"]);
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-rtsp_transport", "tcp"])
        .args([
            "-show_entries",
            "stream=codec_name,sample_rate,channels",
            "-of",
            "csv=p=0",
            &url,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&probe.stdout).trim(),
        "vorbis,44100,2"
    );
    for transport in ["tcp", "udp"] {
        let received = ffmpeg_pcm(&url, transport, "3");
        assert_matches_source(&format!("ffmpeg over {transport}"), &received, 2.5, 1);
    }
    server.interrupt();
}

#[test]
fn our_client_decodes_the_live_stream_over_tcp_and_udp() {
    let (server, url) = rtsp_server(&["--loop"]);
    for transport in [&[][..], &["--udp"][..]] {
        let wav = tempfile_path(&format!("rtsp_client{}.wav", transport.len()));
        let out = Command::new(env!("CARGO_BIN_EXE_rtsp_client"))
            .arg(&url)
            .args(["--seconds", "3", "--out"])
            .arg(&wav)
            .args(transport)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("44100 Hz, 2 channel(s)"));
        let bytes = std::fs::read(&wav).unwrap();
        assert_matches_source(
            &format!("rtsp_client {transport:?}"),
            &pcm(&bytes[44..]),
            2.5,
            1,
        );
    }
    server.interrupt();
}

#[test]
fn gstreamer_plays_the_live_stream() {
    if !have("gst-launch-1.0") {
        return;
    }
    let (server, url) = rtsp_server(&["--loop"]);
    for protocol in ["tcp", "udp"] {
        let raw = tempfile_path(&format!("gst_{protocol}.raw"));
        let mut gst = Command::new("gst-launch-1.0")
            .args([
                "-q",
                "rtspsrc",
                &format!("location={url}"),
                &format!("protocols={protocol}"),
            ])
            .args([
                "!",
                "rtpvorbisdepay",
                "!",
                "vorbisdec",
                "!",
                "audioconvert",
                "dithering=none",
                "!",
            ])
            .args(["audio/x-raw,format=S16LE,channels=2", "!", "filesink"])
            .arg(format!("location={}", raw.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(5));
        stop(&mut gst);
        let bytes = std::fs::read(&raw).unwrap();
        assert_matches_source(&format!("GStreamer over {protocol}"), &pcm(&bytes), 2.5, 1);
    }
    server.interrupt();
}

#[test]
fn many_sessions_get_every_packet_from_one_process() {
    let (server, url) = rtsp_server(&["--loop"]);
    let out = Command::new(env!("CARGO_BIN_EXE_rtsp_client"))
        .args([&url, "--sessions", "200", "--seconds", "4"])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{line} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |name: &str| -> f64 {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == name).unwrap();
        words[at + 1].parse().unwrap()
    };
    assert_eq!(field("failed"), 0.0, "{line}");
    assert_eq!(field("gaps"), 0.0, "{line}");
    assert!(field("min_kbps") > 0.0, "{line}");
    server.interrupt();
}

/// One request on a fresh connection; the whole response.
fn exchange(addr: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = vec![0u8; 4096];
    let n = stream.read(&mut answer).unwrap_or(0);
    String::from_utf8_lossy(&answer[..n]).to_string()
}

#[test]
fn bad_requests_get_clear_answers() {
    let (server, url) = rtsp_server(&["--loop", "--path", "/live.ogg"]);
    let addr = server.addr.clone();
    let status = |request: &str| {
        exchange(&addr, request)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    };
    assert!(
        status(&format!(
            "DESCRIBE rtsp://{addr}/nothing RTSP/1.0\r\nCSeq: 1\r\n\r\n"
        ))
        .starts_with("RTSP/1.0 404")
    );
    assert!(status("OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n").starts_with("RTSP/1.0 505"));
    assert!(status("NONSENSE\r\n\r\n").starts_with("RTSP/1.0 400"));
    assert!(
        status(&format!(
            "PLAY {url} RTSP/1.0\r\nCSeq: 2\r\nSession: 12\r\n\r\n"
        ))
        .starts_with("RTSP/1.0 454")
    );
    assert!(
        status(&format!(
            "SETUP {url}/trackID=0 RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/AVP;multicast\r\n\r\n"
        ))
        .starts_with("RTSP/1.0 461")
    );
    let huge = format!("OPTIONS * RTSP/1.0\r\nX: {}\r\n\r\n", "a".repeat(10_000));
    assert!(status(&huge).starts_with("RTSP/1.0 400"));
    let options = exchange(&addr, "OPTIONS * RTSP/1.0\r\nCSeq: 7\r\n\r\n");
    assert!(
        options.contains("CSeq: 7") && options.contains("Public: OPTIONS, DESCRIBE, SETUP, PLAY"),
        "{options}"
    );
    let described = exchange(
        &addr,
        &format!("DESCRIBE {url} RTSP/1.0\r\nCSeq: 8\r\n\r\n"),
    );
    assert!(
        described.contains("a=rtpmap:96 vorbis/44100/2") && described.contains("configuration="),
        "{described}"
    );
    server.interrupt();
}

fn tempfile_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kamaelia-rtsp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Ends a GStreamer pipeline as Ctrl-C would (it finishes its file), killing it if it hangs.
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    for _ in 0..50 {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn ffmpeg_plays_the_multicast_stream_from_its_sdp() {
    if !have("ffmpeg") {
        return;
    }
    let has_default_route = std::fs::read_to_string("/proc/net/route").is_ok_and(|t| {
        t.lines()
            .skip(1)
            .any(|l| l.split_whitespace().nth(1) == Some("00000000"))
    });
    if !has_default_route {
        // ffmpeg joins groups on the default interface only; with no default route there is
        // no interface both ends agree on.
        eprintln!("SKIPPED: no default route for ffmpeg to join a multicast group on");
        return;
    }
    let sdp = tempfile_path("multicast.sdp");
    let mut server = Command::new(env!("CARGO_BIN_EXE_rtp_multicast_server"))
        .args([
            "--group",
            "239.255.42.9:5006",
            "--file",
            DEMO,
            "--loop",
            "--sdp",
        ])
        .arg(&sdp)
        // TTL 0: nothing leaves this host; the default interface, where ffmpeg joins.
        .args(["--interface", "0.0.0.0", "--ttl", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(server.stdout.take().unwrap()));
    assert_eq!(
        lines.next().unwrap().unwrap(),
        "sending to 239.255.42.9:5006"
    );
    assert!(lines.next().unwrap().unwrap().starts_with("wrote "));
    let text = std::fs::read_to_string(&sdp).unwrap();
    assert!(
        text.contains("m=audio 5006 RTP/AVP 96") && text.contains("configuration="),
        "{text}"
    );
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-protocol_whitelist", "file,udp,rtp", "-i"])
        .arg(&sdp)
        .args(["-t", "3", "-f", "s16le", "-ac", "2", "-"])
        .output()
        .unwrap();
    stop(&mut server);
    assert_matches_source("ffmpeg from the multicast SDP", &pcm(&out.stdout), 2.5, 1);
}
