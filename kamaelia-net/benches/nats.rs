//! `cargo xtask bench nats`: our links and services against raw async-nats, in the same run, on
//! the same nats-server (started here on a free loopback port). Producer and consumer each
//! have their own NATS connection and share one current-thread runtime, for ours and for raw.
//!
//! Rows (`--json`: the keys of `bench core`):
//! - `throughput-64B` / `throughput-64KiB`: a credit link against raw publish/subscribe
//!   (msgs/s; raw has no flow control, so what it lost is reported beside it);
//! - `credit-link-1M`: one million 64-byte values through a credit link: msgs/s, and `lost`;
//! - `slow-consumer-1M`: a million values to a consumer ~100x slower than its producer: msgs/s,
//!   `lost`, and how far the producer ever ran ahead (values: what the link holds, bounded);
//! - `request-reply-p50` / `-p99`: `Cluster::call` to a `ClusterService` against
//!   `Client::request` to a raw responder (µs);
//! - `jetstream-link`: a lossless link's msgs/s, then `jetstream-restart-lost` and
//!   `-duplicated` across a kill -9 and restart of the broker mid-stream.
//!
//! - `remote-ping-pong` (sequential: rt/s, p50, p99) and `-pipelined` (rt/s): numbers to an
//!   echo process and back over two credit links, against ractor_cluster's remote actors
//!   (`bench-peers/ractor`, a separate workspace, run when built: the baseline there).
//!
//! Options: `--json`, `--quick` (smaller counts), `--only PREFIX` (only the rows whose name
//! starts so).

#[path = "../tests/support/nats_server.rs"]
mod nats_server;

use axon_core::components::DataSource;
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Scheduler, link};
use bytes::Bytes;
use futures::StreamExt;
use kamaelia_net::nats::{Cluster, ClusterService, RemoteInbox, RemoteOutbox, ServiceCall};
use nats_server::NatsServer;
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

struct Row {
    bench: &'static str,
    system: &'static str,
    value: f64,
    unit: &'static str,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Counts what arrives and checks it is in order (values carry their number in 8 bytes); with
/// `pause_every`, sleeps a millisecond every so many values: a consumer far slower than its
/// producer.
#[derive(Boxes)]
struct Count {
    inbox: Inbox<Bytes>,
    control: Inbox<Control>,
    tally: Tally,
    pause_every: Option<u64>,
}

/// What a [`Count`] saw.
#[derive(Clone, Default)]
struct Tally {
    got: Rc<Cell<u64>>,
    out_of_order: Rc<Cell<u64>>,
}

impl Count {
    /// A counter whose `outbox`-side is linked from `receiver` (values and its end).
    fn after(receiver: &RemoteInbox<Bytes>, pause_every: Option<u64>) -> (Count, Tally) {
        let tally = Tally::default();
        let count = Count {
            inbox: Inbox::new(),
            control: Inbox::new(),
            tally: tally.clone(),
            pause_every,
        };
        link(&receiver.outbox, &count.inbox).unwrap();
        link(&receiver.signal, &count.control).unwrap();
        (count, tally)
    }
}

impl Component for Count {
    async fn main(mut self) -> Result<(), ComponentError> {
        let Tally { got, out_of_order } = &self.tally;
        while let Some(value) = self.inbox.recv_or_finished(&mut self.control).await {
            let n = u64::from_le_bytes(value[..8].try_into().unwrap());
            if n != got.get() {
                out_of_order.set(out_of_order.get() + 1);
            }
            got.set(got.get() + 1);
            if self.pause_every.is_some_and(|every| n % every == 0) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        Ok(())
    }
}

/// CPU time this thread has used, in ns (the runtime, the NATS client and our scheduler all
/// run on it).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn payload(n: u64, size: usize) -> Bytes {
    let mut v = vec![0u8; size];
    v[..8].copy_from_slice(&n.to_le_bytes());
    Bytes::from(v)
}

/// Values through a credit link (or a lossless one); (msgs/s, lost).
fn ours_link(url: &str, link_name: &str, n: u64, size: usize, lossless: bool) -> (f64, u64) {
    runtime().block_on(async {
        let (a, b) = (
            Cluster::connect(url).await.unwrap(),
            Cluster::connect(url).await.unwrap(),
        );
        let values: Vec<Bytes> = (0..n).map(|i| payload(i, size)).collect();
        let source = DataSource::new(values);
        let mut sender = RemoteOutbox::<Bytes>::new(&a, link_name).unwrap();
        let mut receiver = RemoteInbox::<Bytes>::new(&b, link_name).unwrap();
        if lossless {
            sender = sender.lossless();
            receiver = receiver.lossless();
        }
        let sent = sender.stats();
        let (count, tally) = Count::after(&receiver, None);
        link(&source.outbox, &sender.inbox).unwrap();
        link(&source.signal, &sender.control).unwrap();
        let scheduler = Scheduler::new();
        scheduler.activate(receiver);
        scheduler.activate(count);
        // The receiver subscribes before the clock starts.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let cpu = thread_cpu_ns();
        scheduler.activate(sender);
        scheduler.activate(source);
        let _ = tokio::time::timeout(Duration::from_secs(120), scheduler.run()).await;
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "{link_name}: {:.0} ns of CPU per value (this process), sender stalled {} times",
            (thread_cpu_ns() - cpu) as f64 / n as f64,
            sent.stalls()
        );
        assert_eq!(tally.out_of_order.get(), 0, "values out of order");
        (tally.got.get() as f64 / seconds, n - tally.got.get())
    })
}

