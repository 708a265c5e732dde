//! Links, services, the Backplane, values and live edges across a real `nats-server` on
//! loopback. Each side of a link has its own NATS connection, as two processes would (the
//! two-process tests are in examples/tests/cluster.rs). Needs nats-server; skipped without it
//! unless `KAMAELIA_REQUIRE_ALL` is set.

#[path = "support/nats_server.rs"]
mod nats_server;

use axon_core::components::{Collect, DataSource};
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Policy, Scheduler, link};
use kamaelia_cat::Backplane;
use kamaelia_net::nats::{
    Cluster, ClusterService, ClusterValues, ExportBackplane, LinkEvent, LinkStats, LiveEdge,
    LiveExport, RemoteInbox, RemoteOutbox, RemotePublishTo, RemoteSubscribeTo, ServiceCall,
    ServiceError,
};
use kamaelia_net::{ChunkKind, LiveChunk};
use nats_server::NatsServer;
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn run<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

async fn connect(server: &NatsServer) -> Cluster {
    Cluster::connect(&server.url()).await.expect("connects")
}

/// Waits for a component to end.
async fn until_ended(component: &axon_core::ComponentHandle) {
    while component.is_running() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs `scheduler` until every component ended, or fails the test after `limit`.
async fn run_within(scheduler: &Scheduler, limit: Duration) {
    tokio::time::timeout(limit, scheduler.run())
        .await
        .expect("the system finished in time");
}

#[test]
fn a_link_carries_every_value_in_order_and_the_end() {
    let Some(server) = NatsServer::start(false) else {
        return;
    };
    run(async {
        let (a, b) = (connect(&server).await, connect(&server).await);
        let source = DataSource::new(0..20_000u64);
        let sender = RemoteOutbox::<u64>::new(&a, "numbers").unwrap();
        let receiver = RemoteInbox::<u64>::new(&b, "numbers").unwrap();
        let (sink, got) = Collect::<u64>::new();
        link(&source.outbox, &sender.inbox).unwrap();
        link(&source.signal, &sender.control).unwrap();
        link(&receiver.outbox, &sink.inbox).unwrap();
        link(&receiver.signal, &sink.control).unwrap();
        let stats = receiver.stats();
        let scheduler = Scheduler::new();
        scheduler.activate(receiver);
        scheduler.activate(sender);
        scheduler.activate(source);
        scheduler.activate(sink);
        run_within(&scheduler, Duration::from_secs(30)).await;
        // The sink ended only because ProducerFinished crossed the link after the data.
        assert_eq!(got.take(), (0..20_000).collect::<Vec<_>>());
        assert_eq!(
            (stats.delivered(), stats.lost(), stats.malformed()),
            (20_000, 0, 0)
        );
    });
}

/// A consumer that takes `per_value` per value (sleeping in 1 ms steps), counting.
#[derive(Boxes)]
struct Slow {
    inbox: Inbox<u64>,
    control: Inbox<Control>,
    taken: Rc<Cell<u64>>,
    in_order: Rc<Cell<bool>>,
    every: u64,
}

impl Component for Slow {
    async fn main(mut self) -> Result<(), ComponentError> {
        while let Some(v) = self.inbox.recv_or_finished(&mut self.control).await {
            if v != self.taken.get() {
                self.in_order.set(false);
            }
            self.taken.set(self.taken.get() + 1);
            if v % self.every == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        Ok(())
    }
}

#[test]
fn a_slow_consumer_paces_its_producer_and_loses_nothing() {
    let Some(server) = NatsServer::start(false) else {
        return;
    };
    run(async {
        let (a, b) = (connect(&server).await, connect(&server).await);
        const N: u64 = 20_000;
        const WINDOW: u64 = 64;
        // The producer alone runs at well over a value per microsecond; the consumer sleeps
        // 1 ms every 10 values (>= 100 us a value): more than 100x slower.
        let source = DataSource::new(0..N);
        let sender = RemoteOutbox::<u64>::new(&a, "slow").unwrap();
        let receiver = RemoteInbox::<u64>::new(&b, "slow").unwrap().window(WINDOW);
        let taken = Rc::new(Cell::new(0));
        let in_order = Rc::new(Cell::new(true));
        let slow = Slow {
            inbox: Inbox::with_capacity(16),
            control: Inbox::new(),
            taken: taken.clone(),
            in_order: in_order.clone(),
            every: 10,
        };
        link(&source.outbox, &sender.inbox).unwrap();
        link(&source.signal, &sender.control).unwrap();
        link(&receiver.outbox, &slow.inbox).unwrap();
        link(&receiver.signal, &slow.control).unwrap();
        let (sent, received): (LinkStats, LinkStats) = (sender.stats(), receiver.stats());
        let sender_queue = sender.inbox.to_ref();
        let scheduler = Scheduler::new();
        scheduler.activate(receiver);
        scheduler.activate(sender);
        scheduler.activate(source);
        scheduler.activate(slow);
        // Sample how far the producer ran ahead of the consumer while it runs.
        let most_ahead = Rc::new(Cell::new(0u64));
        let watch = {
            let (most_ahead, taken, sent) = (most_ahead.clone(), taken.clone(), sent.clone());
            async move {
                while taken.get() < N {
                    most_ahead.set(
                        most_ahead
                            .get()
                            .max(sent.sent() - taken.get().min(sent.sent())),
                    );
                    if std::env::var_os("DEBUG_NATS").is_some() {
                        eprintln!(
                            "sent {} taken {} stalls {}",
                            sent.sent(),
                            taken.get(),
                            sent.stalls()
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        };
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(60), async {
            tokio::join!(scheduler.run(), watch)
        })
        .await
        .expect("finished in time");
        assert_eq!(taken.get(), N);
        assert!(in_order.get(), "values arrived out of order");
        assert_eq!((received.lost(), received.duplicates()), (0, 0));
        // In flight: at most the window, plus the receiver's one value being handed on and
        // the consumer's inbox (16). Everything else waited upstream, in the sender's inbox.
        let bound = WINDOW + 16 + 2;
        assert!(
            most_ahead.get() <= bound,
            "the producer ran {} values ahead of the consumer (bound {bound})",
            most_ahead.get()
        );
        assert!(
            received.delivered() == N && sent.stalls() > 0,
            "the producer never waited"
        );
        assert!(sender_queue.capacity() > 0);
        assert!(
            started.elapsed() >= Duration::from_millis(N / 10),
            "the consumer was not slow"
        );
    });
}

#[test]
fn a_broker_restart_mid_stream_is_survived_and_any_loss_is_reported() {
    let Some(mut server) = NatsServer::start(false) else {
        return;
    };
    let port = server.port;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    // Kill -9 the broker 1 s in, start it again 0.5 s later, from another thread.
    let killer = std::thread::spawn(move || {
        rx.recv().unwrap();
        std::thread::sleep(Duration::from_secs(1));
        server.kill();
        std::thread::sleep(Duration::from_millis(500));
        server.restart();
        server
    });
    rt.block_on(async {
        let url = format!("nats://127.0.0.1:{port}");
        let a = Cluster::connect(&url).await.unwrap();
        let b = Cluster::connect(&url).await.unwrap();
        const N: u64 = 3_000;
        let sender = RemoteOutbox::<u64>::new(&a, "restart").unwrap();
        let receiver = RemoteInbox::<u64>::new(&b, "restart").unwrap();
        let (sink, got) = Collect::<u64>::new();
        let (events, event_log) = Collect::<LinkEvent>::new();
        let feed = sender.inbox.to_ref();
        let finish = sender.control.to_ref();
        link(&receiver.outbox, &sink.inbox).unwrap();
        link(&receiver.signal, &sink.control).unwrap();
        link(&receiver.events, &events.inbox).unwrap();
        let stats = receiver.stats();
        let scheduler = Scheduler::new();
        scheduler.activate(receiver);
        scheduler.activate(sender);
        let sink = scheduler.activate(sink);
        scheduler.activate(events);
        tx.send(()).unwrap();
        // One value a millisecond for about 3 s: the restart falls in the middle.
        let produce = async move {
            for v in 0..N {
                feed.send(v).await.unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            finish.send(Control::ProducerFinished).await.unwrap();
            until_ended(&sink).await;
        };
        tokio::time::timeout(Duration::from_secs(60), async {
            tokio::select! { () = scheduler.run() => {}, () = produce => {} }
        })
        .await
        .expect("the link resumed and finished");
        let got = got.take();
        let lost_reported: u64 = event_log
            .take()
            .iter()
            .map(|e| match e {
                LinkEvent::Lost { count, .. } => *count,
                _ => 0,
            })
            .sum();
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "out of order or duplicated"
        );
        assert_eq!(
            got.len() as u64 + stats.lost(),
            N,
            "every value is delivered or counted lost"
        );
        assert_eq!(
            lost_reported,
            stats.lost(),
            "every loss is reported as an event"
        );
        assert!(
            got.iter().any(|&v| v > N * 2 / 3),
            "the link resumed after the restart"
        );
        eprintln!(
            "restart: {} delivered, {} lost (reported)",
            got.len(),
            stats.lost()
        );
    });
    drop(killer.join().unwrap());
}

#[test]
fn garbage_on_a_link_is_counted_and_never_stops_it() {
    let Some(server) = NatsServer::start(false) else {
        return;
    };
    run(async {
        let (a, b) = (connect(&server).await, connect(&server).await);
        let receiver = RemoteInbox::<String>::new(&b, "words").unwrap();
        let (sink, got) = Collect::<String>::new();
        link(&receiver.outbox, &sink.inbox).unwrap();
        link(&receiver.signal, &sink.control).unwrap();
        let stats = receiver.stats();
        let sender = RemoteOutbox::<String>::new(&a, "words").unwrap();
        let feed = sender.inbox.to_ref();
        let finish = sender.control.to_ref();
        let scheduler = Scheduler::new();
        scheduler.activate(receiver);
        scheduler.activate(sender);
        scheduler.activate(sink);
        let vandal = a.client().clone();
        let delivered = stats.clone();
        let produce = async move {
            for i in 0..100 {
                feed.send(format!("word {i}")).await.unwrap();
                if i == 0 {
                    // The receiver listens before the garbage starts (or it would miss some).
                    while delivered.delivered() == 0 {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
                if i % 10 == 0 {
                    for junk in [
                        &b""[..],
                        b"\xff\xff\xff",
                        b"\x00\x01\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
                        b"\x03",
                    ] {
                        vandal
                            .publish("kamaelia.link.words", bytes::Bytes::from_static(junk))
                            .await
                            .unwrap();
                    }
                }
            }
            finish.send(Control::ProducerFinished).await.unwrap();
        };
        tokio::time::timeout(Duration::from_secs(30), async {
            tokio::join!(scheduler.run(), produce)
        })
        .await
        .unwrap();
        assert_eq!(
            got.take(),
            (0..100).map(|i| format!("word {i}")).collect::<Vec<_>>()
        );
        assert!(stats.malformed() >= 30, "malformed: {}", stats.malformed());
        assert_eq!(stats.lost(), 0);
    });
}

#[test]
fn a_sender_without_a_receiver_fails_with_a_clear_error() {
    let Some(server) = NatsServer::start(false) else {
        return;
    };
    run(async {
        let a = connect(&server).await;
        let sender = RemoteOutbox::<u64>::new(&a, "nobody")
            .unwrap()
            .peer_timeout(Duration::from_millis(600));
        let (watcher, said) = Collect::<Control>::new();
        link(&sender.signal, &watcher.inbox).unwrap();
        sender.inbox.to_ref().try_send(1).unwrap();
        let scheduler = Scheduler::new();
        let sender = scheduler.activate(sender);
        scheduler.activate(watcher);
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::select! { () = scheduler.run() => {}, () = until_ended(&sender) => {} }
        })
        .await;
        let said = said.take();
        let Some(Control::Failed(info)) = said.first() else {
            panic!("expected a failure, got {said:?}");
        };
        assert!(
            info.to_string()
                .contains("nobody receives the link \"nobody\""),
            "{info}"
        );
        let bad = RemoteOutbox::<u64>::new(&a, "two words").unwrap_err();
        assert!(bad.to_string().contains("cannot be a link name"), "{bad}");
    });
}

/// Answers each call with `(instance, request * 2)`.
#[derive(Boxes)]
struct Doubler {
    inbox: Inbox<ServiceCall<u64, (u32, u64)>>,
    control: Inbox<Control>,
    instance: u32,
}

impl Component for Doubler {
    async fn main(mut self) -> Result<(), ComponentError> {
        while let Some(call) = self.inbox.recv_or_finished(&mut self.control).await {
            let answer = (self.instance, call.request * 2);
            call.reply(&answer).await?;
        }
        Ok(())
    }
}

#[test]
fn a_service_with_three_instances_spreads_calls_and_survives_losing_one() {
    let Some(server) = NatsServer::start(false) else {
        return;
    };
    run(async {
        let scheduler = Scheduler::new();
        let mut stops = Vec::new();
        for instance in 0..3 {
            // Each instance on its own connection, as in its own process.
            let cluster = connect(&server).await;
            let service = ClusterService::<u64, (u32, u64)>::new(&cluster, "double").unwrap();
            let handler = Doubler {
                inbox: Inbox::new(),
                control: Inbox::new(),
                instance,
            };
            link(&service.outbox, &handler.inbox).unwrap();
            link(&service.signal, &handler.control).unwrap();
            stops.push(service.control.to_ref());
            scheduler.activate(service);
            scheduler.activate(handler);
        }
        let caller = connect(&server).await;
        let calls = async {
            // Let the three subscriptions reach the server.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut per_instance = [0u32; 3];
            for i in 0..300u64 {
                let (instance, doubled) =
                    caller.call::<u64, (u32, u64)>("double", &i).await.unwrap();
                assert_eq!(doubled, i * 2);
                per_instance[instance as usize] += 1;
            }
            stops[1].send(Control::ShutdownMicroprocess).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            for i in 0..100u64 {
                let (instance, doubled) =
                    caller.call::<u64, (u32, u64)>("double", &i).await.unwrap();
                assert_eq!(doubled, i * 2);
                assert_ne!(instance, 1, "a withdrawn instance answered");
            }
            // A service nobody offers fails at once, not after the timeout.
            let asked = Instant::now();
            let missing = caller.call::<u64, u64>("triple", &1).await.unwrap_err();
            assert!(
                matches!(missing, ServiceError::NoSuchService { .. }),
                "{missing}"
            );
            assert!(asked.elapsed() < Duration::from_secs(1));
            // A request of the wrong type is refused with a reason.
            let wrong = caller
                .call::<String, (u32, u64)>("double", &"two".into())
                .await
                .unwrap_err();
            assert!(matches!(wrong, ServiceError::Refused { .. }), "{wrong}");
            for stop in &stops {
                let _ = stop.send(Control::ShutdownMicroprocess).await;
            }
            per_instance
        };
        let (_, per_instance) = tokio::time::timeout(Duration::from_secs(30), async {
            tokio::join!(scheduler.run(), calls)
        })
        .await
        .unwrap();
        assert!(
            per_instance.iter().all(|&n| n >= 30),
            "calls were not spread: {per_instance:?}"
        );
    });
}

#[test]
fn the_backplane_reaches_subscribers_and_takes_publishers_in_other_processes() {
    let Some(server) = NatsServer::start(false) else {
        return;
    };
    run(async {
        let (home, away) = (connect(&server).await, connect(&server).await);
        let scheduler = Scheduler::new();
        let bus = Backplane::<u64>::new("numbers");
        let end_bus = bus.control.to_ref();
        scheduler.activate(bus);
        scheduler.activate(ExportBackplane::<u64>::new(&home, "numbers").unwrap());
        // A subscriber "away", with Block: it must see everything published after it joined.
        let subscriber =
            RemoteSubscribeTo::join::<u64>(&away, "numbers", Policy::Block, 8).unwrap();
        let (sink, got) = Collect::<u64>::new();
        link(&subscriber.outbox, &sink.inbox).unwrap();
        link(&subscriber.signal, &sink.control).unwrap();
        scheduler.activate(subscriber);
        let sink = scheduler.activate(sink);
        // A publisher "away" too.
        let publisher = RemotePublishTo::join::<u64>(&away, "numbers").unwrap();
        let publish = publisher.inbox.to_ref();
        let publisher_done = publisher.control.to_ref();
        scheduler.activate(publisher);
        let drive = async move {
            // Give the subscriber time to join: it sees what is published after that.
            tokio::time::sleep(Duration::from_millis(500)).await;
            for v in 0..2_000u64 {
                publish.send(v).await.unwrap();
            }
            publisher_done
                .send(Control::ProducerFinished)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
            end_bus.send(Control::ProducerFinished).await.unwrap();
            until_ended(&sink).await;
        };
        // The exporter serves on; the test is over when the remote subscriber's consumer ended.
        tokio::time::timeout(Duration::from_secs(30), async {
            tokio::select! { () = scheduler.run() => {}, () = drive => {} }
        })
        .await
        .expect("the bus ended and its end reached the remote subscriber");
        assert_eq!(got.take(), (0..2_000).collect::<Vec<_>>());
    });
}

#[test]
fn values_are_visible_to_every_process() {
    let Some(server) = NatsServer::start(true) else {
        return;
    };
    run(async {
        let (a, b) = (connect(&server).await, connect(&server).await);
        let mine = ClusterValues::open(&a, "stats").await.unwrap();
        mine.set("edge-1.listeners", &42u64).await.unwrap();
        mine.set("edge-1.net.tcp.127.0.0.1:8000.bytes_out", &7u64)
            .await
            .unwrap();
        let theirs = ClusterValues::open(&b, "stats").await.unwrap();
        assert_eq!(
            theirs.get::<u64>("edge-1.listeners").await.unwrap(),
            Some(42)
        );
        assert_eq!(theirs.get::<u64>("edge-2.listeners").await.unwrap(), None);
        assert!(
            theirs.get::<String>("edge-1.listeners").await.is_err(),
            "wrong type is an error"
        );
        let mut keys = theirs.keys().await.unwrap();
        keys.sort();
        assert_eq!(
            keys,
            [
                "edge-1.listeners",
                "edge-1.net.tcp.127.0.0.1_8000.bytes_out"
            ]
        );
    });
}

fn chunk(kind: ChunkKind, text: &str) -> LiveChunk {
    LiveChunk {
        bytes: bytes::Bytes::copy_from_slice(text.as_bytes()),
        kind,
    }
}

#[test]
fn an_edge_joining_late_gets_the_header_then_the_live_stream() {
    let Some(server) = NatsServer::start(false) else {
        return;
    };
    run(async {
        let (source, edge_side) = (connect(&server).await, connect(&server).await);
        let scheduler = Scheduler::new();
        let export = LiveExport::new(&source, "radio").unwrap();
        let feed = export.inbox.to_ref();
        let end = export.control.to_ref();
        scheduler.activate(export);
        let drive = {
            let scheduler = &scheduler;
            async move {
                feed.send(chunk(ChunkKind::Header, "H1")).await.unwrap();
                feed.send(chunk(ChunkKind::Header, "H2")).await.unwrap();
                for i in 0..50 {
                    feed.send(chunk(ChunkKind::JoinPoint, &format!("early {i}")))
                        .await
                        .unwrap();
                }
                // The edge joins now, mid-stream.
                let edge = LiveEdge::join(&edge_side, "radio").unwrap();
                let (sink, got) = Collect::<LiveChunk>::new();
                link(&edge.outbox, &sink.inbox).unwrap();
                link(&edge.signal, &sink.control).unwrap();
                let stats = edge.stats();
                scheduler.activate(edge);
                scheduler.activate(sink);
                while stats.delivered() < 2 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                for i in 0..50 {
                    feed.send(chunk(
                        if i % 5 == 0 {
                            ChunkKind::JoinPoint
                        } else {
                            ChunkKind::Continuation
                        },
                        &format!("late {i}"),
                    ))
                    .await
                    .unwrap();
                }
                end.send(Control::ProducerFinished).await.unwrap();
                got
            }
        };
        let (_, got) = tokio::time::timeout(Duration::from_secs(30), async {
            tokio::join!(scheduler.run(), drive)
        })
        .await
        .expect("the edge ended with the stream");
        let got: Vec<String> = got
            .take()
            .into_iter()
            .map(|c| String::from_utf8(c.bytes.to_vec()).unwrap())
            .collect();
        let mut expected = vec!["H1".to_string(), "H2".to_string()];
        expected.extend((0..50).map(|i| format!("late {i}")));
        assert_eq!(got, expected);
    });
}

#[test]
fn a_lossless_link_loses_and_duplicates_nothing_across_a_broker_restart() {
    let Some(mut server) = NatsServer::start(true) else {
        return;
    };
    let port = server.port;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let killer = std::thread::spawn(move || {
        rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(700));
        server.kill();
        std::thread::sleep(Duration::from_millis(700));
        server.restart();
        server
    });
    run(async {
        let url = format!("nats://127.0.0.1:{port}");
        let a = Cluster::connect(&url).await.unwrap();
        let b = Cluster::connect(&url).await.unwrap();
        const N: u64 = 3_000;
        let sender = RemoteOutbox::<u64>::new(&a, "ledger")
            .unwrap()
            .lossless()
            .window(32);
        let receiver = RemoteInbox::<u64>::new(&b, "ledger")
            .unwrap()
            .lossless()
            .window(32);
        let (sink, got) = Collect::<u64>::new();
        let feed = sender.inbox.to_ref();
        let finish = sender.control.to_ref();
        link(&receiver.outbox, &sink.inbox).unwrap();
        link(&receiver.signal, &sink.control).unwrap();
        let (sent, received) = (sender.stats(), receiver.stats());
        let scheduler = Scheduler::new();
        scheduler.activate(receiver);
        scheduler.activate(sender);
        scheduler.activate(sink);
        tx.send(()).unwrap();
        let produce = async move {
            for v in 0..N {
                feed.send(v).await.unwrap();
                if v % 3 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            finish.send(Control::ProducerFinished).await.unwrap();
        };
        tokio::time::timeout(Duration::from_secs(90), async {
            tokio::join!(scheduler.run(), produce)
        })
        .await
        .expect("the lossless link resumed and finished");
        assert_eq!(
            got.take(),
            (0..N).collect::<Vec<_>>(),
            "lost, duplicated or reordered"
        );
        assert_eq!((sent.sent(), received.delivered()), (N, N));
        eprintln!(
            "lossless restart: {N} delivered, {} duplicates dropped, {} republished",
            received.duplicates(),
            sent.stalls()
        );
    });
    drop(killer.join().unwrap());
}

/// Takes a value every `pause`, collecting them; records the control message that ended it.
#[derive(Boxes)]
struct Dawdler {
    inbox: Inbox<u64>,
    control: Inbox<Control>,
    got: Rc<std::cell::RefCell<Vec<u64>>>,
    ended: Rc<std::cell::RefCell<Option<Control>>>,
    pause: Duration,
}

impl Component for Dawdler {
    async fn main(mut self) -> Result<(), ComponentError> {
        loop {
            match self.inbox.next_or_control(&mut self.control).await {
                axon_core::Next::Data(v) => {
                    self.got.borrow_mut().push(v);
                    tokio::time::sleep(self.pause).await;
                }
                axon_core::Next::Control(c) => {
                    *self.ended.borrow_mut() = Some(c);
                    return Ok(());
                }
            }
        }
    }
}

#[test]
fn remote_subscribers_get_their_policy_applied_where_the_bus_is() {
    let Some(server) = NatsServer::start(false) else {
        return;
    };
    run(async {
        let (home, away) = (connect(&server).await, connect(&server).await);
        let scheduler = Scheduler::new();
        let bus = Backplane::<u64>::new("ticks");
        let publish = bus.inbox.to_ref();
        let end_bus = bus.control.to_ref();
        scheduler.activate(bus);
        scheduler.activate(ExportBackplane::<u64>::new(&home, "ticks").unwrap());
        let mut watch = Vec::new();
        for policy in [Policy::Disconnect, Policy::DropOldest] {
            let subscriber = RemoteSubscribeTo::join::<u64>(&away, "ticks", policy, 4)
                .unwrap()
                .window(8);
            let got = Rc::new(std::cell::RefCell::new(Vec::new()));
            let ended = Rc::new(std::cell::RefCell::new(None));
            let slow = Dawdler {
                inbox: Inbox::with_capacity(2),
                control: Inbox::new(),
                got: got.clone(),
                ended: ended.clone(),
                pause: Duration::from_millis(2),
            };
            link(&subscriber.outbox, &slow.inbox).unwrap();
            link(&subscriber.signal, &slow.control).unwrap();
            scheduler.activate(subscriber);
            watch.push((policy, scheduler.activate(slow), got, ended));
        }
        let drive = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            // Far more than a slow subscriber can hold, a few at a time.
            for v in 0..3_000u64 {
                publish.send(v).await.unwrap();
                if v % 4 == 3 {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
            }
            end_bus.send(Control::ProducerFinished).await.unwrap();
            for (_, handle, _, _) in &watch {
                until_ended(handle).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), async {
            tokio::select! { () = scheduler.run() => {}, () = drive => {} }
        })
        .await
        .expect("both remote subscribers ended");
        for (policy, _, got, ended) in &watch {
            let got = got.borrow();
            let ended = ended.borrow();
            assert!(
                got.windows(2).all(|w| w[0] < w[1]),
                "{policy:?}: out of order"
            );
            assert!(
                got.len() < 3_000,
                "{policy:?}: a slow subscriber got everything"
            );
            match policy {
                Policy::Disconnect => {
                    // A prefix of the stream, then the reason it was cut off.
                    assert!(
                        got.iter().enumerate().all(|(i, &v)| v == i as u64),
                        "{policy:?}: gap before the cut"
                    );
                    let Some(Control::Failed(info)) = ended.as_ref() else {
                        panic!("Disconnect: expected a failure, got {ended:?}");
                    };
                    assert!(
                        !got.is_empty(),
                        "Disconnect: nothing arrived before the cut"
                    );
                    eprintln!("disconnected after {} values: {info}", got.len());
                }
                _ => {
                    // Old values dropped at the bus, the stream's end still delivered.
                    assert!(
                        ended.as_ref().is_some_and(Control::is_producer_finished),
                        "{ended:?}"
                    );
                    assert_eq!(got.last(), Some(&2_999), "DropOldest keeps the newest");
                    eprintln!("drop-oldest: {} of 3000 values", got.len());
                }
            }
        }
    });
}

#[test]
fn large_values_are_bounded_by_the_byte_window() {
    let Some(server) = NatsServer::start(false) else {
        return;
    };
    run(async {
        let (a, b) = (connect(&server).await, connect(&server).await);
        const N: u64 = 60;
        const SIZE: usize = 200 * 1024;
        // 1 MiB of frames in flight: five values of 200 KiB (and one may overshoot).
        let source = DataSource::new((0..N).map(|i| vec![i as u8; SIZE]));
        let sender = RemoteOutbox::<Vec<u8>>::new(&a, "big").unwrap();
        let receiver = RemoteInbox::<Vec<u8>>::new(&b, "big")
            .unwrap()
            .window_bytes(1 << 20);
        let taken = Rc::new(Cell::new(0u64));
        let slow = {
            let taken = taken.clone();
            axon_core::components::map(move |v: Vec<u8>| {
                assert_eq!(v.len(), SIZE);
                taken.set(taken.get() + 1);
                std::thread::sleep(Duration::from_millis(5));
            })
        };
        slow.inbox.set_capacity(1);
        let (sink, _) = Collect::<()>::new();
        link(&source.outbox, &sender.inbox).unwrap();
        link(&source.signal, &sender.control).unwrap();
        link(&receiver.outbox, &slow.inbox).unwrap();
        link(&receiver.signal, &slow.control).unwrap();
        link(&slow.outbox, &sink.inbox).unwrap();
        link(&slow.signal, &sink.control).unwrap();
        let sent = sender.stats();
        let scheduler = Scheduler::new();
        scheduler.activate(receiver);
        scheduler.activate(sender);
        scheduler.activate(source);
        scheduler.activate(slow);
        scheduler.activate(sink);
        let most_ahead = Rc::new(Cell::new(0u64));
        let watch = {
            let (most_ahead, taken) = (most_ahead.clone(), taken.clone());
            async move {
                while taken.get() < N {
                    most_ahead.set(
                        most_ahead
                            .get()
                            .max(sent.sent().saturating_sub(taken.get())),
                    );
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(60), async {
            tokio::join!(scheduler.run(), watch)
        })
        .await
        .expect("finished in time");
        assert_eq!(taken.get(), N);
        // In flight: 1 MiB of credit (5 values, plus one overshooting), one being handed on,
        // one in the consumer's inbox, one the consumer holds.
        assert!(
            most_ahead.get() <= 9,
            "the producer ran {} values ahead",
            most_ahead.get()
        );
    });
}

#[test]
fn a_lossless_receiver_replaced_mid_stream_loses_nothing() {
    let Some(server) = NatsServer::start(true) else {
        return;
    };
    run(async {
        let (a, b) = (connect(&server).await, connect(&server).await);
        const N: u64 = 2_000;
        let sender = RemoteOutbox::<u64>::new(&a, "handover")
            .unwrap()
            .lossless()
            .window(32);
        let first = RemoteInbox::<u64>::new(&b, "handover")
            .unwrap()
            .lossless()
            .window(32);
        let (first_sink, first_got) = Collect::<u64>::new();
        link(&first.outbox, &first_sink.inbox).unwrap();
        link(&first.signal, &first_sink.control).unwrap();
        let stop_first = first.control.to_ref();
        let (feed, finish) = (sender.inbox.to_ref(), sender.control.to_ref());
        let scheduler = Scheduler::new();
        scheduler.activate(first);
        scheduler.activate(first_sink);
        scheduler.activate(sender);
        // Keeps the scheduler running between the two receivers (the test ends it).
        scheduler.activate(Collect::<()>::new().0);
        let second_got = Rc::new(std::cell::RefCell::new(None));
        let drive = {
            let (scheduler, second_got, first_got) = (&scheduler, second_got.clone(), &first_got);
            let b = b.clone();
            async move {
                let produce = async {
                    for v in 0..N {
                        feed.send(v).await.unwrap();
                        if v % 4 == 0 {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    }
                    finish.send(Control::ProducerFinished).await.unwrap();
                };
                let hand_over = async {
                    while first_got.len() < 500 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    // The first receiver goes, with values in hand; another takes its place.
                    stop_first
                        .send(Control::ShutdownMicroprocess)
                        .await
                        .unwrap();
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let second = RemoteInbox::<u64>::new(&b, "handover")
                        .unwrap()
                        .lossless()
                        .window(32);
                    let (sink, got) = Collect::<u64>::new();
                    link(&second.outbox, &sink.inbox).unwrap();
                    link(&second.signal, &sink.control).unwrap();
                    scheduler.activate(second);
                    let sink = scheduler.activate(sink);
                    until_ended(&sink).await;
                    *second_got.borrow_mut() = Some(got);
                };
                tokio::join!(produce, hand_over);
            }
        };
        tokio::time::timeout(Duration::from_secs(90), async {
            tokio::select! { () = scheduler.run() => {}, () = drive => {} }
        })
        .await
        .expect("the second receiver got the end of the stream");
        let first = first_got.take();
        let second = second_got.borrow_mut().take().unwrap().take();
        let mut all: Vec<u64> = first.iter().chain(second.iter()).copied().collect();
        all.sort_unstable();
        let again = all.len() as u64 - {
            all.dedup();
            all.len() as u64
        };
        let missing: Vec<u64> = (0..N).filter(|v| all.binary_search(v).is_err()).collect();
        assert!(missing.is_empty(), "lost in the handover: {missing:?}");
        assert_eq!(all.len() as u64, N);
        eprintln!(
            "handover: {} then {} values, {again} handed on twice (held by the first when it went)",
            first.len(),
            second.len()
        );
    });
}

#[test]
fn a_remote_subscriber_that_leaves_stops_holding_a_blocking_bus_at_once() {
    let Some(server) = NatsServer::start(false) else {
        return;
    };
    run(async {
        let (home, away) = (connect(&server).await, connect(&server).await);
        let scheduler = Scheduler::new();
        let bus = Backplane::<u64>::new("held");
        let publish = bus.inbox.to_ref();
        scheduler.activate(bus);
        scheduler.activate(ExportBackplane::<u64>::new(&home, "held").unwrap());
        // A Block subscriber whose consumer never takes anything: the bus fills up behind it.
        let subscriber = RemoteSubscribeTo::join::<u64>(&away, "held", Policy::Block, 4)
            .unwrap()
            .window(8);
        let stop = subscriber.control.to_ref();
        let stuck = Inbox::<u64>::with_capacity(1);
        link(&subscriber.outbox, &stuck).unwrap();
        scheduler.activate(subscriber);
        let drive = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            // Fill everything between the bus and the stuck consumer.
            let mut published = 0u64;
            while tokio::time::timeout(Duration::from_millis(300), publish.send(published))
                .await
                .is_ok()
            {
                published += 1;
            }
            assert!(
                published < 1_000,
                "the bus was never held ({published} published)"
            );
            // The subscriber leaves: the bus must take values again well before the 10 s it
            // would take the exporter to notice the silence.
            let left = Instant::now();
            stop.send(Control::ShutdownMicroprocess).await.unwrap();
            for v in 0..1_000u64 {
                publish.send(published + v).await.unwrap();
            }
            left.elapsed()
        };
        let freed_after = tokio::time::timeout(Duration::from_secs(30), async {
            tokio::select! {
                () = scheduler.run() => unreachable!("the exporter serves until stopped"),
                freed = drive => freed,
            }
        })
        .await
        .expect("the bus was released");
        assert!(
            freed_after < Duration::from_secs(3),
            "the bus was held {freed_after:?} after the subscriber left"
        );
        eprintln!("bus released {freed_after:?} after the remote subscriber left");
        drop(stuck);
    });
}
