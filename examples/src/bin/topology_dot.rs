//! `topology_dot [OUT.dot]`: builds a small running system (a Graphline holding a Pipeline),
//! takes a topology snapshot while it runs, and writes it as Graphviz DOT (to OUT.dot, or
//! stdout). Render with `dot -Tpng OUT.dot > topology.png`. The JSON form goes to stderr.

use axon_core::components::{Collect, DataSource, filter, map};
use axon_core::{Graphline, Scheduler, pipeline};

fn main() {
    let out = std::env::args().nth(1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (dot, json) = runtime.block_on(async {
        let (sink, _collected) = Collect::<String>::new();
        let words = pipeline!(
            filter(|n: &u64| !n.is_multiple_of(3)),
            map(|n: u64| format!("item {n}")),
        )
        .expect("fresh stages link");
        let graph = Graphline::<(), ()>::builder()
            .child("numbers", DataSource::new(0..1_000_000u64))
            .child("words", words)
            .child("sink", sink)
            .link(("numbers", "outbox"), ("words", "inbox"))
            .link(("numbers", "signal"), ("words", "control"))
            .link(("words", "outbox"), ("sink", "inbox"))
            .link(("words", "signal"), ("sink", "control"))
            .build()
            .expect("a valid table");
        let scheduler = Scheduler::new();
        scheduler.activate(graph);
        let run = scheduler.run();
        let snapshot = async {
            // Let it get going, then look while data flows.
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            let topology = scheduler.topology();
            scheduler.shutdown();
            topology
        };
        let ((), topology) = tokio::join!(run, snapshot);
        (
            topology.to_dot(),
            serde_json::to_string_pretty(&topology).expect("serialisable"),
        )
    });
    eprintln!("{json}");
    match out {
        Some(path) => {
            if let Err(e) = std::fs::write(&path, dot) {
                eprintln!("topology_dot: cannot write {path}: {e}");
                std::process::exit(1);
            }
        }
        None => print!("{dot}"),
    }
}
