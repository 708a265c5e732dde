//! The scheduler: tokio hosts, fairness, lifecycle, shutdown, panics, end-to-end delivery,
//! introspection.

mod common;

use axon_core::components::{Collect, DataSource};
use axon_core::{
    Boxes, Component, ComponentError, Control, Inbox, Outbox, Scheduler, link, yield_now,
};
use common::{Relay, block_on};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// A three-stage system whose result proves the scheduler ran it.
async fn sum_through_relay(n: u64) -> u64 {
    let scheduler = Scheduler::new();
    let source = DataSource::new(1..=n);
    let relay = Relay::<u64>::default();
    let (sink, items) = Collect::new();
    link(&source.outbox, &relay.inbox).unwrap();
    link(&source.signal, &relay.control).unwrap();
    link(&relay.outbox, &sink.inbox).unwrap();
    link(&relay.signal, &sink.control).unwrap();
    scheduler.activate(source);
    scheduler.activate(relay);
    scheduler.activate(sink);
    // A component awaiting a tokio timer directly.
    #[derive(Boxes)]
    struct Sleeper;
    impl Component for Sleeper {
        async fn main(self) -> Result<(), ComponentError> {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(())
        }
    }
    scheduler.activate(Sleeper);
    scheduler.run().await;
    items.take().iter().sum()
}

#[tokio::test(flavor = "current_thread")]
async fn runs_under_tokio_main_current_thread() {
    assert_eq!(sum_through_relay(100).await, 5050);
}

#[test]
fn runs_under_local_set_run_until() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    assert_eq!(local.block_on(&rt, sum_through_relay(100)), 5050);
    let total = rt.block_on(local.run_until(sum_through_relay(10)));
    assert_eq!(total, 55);
}

#[test]
fn runs_under_local_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build_local(Default::default())
        .unwrap();
    assert_eq!(rt.block_on(sum_through_relay(100)), 5050);
}

#[test]
fn runs_pinned_from_a_multi_threaded_app() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let total = rt.block_on(async {
        let pool = tokio_util::task::LocalPoolHandle::new(1);
        // The factory is Send; the scheduler and its components are built on the pinned thread.
        pool.spawn_pinned(|| sum_through_relay(1000)).await.unwrap()
    });
    assert_eq!(total, 500_500);
}

#[test]
fn standalone_run_entry_point() {
    axon_core::run(DataSource::new(0..10)).unwrap();
}

/// Always has work: keeps sending to itself and counting.
#[derive(Boxes)]
struct Busy {
    inbox: Inbox<u64>,
    outbox: Outbox<u64>,
    count: Rc<Cell<u64>>,
    stop: Rc<Cell<bool>>,
}

impl Component for Busy {
    async fn main(mut self) -> Result<(), ComponentError> {
        link(&self.outbox, &self.inbox)?;
        self.outbox.send(0).await?;
        while !self.stop.get() {
            let v = self.inbox.recv().await;
            self.count.set(self.count.get() + 1);
            self.outbox.send(v + 1).await?;
        }
        Ok(())
    }
}

#[derive(Boxes)]
struct Ticker {
    ticks: Rc<Cell<u64>>,
    stop: Rc<Cell<bool>>,
}

impl Component for Ticker {
    async fn main(self) -> Result<(), ComponentError> {
        let mut interval = tokio::time::interval(Duration::from_millis(2));
        for _ in 0..20 {
            interval.tick().await;
            self.ticks.set(self.ticks.get() + 1);
        }
        self.stop.set(true);
        Ok(())
    }
}

