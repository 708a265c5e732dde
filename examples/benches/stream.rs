//! `cargo xtask bench stream`: many listeners against the streaming servers, each server in its
//! own process, next to a hand-written tokio server doing the same job in the same run.
//!
//! - live: `live_streaming_server`'s composition (ReadFile at the bit rate, looping → OggPager
//!   → LiveHttpServer) against a tokio server fanning the same pages out through
//!   `tokio::sync::broadcast`. N HTTP listeners arrive at once and listen for S seconds.
//! - on-demand: `simple_streaming_server`'s composition (TcpServer + a ReadFile per client)
//!   against a tokio task per client reading the file at the bit rate.
//!
//! Reported per system: listeners connected and failed, time to first audio (median, max),
//! per-listener kbit/s (minimum, median), stalls (a listener receiving nothing for 2 s), and
//! server CPU (share of one core) and RSS per listener. Bounded: at most 10,000 listeners and
//! 15 s per run. The open-file limit is raised here (in the shell that starts each process),
//! never in tests.
//!
//! Options: `--quick` (a tenth of the listeners, 5 s), `--rate R` (listeners arrive at R a second
//! instead of all at once), `--sources N` (the load generator connects from 127.0.0.1 to
//! 127.0.0.N, for more than the ~28,000 connections one source address allows), `--json`.
//! Under `cargo xtask bench multicore` (`--group multicore`) it runs only the multi-core live row,
//! which also takes `--listeners L` and `--cores N`.
//!
//! Modes (this binary runs itself): `--serve KIND BITRATE FILE`, `--listen ADDR N SECONDS
//! http|tcp RATE`.

#[path = "support/listeners.rs"]
mod listeners;
#[path = "../../kamaelia-net/benches/support/process.rs"]
mod support;
use axon_core::components::map;
use axon_core::{Cores, CrossFanout, Scheduler, link, pipeline};
use bytes::Bytes;
use kamaelia_codec::{OggPageReader, OggPager, PageEvent};
use kamaelia_examples::{Pacing, StreamFile, live_chunk};
use kamaelia_media::ReadFile;
use kamaelia_net::{
    ChunkKind, LiveConfig, LiveHttpServer, ServerConfig, TcpServer, serve_live_on_cores,
};
use listeners::{listen, ramp};
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{cpu_ticks, first_line, rss, spawn_self};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Loopback source addresses the load generator spreads its connections over (`--sources N`,
/// default 1): each has its own local port range, the bound past ~28,000 connections.
static SOURCES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// Chunks a raw live listener may lag, as the Kamaelia server's default bound.
const RAW_LAG: usize = 256;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn listening_socket() -> std::net::TcpListener {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    socket.listen(4096).unwrap();
    socket.set_nonblocking(true).unwrap();
    socket.into()
}

fn announce(addr: std::net::SocketAddr) {
    println!("{addr}");
    std::io::stdout().flush().unwrap();
}

fn serve(kind: &str, bitrate: u64, file: PathBuf, cores: usize) {
    if kind == "live-raw-mt" {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores)
            .enable_all()
            .build()
            .unwrap();
        return rt.block_on(raw_live(bitrate, file));
    }
    runtime().block_on(async move {
        match kind {
            "live-kamaelia" => {
                let config = LiveConfig::new("127.0.0.1:0".parse().unwrap())
                    .path("/stream.ogg")
                    .content_type("application/ogg");
                let server = LiveHttpServer::bind(config).unwrap();
                announce(server.local_addr());
                let source = pipeline!(
                    ReadFile::new(&file).bitrate(bitrate).looping(true),
                    OggPager::new().unique_serials(),
                    map(live_chunk)
                )
                .unwrap();
                link(&source.outbox, &server.inbox).unwrap();
                let scheduler = Scheduler::new();
                scheduler.activate(server);
                scheduler.activate(source);
                scheduler.run().await;
            }
            "ondemand-kamaelia" => {
                let config = ServerConfig {
                    backlog: 4096,
                    ..ServerConfig::new("127.0.0.1:0".parse().unwrap())
                };
                let server = TcpServer::bind(config, move |_| {
                    StreamFile::new(file.clone(), Pacing::Bitrate(bitrate))
                })
                .unwrap();
                announce(server.local_addr());
                let scheduler = Scheduler::new();
                scheduler.activate(server);
                scheduler.run().await;
            }
            "live-raw" => raw_live(bitrate, file).await,
            "live-kamaelia-cores" => {
                let cores = Cores::with_count(cores).unwrap();
                let config = LiveConfig::new("127.0.0.1:0".parse().unwrap())
                    .path("/stream.ogg")
                    .content_type("application/ogg");
                let (addr, shards) = serve_live_on_cores(&cores, config).await.unwrap();
                announce(addr);
                cores
                    .on(0, move |scheduler| {
                        let source = pipeline!(
                            ReadFile::new(&file).bitrate(bitrate).looping(true),
                            OggPager::new().unique_serials(),
                            map(live_chunk)
                        )
                        .unwrap();
                        let fanout = CrossFanout::new(shards);
                        link(&source.outbox, &fanout.inbox).unwrap();
                        scheduler.activate(fanout);
                        scheduler.activate(source);
                    })
                    .await
                    .unwrap();
                cores.wait().await;
            }
            "ondemand-raw" => {
                tokio::task::LocalSet::new()
                    .run_until(raw_on_demand(bitrate, file))
                    .await
            }
            other => panic!("unknown server {other}"),
        }
    });
}