/// A million values to a consumer about 100x slower than the producer; (lost, the most values
/// the producer ever ran ahead of the consumer: what the link holds, so its memory bound).
fn slow_consumer(url: &str, n: u64) -> (u64, u64) {
    runtime().block_on(async {
        let (a, b) = (
            Cluster::connect(url).await.unwrap(),
            Cluster::connect(url).await.unwrap(),
        );
        // Values are made as they are sent (no million-value Vec up front).
        let source = DataSource::new((0..n).map(|i| payload(i, 64)));
        let sender = RemoteOutbox::<Bytes>::new(&a, "bench.slow").unwrap();
        let receiver = RemoteInbox::<Bytes>::new(&b, "bench.slow").unwrap();
        let sent = sender.stats();
        let (slow, tally) = Count::after(&receiver, Some(100));
        let (taken, out_of_order) = (tally.got, tally.out_of_order);
        link(&source.outbox, &sender.inbox).unwrap();
        link(&source.signal, &sender.control).unwrap();
        let scheduler = Scheduler::new();
        scheduler.activate(receiver);
        scheduler.activate(slow);
        scheduler.activate(sender);
        scheduler.activate(source);
        let mut ahead = 0u64;
        let watch = async {
            while taken.get() < n {
                ahead = ahead.max(sent.sent().saturating_sub(taken.get()));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(300), async {
            tokio::join!(scheduler.run(), watch)
        })
        .await;
        assert_eq!(out_of_order.get(), 0, "values out of order");
        (n - taken.get(), ahead)
    })
}

/// Raw publish/subscribe of the same payloads; (msgs/s, lost).
fn raw_pubsub(url: &str, subject: &str, n: u64, size: usize) -> (f64, u64) {
    runtime().block_on(async {
        let publisher = async_nats::connect(url).await.unwrap();
        let subscriber = async_nats::connect(url).await.unwrap();
        let mut sub = subscriber.subscribe(subject.to_string()).await.unwrap();
        subscriber.flush().await.unwrap();
        let values: Vec<Bytes> = (0..n).map(|i| payload(i, size)).collect();
        let started = Instant::now();
        let cpu = thread_cpu_ns();
        let subject = subject.to_string();
        let label = subject.clone();
        let publish = async move {
            for v in values {
                publisher.publish(subject.clone(), v).await.unwrap();
            }
            publisher.flush().await.unwrap();
        };
        let consume = async {
            let mut got = 0u64;
            // A value raw NATS dropped never comes: stop after a quiet second.
            while got < n {
                match tokio::time::timeout(Duration::from_secs(1), sub.next()).await {
                    Ok(Some(_)) => got += 1,
                    _ => break,
                }
            }
            (got, Instant::now())
        };
        let (_, (got, last)) = tokio::join!(publish, consume);
        eprintln!(
            "{label}: {:.0} ns of CPU per value (this process)",
            (thread_cpu_ns() - cpu) as f64 / n as f64
        );
        let seconds = last.duration_since(started).as_secs_f64();
        (got as f64 / seconds, n - got)
    })
}

/// Answers each call with its request.
#[derive(Boxes)]
struct Echo {
    inbox: Inbox<ServiceCall<u64, u64>>,
    control: Inbox<Control>,
}

impl Component for Echo {
    async fn main(mut self) -> Result<(), ComponentError> {
        while let Some(call) = self.inbox.recv_or_finished(&mut self.control).await {
            let answer = call.request;
            call.reply(&answer).await?;
        }
        Ok(())
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Sequential calls; (p50, p99) in µs.
fn ours_calls(url: &str, calls: u64) -> (f64, f64) {
    runtime().block_on(async {
        let server_side = Cluster::connect(url).await.unwrap();
        let caller = Cluster::connect(url).await.unwrap();
        let service = ClusterService::<u64, u64>::new(&server_side, "echo").unwrap();
        let echo = Echo {
            inbox: Inbox::new(),
            control: Inbox::new(),
        };
        link(&service.outbox, &echo.inbox).unwrap();
        let scheduler = Scheduler::new();
        scheduler.activate(service);
        scheduler.activate(echo);
        let calls = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut us = Vec::new();
            for i in 0..calls {
                let t = Instant::now();
                match caller.call::<u64, u64>("echo", &i).await {
                    Ok(back) => {
                        us.push(t.elapsed().as_secs_f64() * 1e6);
                        assert_eq!(back, i);
                    }
                    Err(e) => eprintln!("request-reply (ours): call {i} failed: {e}"),
                }
            }
            us
        };
        let mut us = tokio::select! {
            () = scheduler.run() => unreachable!("the service runs until stopped"),
            us = calls => us,
        };
        us.sort_by(|a, b| a.partial_cmp(b).unwrap());
        (percentile(&us, 0.5), percentile(&us, 0.99))
    })
}

fn raw_calls(url: &str, calls: u64) -> (f64, f64) {
    runtime().block_on(async {
        let server_side = async_nats::connect(url).await.unwrap();
        let caller = async_nats::connect(url).await.unwrap();
        let mut requests = server_side.subscribe("raw.echo").await.unwrap();
        server_side.flush().await.unwrap();
        let respond = async {
            while let Some(message) = requests.next().await {
                if let Some(reply) = message.reply {
                    server_side.publish(reply, message.payload).await.unwrap();
                }
            }
        };
        let calls = async {
            let mut us = Vec::new();
            for i in 0..calls {
                let t = Instant::now();
                match caller
                    .request("raw.echo", Bytes::copy_from_slice(&i.to_le_bytes()))
                    .await
                {
                    Ok(back) => {
                        us.push(t.elapsed().as_secs_f64() * 1e6);
                        assert_eq!(back.payload.len(), 8);
                    }
                    Err(e) => eprintln!("request-reply (raw): call {i} failed: {e}"),
                }
            }
            us
        };
        let mut us = tokio::select! {
            () = respond => unreachable!("the responder runs until stopped"),
            us = calls => us,
        };
        us.sort_by(|a, b| a.partial_cmp(b).unwrap());
        (percentile(&us, 0.5), percentile(&us, 0.99))
    })
}

/// A lossless link across a kill -9 and restart of the broker; (lost, duplicated) at the inbox.
fn jetstream_restart(mut server: NatsServer, n: u64) -> (u64, u64) {
    let url = server.url();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let killer = std::thread::spawn(move || {
        rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        server.kill();
        std::thread::sleep(Duration::from_millis(500));
        server.restart();
        server
    });
    let result = runtime().block_on(async {
        let (a, b) = (
            Cluster::connect(&url).await.unwrap(),
            Cluster::connect(&url).await.unwrap(),
        );
        let sender = RemoteOutbox::<Bytes>::new(&a, "bench.restart")
            .unwrap()
            .lossless();
        let receiver = RemoteInbox::<Bytes>::new(&b, "bench.restart")
            .unwrap()
            .lossless();
        let (count, tally) = Count::after(&receiver, None);
        let (got, out_of_order) = (tally.got, tally.out_of_order);
        let (feed, finish) = (sender.inbox.to_ref(), sender.control.to_ref());
        let (sent_stats, received_stats) = (sender.stats(), receiver.stats());
        let debug = std::env::var_os("DEBUG_NATS").is_some();
        let progress = async move {
            if !debug {
                std::future::pending::<()>().await;
            }
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                eprintln!(
                    "sent {} (republished {}), delivered {}, duplicates {}",
                    sent_stats.sent(),
                    sent_stats.stalls(),
                    received_stats.delivered(),
                    received_stats.duplicates()
                );
            }
        };
        let scheduler = Scheduler::new();
        scheduler.activate(receiver);
        scheduler.activate(count);
        scheduler.activate(sender);
        tx.send(()).unwrap();
        let started = Instant::now();
        let produce = async move {
            // Paced over about two seconds, so the restart falls mid-stream.
            for i in 0..n {
                feed.send(payload(i, 64)).await.unwrap();
                if i % (n / 200).max(1) == 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            finish.send(Control::ProducerFinished).await.unwrap();
        };
        let _ = tokio::time::timeout(Duration::from_secs(120), async {
            tokio::select! {
                _ = async { tokio::join!(scheduler.run(), produce) } => {}
                () = progress => {}
            }
        })
        .await;
        eprintln!(
            "jetstream restart: {} of {n} in {:.1} s",
            got.get(),
            started.elapsed().as_secs_f64()
        );
        // Count checks order: a duplicate or a gap shows up as out of order.
        (n.saturating_sub(got.get()), out_of_order.get())
    });
    drop(killer.join().unwrap());
    result
}

/// The far end of the ping-pong, in its own process: numbers in on `ping`, out on `pong`.
fn echo_process(url: &str, ping: &str, pong: &str) {
    runtime().block_on(async {
        let cluster = Cluster::connect(url).await.unwrap();
        let inbound = RemoteInbox::<u64>::new(&cluster, ping).unwrap();
        let outbound = RemoteOutbox::<u64>::new(&cluster, pong).unwrap();
        link(&inbound.outbox, &outbound.inbox).unwrap();
        link(&inbound.signal, &outbound.control).unwrap();
        let scheduler = Scheduler::new();
        scheduler.activate(inbound);
        scheduler.activate(outbound);
        scheduler.run().await;
        let _ = cluster.client().flush().await;
    });
}

/// Sends numbers and takes them back: one at a time (`in_flight` 1) or as many as the links'
/// credit allows. Records each round trip when sequential.
#[derive(Boxes)]
struct Pinger {
    inbox: Inbox<u64>,
    control: Inbox<Control>,
    outbox: axon_core::Outbox<u64>,
    signal: axon_core::Outbox<Control>,
    calls: u64,
    sequential: bool,
    result: Rc<std::cell::RefCell<(f64, Vec<f64>)>>,
}

impl Component for Pinger {
    async fn main(mut self) -> Result<(), ComponentError> {
        // Warm-up: the far end is found and credit granted.
        for i in 0..100 {
            self.outbox.send(i).await?;
            assert_eq!(self.inbox.recv().await, i);
        }
        let started = Instant::now();
        let mut us = Vec::new();
        if self.sequential {
            for i in 0..self.calls {
                let t = Instant::now();
                self.outbox.send(i).await?;
                assert_eq!(self.inbox.recv().await, i);
                us.push(t.elapsed().as_secs_f64() * 1e6);
            }
        } else {
            let (mut sent, mut back) = (0, 0);
            while back < self.calls {
                tokio::select! {
                    biased;
                    v = self.inbox.recv() => {
                        assert_eq!(v, back, "out of order or lost");
                        back += 1;
                    }
                    r = self.outbox.send(sent), if sent < self.calls => {
                        r?;
                        sent += 1;
                    }
                }
            }
        }
        *self.result.borrow_mut() = (self.calls as f64 / started.elapsed().as_secs_f64(), us);
        self.signal.send(Control::ProducerFinished).await?;
        Ok(())
    }
}

/// Ping-pong with an echo process over two credit links; (round trips/s, p50 µs, p99 µs).
fn ours_ping_pong(url: &str, run: &str, calls: u64, sequential: bool) -> (f64, f64, f64) {
    let (ping, pong) = (format!("bench.ping.{run}"), format!("bench.pong.{run}"));
    let mut echo = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--echo", url, &ping, &pong])
        .spawn()
        .unwrap();
    let result = runtime().block_on(async {
        let cluster = Cluster::connect(url).await.unwrap();
        let out = RemoteOutbox::<u64>::new(&cluster, &ping).unwrap();
        let back = RemoteInbox::<u64>::new(&cluster, &pong).unwrap();
        let result = Rc::new(std::cell::RefCell::new((0.0, Vec::new())));
        let pinger = Pinger {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: axon_core::Outbox::new(),
            signal: axon_core::Outbox::new(),
            calls,
            sequential,
            result: result.clone(),
        };
        link(&pinger.outbox, &out.inbox).unwrap();
        link(&pinger.signal, &out.control).unwrap();
        link(&back.outbox, &pinger.inbox).unwrap();
        let scheduler = Scheduler::new();
        scheduler.activate(back);
        scheduler.activate(out);
        scheduler.activate(pinger);
        let _ = tokio::time::timeout(Duration::from_secs(120), scheduler.run()).await;
        let (rate, mut us) = result.take();
        us.sort_by(|a, b| a.partial_cmp(b).unwrap());
        if us.is_empty() {
            (rate, f64::NAN, f64::NAN)
        } else {
            (rate, percentile(&us, 0.5), percentile(&us, 0.99))
        }
    });
    let _ = echo.wait();
    result
}

/// The comparison peer (bench-peers/ractor), if it is built; its JSON line's numbers.
fn ractor_peer(args: &[&str]) -> Option<serde_json::Value> {
    let binary = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/peers/release/ractor_pingpong");
    if !binary.is_file() {
        eprintln!(
            "bench nats: the ractor_cluster peer is not built; build it with \
             `cd bench-peers/ractor && CARGO_TARGET_DIR=../../target/peers cargo build --release`"
        );
        return None;
    }
    let out = std::process::Command::new(binary)
        .args(args)
        .output()
        .ok()?;
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim()).ok()
}

fn report(rows: &[Row], json: bool) {
    let is_baseline = |system: &str| system.starts_with("raw-") || system == "ractor-cluster";
    let baseline = |bench: &str| -> Option<&Row> {
        rows.iter()
            .find(|r| r.bench == bench && is_baseline(r.system))
    };
    if !json {
        println!(
            "{:<22} {:<16} {:>12} {:<7} {:<16} {:>12} {:>8}",
            "bench", "system", "value", "unit", "baseline", "baseline", "ratio"
        );
    }
    for row in rows.iter().filter(|r| !is_baseline(r.system)) {
        let (b_system, b_value, ratio) = match baseline(row.bench) {
            Some(b) => (b.system, b.value, row.value / b.value),
            None => ("-", f64::NAN, f64::NAN),
        };
        if json {
            let num = |x: f64| {
                if x.is_finite() {
                    format!("{x:.4}")
                } else {
                    "null".into()
                }
            };
            println!(
                "{{\"bench\":\"{}\",\"system\":\"{}\",\"value\":{:.3},\"unit\":\"{}\",\"baseline\":\"{}\",\"baseline_value\":{},\"ratio\":{}}}",
                row.bench,
                row.system,
                row.value,
                row.unit,
                b_system,
                num(b_value),
                num(ratio)
            );
        } else {
            println!(
                "{:<22} {:<16} {:>12.1} {:<7} {:<16} {:>12.1} {:>8.3}",
                row.bench, row.system, row.value, row.unit, b_system, b_value, ratio
            );
        }
    }
}

fn row(bench: &'static str, system: &'static str, value: f64, unit: &'static str) -> Row {
    Row {
        bench,
        system,
        value,
        unit,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--echo") {
        return echo_process(&args[i + 1], &args[i + 2], &args[i + 3]);
    }
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let wants = |bench: &str| only.as_deref().is_none_or(|o| bench.starts_with(o));
    let Some(server) = NatsServer::start(true) else {
        eprintln!("bench nats: nats-server is not installed (apt-get install nats-server)");
        std::process::exit(1);
    };
    let url = server.url();
    let reps = if quick { 1 } else { 3 };
    let mut rows = Vec::new();
    // Throughput, ours and raw alternating, the median of `reps`.
    for (bench, size, n) in [
        (
            "throughput-64B",
            64usize,
            if quick { 100_000u64 } else { 300_000 },
        ),
        (
            "throughput-64KiB",
            64 * 1024,
            if quick { 1_000 } else { 5_000 },
        ),
    ] {
        if !wants(bench) {
            continue;
        }
        let (mut ours, mut raw, mut raw_lost) = (Vec::new(), Vec::new(), 0);
        for rep in 0..reps {
            ours.push(ours_link(&url, &format!("bench.t{size}.{rep}"), n, size, false).0);
            let (rate, lost) = raw_pubsub(&url, &format!("raw.t{size}.{rep}"), n, size);
            raw.push(rate);
            raw_lost += lost;
        }
        rows.push(row(bench, "kamaelia-credit", median(ours), "msgs/s"));
        rows.push(row(bench, "raw-async-nats", median(raw), "msgs/s"));
        if raw_lost > 0 {
            eprintln!("{bench}: raw async-nats lost {raw_lost} messages (no flow control)");
        }
    }
    if wants("credit-link") {
        let million = if quick { 100_000 } else { 1_000_000 };
        let (rate, lost) = ours_link(&url, "bench.million", million, 64, false);
        rows.push(row("credit-link-1M", "kamaelia-credit", rate, "msgs/s"));
        rows.push(row(
            "credit-link-1M-lost",
            "kamaelia-credit",
            lost as f64,
            "lost",
        ));
    }
    if wants("slow-consumer") {
        let n = if quick { 100_000 } else { 1_000_000 };
        let started = Instant::now();
        let (lost, ahead) = slow_consumer(&url, n);
        let rate = n as f64 / started.elapsed().as_secs_f64();
        rows.push(row("slow-consumer-1M", "kamaelia-credit", rate, "msgs/s"));
        rows.push(row(
            "slow-consumer-1M-lost",
            "kamaelia-credit",
            lost as f64,
            "lost",
        ));
        rows.push(row(
            "slow-consumer-1M-ahead",
            "kamaelia-credit",
            ahead as f64,
            "values",
        ));
    }
    if wants("request-reply") {
        let calls = if quick { 2_000 } else { 10_000 };
        let (mut o50, mut o99, mut r50, mut r99) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..reps {
            let (p50, p99) = ours_calls(&url, calls);
            o50.push(p50);
            o99.push(p99);
            let (p50, p99) = raw_calls(&url, calls);
            r50.push(p50);
            r99.push(p99);
        }
        rows.push(row(
            "request-reply-p50",
            "kamaelia-service",
            median(o50),
            "us",
        ));
        rows.push(row(
            "request-reply-p50",
            "raw-async-nats",
            median(r50),
            "us",
        ));
        rows.push(row(
            "request-reply-p99",
            "kamaelia-service",
            median(o99),
            "us",
        ));
        rows.push(row(
            "request-reply-p99",
            "raw-async-nats",
            median(r99),
            "us",
        ));
    }
    if wants("remote-ping-pong") {
        let calls = if quick { 2_000 } else { 10_000 };
        let (mut rates, mut p50s, mut p99s, mut peer, mut peer50, mut peer99) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for rep in 0..reps {
            let (rate, p50, p99) = ours_ping_pong(&url, &format!("s{rep}"), calls, true);
            rates.push(rate);
            p50s.push(p50);
            p99s.push(p99);
            if let Some(v) = ractor_peer(&["--calls", &calls.to_string()]) {
                peer.push(v["value"].as_f64().unwrap_or(f64::NAN));
                peer50.push(v["p50_us"].as_f64().unwrap_or(f64::NAN));
                peer99.push(v["p99_us"].as_f64().unwrap_or(f64::NAN));
            }
        }
        rows.push(row(
            "remote-ping-pong",
            "kamaelia-links",
            median(rates),
            "rt/s",
        ));
        rows.push(row(
            "remote-ping-pong-p50",
            "kamaelia-links",
            median(p50s),
            "us",
        ));
        rows.push(row(
            "remote-ping-pong-p99",
            "kamaelia-links",
            median(p99s),
            "us",
        ));
        if !peer.is_empty() {
            rows.push(row(
                "remote-ping-pong",
                "ractor-cluster",
                median(peer),
                "rt/s",
            ));
            rows.push(row(
                "remote-ping-pong-p50",
                "ractor-cluster",
                median(peer50),
                "us",
            ));
            rows.push(row(
                "remote-ping-pong-p99",
                "ractor-cluster",
                median(peer99),
                "us",
            ));
        }
        let pipelined = if quick { 50_000 } else { 200_000 };
        let (mut rates, mut peer) = (Vec::new(), Vec::new());
        for rep in 0..reps {
            rates.push(ours_ping_pong(&url, &format!("p{rep}"), pipelined, false).0);
            let n = pipelined.to_string();
            if let Some(v) = ractor_peer(&["--pipelined", "--calls", &n]) {
                peer.push(v["value"].as_f64().unwrap_or(f64::NAN));
            }
        }
        rows.push(row(
            "remote-ping-pong-pipelined",
            "kamaelia-links",
            median(rates),
            "rt/s",
        ));
        if !peer.is_empty() {
            rows.push(row(
                "remote-ping-pong-pipelined",
                "ractor-cluster",
                median(peer),
                "rt/s",
            ));
        }
    }
    if wants("jetstream") {
        let n = if quick { 5_000 } else { 50_000 };
        let (rate, lost) = ours_link(&url, "bench.durable", n, 64, true);
        assert_eq!(lost, 0, "the lossless link lost values without a restart");
        rows.push(row("jetstream-link", "kamaelia-lossless", rate, "msgs/s"));
        let (lost, duplicated) = jetstream_restart(server, if quick { 5_000 } else { 20_000 });
        rows.push(row(
            "jetstream-restart-lost",
            "kamaelia-lossless",
            lost as f64,
            "lost",
        ));
        rows.push(row(
            "jetstream-restart-duplicated",
            "kamaelia-lossless",
            duplicated as f64,
            "dups",
        ));
    }
    report(&rows, json);
}
