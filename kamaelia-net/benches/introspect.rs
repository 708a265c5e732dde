//! `cargo xtask bench core` (its live-view rows): what the Introspector costs while a page
//! watches, and how fast a large system's page first renders.
//!
//! - `pipeline-introspected` (ms): a three-stage pipeline moving N values, with the
//!   Introspector running and a client reading `/events` (a change at most 10 times a second),
//!   against the same pipeline with no introspector (`no-introspector`), alternating, median of
//!   ≥ 5 runs each, spread reported (the machine's noise is larger than the 3 % target).
//! - `first-render-10000` (ms): headless Chromium (when installed) loading the page of a
//!   system of 10,000 idle components, from asking for the page to seeing live data on it.
//!
//! Usage: `introspect [--json] [--quick]`.

use axon_core::components::{DataSource, NullSink, map};
use axon_core::{Boxes, Component, ComponentError, Inbox, Scheduler, link};
use kamaelia_net::Introspector;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

/// Runs the pipeline once; with `watched`, an Introspector runs beside it and a client reads
/// its `/events` for the whole run.
fn pipeline(n: u64, watched: bool) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let scheduler = Scheduler::new();
        let source = DataSource::new(0..n);
        let step = map(|x: u64| x.wrapping_add(1));
        let sink = NullSink::<u64>::new();
        link(&source.outbox, &step.inbox).unwrap();
        link(&source.signal, &step.control).unwrap();
        link(&step.outbox, &sink.inbox).unwrap();
        link(&step.signal, &sink.control).unwrap();
        let mut reader = None;
        let mut view_control = None;
        if watched {
            let view = Introspector::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = view.local_addr();
            view_control = Some(view.control.to_ref());
            scheduler.activate(view);
            // The page's side: a plain thread holding /events open and reading it.
            reader = Some(std::thread::spawn(move || {
                let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
                    return 0usize;
                };
                let _ = stream.write_all(b"GET /events HTTP/1.1\r\n\r\n");
                let mut buffer = vec![0u8; 64 * 1024];
                let mut total = 0;
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    total += n;
                }
                total
            }));
            // Let the client connect before the clock starts.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let started = Instant::now();
        let sink_done = scheduler.activate(sink);
        scheduler.activate(step);
        scheduler.activate(source);
        let run = scheduler.run();
        let stop = async {
            while sink_done.is_running() {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            let took = started.elapsed();
            if let Some(control) = &view_control {
                let _ = control.try_send(axon_core::Control::ShutdownMicroprocess);
            }
            took
        };
        let ((), took) = tokio::join!(run, stop);
        if let Some(reader) = reader {
            let _ = reader.join();
        }
        took
    })
}

/// Waits forever: one of many idle components on the page.
#[derive(Boxes)]
struct Idle {
    inbox: Inbox<u32>,
}

impl Component for Idle {
    async fn main(self) -> Result<(), ComponentError> {
        std::future::pending::<()>().await;
        Ok(())
    }
}

/// The page of `count` idle components, loaded in headless Chromium: milliseconds to the first
/// live render, or `None` without chromium and python3-websocket.
fn first_render(count: usize) -> Option<f64> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let scheduler = Scheduler::new();
            let view = Introspector::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            tx.send(view.local_addr()).unwrap();
            scheduler.activate(view);
            for _ in 0..count {
                scheduler.activate(Idle {
                    inbox: Inbox::new(),
                });
            }
            scheduler.run().await;
        });
    });
    let addr = rx.recv().ok()?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/read_page.py");
    let out = std::process::Command::new("/usr/bin/python3")
        .args([script, &format!("http://{addr}/"), "1", "0"])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "first render not measured: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    result["first_render_ms"].as_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    // Long enough for several snapshots at 10 a second to be taken during each run.
    let (n, repeats) = if quick {
        (3_000_000, 3)
    } else {
        (20_000_000, 7)
    };
    let (mut plain, mut watched) = (Vec::new(), Vec::new());
    for _ in 0..repeats {
        plain.push(pipeline(n, false).as_secs_f64() * 1000.0);
        watched.push(pipeline(n, true).as_secs_f64() * 1000.0);
    }
    let spread = |xs: &[f64]| {
        let lo = xs.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        format!("{lo:.1}-{hi:.1}")
    };
    eprintln!(
        "pipeline of {n}: no introspector {} ms, introspected {} ms over {repeats} runs each",
        spread(&plain),
        spread(&watched)
    );
    let (p, w) = (median(plain), median(watched));
    let mut rows = vec![(
        "pipeline-introspected",
        "introspected",
        w,
        "ms",
        "no-introspector",
        p,
    )];
    if let Some(ms) = first_render(10_000) {
        rows.push((
            "first-render-10000",
            "chromium",
            ms,
            "ms",
            "target-2000ms",
            2000.0,
        ));
    }
    for (bench, system, value, unit, baseline, base) in rows {
        let ratio = value / base;
        if json {
            println!(
                "{{\"bench\":\"{bench}\",\"system\":\"{system}\",\"value\":{value:.3},\"unit\":\"{unit}\",\"baseline\":\"{baseline}\",\"baseline_value\":{base:.3},\"ratio\":{ratio:.4}}}"
            );
        } else {
            println!(
                "{bench:<24} {system:<14} {value:>10.1} {unit:<4} {baseline:<16} {base:>10.1} {ratio:>8.3}"
            );
        }
    }
}
