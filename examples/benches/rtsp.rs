//! `cargo xtask bench rtsp`: many RTSP readers arriving at once, against `rtsp_server` and
//! against gst-rtsp-server (GStreamer's RTSP server, through a 20-line Python launcher) in the
//! same run, serving the same 128 kbit/s Ogg Vorbis file live, over RTP interleaved in TCP and
//! over UDP.
//!
//! The load generator is `rtsp_client --sessions N` (its own process): N sessions that count
//! what arrives. Reported per system: readers admitted and failed, per-reader kbit/s (minimum,
//! median) over the run, RTP packets never received (sequence gaps), and server CPU (share of
//! one core) and memory per reader. Bounded: 1,000 readers and 20 s per run (`--quick`: 100
//! and 6 s); each reader holds one TCP connection (and two UDP sockets over UDP) in the
//! generator, within the open-file limit of 20,000 here.
//!
//! Needs oggdec, oggenc and ffmpeg (to make the file) and, for the peer, `python3-gi` with
//! `gir1.2-gst-rtsp-server-1.0`; without them the peer is skipped and said so.

#[path = "../../kamaelia-net/benches/support/process.rs"]
#[allow(dead_code)] // spawn_self is for the benches that run themselves
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{cpu_ticks, first_line, rss, spawn_program};

const GST_LAUNCHER: &str = r#"
import sys, gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer, GLib
Gst.init(None)
port, path = sys.argv[1], sys.argv[2]
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(f"( filesrc location={path} ! oggdemux ! vorbisparse ! rtpvorbispay name=pay0 pt=96 )")
factory.set_shared(True)
server.get_mount_points().add_factory("/", factory)
server.attach(None)
print(f"listening on 127.0.0.1:{port}", flush=True)
GLib.MainLoop().run()
"#;

/// A 60 s, 128 kbit/s (managed) Ogg Vorbis file: the demo three times, re-encoded.
fn make_file(dir: &Path) -> Result<PathBuf, String> {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo.ogg");
    let (wav, long, out) = (dir.join("d.wav"), dir.join("d3.wav"), dir.join("b128.ogg"));
    let run = |program: &str, args: &[&str]| {
        let status = Command::new(program).args(args).status();
        match status {
            Ok(s) if s.success() => Ok(()),
            _ => Err(format!("{program} failed (is it installed?)")),
        }
    };
    run("oggdec", &["-Q", "-o", &wav.display().to_string(), demo])?;
    run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-y",
            "-stream_loop",
            "2",
            "-i",
            &wav.display().to_string(),
        ]
        .into_iter()
        .chain(["-f", "wav", &long.display().to_string()])
        .collect::<Vec<_>>(),
    )?;
    run(
        "oggenc",
        &[
            "-Q",
            "--managed",
            "-b",
            "128",
            "-m",
            "128",
            "-M",
            "128",
            "-o",
        ]
        .into_iter()
        .chain([
            out.display().to_string().as_str(),
            &long.display().to_string(),
        ])
        .collect::<Vec<_>>(),
    )?;
    Ok(out)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(18_650, |a| a.port())
}

