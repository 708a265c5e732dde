//! `cargo xtask bench core`: axon-core against baselines run side by side in the same process
//! (or, for memory, in fresh subprocesses of this same binary). Every figure is a median over
//! interleaved repeats; ratios are value / baseline, so lower is better.
//!
//! Usage: `core [--json] [--quick]`; internal: `core --spawn-child SYSTEM N`.

use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox, Scheduler, link};
use std::cell::Cell;
use std::collections::VecDeque;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CAPACITY: usize = 64;

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

// ---------------------------------------------------------------- components used by the benches

#[derive(Boxes)]
struct Source {
    outbox: Outbox<u64>,
    signal: Outbox<Control>,
    n: u64,
}

impl Component for Source {
    async fn main(self) -> Result<(), ComponentError> {
        for v in 0..self.n {
            self.outbox.send(v).await?;
        }
        self.signal.send(Control::ProducerFinished).await?;
        Ok(())
    }
}

#[derive(Boxes, Default)]
struct PassThrough {
    inbox: Inbox<u64>,
    control: Inbox<Control>,
    outbox: Outbox<u64>,
    signal: Outbox<Control>,
}

impl Component for PassThrough {
    async fn main(mut self) -> Result<(), ComponentError> {
        while let Some(v) = self.inbox_or_finished().await {
            self.outbox.send(v).await?;
        }
        self.signal.send(Control::ProducerFinished).await?;
        Ok(())
    }
}

#[derive(Boxes, Default)]
struct Sink {
    inbox: Inbox<u64>,
    control: Inbox<Control>,
    sum: Rc<Cell<u64>>,
}

impl Component for Sink {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut sum = 0u64;
        while let Some(v) = self.inbox_or_finished().await {
            sum = sum.wrapping_add(v);
        }
        self.sum.set(sum);
        Ok(())
    }
}

/// `AXON_BENCH_AXON_ONLY=1` measures only axon-core (for profiling); the report then has no
/// ratios.
fn axon_only() -> bool {
    std::env::var_os("AXON_BENCH_AXON_ONLY").is_some()
}

// ---------------------------------------------------------------- pipeline

const STAGES: usize = 10; // pass-through components between source and sink
const HOPS: usize = STAGES + 1;

fn pipeline_axon(n: u64) -> Duration {
    runtime().block_on(async {
        let scheduler = Scheduler::new();
        let source = Source {
            outbox: Outbox::new(),
            signal: Outbox::new(),
            n,
        };
        let mut out = source.outbox.to_ref();
        let mut sig = source.signal.to_ref();
        scheduler.activate(source);
        for _ in 0..STAGES {
            let p = PassThrough::default();
            link(&out, &p.inbox).unwrap();
            link(&sig, &p.control).unwrap();
            out = p.outbox.to_ref();
            sig = p.signal.to_ref();
            scheduler.activate(p);
        }
        let sink = Sink::default();
        let sum = sink.sum.clone();
        link(&out, &sink.inbox).unwrap();
        link(&sig, &sink.control).unwrap();
        scheduler.activate(sink);
        let start = Instant::now();
        scheduler.run().await;
        let elapsed = start.elapsed();
        assert_eq!(sum.get(), n * (n - 1) / 2);
        elapsed
    })
}

/// The same system built with `Pipeline` (passthrough boxes at both ends).
fn pipeline_composed(n: u64) -> Duration {
    runtime().block_on(async {
        let scheduler = Scheduler::new();
        let source = Source {
            outbox: Outbox::new(),
            signal: Outbox::new(),
            n,
        };
        let mut builder = axon_core::Pipeline::builder(source);
        for _ in 0..STAGES {
            builder = builder.then(PassThrough::default());
        }
        let sink = Sink::default();
        let sum = sink.sum.clone();
        let system = builder.then(sink).build().unwrap();
        scheduler.activate(system);
        let start = Instant::now();
        scheduler.run().await;
        let elapsed = start.elapsed();
        assert_eq!(sum.get(), n * (n - 1) / 2);
        elapsed
    })
}

fn bench_composed(rows: &mut Vec<Row>, repeats: usize, n: u64) {
    let (mut composed, mut hand) = (Vec::new(), Vec::new());
    let per_hop = |d: Duration| d.as_nanos() as f64 / (n as f64 * HOPS as f64);
    for _ in 0..repeats {
        composed.push(per_hop(pipeline_composed(n)));
        hand.push(per_hop(pipeline_axon(n)));
    }
    rows.push(Row {
        bench: "pipeline-composed",
        system: "axon-Pipeline",
        value: median(composed),
        unit: "ns/hop",
    });
    rows.push(Row {
        bench: "pipeline-composed",
        system: "axon-hand-linked",
        value: median(hand),
        unit: "ns/hop",
    });
}