/// Bytes due by tick `tick` of 10 per second at `bitrate` (ReadFile's pacing).
fn due(bitrate: u64, tick: u64) -> u64 {
    bitrate * tick / 10 / 8
}

/// The baseline live server: the same pages, fanned out with `tokio::sync::broadcast`.
/// Its tasks are `Send` (the header behind a mutex), so the same code runs on a current-thread
/// runtime and on a multi-thread one (`live-raw-mt`).
async fn raw_live(bitrate: u64, file: PathBuf) {
    let listener = tokio::net::TcpListener::from_std(listening_socket()).unwrap();
    announce(listener.local_addr().unwrap());
    let (pages, _) = tokio::sync::broadcast::channel::<(Bytes, ChunkKind)>(RAW_LAG);
    let header: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let source = {
        let (pages, header) = (pages.clone(), header.clone());
        async move {
            let ogg = std::fs::read(&file).unwrap();
            let mut reader = OggPageReader::new().unique_serials();
            let (start, mut tick, mut sent, mut at) = (tokio::time::Instant::now(), 0u64, 0u64, 0);
            let mut in_header = false;
            loop {
                tick += 1;
                tokio::time::sleep_until(start + Duration::from_millis(100 * tick)).await;
                let mut want = (due(bitrate, tick) - sent) as usize;
                sent += want as u64;
                while want > 0 {
                    let n = want.min(ogg.len() - at);
                    reader.push(&ogg[at..at + n]);
                    (at, want) = ((at + n) % ogg.len(), want - n);
                }
                while let Some(PageEvent::Page(page)) = reader.next_event() {
                    let chunk = live_chunk(page);
                    if chunk.kind == ChunkKind::Header {
                        let mut header = header.lock().unwrap();
                        if !in_header {
                            header.clear();
                        }
                        header.push(chunk.bytes.clone());
                    }
                    in_header = chunk.kind == ChunkKind::Header;
                    let _ = pages.send((chunk.bytes, chunk.kind));
                }
            }
        }
    };
    tokio::spawn(source);
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let mut pages = pages.subscribe();
        let header = header.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            if !read_head(&mut stream).await {
                return;
            }
            let head =
                "HTTP/1.1 200 OK\r\nContent-Type: application/ogg\r\nConnection: close\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let mut started = false;
            loop {
                let (bytes, kind) = match pages.recv().await {
                    Ok(page) => page,
                    Err(_) => return, // lagged (disconnect, as ours does) or closed
                };
                if !started {
                    if kind != ChunkKind::JoinPoint {
                        continue;
                    }
                    started = true;
                    let prefix = header.lock().unwrap().clone();
                    for h in prefix {
                        if stream.write_all(&h).await.is_err() {
                            return;
                        }
                    }
                }
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Reads up to the blank line ending a request head (at most 8 KiB).
async fn read_head(stream: &mut tokio::net::TcpStream) -> bool {
    let mut head = Vec::new();
    let mut piece = [0u8; 512];
    while head.len() < 8192 {
        match stream.read(&mut piece).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&piece[..n]),
        }
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            return true;
        }
    }
    false
}

/// The baseline on-demand server: a task per client reading the file at the bit rate.
async fn raw_on_demand(bitrate: u64, file: PathBuf) {
    let listener = tokio::net::TcpListener::from_std(listening_socket()).unwrap();
    announce(listener.local_addr().unwrap());
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let file = file.clone();
        tokio::task::spawn_local(async move {
            let _ = stream.set_nodelay(true);
            let Ok(mut reader) = tokio::fs::File::open(&file).await else {
                return;
            };
            let _ = reader.seek(std::io::SeekFrom::Start(0)).await;
            let (start, mut tick, mut sent) = (tokio::time::Instant::now(), 0u64, 0u64);
            let mut buffer = Vec::new();
            loop {
                tick += 1;
                tokio::time::sleep_until(start + Duration::from_millis(100 * tick)).await;
                let want = (due(bitrate, tick) - sent) as usize;
                buffer.resize(want, 0);
                let mut filled = 0;
                while filled < want {
                    match reader.read(&mut buffer[filled..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => filled += n,
                    }
                }
                sent += filled as u64;
                if filled > 0 && stream.write_all(&buffer[..filled]).await.is_err() {
                    return;
                }
                if filled < want {
                    let _ = stream.shutdown().await;
                    return;
                }
            }
        });
    }
}

