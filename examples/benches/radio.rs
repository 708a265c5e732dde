//! `cargo xtask bench radio`: `radio_server` against Icecast 2 (Debian's `icecast2`, used when
//! installed; this bench installs nothing), side by side in the same run, on the same load.
//!
//! Each server runs alone, in its own process, with the load generator in another (the
//! open-file limit is 20,000 per process here). ffmpeg pushes the same Ogg Vorbis stream
//! (128 kbit/s, made here from noise so no frame is cheap to encode) into each at real time
//! (`-re`, looping), by PUT as encoders do. Then listeners arrive at `--rate` a second (default
//! 1,000) up to `--listeners` (default 18,000) and listen for `--seconds` (default 20) after
//! the last arrives.
//!
//! Reported for both: listeners admitted (audio received) and failed, time to first audio
//! (median, max), stalls (2 s without data), per-listener kbit/s (minimum, median), server CPU
//! (share of one core; microseconds a second per listener admitted; microseconds per second of
//! audio a listener received) and memory per listener; and the ratio ours / Icecast's. Icecast keeps its defaults but its listener limit (raised to the
//! run's) and its 64 KiB burst on connect; ours keeps its defaults (a 2 s burst). Both write a
//! log line per connection to a file. `--quick`: 1,000 listeners, 5 s. `--json`: one line per
//! figure with the keys of `bench core`.
//!
//! Modes (this binary runs itself): `--listen ADDR PATH N SECONDS RATE SOURCES`.

#[path = "support/listeners.rs"]
mod listeners;
#[path = "../../kamaelia-net/benches/support/process.rs"]
#[allow(dead_code)] // not every helper is used here
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{cpu_ticks, first_line, rss, spawn_self};

const PASSWORD: &str = "bench-source-pw";

