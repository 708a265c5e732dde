//! `cargo xtask bench nats`: our links and services against raw async-nats, in the same run, on
//! the same nats-server (started here on a free loopback port). Producer and consumer each
//! have their own NATS connection and share one current-thread runtime, for ours and for raw.
//!
//! Rows (`--json`: the keys of `bench core`):
//! - `throughput-64B` / `throughput-64KiB`: a credit link against raw publish/subscribe
//!   (msgs/s; raw has no flow control, so what it lost is reported beside it);
//! - `credit-link-1M`: one million 64-byte values through a credit link: msgs/s, and `lost`;
//! - `request-reply-p50` / `-p99`: `Cluster::call` to a `ClusterService` against
//!   `Client::request` to a raw responder (µs);
//! - `jetstream-link`: a lossless link's msgs/s, then `jetstream-restart-lost` and
//!   `-duplicated` across a kill -9 and restart of the broker mid-stream.
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

/// Counts what arrives, and checks it is in order (values carry their number in 8 bytes).
#[derive(Boxes)]
struct Count {
    inbox: Inbox<Bytes>,
    control: Inbox<Control>,
    got: Rc<Cell<u64>>,
    out_of_order: Rc<Cell<u64>>,
}

impl Component for Count {
    async fn main(mut self) -> Result<(), ComponentError> {
        while let Some(value) = self.inbox.recv_or_finished(&mut self.control).await {
            let n = u64::from_le_bytes(value[..8].try_into().unwrap());
            if n != self.got.get() {
                self.out_of_order.set(self.out_of_order.get() + 1);
            }
            self.got.set(self.got.get() + 1);
        }
        Ok(())
    }
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
        let got = Rc::new(Cell::new(0));
        let out_of_order = Rc::new(Cell::new(0));
        let count = Count {
            inbox: Inbox::new(),
            control: Inbox::new(),
            got: got.clone(),
            out_of_order: out_of_order.clone(),
        };
        link(&source.outbox, &sender.inbox).unwrap();
        link(&source.signal, &sender.control).unwrap();
        link(&receiver.outbox, &count.inbox).unwrap();
        link(&receiver.signal, &count.control).unwrap();
        let scheduler = Scheduler::new();
        scheduler.activate(receiver);
        scheduler.activate(count);
        // The receiver subscribes before the clock starts.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        scheduler.activate(sender);
        scheduler.activate(source);
        let _ = tokio::time::timeout(Duration::from_secs(120), scheduler.run()).await;
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(out_of_order.get(), 0, "values out of order");
        (got.get() as f64 / seconds, n - got.get())
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
        let subject = subject.to_string();
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
        let got = Rc::new(Cell::new(0));
        let out_of_order = Rc::new(Cell::new(0));
        let count = Count {
            inbox: Inbox::new(),
            control: Inbox::new(),
            got: got.clone(),
            out_of_order: out_of_order.clone(),
        };
        let (feed, finish) = (sender.inbox.to_ref(), sender.control.to_ref());
        link(&receiver.outbox, &count.inbox).unwrap();
        link(&receiver.signal, &count.control).unwrap();
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
            tokio::join!(scheduler.run(), produce)
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

fn report(rows: &[Row], json: bool) {
    let baseline = |bench: &str| -> Option<&Row> {
        rows.iter()
            .find(|r| r.bench == bench && r.system.starts_with("raw-"))
    };
    if !json {
        println!(
            "{:<22} {:<16} {:>12} {:<7} {:<16} {:>12} {:>8}",
            "bench", "system", "value", "unit", "baseline", "baseline", "ratio"
        );
    }
    for row in rows.iter().filter(|r| !r.system.starts_with("raw-")) {
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
