//! `cargo xtask bench multicore`: what using two cores costs and gives, against baselines run
//! side by side in the same run (this machine is shared and noisy: medians of alternating
//! repeats).
//!
//! - `cross-core-hop` (msgs/s): a two-stage pipeline split over two cores, N u64 values;
//!   baselines a tokio multi-thread runtime (2 workers) with an mpsc channel of 64
//!   (`tokio-mt-mpsc64`), and `crossbeam-channel` / `flume` (bounded 64) between two threads.
//! - `cross-core-latency` (ns, one way): one value at a time, bounced between the two cores.
//! - `echo-1000-2cores` (round-trips/s and server CPU per round trip): 1000 connections doing
//!   64-byte round trips against our echo server on two cores (each way of spreading
//!   connections) and a tokio multi-thread echo server with 2 workers, each in its own process,
//!   with the load generator in a third (it shares the two CPUs: a bound on every figure here).
//!
//! Usage: `multicore [--json] [--quick] [--only hop|latency|echo] [--messages N]
//! [--connections N] [--seconds S]`; internal modes: `--serve KIND CORES`, `--load ADDR N S`.

#[path = "../../kamaelia-net/benches/support/raw_echo.rs"]
mod raw_echo;
#[path = "../../kamaelia-net/benches/support/process.rs"]
#[allow(dead_code)] // shared with benches that use all of it
mod support;

use axon_core::components::map;
use axon_core::{
    Boxes, Component, ComponentError, Control, Cores, CrossInbox, Inbox, Outbox, link_cross,
    link_cross_control,
};
use bytes::Bytes;
use kamaelia_net::{ServerConfig, Spread, serve_on_cores};
use std::io::Write;
use std::time::{Duration, Instant};
use support::{cpu_ticks, first_line, spawn_self};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Row {
    bench: &'static str,
    system: String,
    value: f64,
    unit: &'static str,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

fn spread(xs: &[f64]) -> String {
    let lo = xs.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    format!("{lo:.0}-{hi:.0}")
}

// ------------------------------------------------------------------ cross-core hop and latency

#[derive(Boxes)]
struct Source {
    control: Inbox<Control>,
    outbox: Outbox<u64>,
    signal: Outbox<Control>,
    n: u64,
}

impl Component for Source {
    async fn main(self) -> Result<(), ComponentError> {
        for i in 0..self.n {
            self.outbox.send(i).await?;
        }
        self.signal.send(Control::ProducerFinished).await?;
        Ok(())
    }
}

#[derive(Boxes)]
struct Count {
    inbox: Inbox<u64>,
    control: Inbox<Control>,
    /// Where the sum goes once the producer finishes (a blocking receive: no thread spins
    /// waiting for it on this 2-CPU machine).
    total: std::sync::mpsc::Sender<u64>,
}

impl Component for Count {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut sum = 0u64;
        while let Some(v) = self.inbox_or_finished().await {
            sum = sum.wrapping_add(v);
        }
        let _ = self.total.send(sum);
        Ok(())
    }
}

fn hop_axon(cores: &Cores, n: u64) -> Duration {
    let (t, total) = std::sync::mpsc::channel();
    let address = cores
        .on_blocking(1, move |scheduler| {
            let count = Count {
                inbox: Inbox::new(),
                control: Inbox::new(),
                total: t,
            };
            let address = CrossInbox::of(&count.inbox, &count.control).unwrap();
            scheduler.activate(count);
            address
        })
        .unwrap();
    // A second address, to read the link's counters once the data is through (it keeps the
    // link open until dropped).
    let probe = address.clone();
    let started = Instant::now();
    cores
        .spawn_on(0, move || {
            let source = Source {
                control: Inbox::new(),
                outbox: Outbox::new(),
                signal: Outbox::new(),
                n,
            };
            link_cross(&source.outbox, &address).unwrap();
            link_cross_control(&source.signal, &address).unwrap();
            source
        })
        .unwrap();
    let sum = total.recv().unwrap();
    let took = started.elapsed();
    let counters = probe.counters();
    eprintln!(
        "  axon hop: {} reader wakes, {} sender wakes for {} messages",
        counters.reader_wakes, counters.sender_wakes, counters.messages
    );
    drop(probe);
    cores.wait_blocking();
    assert_eq!(sum, n * (n - 1) / 2);
    took
}

fn tokio_mt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn hop_tokio(rt: &tokio::runtime::Runtime, n: u64) -> Duration {
    rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(64);
        let started = Instant::now();
        let consumer = tokio::spawn(async move {
            let mut sum = 0u64;
            while let Some(v) = rx.recv().await {
                sum = sum.wrapping_add(v);
            }
            sum
        });
        tokio::spawn(async move {
            for i in 0..n {
                tx.send(i).await.unwrap();
            }
        });
        let sum = consumer.await.unwrap();
        let took = started.elapsed();
        assert_eq!(sum, n * (n - 1) / 2);
        took
    })
}