#[test]
fn busy_components_cannot_starve_others_or_tokio_timers() {
    block_on(async {
        let scheduler = Scheduler::new();
        let stop = Rc::new(Cell::new(false));
        let counts = [Rc::new(Cell::new(0)), Rc::new(Cell::new(0))];
        for count in &counts {
            scheduler.activate(Busy {
                inbox: Inbox::new(),
                outbox: Outbox::new(),
                count: count.clone(),
                stop: stop.clone(),
            });
        }
        let ticks = Rc::new(Cell::new(0));
        scheduler.activate(Ticker {
            ticks: ticks.clone(),
            stop: stop.clone(),
        });
        let started = std::time::Instant::now();
        scheduler.run().await;
        // The timer kept its pace (20 ticks at 2 ms, generously bounded) while both busy
        // components kept running.
        assert_eq!(ticks.get(), 20);
        assert!(started.elapsed() < Duration::from_secs(10));
        for count in &counts {
            assert!(
                count.get() > 1000,
                "a busy component starved: {}",
                count.get()
            );
        }
    });
}

#[test]
fn a_million_messages_through_ten_stages_arrive_complete_and_in_order() {
    block_on(async {
        const N: u64 = 1_000_000;
        let scheduler = Scheduler::new();
        let source = DataSource::new(0..N);
        let mut previous_out = source.outbox.to_ref();
        let mut previous_signal = source.signal.to_ref();
        scheduler.activate(source);
        for _ in 0..10 {
            let relay = Relay::<u64>::default();
            link(&previous_out, &relay.inbox).unwrap();
            link(&previous_signal, &relay.control).unwrap();
            previous_out = relay.outbox.to_ref();
            previous_signal = relay.signal.to_ref();
            scheduler.activate(relay);
        }
        #[derive(Boxes, Default)]
        struct Checksum {
            inbox: Inbox<u64>,
            control: Inbox<Control>,
            result: Rc<Cell<(u64, u64, bool)>>,
        }
        impl Component for Checksum {
            async fn main(mut self) -> Result<(), ComponentError> {
                let (mut count, mut sum, mut ordered) = (0u64, 0u64, true);
                while let Some(v) = self.inbox_or_finished().await {
                    ordered &= v == count;
                    count += 1;
                    sum = sum.wrapping_mul(31).wrapping_add(v);
                }
                self.result.set((count, sum, ordered));
                Ok(())
            }
        }
        let sink = Checksum::default();
        let result = sink.result.clone();
        link(&previous_out, &sink.inbox).unwrap();
        link(&previous_signal, &sink.control).unwrap();
        scheduler.activate(sink);
        scheduler.run().await;
        let expected = (0..N).fold(0u64, |s, v| s.wrapping_mul(31).wrapping_add(v));
        assert_eq!(result.get(), (N, expected, true));
    });
}

#[derive(Boxes, Default)]
struct Panicker {
    control: Inbox<Control>,
    signal: Outbox<Control>,
}

impl Component for Panicker {
    async fn main(self) -> Result<(), ComponentError> {
        yield_now().await;
        panic!("deliberate test panic");
    }
}

#[test]
fn a_panicking_component_is_isolated_and_reported_on_signal() {
    block_on(async {
        let scheduler = Scheduler::new();
        let panicker = Panicker::default();
        let (watcher, seen) = Collect::<Control>::new();
        // The watcher receives the failure on its inbox.
        link(&panicker.signal, &watcher.inbox).unwrap();
        let watcher_control = watcher.control.to_ref();
        scheduler.activate(panicker);
        scheduler.activate(watcher);
        let survivor = sum_through_relay(10);
        let ((), total) = futures::join!(
            async {
                let run = scheduler.run();
                let stop = async {
                    while seen.is_empty() {
                        tokio::task::yield_now().await;
                    }
                    watcher_control
                        .send(Control::ProducerFinished)
                        .await
                        .unwrap();
                };
                futures::join!(run, stop);
            },
            survivor
        );
        assert_eq!(total, 55, "the rest of the system kept running");
        let seen = seen.take();
        match &seen[..] {
            [Control::Failed(info)] => {
                assert_eq!(info.component, "Panicker");
                assert!(info.message.contains("deliberate test panic"), "{info}");
            }
            other => panic!("expected one Failed, got {other:?}"),
        }
    });
}

#[derive(Boxes, Default)]
struct Parent {
    control: Inbox<Control>,
    done: Rc<Cell<bool>>,
    stubborn: bool,
}

#[derive(Boxes, Default)]
struct Child {
    control: Inbox<Control>,
    stubborn: bool,
}

