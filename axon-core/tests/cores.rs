//! Every core: schedulers on several threads, components built on their core, typed links
//! between cores with a local link's backpressure, and one wait / shutdown / topology for all.

use axon_core::components::{Collect, DataSource, map};
use axon_core::{
    Boxes, Component, ComponentError, Control, CoreError, Cores, CrossInbox, Inbox, Outbox,
    SendError, TrySendError, link, link_cross, link_cross_control,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A consumer on core `core` whose collected values can be read from any thread.
fn collector_on(
    cores: &Cores,
    core: usize,
) -> (CrossInbox<u64>, axon_core::components::Collected<u64>) {
    cores
        .on_blocking(core, |scheduler| {
            let (sink, got) = Collect::<u64>::new();
            let address = CrossInbox::of(&sink.inbox, &sink.control).unwrap();
            scheduler.activate(sink);
            (address, got)
        })
        .unwrap()
}

#[test]
fn a_pipeline_across_two_cores_delivers_everything_in_order_and_ends() {
    let cores = Cores::with_count(2).unwrap();
    let (address, got) = collector_on(&cores, 1);
    cores
        .on_blocking(0, move |scheduler| {
            let source = DataSource::new(0..200_000u64);
            link_cross(&source.outbox, &address).unwrap();
            link_cross_control(&source.signal, &address).unwrap();
            scheduler.activate(source);
        })
        .unwrap();
    cores.wait_blocking();
    assert_eq!(got.take(), (0..200_000).collect::<Vec<_>>());
}

#[test]
fn a_chain_crossing_cores_back_and_forth_keeps_order() {
    // 0 → 1 → 0 → 1: stages alternate cores, each hop a cross-core link.
    let cores = Cores::with_count(2).unwrap();
    let (mut next, got) = collector_on(&cores, 1);
    for (stage, core) in [(3u64, 0), (2, 1), (1, 0)] {
        let downstream = next;
        next = cores
            .on_blocking(core, move |scheduler| {
                let stage_component = map(move |x: u64| x * 10 + stage);
                let address =
                    CrossInbox::of(&stage_component.inbox, &stage_component.control).unwrap();
                link_cross(&stage_component.outbox, &downstream).unwrap();
                link_cross_control(&stage_component.signal, &downstream).unwrap();
                scheduler.activate(stage_component);
                address
            })
            .unwrap();
    }
    let first = next;
    cores
        .on_blocking(1, move |scheduler| {
            let source = DataSource::new(0..5_000u64);
            link_cross(&source.outbox, &first).unwrap();
            link_cross_control(&source.signal, &first).unwrap();
            scheduler.activate(source);
        })
        .unwrap();
    cores.wait_blocking();
    let expected: Vec<u64> = (0..5_000u64)
        .map(|x| ((x * 10 + 1) * 10 + 2) * 10 + 3)
        .collect();
    assert_eq!(got.take(), expected);
}

/// Receives nothing until told to, so its inbox fills.
#[derive(Boxes)]
struct Stalled {
    inbox: Inbox<u64>,
    control: Inbox<Control>,
    release: Arc<AtomicUsize>,
}

impl Component for Stalled {
    async fn main(self) -> Result<(), ComponentError> {
        while self.release.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(())
    }
}

#[test]
fn a_full_link_pushes_back_and_a_gone_consumer_hands_values_back() {
    let cores = Cores::with_count(2).unwrap();
    let release = Arc::new(AtomicUsize::new(0));
    let gate = release.clone();
    let address = cores
        .on_blocking(1, move |scheduler| {
            let stalled = Stalled {
                inbox: Inbox::with_capacity(2),
                control: Inbox::new(),
                release: gate,
            };
            let address =
                CrossInbox::with_capacity(&stalled.inbox, Some((&stalled.control).into()), 4)
                    .unwrap();
            scheduler.activate(stalled);
            address
        })
        .unwrap();
    // Fill: the link (4), the ingress's batch (at most 4) and the inbox (2) hold at most 10.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut accepted = 0u64;
    loop {
        match address.try_send(accepted) {
            Ok(()) => accepted += 1,
            Err(TrySendError::Full(v)) => {
                assert_eq!(v, accepted, "a full link hands the value back");
                // The ingress may still be moving a batch: full only counts once it stays so.
                std::thread::sleep(Duration::from_millis(20));
                if address.try_send(accepted).is_err() {
                    break;
                }
                accepted += 1;
            }
            Err(other) => panic!("{other:?} while the consumer runs"),
        }
        assert!(Instant::now() < deadline, "never became full");
    }
    assert!((4..=10).contains(&accepted), "accepted {accepted}");
    // The consumer exits without reading: what it never got is counted, and sends come back.
    release.store(1, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    let returned = loop {
        match address.try_send(1234) {
            Err(TrySendError::Closed(v)) => break v,
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
        assert!(Instant::now() < deadline, "never closed");
    };
    assert_eq!(returned, 1234);
    assert!(address.is_closed());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(matches!(
        rt.block_on(address.send(5)),
        Err(SendError::Closed(5))
    ));
    drop(address);
    cores.wait_blocking();
}

#[test]
fn a_busy_link_wakes_the_other_core_far_less_than_once_per_message() {
    let cores = Cores::with_count(2).unwrap();
    let (address, got) = collector_on(&cores, 1);
    let probe = address.clone();
    cores
        .on_blocking(0, move |scheduler| {
            let source = DataSource::new(0..100_000u64);
            link_cross(&source.outbox, &address).unwrap();
            link_cross_control(&source.signal, &address).unwrap();
            scheduler.activate(source);
        })
        .unwrap();
    // Wait for the data rather than for the cores: `probe` keeps the link open.
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < 100_000 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    let counters = probe.counters();
    assert_eq!(
        counters.messages, 100_001,
        "the values and the ProducerFinished"
    );
    // A wake happens only when the reader had emptied the queue and slept; a burst of
    // values behind one wake is the point. (Each wake is one futex/eventfd poke.)
    assert!(
        counters.reader_wakes * 4 < counters.messages,
        "{} wakes for {} messages",
        counters.reader_wakes,
        counters.messages
    );
    drop(probe);
    cores.wait_blocking();
}

#[test]
fn topology_shows_every_core_and_the_links_between_them() {
    let cores = Cores::with_count(2).unwrap();
    let release = Arc::new(AtomicUsize::new(0));
    let gate = release.clone();
    let address = cores
        .on_blocking(1, move |scheduler| {
            let stalled = Stalled {
                inbox: Inbox::new(),
                control: Inbox::new(),
                release: gate,
            };
            let address = CrossInbox::of(&stalled.inbox, &stalled.control).unwrap();
            scheduler.activate(stalled);
            address
        })
        .unwrap();
    cores
        .on_blocking(0, move |scheduler| {
            // Endless, so it ends up blocked on the full link (the stalled consumer reads
            // nothing) and the link is there when the snapshot is taken.
            let source = DataSource::new(std::iter::repeat(7u64));
            link_cross(&source.outbox, &address).unwrap();
            scheduler.activate(source);
        })
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let topology = rt.block_on(cores.topology());
    assert_eq!(topology.cores.len(), 2);
    assert_eq!(topology.cores[0].core, Some(0));
    assert_eq!(topology.cores[1].core, Some(1));
    let names = |core: usize| -> Vec<String> {
        topology.cores[core]
            .components
            .iter()
            .map(|c| c.name.clone())
            .collect()
    };
    assert!(
        names(1).iter().any(|n| n.contains("Stalled")),
        "{:?}",
        names(1)
    );
    assert!(
        names(1).iter().any(|n| n.contains("CrossCoreIn")),
        "{:?}",
        names(1)
    );
    let dot = topology.to_dot();
    assert!(
        dot.contains("cluster_core0") && dot.contains("cluster_core1"),
        "{dot}"
    );
    let cross = &topology.cores[0].cross_links;
    assert_eq!(cross.len(), 1, "{cross:?}");
    assert_eq!(cross[0].to_core, Some(1));
    assert_eq!(cross[0].counters.capacity, axon_core::DEFAULT_CAPACITY);
    let ingress = cross[0].ingress.expect("the ingress is known");
    assert!(topology.cores[1].component(ingress).is_some());
    assert!(dot.contains("(cross-core)"), "{dot}");
    release.store(1, Ordering::SeqCst);
    cores.shutdown();
    cores.wait_blocking();
}

/// Panics at once.
#[derive(Boxes, Default)]
struct Bomb {
    inbox: Inbox<u64>,
    control: Inbox<Control>,
}

impl Component for Bomb {
    async fn main(self) -> Result<(), ComponentError> {
        panic!("boom on purpose");
    }
}

#[test]
fn a_panic_on_one_core_leaves_the_others_running() {
    let cores = Cores::with_count(2).unwrap();
    cores.spawn_on(0, Bomb::default).unwrap();
    let failed = cores.on_blocking(0, |_| -> u8 { panic!("a closure that fails") });
    assert!(
        matches!(&failed, Err(CoreError::Panicked(m)) if m.contains("a closure that fails")),
        "{failed:?}"
    );
    // Core 0 still works, and so does core 1.
    assert_eq!(cores.on_blocking(0, |_| 5).unwrap(), 5);
    let (address, got) = collector_on(&cores, 1);
    cores
        .on_blocking(0, move |scheduler| {
            let source = DataSource::new(0..10u64);
            link_cross(&source.outbox, &address).unwrap();
            link_cross_control(&source.signal, &address).unwrap();
            scheduler.activate(source);
        })
        .unwrap();
    cores.wait_blocking();
    assert_eq!(got.take(), (0..10).collect::<Vec<_>>());
    assert_eq!(
        cores.on_blocking(7, |_| ()),
        Err(CoreError::NoSuchCore { core: 7, cores: 2 })
    );
    // Waiting on a core from its own thread would never return: refused instead.
    let from_inside = cores
        .on_blocking(1, |_| {
            axon_core::current_cores()
                .unwrap()
                .on_blocking(1, |_| ())
                .unwrap_err()
        })
        .unwrap();
    assert_eq!(from_inside, CoreError::OwnThread);
}

#[test]
fn shutdown_stops_every_core_and_wait_returns() {
    let cores = Cores::with_count(3).unwrap();
    cores
        .spawn_each(|_| Stalled {
            inbox: Inbox::new(),
            control: Inbox::new(),
            release: Arc::new(AtomicUsize::new(0)),
        })
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let still_busy = rt.block_on(async {
        tokio::time::timeout(Duration::from_millis(200), cores.wait())
            .await
            .is_err()
    });
    assert!(still_busy, "the stalled components keep the cores busy");
    cores.shutdown();
    cores.wait_blocking();
    // The threads stay: more work can come.
    assert_eq!(cores.on_blocking(2, |s| s.len()).unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cores_run_inside_a_multi_threaded_tokio_app() {
    let cores = Cores::with_count(2).unwrap();
    let (address, got) = cores
        .on(1, |scheduler| {
            let (sink, got) = Collect::<u64>::new();
            let address = CrossInbox::of(&sink.inbox, &sink.control).unwrap();
            scheduler.activate(sink);
            (address, got)
        })
        .await
        .unwrap();
    // Ordinary tokio tasks may send through an address too.
    let sender = address.clone();
    tokio::spawn(async move {
        for i in 0..1000u64 {
            sender.send(i).await.unwrap();
        }
        sender
            .send_control(Control::ProducerFinished)
            .await
            .unwrap();
    })
    .await
    .unwrap();
    drop(address);
    cores.wait().await;
    assert_eq!(got.take(), (0..1000).collect::<Vec<_>>());
}

#[test]
fn a_cross_inbox_needs_a_scheduler_and_a_control_lane_to_link_control() {
    let inbox: Inbox<u64> = Inbox::new();
    let err = CrossInbox::data(&inbox).unwrap_err();
    assert!(err.to_string().contains("no scheduler"), "{err}");
    let cores = Cores::with_count(1).unwrap();
    let outcome = cores
        .on_blocking(0, |scheduler| {
            let (sink, _got) = Collect::<u64>::new();
            let address = CrossInbox::data(&sink.inbox).unwrap();
            scheduler.activate(sink);
            let signal: Outbox<Control> = Outbox::new();
            let refused = link_cross_control(&signal, &address)
                .unwrap_err()
                .to_string();
            // A same-core local link still works beside it.
            let source = DataSource::new(0..3u64);
            let (local_sink, local_got) = Collect::<u64>::new();
            link(&source.outbox, &local_sink.inbox).unwrap();
            link(&source.signal, &local_sink.control).unwrap();
            scheduler.activate(source);
            scheduler.activate(local_sink);
            (refused, local_got)
        })
        .unwrap();
    assert!(outcome.0.contains("control"), "{}", outcome.0);
    // The data-only collector never ends (no control lane): stop it.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(outcome.1.take(), vec![0, 1, 2]);
    cores.shutdown();
    cores.wait_blocking();
}