/// The same two-thread hop and ping-pong for each channel crate (their APIs match here).
macro_rules! thread_channel {
    ($hop:ident, $latency:ident, $bounded:path) => {
        fn $hop(n: u64) -> Duration {
            let (tx, rx) = $bounded(64);
            let started = Instant::now();
            let consumer = std::thread::spawn(move || rx.iter().fold(0u64, u64::wrapping_add));
            for i in 0..n {
                tx.send(i).unwrap();
            }
            drop(tx);
            assert_eq!(consumer.join().unwrap(), n * (n - 1) / 2);
            started.elapsed()
        }

        fn $latency(n: u64) -> Duration {
            let (to_pong, pong_in) = $bounded(64);
            let (to_ping, ping_in) = $bounded(64);
            let pong = std::thread::spawn(move || {
                for v in pong_in.iter() {
                    if to_ping.send(v).is_err() {
                        return;
                    }
                }
            });
            let started = Instant::now();
            for i in 0..n {
                to_pong.send(i).unwrap();
                assert_eq!(ping_in.recv().unwrap(), i);
            }
            let took = started.elapsed();
            drop(to_pong);
            pong.join().unwrap();
            took
        }
    };
}

thread_channel!(hop_crossbeam, latency_crossbeam, crossbeam_channel::bounded);
thread_channel!(hop_flume, latency_flume, flume::bounded);

/// Sends a value, waits for it to come back, `n` times (the bouncing half on the other core).
#[derive(Boxes)]
struct Ping {
    inbox: Inbox<u64>,
    control: Inbox<Control>,
    outbox: Outbox<u64>,
    signal: Outbox<Control>,
    n: u64,
}

impl Component for Ping {
    async fn main(mut self) -> Result<(), ComponentError> {
        for i in 0..self.n {
            self.outbox.send(i).await?;
            let back = self.inbox.recv().await;
            assert_eq!(back, i);
        }
        self.signal.send(Control::ProducerFinished).await?;
        Ok(())
    }
}

#[derive(Boxes)]
struct Pong {
    inbox: Inbox<u64>,
    control: Inbox<Control>,
    outbox: Outbox<u64>,
}

impl Component for Pong {
    async fn main(mut self) -> Result<(), ComponentError> {
        while let Some(v) = self.inbox_or_finished().await {
            self.outbox.send(v).await?;
        }
        Ok(())
    }
}

thread_local! {
    /// Ping's boxes, kept on core 0 until Pong's address exists to link them to.
    static PING_OUT: std::cell::RefCell<Option<(axon_core::OutboxRef<u64>, axon_core::OutboxRef<Control>)>> =
        const { std::cell::RefCell::new(None) };
}

fn latency_axon(cores: &Cores, n: u64) -> Duration {
    // Ping first (its first value waits, held, in its unlinked outbox), then Pong linked back
    // to Ping, then Ping linked to Pong: the clock starts as the held value is released.
    let to_ping = cores
        .on_blocking(0, move |scheduler| {
            let ping = Ping {
                inbox: Inbox::new(),
                control: Inbox::new(),
                outbox: Outbox::new(),
                signal: Outbox::new(),
                n,
            };
            let address = CrossInbox::data(&ping.inbox).unwrap();
            PING_OUT.with(|p| *p.borrow_mut() = Some((ping.outbox.to_ref(), ping.signal.to_ref())));
            scheduler.activate(ping);
            address
        })
        .unwrap();
    let to_pong = cores
        .on_blocking(1, move |scheduler| {
            let pong = Pong {
                inbox: Inbox::new(),
                control: Inbox::new(),
                outbox: Outbox::new(),
            };
            link_cross(&pong.outbox, &to_ping).unwrap();
            let address = CrossInbox::of(&pong.inbox, &pong.control).unwrap();
            scheduler.activate(pong);
            address
        })
        .unwrap();
    let started = Instant::now();
    cores
        .on_blocking(0, move |_| {
            let (outbox, signal) = PING_OUT.with(|p| p.borrow_mut().take()).unwrap();
            link_cross(&outbox, &to_pong).unwrap();
            link_cross_control(&signal, &to_pong).unwrap();
        })
        .unwrap();
    cores.wait_blocking();
    started.elapsed()
}

