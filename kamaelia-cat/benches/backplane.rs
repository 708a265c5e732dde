//! Part of `cargo xtask bench core`: publishing through a Backplane to 1, 100 and 10,000
//! subscribers, ns per delivery, against tokio::sync::broadcast in the same run.
//!
//! Usage: `backplane [--json] [--quick]`.

use axon_core::components::NullSink;
use axon_core::{Boxes, Component, ComponentError, InboxRef, Scheduler, link};
use kamaelia_cat::{Backplane, Policy, SubscribeTo};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

#[derive(Boxes)]
struct Publisher {
    bus: InboxRef<u64>,
    count: u64,
    started: Rc<std::cell::Cell<Option<Instant>>>,
}

impl Component for Publisher {
    async fn main(self) -> Result<(), ComponentError> {
        self.started.set(Some(Instant::now()));
        for v in 0..self.count {
            self.bus.send(v).await?;
        }
        Ok(())
    }
}

fn backplane(subscribers: usize, count: u64) -> Duration {
    runtime().block_on(async {
        let scheduler = Scheduler::new();
        let bus = Backplane::<u64>::new("bench");
        let data = bus.inbox.to_ref();
        scheduler.activate(bus);
        let mut counters = Vec::new();
        for _ in 0..subscribers {
            let sub = SubscribeTo::<u64>::new("bench", Policy::Block, 64);
            let sink = NullSink::<u64>::new();
            counters.push(sink.counter());
            link(&sub.outbox, &sink.inbox).unwrap();
            scheduler.activate(sub);
            scheduler.activate(sink);
        }
        let mut run = std::pin::pin!(scheduler.run());
        // Everyone subscribed before publishing starts.
        let cat = kamaelia_cat::Cat::of(&scheduler);
        while cat
            .retrieve_value::<usize>("backplane.bench.subscribers")
            .ok()
            != Some(subscribers)
        {
            let _ = futures::poll!(run.as_mut());
        }
        let started = Rc::new(std::cell::Cell::new(None));
        scheduler.activate(Publisher {
            bus: data,
            count,
            started: started.clone(),
        });
        let done = async {
            while counters.iter().any(|c| c.get() < count) {
                tokio::task::yield_now().await;
            }
        };
        tokio::select! {
            _ = run.as_mut() => panic!("stopped early"),
            () = done => {}
        }
        let elapsed = started.get().expect("published").elapsed();
        scheduler.shutdown();
        elapsed
    })
}

fn broadcast(subscribers: usize, count: u64) -> Duration {
    runtime().block_on(async {
        let (tx, _) = tokio::sync::broadcast::channel::<u64>((count as usize).clamp(64, 1 << 20));
        let received = Arc::new(AtomicUsize::new(0));
        let all = Arc::new(tokio::sync::Notify::new());
        let total = subscribers * count as usize;
        for _ in 0..subscribers {
            let mut rx = tx.subscribe();
            let (received, all) = (received.clone(), all.clone());
            tokio::spawn(async move {
                while rx.recv().await.is_ok() {
                    if received.fetch_add(1, Ordering::Relaxed) + 1 == total {
                        all.notify_one();
                    }
                }
            });
        }
        tokio::task::yield_now().await;
        let start = Instant::now();
        let producer = tokio::spawn(async move {
            for v in 0..count {
                tx.send(v).unwrap();
                if v % 64 == 63 {
                    tokio::task::yield_now().await; // let receivers keep up, as a bounded bus would
                }
            }
            tx
        });
        all.notified().await;
        let elapsed = start.elapsed();
        drop(producer.await);
        elapsed
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    let repeats = if quick { 1 } else { 5 };
    if !json {
        println!(
            "{:<20} {:<13} {:>12} {:<16} {:<13} {:>12} {:>8}",
            "bench", "system", "value", "unit", "baseline", "baseline", "ratio"
        );
    }
    for (subscribers, count, bench) in [
        (1usize, 1_000_000u64, "backplane-1"),
        (100, 10_000, "backplane-100"),
        (10_000, 100, "backplane-10000"),
    ] {
        let count = if quick { count / 10 } else { count };
        let per = |d: Duration| d.as_nanos() as f64 / (subscribers as f64 * count as f64);
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..repeats {
            ours.push(per(backplane(subscribers, count)));
            theirs.push(per(broadcast(subscribers, count)));
        }
        let (value, baseline) = (median(ours), median(theirs));
        if json {
            println!(
                "{{\"bench\":\"{bench}\",\"system\":\"kamaelia-backplane\",\"value\":{value:.3},\"unit\":\"ns/delivery\",\"baseline\":\"tokio-broadcast\",\"baseline_value\":{baseline:.3},\"ratio\":{:.4}}}",
                value / baseline
            );
        } else {
            println!(
                "{:<20} {:<13} {:>12.2} {:<16} {:<13} {:>12.2} {:>8.3}",
                bench,
                "backplane",
                value,
                "ns/delivery",
                "tokio-bcast",
                baseline,
                value / baseline
            );
        }
    }
}