fn kernel(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join("-"))
        .unwrap_or_else(|_| "?".into())
}

/// One scenario on one server: the generator's figures plus server CPU and memory.
fn run(
    kind: &str,
    listeners: usize,
    bitrate: u64,
    seconds: f64,
    rate: f64,
    file: &std::path::Path,
) -> Vec<f64> {
    run_on(kind, 2, listeners, bitrate, seconds, rate, file)
}

/// [`run`], the server given `cores` cores (the kinds that take a count).
fn run_on(
    kind: &str,
    cores: usize,
    listeners: usize,
    bitrate: u64,
    seconds: f64,
    rate: f64,
    file: &std::path::Path,
) -> Vec<f64> {
    let mut server = spawn_self(&[
        "--serve".into(),
        kind.into(),
        bitrate.to_string(),
        file.display().to_string(),
        cores.to_string(),
    ]);
    let addr = first_line(&mut server);
    std::thread::sleep(Duration::from_millis(300));
    let (rss_before, cpu_before, started) =
        (rss(server.id()), cpu_ticks(server.id()), Instant::now());
    let http = kind.starts_with("live");
    let mut generator = spawn_self(&[
        "--listen".into(),
        addr,
        listeners.to_string(),
        seconds.to_string(),
        if http { "http" } else { "tcp" }.into(),
        rate.to_string(),
        SOURCES.get().copied().unwrap_or(1).to_string(),
    ]);
    // Peak server memory while the listeners are held.
    let mut peak = rss_before;
    let pid = server.id();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        let until = Instant::now() + Duration::from_secs_f64(ramp(listeners, rate) + seconds);
        while Instant::now() < until {
            peak = peak.max(rss(pid));
            std::thread::sleep(Duration::from_millis(250));
        }
        peak
    });
    let result = first_line(&mut generator);
    let _ = generator.wait();
    peak = peak.max(sampler.join().unwrap_or(0));
    let cpu = (cpu_ticks(server.id()) - cpu_before) as f64 / 100.0;
    let wall = started.elapsed().as_secs_f64();
    let _ = server.kill();
    let _ = server.wait();
    let mut figures: Vec<f64> = result
        .split_whitespace()
        .map(|p| p.parse().unwrap_or(f64::NAN))
        .collect();
    figures.resize(7, f64::NAN);
    figures.push(cpu / wall * 100.0);
    figures.push(peak.saturating_sub(rss_before) as f64 / 1024.0 / listeners as f64);
    // CPU per listener: microseconds of server CPU per second of wall time, per listener
    // connected.
    figures.push(cpu / wall * 1e6 / figures[0].max(1.0));
    figures
}

const FIGURES: [&str; 10] = [
    "connected",
    "failed",
    "first-audio-p50-ms",
    "first-audio-max-ms",
    "kbit/s-min",
    "kbit/s-median",
    "stalls",
    "server-cpu-%core",
    "server-KiB/listener",
    "server-cpu-us/s/listener",
];

