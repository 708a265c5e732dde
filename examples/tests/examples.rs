//! The example programs, run as a user runs them.

mod common;

use common::{Server, run_with_input};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn speakers_demultiplexes_a_play_into_one_file_per_speaker() {
    let dir = std::env::temp_dir().join(format!("kamaelia-speakers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let play = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample_play.txt");
    let output = Command::new(env!("CARGO_BIN_EXE_speakers"))
        .arg(play)
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    assert_eq!(
        read("PRODUCER.txt"),
        "I have a message for you.\nIt is small, but it matters.\nYour inbox is full.\n\
         I shall wait, as a pipe waits.\nThen here is the next.\n"
    );
    assert_eq!(
        read("CONSUMER.txt"),
        "Then send it, and I will wake.\nI have taken one. There is room again.\n"
    );
    assert_eq!(read("SCHEDULER.txt").lines().count(), 3);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["CONSUMER.txt", "PRODUCER.txt", "SCHEDULER.txt"]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("PRODUCER: 5 lines"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn speakers_reports_a_missing_file_clearly() {
    let output = Command::new(env!("CARGO_BIN_EXE_speakers"))
        .args(["/nonexistent/play.txt", "/tmp/unused-speakers-out"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read /nonexistent/play.txt"),
        "{stderr}"
    );
}

#[test]
fn topology_dot_draws_a_running_system_with_clusters() {
    let output = Command::new(env!("CARGO_BIN_EXE_topology_dot"))
        .output()
        .unwrap();
    assert!(output.status.success());
    let dot = String::from_utf8(output.stdout).unwrap();
    assert!(dot.starts_with("digraph axon"), "{dot}");
    assert!(
        dot.contains("subgraph cluster_"),
        "nesting drawn as clusters: {dot}"
    );
    assert!(dot.contains("Pipeline"), "{dot}");
    let json: serde_json::Value = serde_json::from_slice(&output.stderr).unwrap();
    assert!(json["components"].as_array().unwrap().len() >= 5);
}

#[test]
fn embedded_tokio_server_answers_through_its_pipeline() {
    let server = Server::start(
        env!("CARGO_BIN_EXE_embedded_tokio_server"),
        &["--bind", "127.0.0.1:0"],
    );
    let addr = server.addr.clone();
    // Two clients at once, each getting its own answers.
    let clients: Vec<_> = (0..2)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let stream = std::net::TcpStream::connect(&addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                let mut answers = Vec::new();
                for word in ["alpha", "beta"] {
                    writeln!(writer, "{word}{i}").unwrap();
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    answers.push(line.trim().to_string());
                }
                answers
            })
        })
        .collect();
    for (i, client) in clients.into_iter().enumerate() {
        let answers = client.join().unwrap();
        assert!(answers[0].ends_with(&format!(": ALPHA{i}")), "{answers:?}");
        assert!(answers[1].ends_with(&format!(": BETA{i}")), "{answers:?}");
    }
    // Ctrl-C stops it cleanly.
    server.interrupt();
}

#[test]
fn shout_is_a_console_pipeline() {
    let output = run_with_input(env!("CARGO_BIN_EXE_shout"), &[], b"hello\nkamaelia\n");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "HELLO\nKAMAELIA\n"
    );
}

fn mime_dict(mode: &str, input: &str) -> std::process::Output {
    run_with_input(env!("CARGO_BIN_EXE_mime_dict"), &[mode], input.as_bytes())
}

#[test]
fn mime_dict_parses_to_json_and_renders_back() {
    let text = "To: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nBody\r\n";
    let parsed = mime_dict("parse", text);
    assert!(parsed.status.success());
    let json: serde_json::Value = serde_json::from_slice(&parsed.stdout).unwrap();
    assert_eq!(json["headers"][1][1], "b@example.org");
    assert_eq!(json["body"], "Body\r\n");
    let rendered = mime_dict("render", &String::from_utf8(parsed.stdout).unwrap());
    assert!(rendered.status.success());
    assert_eq!(String::from_utf8(rendered.stdout).unwrap(), text);
}