const FIGURES: [&str; 11] = [
    "admitted",
    "failed",
    "first-audio-p50-ms",
    "first-audio-max-ms",
    "kbit/s-min",
    "kbit/s-median",
    "stalls",
    "server-cpu-%core",
    "server-KiB/listener",
    "server-cpu-us/s/listener",
    "server-cpu-us/listener-second",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--listen") {
        let arg = |n: usize| args[i + n].as_str();
        return listeners::listen(
            arg(1),
            arg(2),
            arg(3).parse().unwrap(),
            arg(4).parse().unwrap(),
            true,
            arg(5).parse().unwrap(),
            arg(6).parse().unwrap_or(1usize).clamp(1, 250),
        );
    }
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    let listeners = flag("--listeners").map_or(if quick { 1000 } else { 18_000 }, |v| v as usize);
    let rate = flag("--rate").unwrap_or(1000.0);
    let seconds = flag("--seconds").unwrap_or(if quick { 5.0 } else { 20.0 });
    if !on_path("ffmpeg") {
        eprintln!("bench radio: needs ffmpeg (apt-get install ffmpeg) to push the stream");
        std::process::exit(1);
    }
    let dir = std::env::temp_dir().join(format!("kamaelia-bench-radio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stream = dir.join("noise_128k.ogg");
    make_stream(&stream);
    eprintln!(
        "{listeners} listeners arriving at {rate}/s, listening {seconds} s after the last; \
         open files per process: hard limit {}",
        String::from_utf8_lossy(
            &Command::new("sh")
                .args(["-c", "ulimit -Hn"])
                .output()
                .map(|o| o.stdout)
                .unwrap_or_default()
        )
        .trim()
    );
    let ours = run(System::Kamaelia, &dir, &stream, listeners, seconds, rate);
    let icecast =
        on_path("icecast2").then(|| run(System::Icecast, &dir, &stream, listeners, seconds, rate));
    if icecast.is_none() {
        eprintln!("bench radio: icecast2 is not installed: ours alone (apt-get install icecast2)");
    }
    let name = format!("radio-{listeners}@128k+{rate}/s");
    for (i, figure) in FIGURES.iter().enumerate() {
        let base = icecast.as_ref().map_or(f64::NAN, |r| r[i]);
        let ratio = ours[i] / base;
        if json {
            println!(
                "{{\"bench\":\"{name}\",\"system\":\"kamaelia\",\"value\":{:.3},\"unit\":\"{figure}\",\"baseline\":\"icecast2\",\"baseline_value\":{base:.3},\"ratio\":{ratio:.4}}}",
                ours[i]
            );
        } else {
            println!(
                "{name:<26} {figure:<26} kamaelia {:>10.1}   icecast2 {base:>10.1}   ratio {ratio:>6.3}",
                ours[i]
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[derive(Copy, Clone, Debug)]
enum System {
    Kamaelia,
    Icecast,
}

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// 30 s of stereo noise as Ogg Vorbis at 128 kbit/s (managed bit rate).
fn make_stream(path: &Path) {
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "anoisesrc=d=30:c=white:a=0.5",
        ])
        .args([
            "-ac",
            "2",
            "-ar",
            "44100",
            "-c:a",
            "libvorbis",
            "-b:a",
            "128k",
        ])
        .args(["-minrate", "128k", "-maxrate", "128k", "-y"])
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success(), "ffmpeg could not make the test stream");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `system` on `port`, its open-file limit raised, its log in `dir`.
fn start(system: System, port: u16, dir: &Path, listeners: usize) -> Child {
    let raise = "ulimit -n 65536 2>/dev/null || ulimit -n $(ulimit -Hn)";
    let command = match system {
        System::Kamaelia => format!(
            "{raise}; exec '{}' --bind 127.0.0.1:{port} --source-password {PASSWORD} \
             --admin-password {PASSWORD} 2>'{}/kamaelia.log'",
            env!("CARGO_BIN_EXE_radio_server"),
            dir.display()
        ),
        System::Icecast => {
            let logs = dir.join("icecast");
            std::fs::create_dir_all(&logs).unwrap();
            let _ = Command::new("chown").arg("icecast2").arg(&logs).status();
            let config = logs.join("icecast.xml");
            let text =
                kamaelia_examples::radio::icecast_config(port, PASSWORD, &logs, listeners + 100);
            std::fs::write(&config, text).unwrap();
            format!(
                "{raise}; exec icecast2 -c '{}' >'{}/stdout.log' 2>&1",
                config.display(),
                logs.display()
            )
        }
    };
    Command::new("sh")
        .args(["-c", &command])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// ffmpeg pushing `stream`, looping at real time, into `/live.ogg`.
fn source(port: u16, stream: &Path) -> Child {
    Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-stream_loop", "-1", "-i"])
        .arg(stream)
        .args([
            "-c",
            "copy",
            "-content_type",
            "application/ogg",
            "-f",
            "ogg",
        ])
        .arg(format!(
            "icecast://source:{PASSWORD}@127.0.0.1:{port}/live.ogg"
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Whether `GET /live.ogg` is answered 200 now.
fn on_air(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"GET /live.ogg HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && &head[8..12] == b" 200"
}

/// One system under the load: the generator's figures, then server CPU and memory.
fn run(
    system: System,
    dir: &Path,
    stream: &Path,
    listeners: usize,
    seconds: f64,
    rate: f64,
) -> Vec<f64> {
    let port = free_port();
    let mut server = start(system, port, dir, listeners);
    let pid = server.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{system:?} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut pusher = source(port, stream);
    while !on_air(port) {
        assert!(
            Instant::now() < deadline,
            "{system:?} never put the source on the air"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the burst fill, as it would on a station already on the air.
    std::thread::sleep(Duration::from_secs(3));
    let (rss_before, cpu_before, started) = (rss(pid), cpu_ticks(pid), Instant::now());
    let mut generator = spawn_self(&[
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "/live.ogg".into(),
        listeners.to_string(),
        seconds.to_string(),
        rate.to_string(),
        "1".into(),
    ]);
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        let until = Instant::now() + Duration::from_secs_f64(listeners as f64 / rate + seconds);
        while Instant::now() < until {
            peak = peak.max(rss(pid));
            std::thread::sleep(Duration::from_millis(250));
        }
        peak
    });
    let result = first_line(&mut generator);
    let _ = generator.wait();
    let peak = sampler.join().unwrap_or(0).max(rss_before);
    let cpu = (cpu_ticks(pid) - cpu_before) as f64 / 100.0;
    let wall = started.elapsed().as_secs_f64();
    let _ = pusher.kill();
    let _ = pusher.wait();
    let _ = server.kill();
    let _ = server.wait();
    let mut figures: Vec<f64> = result
        .split_whitespace()
        .map(|p| p.parse().unwrap_or(f64::NAN))
        .collect();
    figures.resize(8, f64::NAN);
    let listened = figures.pop().unwrap_or(f64::NAN);
    figures.push(cpu / wall * 100.0);
    figures.push(peak.saturating_sub(rss_before) as f64 / 1024.0 / listeners as f64);
    // Per listener: over the whole run, per listener admitted; and per second of audio a
    // listener actually received (fair to a server that admits listeners late).
    figures.push(cpu / wall * 1e6 / figures[0].max(1.0));
    figures.push(cpu * 1e6 / listened.max(1.0));
    figures
}