/// `cargo xtask bench multicore`'s live row: one source and a listener shard per core, against
/// the same server on one core and a hand-written tokio multi-thread broadcast server, each in
/// its own process with the load generator in another (all on the same CPUs: the scaling
/// itself cannot be measured on a 2-CPU machine; what crossing cores costs can).
fn multicore_live(args: &[String], json: bool, quick: bool, demo: &std::path::Path) {
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let listeners = flag("--listeners").map_or(if quick { 1000 } else { 10_000 }, |v| v as usize);
    let rate = flag("--rate").unwrap_or(1000.0);
    let cores = flag("--cores").map_or(2, |v| v as usize);
    let seconds = if quick { 5.0 } else { 12.0 };
    let name = format!("live-{listeners}@128k+{rate}/s");
    let systems = [
        ("kamaelia-1-core", "live-kamaelia", 1),
        ("kamaelia-cores", "live-kamaelia-cores", cores),
        ("tokio-mt-broadcast", "live-raw-mt", cores),
    ];
    let results: Vec<Vec<f64>> = systems
        .iter()
        .map(|(_, kind, n)| run_on(kind, *n, listeners, 128_000, seconds, rate, demo))
        .collect();
    for (i, figure) in FIGURES.iter().enumerate() {
        for (baseline, b) in [(0usize, "kamaelia-1-core"), (2, "tokio-mt-broadcast")] {
            let (ours, base) = (results[1][i], results[baseline][i]);
            let ratio = ours / base;
            let system = format!("kamaelia-{cores}-cores");
            if json {
                println!(
                    "{{\"bench\":\"{name}\",\"system\":\"{system}\",\"value\":{ours:.3},\"unit\":\"{figure}\",\"baseline\":\"{b}\",\"baseline_value\":{base:.3},\"ratio\":{ratio:.4}}}"
                );
            } else {
                println!(
                    "{name:<22} {figure:<26} {system} {ours:>10.1}   {b} {base:>10.1}   ratio {ratio:>6.3}"
                );
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        return serve(
            &args[i + 1],
            args[i + 2].parse().unwrap(),
            PathBuf::from(&args[i + 3]),
            args.get(i + 4).and_then(|c| c.parse().ok()).unwrap_or(2),
        );
    }
    if let Some(i) = args.iter().position(|a| a == "--listen") {
        return listen(
            &args[i + 1],
            "/stream.ogg",
            args[i + 2].parse().unwrap(),
            args[i + 3].parse().unwrap(),
            args[i + 4] == "http",
            args[i + 5].parse().unwrap_or(0.0),
            args.get(i + 6)
                .and_then(|n| n.parse().ok())
                .unwrap_or(1usize)
                .clamp(1, 250),
        );
    }
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    if let Some(n) = args
        .iter()
        .position(|a| a == "--sources")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<usize>().ok())
    {
        let _ = SOURCES.set(n.clamp(1, 250));
    }
    // Listeners arrive all at once, or at `--rate R` a second.
    let rate: f64 = args
        .iter()
        .position(|a| a == "--rate")
        .and_then(|i| args.get(i + 1))
        .and_then(|r| r.parse().ok())
        .filter(|r: &f64| r.is_finite() && *r > 0.0)
        .unwrap_or(0.0);
    let demo = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo.ogg"));
    // Run as part of `cargo xtask bench multicore`: only the multi-core live row.
    if args
        .windows(2)
        .any(|w| w[0] == "--group" && w[1] == "multicore")
    {
        return multicore_live(&args, json, quick, &demo);
    }
    // On demand, each client gets a whole file: three passes of the demo (a 60 s chain, 13 s
    // at 400 kbit/s), so every client streams for the whole run.
    let long = std::env::temp_dir().join(format!("kamaelia-bench-{}.ogg", std::process::id()));
    let bytes = std::fs::read(&demo).unwrap();
    let mut chained = OggPageReader::new().unique_serials();
    chained.push(&[bytes.clone(), bytes.clone(), bytes].concat());
    let mut long_bytes = Vec::new();
    while let Some(PageEvent::Page(p)) = chained.next_event() {
        long_bytes.extend_from_slice(p.bytes());
    }
    std::fs::write(&long, long_bytes).unwrap();
    let scale = if quick { 10 } else { 1 };
    let seconds = if quick { 5.0 } else { 12.0 };
    let scenarios: [(&str, usize, u64, &std::path::Path); 3] = [
        ("live", 5000 / scale, 400_000, &demo),
        ("live", 10_000 / scale, 128_000, &demo),
        ("ondemand", 2000 / scale, 400_000, &long),
    ];
    eprintln!(
        "kernel limits: somaxconn {}, tcp_max_syn_backlog {}, ip_local_port_range {}, open files (hard) {}",
        kernel("/proc/sys/net/core/somaxconn"),
        kernel("/proc/sys/net/ipv4/tcp_max_syn_backlog"),
        kernel("/proc/sys/net/ipv4/ip_local_port_range"),
        String::from_utf8_lossy(
            &Command::new("sh")
                .args(["-c", "ulimit -Hn"])
                .output()
                .map(|o| o.stdout)
                .unwrap_or_default()
        )
        .trim()
    );
    for (kind, listeners, bitrate, file) in scenarios {
        let arrival = if rate > 0.0 {
            format!("+{rate}/s")
        } else {
            String::new()
        };
        let name = format!("{kind}-{listeners}@{}k{arrival}", bitrate / 1000);
        let ours = run(
            &format!("{kind}-kamaelia"),
            listeners,
            bitrate,
            seconds,
            rate,
            file,
        );
        let raw = run(
            &format!("{kind}-raw"),
            listeners,
            bitrate,
            seconds,
            rate,
            file,
        );
        for (i, figure) in FIGURES.iter().enumerate() {
            let ratio = ours[i] / raw[i];
            if json {
                println!(
                    "{{\"bench\":\"{name}\",\"system\":\"kamaelia\",\"value\":{:.3},\"unit\":\"{figure}\",\"baseline\":\"raw-tokio\",\"baseline_value\":{:.3},\"ratio\":{ratio:.4}}}",
                    ours[i], raw[i]
                );
            } else {
                println!(
                    "{name:<20} {figure:<20} kamaelia {:>10.1}   raw-tokio {:>10.1}   ratio {ratio:>6.3}",
                    ours[i], raw[i]
                );
            }
        }
    }
    let _ = std::fs::remove_file(long);
}