// ---------------------------------------------------------------- handle round trip

/// Round trips from a tokio task on a multi-threaded runtime to a component on its own
/// scheduler thread (through a `Handle`) and back.
fn handle_round_trip(n: u32) -> Duration {
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    let scheduler_thread = std::thread::spawn(move || {
        runtime().block_on(async {
            let scheduler = Scheduler::new();
            let echo = axon_core::components::map(|v: u32| v);
            handle_tx.send(scheduler.handle(echo).unwrap()).unwrap();
            scheduler.run().await;
        })
    });
    let handle = handle_rx.recv().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let elapsed = rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..n {
                handle.put(i).await.unwrap();
                assert_eq!(handle.get().await, Some(i));
            }
            let elapsed = start.elapsed();
            handle.finish().await;
            elapsed
        })
        .await
        .unwrap()
    });
    scheduler_thread.join().unwrap();
    elapsed
}

/// The same round trip between two tokio tasks over two bounded mpsc channels, on a
/// multi-threaded runtime with two workers (so the echo may run on the other thread).
fn tokio_round_trip(n: u32) -> Duration {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (to_echo, mut echo_rx) = tokio::sync::mpsc::channel::<u32>(CAPACITY);
        let (echo_tx, mut from_echo) = tokio::sync::mpsc::channel::<u32>(CAPACITY);
        tokio::spawn(async move {
            while let Some(v) = echo_rx.recv().await {
                if echo_tx.send(v).await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..n {
                to_echo.send(i).await.unwrap();
                assert_eq!(from_echo.recv().await, Some(i));
            }
            start.elapsed()
        })
        .await
        .unwrap()
    })
}

/// The round trip with the echo task on its own current-thread runtime on another thread, as
/// the Handle's component is: the cost of waking a parked thread, both ways.
fn tokio_cross_thread_round_trip(n: u32) -> Duration {
    let (to_echo, mut echo_rx) = tokio::sync::mpsc::channel::<u32>(CAPACITY);
    let (echo_tx, mut from_echo) = tokio::sync::mpsc::channel::<u32>(CAPACITY);
    let echo_thread = std::thread::spawn(move || {
        runtime().block_on(async move {
            while let Some(v) = echo_rx.recv().await {
                if echo_tx.send(v).await.is_err() {
                    break;
                }
            }
        })
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let elapsed = rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..n {
                to_echo.send(i).await.unwrap();
                assert_eq!(from_echo.recv().await, Some(i));
            }
            start.elapsed()
        })
        .await
        .unwrap()
    });
    echo_thread.join().unwrap();
    elapsed
}

fn bench_handle(rows: &mut Vec<Row>, repeats: usize, n: u32) {
    let (mut handle, mut tokio, mut cross) = (Vec::new(), Vec::new(), Vec::new());
    let per = |d: Duration| d.as_nanos() as f64 / n as f64;
    for _ in 0..repeats {
        handle.push(per(handle_round_trip(n)));
        tokio.push(per(tokio_round_trip(n)));
        cross.push(per(tokio_cross_thread_round_trip(n)));
    }
    rows.push(Row {
        bench: "handle-round-trip",
        system: "tokio-mpsc-cross-thread",
        value: median(cross),
        unit: "ns/round-trip",
    });
    rows.push(Row {
        bench: "handle-round-trip",
        system: "axon-Handle",
        value: median(handle),
        unit: "ns/round-trip",
    });
    rows.push(Row {
        bench: "handle-round-trip",
        system: "tokio-mpsc",
        value: median(tokio),
        unit: "ns/round-trip",
    });
}

fn pipeline_tokio(n: u64) -> Duration {
    runtime().block_on(async {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let (tx0, mut rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
                for _ in 0..STAGES {
                    let (tx, next_rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
                    let mut input = rx;
                    tokio::task::spawn_local(async move {
                        while let Some(v) = input.recv().await {
                            if tx.send(v).await.is_err() {
                                break;
                            }
                        }
                    });
                    rx = next_rx;
                }
                let sink = tokio::task::spawn_local(async move {
                    let mut sum = 0u64;
                    while let Some(v) = rx.recv().await {
                        sum = sum.wrapping_add(v);
                    }
                    sum
                });
                let start = Instant::now();
                tokio::task::spawn_local(async move {
                    for v in 0..n {
                        tx0.send(v).await.unwrap();
                    }
                });
                let sum = sink.await.unwrap();
                let elapsed = start.elapsed();
                assert_eq!(sum, n * (n - 1) / 2);
                elapsed
            })
            .await
    })
}

