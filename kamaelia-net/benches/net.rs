//! `cargo xtask bench net`: a bounded load generator, in its own process, against (a) an echo
//! server built on kamaelia-net and (b) a raw tokio current-thread echo server, each in its own
//! process, in the same run. N connections do 64-byte request/response round trips for S
//! seconds; reported: round trips/s, p50/p99 latency, server CPU time per round trip. Then
//! 10,000 idle connections: server RSS per connection.
//!
//! Modes (this binary runs itself): `--serve kamaelia|raw`, `--load ADDR N SECONDS`,
//! `--idle ADDR N`.

#[path = "support/raw_echo.rs"]
mod raw_echo;
#[path = "support/process.rs"]
mod support;
use axon_core::Scheduler;
use axon_core::components::map;
use bytes::Bytes;
use kamaelia_net::{ServerConfig, TcpServer};
use std::io::Write;
use std::time::{Duration, Instant};
use support::{cpu_ticks, first_line, rss, spawn_self};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MESSAGE: usize = 64;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn serve(kind: &str) {
    runtime().block_on(async {
        match kind {
            "kamaelia" => {
                let server =
                    TcpServer::bind(ServerConfig::new("127.0.0.1:0".parse().unwrap()), |_| {
                        map(|b: Bytes| b)
                    })
                    .unwrap();
                println!("{}", server.local_addr());
                std::io::stdout().flush().unwrap();
                let scheduler = Scheduler::new();
                scheduler.activate(server);
                scheduler.run().await;
            }
            _ => raw_echo::serve_raw_echo().await,
        }
    });
}

fn load(addr: &str, connections: usize, seconds: u64) {
    let rt = runtime();
    let (count, mut latencies) = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let addr = addr.to_string();
            tasks.push(tokio::spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let request = [7u8; MESSAGE];
                let mut reply = [0u8; MESSAGE];
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let start = Instant::now();
                    if stream.write_all(&request).await.is_err()
                        || stream.read_exact(&mut reply).await.is_err()
                    {
                        break;
                    }
                    latencies.push(start.elapsed().as_micros() as u32);
                }
                latencies
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        (all.len(), all)
    });
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64) * p) as usize)
            .copied()
            .unwrap_or(0)
    };
    println!("{count} {} {}", pct(0.5), pct(0.99));
}

fn idle(addr: &str, connections: usize) {
    runtime().block_on(async {
        let mut held = Vec::new();
        for _ in 0..connections {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => held.push(s),
                Err(e) => {
                    eprintln!("idle connect failed after {}: {e}", held.len());
                    break;
                }
            }
        }
        println!("{}", held.len());
        std::io::stdout().flush().unwrap();
        // Hold them until told to stop (stdin closes).
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    });
}

struct Row {
    bench: String,
    system: &'static str,
    value: f64,
    unit: &'static str,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        return serve(&args[i + 1]);
    }
    if let Some(i) = args.iter().position(|a| a == "--load") {
        return load(
            &args[i + 1],
            args[i + 2].parse().unwrap(),
            args[i + 3].parse().unwrap(),
        );
    }
    if let Some(i) = args.iter().position(|a| a == "--idle") {
        return idle(&args[i + 1], args[i + 2].parse().unwrap());
    }
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    let seconds: u64 = if quick { 2 } else { 5 };
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let mut rows = Vec::new();
    for connections in [50usize, 1000] {
        for system in ["kamaelia", "raw-tokio"] {
            let mut server = spawn_self(&[
                "--serve".into(),
                if system == "kamaelia" {
                    "kamaelia".into()
                } else {
                    "raw".into()
                },
            ]);
            let addr = first_line(&mut server);
            let cpu_before = cpu_ticks(server.id());
            let mut generator = spawn_self(&[
                "--load".into(),
                addr.clone(),
                connections.to_string(),
                seconds.to_string(),
            ]);
            let result = first_line(&mut generator);
            let _ = generator.wait();
            let cpu = (cpu_ticks(server.id()) - cpu_before) as f64 / ticks_per_second;
            let _ = server.kill();
            let _ = server.wait();
            let parts: Vec<f64> = result
                .split_whitespace()
                .map(|p| p.parse().unwrap_or(0.0))
                .collect();
            let (count, p50, p99) = (parts[0], parts[1], parts[2]);
            let bench = format!("echo-{connections}");
            rows.push(Row {
                bench: bench.clone(),
                system,
                value: count / seconds as f64,
                unit: "round-trips/s",
            });
            rows.push(Row {
                bench: bench.clone(),
                system,
                value: p50,
                unit: "p50-us",
            });
            rows.push(Row {
                bench: bench.clone(),
                system,
                value: p99,
                unit: "p99-us",
            });
            rows.push(Row {
                bench,
                system,
                value: cpu * 1e9 / count.max(1.0),
                unit: "server-cpu-ns/round-trip",
            });
        }
    }
    let idle_connections = if quick { 2000 } else { 10_000 };
    for system in ["kamaelia", "raw-tokio"] {
        let mut server = spawn_self(&[
            "--serve".into(),
            if system == "kamaelia" {
                "kamaelia".into()
            } else {
                "raw".into()
            },
        ]);
        let addr = first_line(&mut server);
        std::thread::sleep(Duration::from_millis(200));
        let before = rss(server.id());
        let mut holder = spawn_self(&["--idle".into(), addr, idle_connections.to_string()]);
        let held: f64 = first_line(&mut holder).parse().unwrap_or(0.0);
        std::thread::sleep(Duration::from_millis(500));
        let after = rss(server.id());
        let _ = holder.stdin.take().map(|mut s| s.write_all(b"\n"));
        let _ = holder.kill();
        let _ = holder.wait();
        let _ = server.kill();
        let _ = server.wait();
        rows.push(Row {
            bench: format!("idle-{idle_connections}"),
            system,
            value: after.saturating_sub(before) as f64 / held.max(1.0),
            unit: "server-bytes/connection",
        });
    }
    for row in rows.iter().filter(|r| r.system == "kamaelia") {
        let baseline = rows
            .iter()
            .find(|b| b.system == "raw-tokio" && b.bench == row.bench && b.unit == row.unit)
            .map_or(f64::NAN, |b| b.value);
        let ratio = row.value / baseline;
        if json {
            println!(
                "{{\"bench\":\"{}\",\"system\":\"kamaelia-net\",\"value\":{:.3},\"unit\":\"{}\",\"baseline\":\"raw-tokio\",\"baseline_value\":{baseline:.3},\"ratio\":{ratio:.4}}}",
                row.bench, row.value, row.unit
            );
        } else {
            println!(
                "{:<12} {:<26} kamaelia-net {:>12.1}   raw-tokio {:>12.1}   ratio {:>6.3}",
                row.bench, row.unit, row.value, baseline, ratio
            );
        }
    }
}
