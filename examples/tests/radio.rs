//! `radio_server` with the software stations and listeners run: ffmpeg pushing by PUT and by
//! SOURCE, curl uploading a file and a pipe; ffmpeg, ffprobe, GStreamer, mpv, ffplay and
//! Chromium's `<audio>` listening. Each listener's decoded audio is held against the source's
//! own decoding, sample by sample.

mod common;

use common::{Server, have};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "radio-test-pw";
const ADMIN: &str = "radio-test-admin";

/// 30 s of stereo sweeps at 44.1 kHz: no two moments alike, so a listener's audio can be
/// placed in the source's exactly.
fn music() -> &'static str {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../kamaelia-codec/testdata/bench_30s_stereo.ogg"
    )
}

fn radio(extra: &[&str]) -> Server {
    let mut args = vec![
        "--bind",
        "127.0.0.1:0",
        "--source-password",
        PASSWORD,
        "--admin-password",
        ADMIN,
    ];
    args.extend_from_slice(extra);
    Server::start(env!("CARGO_BIN_EXE_radio_server"), &args)
}

/// ffmpeg pushing `file` at real time into `mount` (`-legacy_icecast 1` for SOURCE).
fn ffmpeg_source(addr: &str, mount: &str, file: &str, legacy: bool) -> Child {
    let mut command = Command::new("ffmpeg");
    command.args(["-v", "error", "-re", "-i", file, "-c", "copy"]);
    if legacy {
        command.args(["-legacy_icecast", "1"]);
    }
    command
        .args([
            "-content_type",
            "application/ogg",
            "-ice_name",
            "Test FM",
            "-f",
            "ogg",
        ])
        .arg(format!("icecast://source:{PASSWORD}@{addr}{mount}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `/stats` says `needle`.
fn wait_for_stats(addr: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = http_get(addr, "/stats");
        if stats.contains(needle) {
            return;
        }
        assert!(Instant::now() < deadline, "{needle} never in {stats}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(
        &mut stream,
        format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// 16-bit stereo samples from ffmpeg decoding `input` (`options` before it).
fn ffmpeg_pcm(options: &[&str], input: &str) -> Vec<i16> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error"])
        .args(options)
        .args(["-i", input, "-f", "s16le", "-ac", "2", "-ar", "44100", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    samples(&out.stdout)
}

fn samples(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Checks `heard` (stereo) is a stretch of `reference`: after a decoder's first blocks (which
/// differ when joining mid-stream), every sample within `tolerance`. Returns the frames
/// compared.
fn same_audio(heard: &[i16], reference: &[i16], tolerance: i32) -> usize {
    const SKIP: usize = 2 * 4096;
    const WINDOW: usize = 2 * 1024;
    assert!(
        heard.len() > SKIP + WINDOW,
        "only {} samples heard",
        heard.len()
    );
    let probe = &heard[SKIP..SKIP + WINDOW];
    let close = |a: &[i16], b: &[i16]| {
        a.iter()
            .zip(b)
            .all(|(&x, &y)| (x as i32 - y as i32).abs() <= tolerance)
    };
    let at = (0..reference.len().saturating_sub(WINDOW))
        .step_by(2)
        .find(|&at| close(probe, &reference[at..at + WINDOW]))
        .expect("the heard audio is nowhere in the source's");
    let start = at - SKIP.min(at);
    let heard_rest = &heard[SKIP - (at - start)..];
    let reference_rest = &reference[start..];
    let n = heard_rest.len().min(reference_rest.len());
    let off = heard_rest[..n]
        .iter()
        .zip(&reference_rest[..n])
        .filter(|(x, y)| (**x as i32 - **y as i32).abs() > tolerance)
        .count();
    assert_eq!(
        off, 0,
        "{off} of {n} samples differ by more than {tolerance}"
    );
    n / 2
}

#[test]
fn ffmpeg_pushes_by_put_and_ffmpeg_gstreamer_mpv_and_ffplay_hear_the_same_audio() {
    if !(have("ffmpeg") && have("gst-launch-1.0") && have("mpv") && have("ffplay")) {
        return;
    }
    let server = radio(&[]);
    let addr = server.addr.clone();
    let reference = ffmpeg_pcm(&[], music());
    let mut source = ffmpeg_source(&addr, "/live.ogg", music(), false);
    wait_for_stats(&addr, "\"feed\":\"source\"");
    let url = format!("http://{addr}/live.ogg");
    let dir = std::env::temp_dir().join(format!("kamaelia-radio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (gst_out, mpv_out) = (dir.join("gst.raw"), dir.join("mpv.raw"));
    let gst = Command::new("gst-launch-1.0")
        .args(["-q", "souphttpsrc"])
        .arg(format!("location={url}"))
        // souphttpsrc asks for ICY titles (its iradio mode), and gets them, interleaved:
        // icydemux takes them out, as playbin would plug in by itself.
        .args([
            "!",
            "icydemux",
            "!",
            "oggdemux",
            "!",
            "vorbisdec",
            "!",
            "audioconvert",
            "!",
        ])
        .args(["audio/x-raw,format=S16LE,channels=2", "!", "filesink"])
        .arg(format!("location={}", gst_out.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mpv = Command::new("mpv")
        .args([
            "--no-config",
            "--no-video",
            "--length=4",
            "--ao=pcm",
            "--ao-pcm-waveheader=no",
        ])
        .args(["--audio-format=s16", "--audio-channels=stereo"])
        .arg(format!("--ao-pcm-file={}", mpv_out.display()))
        .arg(&url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ffplay = Command::new("ffplay")
        .args(["-nodisp", "-loglevel", "error", "-stats"])
        .arg(&url)
        .env("SDL_AUDIODRIVER", "dummy")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let heard = ffmpeg_pcm(&["-t", "4"], &url);
    let frames = same_audio(&heard, &reference, 0);
    assert!(frames > 3 * 44_100 - 8192, "ffmpeg: {frames} frames");
    let mpv = mpv.wait_with_output().unwrap();
    assert!(
        mpv.status.success(),
        "{}",
        String::from_utf8_lossy(&mpv.stdout)
    );
    let mpv_pcm = samples(&std::fs::read(&mpv_out).unwrap());
    same_audio(&mpv_pcm, &reference, 0);
    // ffplay plays a live stream until it is closed, as a person would close it.
    assert!(
        ffplay.try_wait().unwrap().is_none(),
        "ffplay stopped by itself"
    );
    let _ = ffplay.kill();
    let ffplay = ffplay.wait_with_output().unwrap();
    let stats = String::from_utf8_lossy(&ffplay.stderr);
    let clock = common::ffplay_clock(&stats);
    assert!(clock > 2.0, "ffplay stopped at {clock} s");
    // GStreamer listens until stopped (a live stream has no end); it decodes with libvorbis,
    // whose float output rounds a sample differently now and then.
    std::thread::sleep(Duration::from_secs(1));
    stop(gst);
    let gst_pcm = samples(&std::fs::read(&gst_out).unwrap());
    same_audio(&gst_pcm, &reference, 1);
    // The source ran all along (it is 30 s long): still running, said nothing.
    assert!(source.try_wait().unwrap().is_none(), "the source stopped");
    let _ = source.kill();
    let _ = source.wait();
    let _ = std::fs::remove_dir_all(&dir);
    server.interrupt();
}

/// SIGINT, then wait.
fn stop(child: Child) {
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let _ = out;
}

#[test]
fn the_source_method_and_curl_uploads_of_a_file_and_a_pipe_are_taken() {
    if !(have("ffmpeg") && have("curl")) {
        return;
    }
    let server = radio(&[]);
    let addr = server.addr.clone();
    let reference = ffmpeg_pcm(&[], music());
    // The legacy SOURCE method.
    let mut legacy = ffmpeg_source(&addr, "/legacy.ogg", music(), true);
    // A pipe through curl: chunked, no length.
    let mut encoder = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-re",
            "-i",
            music(),
            "-c",
            "copy",
            "-f",
            "ogg",
            "-",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut piped = Command::new("curl")
        .args(["-s", "-T", "-", "-u", &format!("source:{PASSWORD}")])
        .arg(format!("http://{addr}/piped.ogg"))
        .stdin(encoder.stdout.take().unwrap())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_stats(&addr, "\"/legacy.ogg\":{\"bitrate\"");
    wait_for_stats(&addr, "\"/piped.ogg\":{\"bitrate\"");
    for mount in ["/legacy.ogg", "/piped.ogg"] {
        let heard = ffmpeg_pcm(&["-t", "2"], &format!("http://{addr}{mount}"));
        same_audio(&heard, &reference, 0);
    }
    // A whole file with its length: curl waits for the final answer, 200.
    let uploaded = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-T", music()])
        .args(["-u", &format!("source:{PASSWORD}")])
        .arg(format!("http://{addr}/file.ogg"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&uploaded.stdout), "200");
    // A wrong password is 401; a second source on a mount, 403.
    let wrong = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-T", music()])
        .args(["-u", "source:wrong"])
        .arg(format!("http://{addr}/file.ogg"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&wrong.stdout), "401");
    let second = Command::new("ffmpeg")
        .args(["-v", "error", "-i", music(), "-c", "copy", "-f", "ogg"])
        .arg(format!("icecast://source:{PASSWORD}@{addr}/legacy.ogg"))
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("403"));
    for child in [&mut legacy, &mut encoder, &mut piped] {
        let _ = child.kill();
        let _ = child.wait();
    }
    server.interrupt();
}

#[test]
fn a_source_killed_mid_stream_falls_back_to_a_file_and_its_return_is_heard() {
    if !have("ffmpeg") {
        return;
    }
    let swing = concat!(env!("CARGO_MANIFEST_DIR"), "/data/swing.ogg");
    let server = radio(&["--fallback-file", &format!("/live.ogg={swing}")]);
    let addr = server.addr.clone();
    let url = format!("http://{addr}/live.ogg");
    // A listener from the start: what it decodes is held against the wall clock.
    let started = Instant::now();
    let mut listener = Command::new("ffmpeg")
        .args([
            "-v", "error", "-i", &url, "-f", "s16le", "-ac", "2", "-ar", "44100", "-",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = listener.stdout.take().unwrap();
    let counter = std::thread::spawn(move || {
        let (mut bytes, mut piece) = (0usize, [0u8; 65536]);
        while let Ok(n) = out.read(&mut piece) {
            if n == 0 {
                break;
            }
            bytes += n;
        }
        bytes
    });
    std::thread::sleep(Duration::from_millis(1500));
    let mut source = ffmpeg_source(&addr, "/live.ogg", music(), false);
    wait_for_stats(&addr, "\"feed\":\"source\"");
    std::thread::sleep(Duration::from_millis(2000));
    // kill -9: no goodbye.
    source.kill().unwrap();
    let _ = source.wait();
    wait_for_stats(&addr, "\"feed\":\"fallback\"");
    std::thread::sleep(Duration::from_millis(2000));
    let mut back = ffmpeg_source(&addr, "/live.ogg", music(), false);
    wait_for_stats(&addr, "\"feed\":\"source\"");
    std::thread::sleep(Duration::from_millis(2000));
    let _ = listener.kill();
    let heard = listener.wait_with_output().unwrap();
    let wall = started.elapsed().as_secs_f64();
    let seconds = counter.join().unwrap() as f64 / 4.0 / 44_100.0;
    let errors = String::from_utf8_lossy(&heard.stderr);
    assert!(
        errors.trim().is_empty(),
        "the listener's decoder complained: {errors}"
    );
    // Every switch (fallback, source, fallback, source) kept it playing: what it heard is the
    // time it listened, give or take the burst it started with and a switch's gap.
    assert!(
        seconds > wall - 2.0 && seconds < wall + 2.5,
        "{seconds:.2} s of audio in {wall:.2} s"
    );
    let log = http_get(&addr, "/stats");
    assert!(log.contains("\"listener_peak\":1"), "{log}");
    let _ = back.kill();
    let _ = back.wait();
    server.interrupt();
}

#[test]
fn a_title_update_reaches_an_icy_player_and_a_late_joiners_ffprobe() {
    if !(have("ffprobe") && have("curl")) {
        return;
    }
    // Titles every 2,000 bytes, so ffprobe's first read meets one.
    let server = radio(&["--icy-metaint", "2000"]);
    let addr = server.addr.clone();
    let mut source = ffmpeg_source(&addr, "/live.ogg", music(), false);
    wait_for_stats(&addr, "\"feed\":\"source\"");
    let update = Command::new("curl")
        .args(["-s", "-u", &format!("admin:{ADMIN}")])
        .arg(format!(
            "http://{addr}/admin/metadata?mount=/live.ogg&mode=updinfo&song=Night%20Drive"
        ))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&update.stdout).contains("successful"));
    // The new link (and its comments) comes at the next join point: ffmpeg's pages are a
    // second long.
    std::thread::sleep(Duration::from_millis(2500));
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format_tags:stream_tags",
            "-of",
            "compact",
        ])
        .arg(format!("http://{addr}/live.ogg"))
        .output()
        .unwrap();
    let tags = String::from_utf8_lossy(&probe.stdout);
    assert!(tags.contains("TITLE=Night Drive"), "Ogg comments: {tags}");
    assert!(tags.contains("StreamTitle=Night Drive"), "ICY: {tags}");
    let _ = source.kill();
    let _ = source.wait();
    server.interrupt();
}

#[test]
fn chromium_plays_a_mount_in_an_audio_element() {
    if !(have("chromium") && have("ffmpeg")) {
        return;
    }
    let server = radio(&[]);
    let addr = server.addr.clone();
    let mut source = ffmpeg_source(&addr, "/live.ogg", music(), false);
    wait_for_stats(&addr, "\"feed\":\"source\"");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/audio_page.py");
    let out = Command::new("/usr/bin/python3")
        .args([script, &format!("http://{addr}/live.ogg"), "2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (first, second) = (
        state["first"].as_f64().unwrap_or(0.0),
        state["second"].as_f64().unwrap_or(0.0),
    );
    assert!(
        state["error"].is_null() && state["paused"] == false,
        "{state}"
    );
    assert!(
        second - first > 1.0,
        "the <audio> clock did not run: {state}"
    );
    let _ = source.kill();
    let _ = source.wait();
    server.interrupt();
}

#[test]
fn an_ogg_opus_source_is_carried_and_ffmpeg_decodes_it() {
    if !have("ffmpeg") {
        return;
    }
    let server = radio(&[]);
    let addr = server.addr.clone();
    // An Opus encoder on the air: a tone, at real time.
    let mut encoder = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=20",
        ])
        .args([
            "-c:a",
            "libopus",
            "-b:a",
            "64k",
            "-content_type",
            "audio/ogg",
            "-f",
            "ogg",
        ])
        .arg(format!("icecast://source:{PASSWORD}@{addr}/opus.ogg"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_stats(&addr, "\"feed\":\"source\"");
    let url = format!("http://{addr}/opus.ogg");
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
            &url,
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "opus");
    let heard = ffmpeg_pcm(&["-t", "2"], &url);
    assert!(
        heard.len() / 2 >= 2 * 44_100 - 4410,
        "{} frames",
        heard.len() / 2
    );
    let status = http_get(&addr, "/status-json.xsl");
    assert!(status.contains("\"subtype\":\"Opus\""), "{status}");
    let _ = encoder.kill();
    let _ = encoder.wait();
    server.interrupt();
}

#[test]
fn a_mount_relays_icecast_and_its_listeners_hear_the_source() {
    if !(have("icecast2") && have("ffmpeg")) {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("kamaelia-icecast-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Icecast refuses to run as root: the configuration has it change to its own user, who
    // must be able to write its logs.
    let _ = Command::new("chown").arg("icecast2").arg(&dir).status();
    let config = dir.join("icecast.xml");
    std::fs::write(
        &config,
        kamaelia_examples::radio::icecast_config(port, PASSWORD, &dir, 100),
    )
    .unwrap();
    let mut icecast = Command::new("icecast2")
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let upstream = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&upstream).is_err() {
        assert!(Instant::now() < deadline, "icecast2 did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut source = ffmpeg_source(&upstream, "/live.ogg", music(), false);
    let server = radio(&[
        "--relay",
        &format!("/relayed.ogg=http://{upstream}/live.ogg"),
    ]);
    let addr = server.addr.clone();
    wait_for_stats(&addr, "\"feed\":\"relay\"");
    let heard = ffmpeg_pcm(&["-t", "3"], &format!("http://{addr}/relayed.ogg"));
    same_audio(&heard, &ffmpeg_pcm(&[], music()), 0);
    let _ = source.kill();
    let _ = source.wait();
    server.interrupt();
    let _ = icecast.kill();
    let _ = icecast.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