/// The paper's "non-componentised system": 12 state machines in a hand-written round-robin
/// loop over bounded queues. The floor for a scheduler with bounded queues.
fn pipeline_hand_loop(n: u64) -> Duration {
    let start = Instant::now();
    let mut queues: Vec<VecDeque<u64>> = (0..HOPS)
        .map(|_| VecDeque::with_capacity(CAPACITY))
        .collect();
    let (mut next, mut received, mut sum) = (0u64, 0u64, 0u64);
    while received < n {
        // source
        while next < n && queues[0].len() < CAPACITY {
            queues[0].push_back(black_box(next));
            next += 1;
        }
        // pass-through stages
        for i in 1..HOPS {
            let (before, after) = queues.split_at_mut(i);
            let (src, dst) = (&mut before[i - 1], &mut after[0]);
            while dst.len() < CAPACITY {
                match src.pop_front() {
                    Some(v) => dst.push_back(v),
                    None => break,
                }
            }
        }
        // sink
        while let Some(v) = queues[HOPS - 1].pop_front() {
            sum = sum.wrapping_add(v);
            received += 1;
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(sum, n * (n - 1) / 2);
    elapsed
}

#[inline(never)]
fn stage(v: u64) -> u64 {
    black_box(v)
}

/// Twelve direct function calls per message, each through `black_box`.
fn pipeline_direct_calls(n: u64) -> Duration {
    let start = Instant::now();
    let mut sum = 0u64;
    for v in 0..n {
        let mut x = black_box(v);
        for _ in 0..HOPS + 1 {
            x = stage(x);
        }
        sum = sum.wrapping_add(x);
    }
    let elapsed = start.elapsed();
    assert_eq!(sum, n * (n - 1) / 2);
    elapsed
}

fn bench_pipeline(rows: &mut Vec<Row>, repeats: usize, n: u64) {
    let mut samples: [Vec<f64>; 4] = Default::default();
    let per_hop = |d: Duration| d.as_nanos() as f64 / (n as f64 * HOPS as f64);
    if axon_only() {
        for _ in 0..repeats {
            samples[0].push(per_hop(pipeline_axon(n)));
        }
        println!(
            "axon-core pipeline: {:.2} ns/hop",
            median(samples[0].clone())
        );
        return;
    }
    for _ in 0..repeats {
        samples[0].push(per_hop(pipeline_axon(n)));
        samples[1].push(per_hop(pipeline_tokio(n)));
        samples[2].push(per_hop(pipeline_hand_loop(n)));
        samples[3].push(per_hop(pipeline_direct_calls(n)));
    }
    let systems = ["axon-core", "tokio-mpsc", "hand-loop", "direct-calls"];
    for (system, s) in systems.into_iter().zip(samples) {
        rows.push(Row {
            bench: "pipeline",
            system,
            value: median(s),
            unit: "ns/hop",
        });
    }
}

// ---------------------------------------------------------------- ring

#[derive(Boxes)]
struct RingNode {
    inbox: Inbox<u64>,
    outbox: Outbox<u64>,
    hops: u64,
    done: Rc<Cell<bool>>,
}

impl Component for RingNode {
    async fn main(mut self) -> Result<(), ComponentError> {
        loop {
            let token = self.inbox.recv().await;
            if token >= self.hops {
                self.done.set(true);
                // Pass the end on so every node exits; a closed neighbour is fine.
                let _ = self.outbox.send(token).await;
                return Ok(());
            }
            if self.outbox.send(token + 1).await.is_err() {
                return Ok(());
            }
        }
    }
}

fn ring_axon(nodes: usize, hops: u64) -> Duration {
    runtime().block_on(async {
        let scheduler = Scheduler::new();
        let done = Rc::new(Cell::new(false));
        let ring: Vec<RingNode> = (0..nodes)
            .map(|_| RingNode {
                inbox: Inbox::new(),
                outbox: Outbox::new(),
                hops,
                done: done.clone(),
            })
            .collect();
        for i in 0..nodes {
            link(&ring[i].outbox, &ring[(i + 1) % nodes].inbox).unwrap();
        }
        let first = ring[0].inbox.to_ref();
        for node in ring {
            scheduler.activate(node);
        }
        let start = Instant::now();
        first.try_send(0).unwrap();
        scheduler.run().await;
        assert!(done.get());
        start.elapsed()
    })
}

fn ring_tokio(nodes: usize, hops: u64) -> Duration {
    runtime().block_on(async {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let (senders, receivers): (Vec<_>, Vec<_>) = (0..nodes)
                    .map(|_| tokio::sync::mpsc::channel::<u64>(CAPACITY))
                    .unzip();
                let first = senders[0].clone();
                let mut handles = Vec::new();
                for (i, mut rx) in receivers.into_iter().enumerate() {
                    let tx = senders[(i + 1) % nodes].clone();
                    handles.push(tokio::task::spawn_local(async move {
                        while let Some(token) = rx.recv().await {
                            if token >= hops {
                                let _ = tx.send(token).await;
                                return;
                            }
                            if tx.send(token + 1).await.is_err() {
                                return;
                            }
                        }
                    }));
                }
                drop(senders);
                let start = Instant::now();
                first.send(0).await.unwrap();
                drop(first);
                for h in handles {
                    h.await.unwrap();
                }
                start.elapsed()
            })
            .await
    })
}