impl Component for Child {
    async fn main(mut self) -> Result<(), ComponentError> {
        if self.stubborn {
            std::future::pending::<()>().await;
        }
        while !matches!(self.control.recv().await, Control::ShutdownMicroprocess) {}
        Ok(())
    }
}

impl Component for Parent {
    async fn main(self) -> Result<(), ComponentError> {
        for _ in 0..3 {
            axon_core::activate(Child {
                stubborn: self.stubborn,
                ..Child::default()
            });
        }
        assert_eq!(axon_core::children().ids().len(), 3);
        axon_core::children()
            .shutdown(Duration::from_millis(50))
            .await;
        axon_core::children().all_done().await;
        assert!(axon_core::children().ids().is_empty());
        self.done.set(true);
        Ok(())
    }
}

#[test]
fn children_shut_down_politely_or_are_cancelled_after_the_grace_period() {
    for stubborn in [false, true] {
        block_on(async {
            let scheduler = Scheduler::new();
            let done = Rc::new(Cell::new(false));
            scheduler.activate(Parent {
                done: done.clone(),
                stubborn,
                ..Parent::default()
            });
            scheduler.run().await;
            assert!(done.get());
            assert!(scheduler.is_empty());
        });
    }
}

#[test]
fn scheduler_shutdown_stops_everything_and_run_returns() {
    block_on(async {
        let scheduler = Scheduler::new();
        for _ in 0..5 {
            scheduler.activate(Child {
                stubborn: true,
                ..Child::default()
            });
        }
        let run = scheduler.run();
        let stop = async {
            tokio::task::yield_now().await;
            assert_eq!(scheduler.len(), 5);
            scheduler.shutdown();
        };
        futures::join!(run, stop);
        assert!(scheduler.is_empty());
    });
}

#[test]
#[cfg(feature = "serde")]
fn topology_snapshot_serialises_and_renders_dot() {
    block_on(async {
        let scheduler = Scheduler::new();
        let relay = Relay::<u32>::with_capacity(4);
        let out: Outbox<u32> = Outbox::new();
        link(&out, &relay.inbox).unwrap();
        for i in 0..4 {
            out.try_send(i).unwrap();
        }
        let (sink, _items) = Collect::<u32>::new();
        sink.inbox.set_capacity(1);
        link(&relay.outbox, &sink.inbox).unwrap();
        let relay = scheduler.activate(relay);
        let sink_handle = scheduler.activate(sink);
        let run = scheduler.run();
        let inspect = async {
            for _ in 0..5 {
                tokio::task::yield_now().await;
            }
            let topo = scheduler.topology();
            // Collect is blocked? No: the relay is blocked on send (sink capacity 1, the sink
            // takes one at a time); whichever runs, states are among the known ones.
            let relay_info = topo.component(relay.id()).unwrap();
            assert_eq!(relay_info.name, "Relay<u32>");
            assert!(matches!(
                relay_info.state,
                axon_core::topology::ComponentState::Waiting
                    | axon_core::topology::ComponentState::Runnable
                    | axon_core::topology::ComponentState::BlockedOnSend
            ));
            let inbox = topo.find_box(relay.id(), "inbox").unwrap();
            assert_eq!(inbox.counters.capacity, 4);
            assert_eq!(inbox.counters.messages, 4);
            assert!(
                topo.links
                    .iter()
                    .any(|l| l.from.component == Some(relay.id())
                        && l.to.component == Some(sink_handle.id()))
            );
            let json = serde_json::to_value(&topo).unwrap();
            assert!(json["components"].as_array().unwrap().len() >= 2);
            assert_eq!(json["links"][0]["kind"], "data");
            let dot = topo.to_dot();
            assert!(dot.starts_with("digraph"));
            assert!(dot.contains("outbox→inbox"), "{dot}");
            scheduler.shutdown();
        };
        futures::join!(run, inspect);
    });
}