fn gst_available() -> bool {
    Command::new("/usr/bin/python3")
        .args(["-c", "import gi; gi.require_version('GstRtspServer','1.0'); from gi.repository import GstRtspServer"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// One run: a server, N readers for `seconds`; the generator's figures plus server CPU and
/// memory. `None` if the server would not start.
fn run(
    system: &str,
    file: &Path,
    readers: usize,
    seconds: f64,
    udp: bool,
    dir: &Path,
) -> Option<Vec<f64>> {
    let mut server = match system {
        "kamaelia" => spawn_program(
            env!("CARGO_BIN_EXE_rtsp_server"),
            &[
                "--bind".into(),
                "127.0.0.1:0".into(),
                "--file".into(),
                file.display().to_string(),
                "--loop".into(),
            ],
        ),
        _ => {
            let launcher = dir.join("gst_rtsp_server.py");
            std::fs::write(&launcher, GST_LAUNCHER).ok()?;
            spawn_program(
                "/usr/bin/python3",
                &[
                    launcher.display().to_string(),
                    free_port().to_string(),
                    file.display().to_string(),
                ],
            )
        }
    };
    let addr = first_line(&mut server)
        .strip_prefix("listening on ")?
        .to_string();
    std::thread::sleep(Duration::from_millis(300));
    let pid = server.id();
    let (rss_before, cpu_before, started) = (rss(pid), cpu_ticks(pid), Instant::now());
    let mut args = vec![
        format!("rtsp://{addr}/"),
        "--sessions".into(),
        readers.to_string(),
        "--seconds".into(),
        seconds.to_string(),
    ];
    if udp {
        args.push("--udp".into());
    }
    let mut generator = spawn_program(env!("CARGO_BIN_EXE_rtsp_client"), &args);
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        let until = Instant::now() + Duration::from_secs_f64(seconds);
        while Instant::now() < until {
            peak = peak.max(rss(pid));
            std::thread::sleep(Duration::from_millis(250));
        }
        peak
    });
    let line = first_line(&mut generator);
    let _ = generator.wait();
    let peak = sampler.join().unwrap_or(0).max(rss_before);
    let cpu = (cpu_ticks(pid) - cpu_before) as f64 / 100.0;
    let wall = started.elapsed().as_secs_f64();
    let _ = server.kill();
    let _ = server.wait();
    let words: Vec<&str> = line.split_whitespace().collect();
    let field = |name: &str| {
        words
            .iter()
            .position(|w| *w == name)
            .and_then(|i| words.get(i + 1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    let failed = field("failed");
    Some(vec![
        readers as f64 - failed,
        failed,
        field("min_kbps"),
        field("median_kbps"),
        field("gaps"),
        cpu / wall * 100.0,
        peak.saturating_sub(rss_before) as f64 / 1024.0 / readers as f64,
    ])
}

const FIGURES: [&str; 7] = [
    "admitted",
    "failed",
    "kbit/s-min",
    "kbit/s-median",
    "gaps",
    "server-cpu-%core",
    "server-KiB/reader",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    let (readers, seconds) = if quick { (100, 6.0) } else { (1000, 20.0) };
    let dir = std::env::temp_dir().join(format!("kamaelia-bench-rtsp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = match make_file(&dir) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("bench rtsp: cannot make the 128 kbit/s file: {e}");
            return;
        }
    };
    let peer = gst_available();
    if !peer {
        eprintln!(
            "bench rtsp: SKIPPED gst-rtsp-server (needs python3-gi and gir1.2-gst-rtsp-server-1.0)"
        );
    }
    for udp in [false, true] {
        let name = format!("rtsp-{readers}-{}", if udp { "udp" } else { "tcp" });
        let ours = run("kamaelia", &file, readers, seconds, udp, &dir).unwrap_or_default();
        let theirs = if peer {
            run("gst", &file, readers, seconds, udp, &dir).unwrap_or_default()
        } else {
            Vec::new()
        };
        for (i, figure) in FIGURES.iter().enumerate() {
            let a = ours.get(i).copied().unwrap_or(f64::NAN);
            let b = theirs.get(i).copied().unwrap_or(f64::NAN);
            if json {
                println!(
                    "{{\"bench\":\"{name}\",\"system\":\"kamaelia\",\"value\":{a:.3},\"unit\":\"{figure}\",\"baseline\":\"gst-rtsp-server\",\"baseline_value\":{b:.3},\"ratio\":{:.4}}}",
                    a / b
                );
            } else {
                println!(
                    "{name:<16} {figure:<18} kamaelia {a:>10.1}   gst-rtsp-server {b:>10.1}   ratio {:>6.3}",
                    a / b
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