fn bench_ring(rows: &mut Vec<Row>, repeats: usize, hops: u64) {
    let (mut a, mut t) = (Vec::new(), Vec::new());
    let per_hop = |d: Duration| d.as_nanos() as f64 / hops as f64;
    for _ in 0..repeats {
        a.push(per_hop(ring_axon(1000, hops)));
        if !axon_only() {
            t.push(per_hop(ring_tokio(1000, hops)));
        }
    }
    if axon_only() {
        println!("axon-core ring: {:.2} ns/hop", median(a));
        return;
    }
    rows.push(Row {
        bench: "ring",
        system: "axon-core",
        value: median(a),
        unit: "ns/hop",
    });
    rows.push(Row {
        bench: "ring",
        system: "tokio-mpsc",
        value: median(t),
        unit: "ns/hop",
    });
}

// ---------------------------------------------------------------- wake

/// Sleeps on its inbox; each delivery wakes it once, it counts, and sleeps again.
#[derive(Boxes)]
struct Sleeper {
    inbox: Inbox<u64>,
    woken: Rc<Cell<usize>>,
    target: usize,
    all_woken: Rc<tokio::sync::Notify>,
}

impl Component for Sleeper {
    async fn main(mut self) -> Result<(), ComponentError> {
        loop {
            self.inbox.recv().await;
            self.woken.set(self.woken.get() + 1);
            if self.woken.get() == self.target {
                self.all_woken.notify_one();
            }
        }
    }
}

fn wake_axon(n: usize) -> Duration {
    runtime().block_on(async {
        let scheduler = Scheduler::new();
        let woken = Rc::new(Cell::new(0));
        let all_woken = Rc::new(tokio::sync::Notify::new());
        let mut inboxes = Vec::with_capacity(n);
        for _ in 0..n {
            let s = Sleeper {
                inbox: Inbox::new(),
                woken: woken.clone(),
                target: n,
                all_woken: all_woken.clone(),
            };
            inboxes.push(s.inbox.to_ref());
            scheduler.activate(s);
        }
        let mut run = std::pin::pin!(scheduler.run());
        // Let every component reach its first await (idle): each poll of `run` gives up to
        // DEFAULT_MAX_POLLS_PER_TICK component polls.
        for _ in 0..n / axon_core::DEFAULT_MAX_POLLS_PER_TICK + 2 {
            let _ = futures::poll!(run.as_mut());
        }
        // The messages come from a component, as they would in a Kamaelia system (and as the
        // tokio baseline's come from inside its runtime).
        #[derive(Boxes)]
        struct Driver {
            inboxes: Vec<axon_core::InboxRef<u64>>,
        }
        impl Component for Driver {
            async fn main(self) -> Result<(), ComponentError> {
                for inbox in &self.inboxes {
                    inbox.send(1).await?;
                }
                Ok(())
            }
        }
        let start = Instant::now();
        scheduler.activate(Driver { inboxes });
        tokio::select! {
            _ = run.as_mut() => panic!("scheduler stopped"),
            _ = all_woken.notified() => {}
        }
        let elapsed = start.elapsed();
        assert_eq!(woken.get(), n);
        scheduler.shutdown();
        elapsed
    })
}