#[test]
fn an_idle_component_is_not_polled_until_a_delivery_wakes_it() {
    block_on(async {
        #[derive(Boxes, Default)]
        struct CountPolls {
            inbox: Inbox<u32>,
            polls: Rc<Cell<u32>>,
        }
        impl Component for CountPolls {
            async fn main(mut self) -> Result<(), ComponentError> {
                let polls = self.polls.clone();
                let inbox = &mut self.inbox;
                std::future::poll_fn(|cx| {
                    polls.set(polls.get() + 1);
                    inbox.poll_recv(cx)
                })
                .await;
                Ok(())
            }
        }
        let scheduler = Scheduler::new();
        let c = CountPolls::default();
        let polls = c.polls.clone();
        let out: Outbox<u32> = Outbox::new();
        link(&out, &c.inbox).unwrap();
        scheduler.activate(c);
        let run = scheduler.run();
        let drive = async {
            for _ in 0..50 {
                tokio::task::yield_now().await;
            }
            assert_eq!(polls.get(), 1, "polled while idle");
            out.send(1).await.unwrap();
        };
        futures::join!(run, drive);
        assert_eq!(polls.get(), 2);
    });
}

/// Waits forever, with no control inbox to be asked through.
#[derive(axon_core::Boxes)]
struct Deaf {
    inbox: axon_core::Inbox<u32>,
}

impl axon_core::Component for Deaf {
    async fn main(mut self) -> Result<(), axon_core::ComponentError> {
        loop {
            self.inbox.recv().await;
        }
    }
}

#[test]
fn a_handle_stops_a_component_with_or_without_a_control_inbox() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let scheduler = axon_core::Scheduler::new();
        let asked = scheduler.activate(axon_core::components::map(|n: u32| n));
        let deaf = scheduler.activate(Deaf {
            inbox: axon_core::Inbox::new(),
        });
        let stopper = async {
            tokio::task::yield_now().await;
            assert!(asked.stop(), "asked through its control inbox");
            assert!(deaf.stop(), "cancelled: it has no control inbox");
        };
        let finished = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            tokio::join!(scheduler.run(), stopper)
        })
        .await;
        assert!(
            finished.is_ok(),
            "both ended, so the scheduler's run returned"
        );
        assert!(!asked.is_running() && !deaf.is_running());
        assert!(!deaf.stop(), "already ended");
    });
}

/// Slow motion: with a pause after every round, the same system takes visibly longer (on
/// tokio's paused clock), and delivers the same.
#[tokio::test(start_paused = true)]
async fn slow_motion_pauses_after_every_round() {
    async fn run(config: axon_core::SchedulerConfig) -> (Vec<u32>, std::time::Duration) {
        let (sink, got) = Collect::new();
        let system = axon_core::pipeline!(DataSource::new(0..5u32), sink).unwrap();
        let scheduler = axon_core::Scheduler::with_config(config);
        scheduler.activate(system);
        let started = tokio::time::Instant::now();
        scheduler.run().await;
        (got.take(), started.elapsed())
    }
    let (fast, no_pause) = run(axon_core::SchedulerConfig::default()).await;
    let slow_config = axon_core::SchedulerConfig {
        round_delay: Some(Duration::from_millis(100)),
        ..axon_core::SchedulerConfig::default()
    };
    let (slow, paused) = run(slow_config).await;
    assert_eq!(fast, slow);
    assert_eq!(no_pause, Duration::ZERO);
    assert!(
        paused >= Duration::from_millis(300),
        "{paused:?}: a pause per round"
    );
}

/// Fails with an error of its own type.
#[derive(axon_core::Boxes)]
struct FailsWithCause {
    signal: axon_core::Outbox<axon_core::Control>,
}

impl axon_core::Component for FailsWithCause {
    async fn main(self) -> Result<(), axon_core::ComponentError> {
        let inner = std::io::Error::new(std::io::ErrorKind::NotFound, "no such station");
        Err(axon_core::ComponentError::new(inner))
    }
}