/// The same ping-pong with both ends on one scheduler, linked locally: what tokio's
/// multi-thread runtime does when it runs both tasks on one worker (its LIFO slot).
fn latency_same_core(n: u64) -> Duration {
    let ping = Ping {
        inbox: Inbox::new(),
        control: Inbox::new(),
        outbox: Outbox::new(),
        signal: Outbox::new(),
        n,
    };
    let pong = Pong {
        inbox: Inbox::new(),
        control: Inbox::new(),
        outbox: Outbox::new(),
    };
    axon_core::link(&ping.outbox, &pong.inbox).unwrap();
    axon_core::link(&ping.signal, &pong.control).unwrap();
    axon_core::link(&pong.outbox, &ping.inbox).unwrap();
    let started = Instant::now();
    axon_core::run_with(|scheduler| {
        scheduler.activate(ping);
        scheduler.activate(pong);
    })
    .unwrap();
    started.elapsed()
}

fn latency_tokio(rt: &tokio::runtime::Runtime, n: u64) -> Duration {
    rt.block_on(async {
        let (to_pong, mut pong_in) = tokio::sync::mpsc::channel::<u64>(64);
        let (to_ping, mut ping_in) = tokio::sync::mpsc::channel::<u64>(64);
        tokio::spawn(async move {
            while let Some(v) = pong_in.recv().await {
                if to_ping.send(v).await.is_err() {
                    return;
                }
            }
        });
        let started = Instant::now();
        tokio::spawn(async move {
            for i in 0..n {
                to_pong.send(i).await.unwrap();
                assert_eq!(ping_in.recv().await, Some(i));
            }
        })
        .await
        .unwrap();
        started.elapsed()
    })
}

fn bench_hop(rows: &mut Vec<Row>, repeats: usize, n: u64) {
    let cores = Cores::with_count(2).unwrap();
    let rt = tokio_mt();
    let mut results: Vec<(&str, Vec<f64>)> = [
        "axon-2-cores",
        "tokio-mt-mpsc64",
        "crossbeam-channel",
        "flume",
    ]
    .into_iter()
    .map(|s| (s, Vec::new()))
    .collect();
    for _ in 0..repeats {
        let took = [
            hop_axon(&cores, n),
            hop_tokio(&rt, n),
            hop_crossbeam(n),
            hop_flume(n),
        ];
        for (slot, took) in results.iter_mut().zip(took) {
            slot.1.push(n as f64 / took.as_secs_f64());
        }
    }
    for (system, values) in results {
        eprintln!(
            "cross-core-hop {system}: msgs/s over {repeats} runs {}",
            spread(&values)
        );
        rows.push(Row {
            bench: "cross-core-hop",
            system: system.to_string(),
            value: median(values),
            unit: "msgs/s",
        });
    }
}

fn bench_latency(rows: &mut Vec<Row>, repeats: usize, n: u64) {
    let cores = Cores::with_count(2).unwrap();
    let rt = tokio_mt();
    let mut results: Vec<(&str, Vec<f64>)> = [
        "axon-2-cores",
        "axon-same-core",
        "tokio-mt-mpsc64",
        "crossbeam-channel",
        "flume",
    ]
    .into_iter()
    .map(|s| (s, Vec::new()))
    .collect();
    for _ in 0..repeats {
        let took = [
            latency_axon(&cores, n),
            latency_same_core(n),
            latency_tokio(&rt, n),
            latency_crossbeam(n),
            latency_flume(n),
        ];
        for (slot, took) in results.iter_mut().zip(took) {
            // A round trip is two one-way hops.
            slot.1.push(took.as_nanos() as f64 / (2 * n) as f64);
        }
    }
    for (system, values) in results {
        eprintln!(
            "cross-core-latency {system}: ns over {repeats} runs {}",
            spread(&values)
        );
        rows.push(Row {
            bench: "cross-core-latency",
            system: system.to_string(),
            value: median(values),
            unit: "ns",
        });
    }
}

// ------------------------------------------------------------------ echo on two cores

const MESSAGE: usize = 64;

fn serve(kind: &str, cores: usize) {
    match kind {
        "tokio-mt" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(cores)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(raw_echo::serve_raw_echo());
        }
        spread => {
            let spread: Spread = spread.parse().unwrap();
            let all = Cores::with_count(cores).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
                let addr = serve_on_cores(&all, config, spread, |_| map(|b: Bytes| b))
                    .await
                    .unwrap();
                println!("{addr}");
                std::io::stdout().flush().unwrap();
                all.wait().await;
            });
        }
    }
}

fn load(addr: &str, connections: usize, seconds: u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let count = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let addr = addr.to_string();
            tasks.push(tokio::spawn(async move {
                let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
                    return 0u64;
                };
                stream.set_nodelay(true).unwrap();
                let request = [7u8; MESSAGE];
                let mut reply = [0u8; MESSAGE];
                let mut done = 0u64;
                while Instant::now() < deadline {
                    if stream.write_all(&request).await.is_err()
                        || stream.read_exact(&mut reply).await.is_err()
                    {
                        break;
                    }
                    done += 1;
                }
                done
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap_or(0);
        }
        total
    });
    println!("{count}");
}