fn wake_tokio(n: usize) -> Duration {
    runtime().block_on(async {
        let woken = Arc::new(AtomicUsize::new(0));
        let all_woken = Arc::new(tokio::sync::Notify::new());
        let mut senders = Vec::with_capacity(n);
        for _ in 0..n {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
            let (woken, all_woken) = (woken.clone(), all_woken.clone());
            senders.push(tx);
            tokio::spawn(async move {
                while rx.recv().await.is_some() {
                    if woken.fetch_add(1, Ordering::Relaxed) + 1 == n {
                        all_woken.notify_one();
                    }
                }
            });
        }
        // Let every task reach its first await.
        tokio::task::yield_now().await;
        let start = Instant::now();
        for tx in &senders {
            tx.try_send(1).unwrap();
        }
        all_woken.notified().await;
        let elapsed = start.elapsed();
        assert_eq!(woken.load(Ordering::Relaxed), n);
        elapsed
    })
}

fn bench_wake(rows: &mut Vec<Row>, repeats: usize, n: usize) {
    let (mut a, mut t) = (Vec::new(), Vec::new());
    let per = |d: Duration| d.as_nanos() as f64 / n as f64;
    for _ in 0..repeats {
        a.push(per(wake_axon(n)));
        if !axon_only() {
            t.push(per(wake_tokio(n)));
        }
    }
    if axon_only() {
        println!("axon-core wake: {:.2} ns/wake", median(a));
        return;
    }
    rows.push(Row {
        bench: "wake",
        system: "axon-core",
        value: median(a),
        unit: "ns/wake",
    });
    rows.push(Row {
        bench: "wake",
        system: "tokio-mpsc",
        value: median(t),
        unit: "ns/wake",
    });
}

// ---------------------------------------------------------------- spawn (fresh subprocess each)

/// An idle component with the four default boxes.
#[derive(Boxes)]
struct Idle {
    inbox: Inbox<u64>,
    control: Inbox<Control>,
    outbox: Outbox<u64>,
    signal: Outbox<Control>,
    started: Rc<Cell<usize>>,
}

impl Component for Idle {
    async fn main(mut self) -> Result<(), ComponentError> {
        self.started.set(self.started.get() + 1);
        let _ = self.inbox.recv_or_finished(&mut self.control).await;
        let _ = (&self.outbox, &self.signal);
        Ok(())
    }
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Runs in a fresh process: spawns `n` idle components (or tokio tasks), prints
/// "ns_per_spawn bytes_per_component".
fn spawn_child(system: &str, n: usize) {
    let rt = runtime();
    let before = rss_bytes();
    let (elapsed, after) = match system {
        "axon-core" => rt.block_on(async {
            let scheduler = Scheduler::new();
            let started = Rc::new(Cell::new(0));
            let start = Instant::now();
            for _ in 0..n {
                scheduler.activate(Idle {
                    inbox: Inbox::new(),
                    control: Inbox::new(),
                    outbox: Outbox::new(),
                    signal: Outbox::new(),
                    started: started.clone(),
                });
            }
            let mut run = std::pin::pin!(scheduler.run());
            while started.get() < n {
                let _ = futures::poll!(run.as_mut());
            }
            let elapsed = start.elapsed();
            let after = rss_bytes();
            scheduler.shutdown();
            (elapsed, after)
        }),
        _ => rt.block_on(async {
            let started = Arc::new(AtomicUsize::new(0));
            let mut senders = Vec::with_capacity(n);
            let start = Instant::now();
            for _ in 0..n {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
                senders.push(tx);
                let started = started.clone();
                tokio::spawn(async move {
                    started.fetch_add(1, Ordering::Relaxed);
                    rx.recv().await;
                });
            }
            while started.load(Ordering::Relaxed) < n {
                tokio::task::yield_now().await;
            }
            let elapsed = start.elapsed();
            let after = rss_bytes();
            (elapsed, after)
        }),
    };
    println!(
        "{} {}",
        elapsed.as_nanos() as f64 / n as f64,
        after.saturating_sub(before) as f64 / n as f64
    );
    // Exit without tearing down a million tasks.
    std::process::exit(0);
}

fn bench_spawn(rows: &mut Vec<Row>, counts: &[usize], repeats: usize) {
    let exe = std::env::current_exe().unwrap();
    let systems = ["axon-core", "tokio-task"];
    for &n in counts {
        let (bench_ns, bench_mem) = match n {
            100_000 => ("spawn-100k", "memory-100k"),
            _ => ("spawn-1M", "memory-1M"),
        };
        let mut samples: [(Vec<f64>, Vec<f64>); 2] = Default::default();
        for _ in 0..repeats {
            for (system, (ns, bytes)) in systems.iter().zip(samples.iter_mut()) {
                let out = std::process::Command::new(&exe)
                    .args(["--spawn-child", system, &n.to_string()])
                    .output()
                    .expect("spawn child");
                let text = String::from_utf8_lossy(&out.stdout);
                let mut parts = text
                    .split_whitespace()
                    .map(|x| x.parse::<f64>().unwrap_or(f64::NAN));
                ns.push(parts.next().unwrap_or(f64::NAN));
                bytes.push(parts.next().unwrap_or(f64::NAN));
            }
        }
        for (system, (ns, bytes)) in systems.into_iter().zip(samples) {
            rows.push(Row {
                bench: bench_ns,
                system,
                value: median(ns),
                unit: "ns/spawn",
            });
            rows.push(Row {
                bench: bench_mem,
                system,
                value: median(bytes),
                unit: "bytes/component",
            });
        }
    }
}

// ---------------------------------------------------------------- report

/// The baseline each bench is compared with.
fn baselines(bench: &str) -> &'static [&'static str] {
    match bench {
        "pipeline" => &["tokio-mpsc", "hand-loop", "direct-calls"],
        "pipeline-composed" => &["axon-hand-linked"],
        "handle-round-trip" => &["tokio-mpsc", "tokio-mpsc-cross-thread"],
        b if b.starts_with("spawn") || b.starts_with("memory") => &["tokio-task"],
        _ => &["tokio-mpsc"],
    }
}