#[test]
fn a_failure_on_signal_carries_the_error_itself() {
    block_on(async {
        let failing = FailsWithCause {
            signal: axon_core::Outbox::new(),
        };
        let (sink, got) = Collect::<axon_core::Control>::new();
        axon_core::link(&failing.signal, &sink.inbox).unwrap();
        let sink_control = sink.control.to_ref();
        let scheduler = axon_core::Scheduler::new();
        scheduler.activate(failing);
        scheduler.activate(sink);
        let stop = async {
            while got.is_empty() {
                tokio::task::yield_now().await;
            }
            sink_control
                .send(axon_core::Control::ProducerFinished)
                .await
                .unwrap();
        };
        tokio::join!(scheduler.run(), stop);
        let got = got.take();
        let axon_core::Control::Failed(info) = &got[0] else {
            panic!("{got:?}");
        };
        assert_eq!(info.message, "no such station");
        let cause = info.cause().expect("the error itself travels");
        let component_error = cause
            .downcast_ref::<axon_core::ComponentError>()
            .expect("a ComponentError");
        let io = std::error::Error::source(component_error).is_none();
        assert!(io, "transparent: the io error has no source of its own");
        assert!(
            matches!(component_error, axon_core::ComponentError::Other(e) if e.downcast_ref::<std::io::Error>().is_some())
        );
    });
}

/// Looks at the topology before and after waking another component.
#[derive(axon_core::Boxes)]
struct Inspector {
    outbox: axon_core::Outbox<u32>,
    target: Option<axon_core::ComponentId>,
    seen: Rc<std::cell::RefCell<Vec<axon_core::topology::ComponentState>>>,
}

impl axon_core::Component for Inspector {
    async fn main(self) -> Result<(), axon_core::ComponentError> {
        let target = self.target.expect("set before activation");
        let state = || {
            let topology = axon_core::topology().expect("inside a scheduler");
            topology.component(target).expect("running").state
        };
        axon_core::yield_now().await; // let the worker start and wait
        self.seen.borrow_mut().push(state());
        self.outbox.send(7).await?; // wakes it: queued for the next round
        self.seen.borrow_mut().push(state());
        Ok(())
    }
}

#[test]
fn the_topology_tells_waiting_from_runnable() {
    use axon_core::topology::ComponentState;
    use std::cell::RefCell;
    block_on(async {
        let worker = axon_core::components::map(|n: u32| n);
        let seen = Rc::new(RefCell::new(Vec::new()));
        let mut inspector = Inspector {
            outbox: axon_core::Outbox::new(),
            target: None,
            seen: seen.clone(),
        };
        axon_core::link(&inspector.outbox, &worker.inbox).unwrap();
        let stop = worker.control.to_ref();
        let scheduler = axon_core::Scheduler::new();
        let worker = scheduler.activate(worker);
        inspector.target = Some(worker.id());
        scheduler.activate(inspector);
        let finish = async {
            while seen.borrow().len() < 2 {
                tokio::task::yield_now().await;
            }
            stop.send(axon_core::Control::ShutdownMicroprocess)
                .await
                .unwrap();
        };
        tokio::join!(scheduler.run(), finish);
        assert_eq!(
            *seen.borrow(),
            [ComponentState::Waiting, ComponentState::Runnable]
        );
    });
}

#[test]
fn measuring_counts_polls_only_while_on() {
    block_on(async {
        let scheduler = Scheduler::new();
        let worker = scheduler.activate(axon_core::components::map(|n: u32| n + 1));
        let input = worker.inbox::<u32>("inbox").unwrap();
        assert!(
            scheduler.topology().components[0].stats.is_none(),
            "off by default"
        );
        scheduler.measure(true);
        let run = scheduler.run();
        let drive = async {
            for n in 0..3 {
                input.send(n).await.unwrap();
                tokio::task::yield_now().await;
            }
            let stats = scheduler.topology().components[0].stats.expect("measured");
            assert!(
                stats.polls >= 1 && stats.since_last_run_ms.is_some(),
                "{stats:?}"
            );
            scheduler.measure(false);
            assert!(
                scheduler.topology().components[0].stats.is_none(),
                "forgotten when off"
            );
            worker.stop();
        };
        futures::join!(run, drive);
    });
}