fn bench_echo(rows: &mut Vec<Row>, repeats: usize, connections: usize, seconds: u64) {
    let systems = [
        ("axon-2-cores-reuseport", "reuseport"),
        ("axon-2-cores-acceptor", "acceptor"),
        ("tokio-mt-2", "tokio-mt"),
    ];
    let mut throughput: Vec<Vec<f64>> = vec![Vec::new(); systems.len()];
    let mut cpu_per: Vec<Vec<f64>> = vec![Vec::new(); systems.len()];
    for _ in 0..repeats {
        for (i, (_, kind)) in systems.iter().enumerate() {
            let mut server = spawn_self(&["--serve".into(), kind.to_string(), "2".into()]);
            let addr = first_line(&mut server);
            let before = cpu_ticks(server.id());
            let mut generator = spawn_self(&[
                "--load".into(),
                addr,
                connections.to_string(),
                seconds.to_string(),
            ]);
            let count: f64 = first_line(&mut generator).parse().unwrap_or(0.0);
            let _ = generator.wait();
            let cpu = (cpu_ticks(server.id()) - before) as f64 / 100.0; // USER_HZ
            let _ = server.kill();
            let _ = server.wait();
            throughput[i].push(count / seconds as f64);
            cpu_per[i].push(cpu * 1e9 / count.max(1.0));
        }
    }
    for (i, (system, _)) in systems.iter().enumerate() {
        eprintln!(
            "echo-{connections}-2cores {system}: round-trips/s {} server-cpu-ns/round-trip {}",
            spread(&throughput[i]),
            spread(&cpu_per[i])
        );
        rows.push(Row {
            bench: "echo-1000-2cores",
            system: system.to_string(),
            value: median(throughput[i].clone()),
            unit: "round-trips/s",
        });
        rows.push(Row {
            bench: "echo-1000-2cores",
            system: system.to_string(),
            value: median(cpu_per[i].clone()),
            unit: "server-cpu-ns/round-trip",
        });
    }
}

// ------------------------------------------------------------------ report

fn baseline(bench: &str) -> &'static str {
    match bench {
        "echo-1000-2cores" => "tokio-mt-2",
        _ => "tokio-mt-mpsc64",
    }
}

fn report(rows: &[Row], json: bool) {
    if !json {
        println!(
            "{:<20} {:<24} {:>14} {:<26} {:<18} {:>14} {:>8}",
            "bench", "system", "value", "unit", "baseline", "baseline", "ratio"
        );
    }
    for row in rows {
        let Some(base) = rows.iter().find(|b| {
            b.bench == row.bench && b.unit == row.unit && b.system == baseline(row.bench)
        }) else {
            continue;
        };
        if base.system == row.system {
            continue;
        }
        let ratio = row.value / base.value;
        if json {
            println!(
                "{{\"bench\":\"{}\",\"system\":\"{}\",\"value\":{:.3},\"unit\":\"{}\",\"baseline\":\"{}\",\"baseline_value\":{:.3},\"ratio\":{:.4}}}",
                row.bench, row.system, row.value, row.unit, base.system, base.value, ratio
            );
        } else {
            println!(
                "{:<20} {:<24} {:>14.1} {:<26} {:<18} {:>14.1} {:>8.3}",
                row.bench, row.system, row.value, row.unit, base.system, base.value, ratio
            );
        }
    }
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        return serve(&args[i + 1], args[i + 2].parse().unwrap());
    }
    if let Some(i) = args.iter().position(|a| a == "--load") {
        return load(
            &args[i + 1],
            args[i + 2].parse().unwrap(),
            args[i + 3].parse().unwrap(),
        );
    }
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    let repeats = if quick { 1 } else { 5 };
    let only: Option<String> = arg(&args, "--only");
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let mut rows = Vec::new();
    if wanted("hop") {
        let n = arg(&args, "--messages").unwrap_or(if quick { 1_000_000 } else { 10_000_000 });
        bench_hop(&mut rows, repeats, n);
    }
    if wanted("latency") {
        bench_latency(&mut rows, repeats, if quick { 5_000 } else { 20_000 });
    }
    if wanted("echo") {
        let connections = arg(&args, "--connections").unwrap_or(1000);
        let seconds = arg(&args, "--seconds").unwrap_or(if quick { 2 } else { 5 });
        bench_echo(&mut rows, if quick { 1 } else { 3 }, connections, seconds);
    }
    report(&rows, json);
}