fn report(rows: &[Row], json: bool) {
    if !json {
        println!(
            "{:<14} {:<13} {:>12} {:<16} {:<13} {:>12} {:>8}",
            "bench", "system", "value", "unit", "baseline", "baseline", "ratio"
        );
    }
    for row in rows {
        let baselines: Vec<&Row> = rows
            .iter()
            .filter(|b| b.bench == row.bench && baselines(row.bench).contains(&b.system))
            .collect();
        if baselines.iter().any(|b| b.system == row.system) {
            continue;
        }
        for b in baselines {
            let ratio = row.value / b.value;
            if json {
                println!(
                    "{{\"bench\":\"{}\",\"system\":\"{}\",\"value\":{:.3},\"unit\":\"{}\",\"baseline\":\"{}\",\"baseline_value\":{:.3},\"ratio\":{:.4}}}",
                    row.bench, row.system, row.value, row.unit, b.system, b.value, ratio
                );
            } else {
                println!(
                    "{:<14} {:<13} {:>12.2} {:<16} {:<13} {:>12.2} {:>8.3}",
                    row.bench, row.system, row.value, row.unit, b.system, b.value, ratio
                );
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--spawn-child") {
        let system = args[i + 1].clone();
        let n: usize = args[i + 2].parse().unwrap();
        spawn_child(&system, n);
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return; // test harnesses ask for a list: there are no tests here
    }
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    let repeats = if quick { 1 } else { 5 };
    // `--only NAME` runs one bench (for profiling).
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    let wanted = |name: &str| only.is_none_or(|o| o == name);
    let mut rows = Vec::new();
    if wanted("pipeline") {
        bench_pipeline(&mut rows, repeats, if quick { 100_000 } else { 1_000_000 });
    }
    if wanted("composed") {
        bench_composed(
            &mut rows,
            if quick { 3 } else { 9 },
            if quick { 100_000 } else { 1_000_000 },
        );
    }
    if wanted("handle") {
        bench_handle(&mut rows, repeats, if quick { 10_000 } else { 100_000 });
    }
    if wanted("ring") {
        bench_ring(&mut rows, repeats, if quick { 100_000 } else { 1_000_000 });
    }
    if wanted("wake") {
        bench_wake(&mut rows, repeats, 100_000);
    }
    if wanted("spawn") {
        bench_spawn(
            &mut rows,
            if quick {
                &[100_000]
            } else {
                &[100_000, 1_000_000]
            },
            if quick { 1 } else { 3 },
        );
    }
    report(&rows, json);
}