#[test]
fn mime_dict_reports_malformed_input() {
    let out = mime_dict("parse", "no colon\n\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));
    let out = mime_dict("render", "{not json");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a MimeDict"));
}

#[test]
fn mime_dict_checks_its_arguments_before_reading_stdin_and_round_trips_what_it_parses() {
    // No input is ever written and stdin stays open: a wrong call must not wait for it.
    let mut child = Command::new(env!("CARGO_BIN_EXE_mime_dict"))
        .arg("bogus")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = exits_within(
        &mut child,
        Duration::from_secs(10),
        "mime_dict waited for stdin",
    );
    assert_eq!(status.code(), Some(2));
    // A value begun on a continuation line parses, and what parses renders.
    let parsed = mime_dict("parse", "Subject:\r\n  folded\r\n\r\nbody");
    assert!(parsed.status.success());
    let rendered = mime_dict("render", &String::from_utf8(parsed.stdout).unwrap());
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    assert_eq!(rendered.stdout, b"Subject: folded\r\n\r\nbody");
}

#[test]
fn ogg_to_wav_converts_each_link_and_reports_errors() {
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../kamaelia-codec/testdata/chained_stereo_mono.ogg"
    );
    let out = std::env::temp_dir().join(format!("kamaelia-o2w-{}.wav", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_ogg_to_wav"))
        .arg(data)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("44100 Hz, 2 channel(s), 44100 frames"),
        "{stdout}"
    );
    assert!(
        stdout.contains("22050 Hz, 1 channel(s), 44100 frames"),
        "{stdout}"
    );
    let second = out.with_file_name(format!("kamaelia-o2w-{}-2.wav", std::process::id()));
    assert_eq!(std::fs::read(&second).unwrap().len(), 44 + 44100 * 2);
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&second);

    let missing = Command::new(env!("CARGO_BIN_EXE_ogg_to_wav"))
        .args(["/nonexistent.ogg", "/tmp/never.wav"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot open /nonexistent.ogg"));

    let garbage = std::env::temp_dir().join(format!("kamaelia-o2w-{}.txt", std::process::id()));
    std::fs::write(&garbage, "plain text, no Ogg page anywhere").unwrap();
    let not_ogg = Command::new(env!("CARGO_BIN_EXE_ogg_to_wav"))
        .arg(&garbage)
        .arg(&out)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&garbage);
    assert_eq!(not_ogg.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&not_ogg.stderr);
    assert!(stderr.contains("is not an Ogg stream"), "{stderr}");
    assert!(
        stderr.contains("damaged byte(s) skipped at offset 0") && !stderr.contains("Damage {"),
        "damage is a sentence: {stderr}"
    );
}

/// Real playback through cpal and ALSA, captured by ALSA's `file` plugin (see
/// kamaelia-media/tests/alsa/capture.conf) and compared with oggdec's decode within 1.
#[test]
fn playback_through_alsa_matches_the_reference_decode() {
    if !kamaelia_media::PLAYBACK_AVAILABLE {
        if std::env::var_os("KAMAELIA_REQUIRE_ALL").is_some() {
            panic!("built without the playback feature (KAMAELIA_REQUIRE_ALL is set)");
        }
        eprintln!("SKIPPED: built without the playback feature");
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let capture = std::env::temp_dir().join(format!("kamaelia-capture-{}.raw", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_play_ogg"))
        .arg(format!(
            "{root}/../kamaelia-codec/testdata/tone_44k_stereo.ogg"
        ))
        .env(
            "ALSA_CONFIG_PATH",
            format!("/usr/share/alsa/alsa.conf:{root}/../kamaelia-media/tests/alsa/capture.conf"),
        )
        .env("KAMAELIA_ALSA_CAPTURE", &capture)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let played = std::fs::read(&capture).unwrap();
    let reference = std::fs::read(format!(
        "{root}/../kamaelia-codec/testdata/tone_44k_stereo.raw"
    ))
    .unwrap();
    assert!(
        played.len() >= reference.len(),
        "captured {} of {} bytes",
        played.len(),
        reference.len()
    );
    let worst = played
        .chunks_exact(2)
        .zip(reference.chunks_exact(2))
        .map(|(a, b)| {
            (i16::from_le_bytes([a[0], a[1]]) as i32 - i16::from_le_bytes([b[0], b[1]]) as i32)
                .abs()
        })
        .max()
        .unwrap();
    assert!(
        worst <= 1,
        "played samples differ from oggdec's by up to {worst}"
    );
    // Whatever follows the audio is the device's padding: silence.
    assert!(played[reference.len()..].iter().all(|&b| b == 0));
    let _ = std::fs::remove_file(capture);
}

#[test]
fn playback_without_a_device_fails_clearly_without_hanging() {
    // ALSA configured with no usable default device.
    let dir = std::env::temp_dir().join(format!("kamaelia-noalsa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("none.conf");
    std::fs::write(&conf, "pcm.!default { type hw card 99 }\n").unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let mut child = Command::new(env!("CARGO_BIN_EXE_play_ogg"))
        .arg(format!(
            "{root}/../kamaelia-codec/testdata/tone_44k_stereo.ogg"
        ))
        .env(
            "ALSA_CONFIG_PATH",
            format!("/usr/share/alsa/alsa.conf:{}", conf.display()),
        )
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = exits_within(
        &mut child,
        Duration::from_secs(20),
        "play_ogg hung without a device",
    );
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("play_ogg:"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_streaming_demo_streams_over_tcp_and_plays_or_writes_a_wav() {
    let out = std::env::temp_dir().join(format!("kamaelia-demo-{}.wav", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_streaming_demo"))
        .args(["--seconds", "2", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("kbit/s"), "a progress line: {stdout}");
    assert!(stdout.contains("received"), "{stdout}");
    if stdout.contains("writing") {
        // No audio device here: the decoded stream went to a WAV file, header completed.
        let wav = std::fs::read(&out).unwrap();
        assert_eq!(&wav[..4], b"RIFF");
        let data = u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize;
        assert_eq!(data, wav.len() - 44);
        assert!(
            data > 44_100 * 4,
            "at least a second of stereo audio: {data} bytes"
        );
        let _ = std::fs::remove_file(&out);
    }
}

#[test]
fn the_command_line_programs_answer_help_with_their_usage() {
    for (program, name) in [
        (env!("CARGO_BIN_EXE_echo_server"), "echo_server"),
        (env!("CARGO_BIN_EXE_echo_client"), "echo_client"),
        (
            env!("CARGO_BIN_EXE_framed_reverse_server"),
            "framed_reverse_server",
        ),
        (
            env!("CARGO_BIN_EXE_simple_streaming_server"),
            "simple_streaming_server",
        ),
        (
            env!("CARGO_BIN_EXE_simple_streaming_client"),
            "simple_streaming_client",
        ),
        (
            env!("CARGO_BIN_EXE_multicast_streaming_server"),
            "multicast_streaming_server",
        ),
        (
            env!("CARGO_BIN_EXE_multicast_streaming_client"),
            "multicast_streaming_client",
        ),
        (
            env!("CARGO_BIN_EXE_live_streaming_server"),
            "live_streaming_server",
        ),
        (env!("CARGO_BIN_EXE_streaming_demo"), "streaming_demo"),
    ] {
        let out = std::process::Command::new(program)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", out.status);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with(&format!("usage: {name} ")),
            "{name}: {text}"
        );
    }
}

/// Waits for `child` to exit, failing the test with `what` if it takes longer than `limit`.
fn exits_within(
    child: &mut std::process::Child,
    limit: Duration,
    what: &str,
) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(started.elapsed() < limit, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
