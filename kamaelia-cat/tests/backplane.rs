//! The Backplane: fan-out to subscribers joining and leaving, each policy for a slow
//! subscriber, the end reaching everyone, Bytes shared not copied.

use axon_core::components::{Collect, Collected, DataSource};
use axon_core::{
    Boxes, Component, ComponentError, ComponentHandle, Control, Inbox, InboxRef, Outbox, Scheduler,
    link,
};
use bytes::Bytes;
use kamaelia_cat::{Backplane, Cat, Policy, PublishTo, SubscribeTo};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(30), f)
                .await
                .expect("deadline")
        })
}

async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

/// Records the first control message, passes it on to `then_stop`, and exits.
#[derive(Boxes)]
struct Watcher {
    inbox: Inbox<Control>,
    then_stop: InboxRef<Control>,
    seen: Rc<RefCell<Vec<Control>>>,
}

impl Component for Watcher {
    async fn main(mut self) -> Result<(), ComponentError> {
        let message = self.inbox.recv().await;
        self.seen.borrow_mut().push(message.clone());
        let _ = self.then_stop.send(message).await;
        Ok(())
    }
}

/// A subscriber feeding a collector; returns what it collects and its signal messages.
fn subscriber<T: Clone + 'static>(
    scheduler: &Scheduler,
    bus: &str,
    policy: Policy,
    bound: usize,
) -> (Collected<T>, Rc<RefCell<Vec<Control>>>, ComponentHandle) {
    let sub = SubscribeTo::<T>::new(bus, policy, bound);
    let (sink, items) = Collect::new();
    link(&sub.outbox, &sink.inbox).unwrap();
    // The subscriber's signal is recorded, and ends the collector.
    let watcher = Watcher {
        inbox: Inbox::new(),
        then_stop: sink.control.to_ref(),
        seen: Rc::default(),
    };
    let seen = watcher.seen.clone();
    link(&sub.signal, &watcher.inbox).unwrap();
    let handle = scheduler.activate(sub);
    scheduler.activate(sink);
    scheduler.activate(watcher);
    (items, seen, handle)
}

/// A subscriber whose consumer is the test itself, reading only when it chooses.
fn slow_subscriber<T: Clone + 'static>(
    scheduler: &Scheduler,
    bus: &str,
    policy: Policy,
    bound: usize,
) -> (Inbox<T>, Inbox<Control>) {
    let sub = SubscribeTo::<T>::new(bus, policy, bound);
    let consumer: Inbox<T> = Inbox::with_capacity(1);
    let signals: Inbox<Control> = Inbox::new();
    link(&sub.outbox, &consumer).unwrap();
    link(&sub.signal, &signals).unwrap();
    scheduler.activate(sub);
    (consumer, signals)
}

fn publisher(scheduler: &Scheduler, bus: &str, values: Vec<u32>) -> ComponentHandle {
    let source = DataSource::new(values);
    let publish = PublishTo::new(bus);
    link(&source.outbox, &publish.inbox).unwrap();
    link(&source.signal, &publish.control).unwrap();
    scheduler.activate(source);
    scheduler.activate(publish)
}

#[test]
fn every_subscriber_gets_everything_then_the_end() {
    block_on(async {
        let scheduler = Scheduler::new();
        let bus = Backplane::<u32>::new("news");
        let end = bus.control.to_ref();
        scheduler.activate(bus);
        let subs: Vec<_> = (0..3)
            .map(|_| subscriber::<u32>(&scheduler, "news", Policy::Block, 8))
            .collect();
        let publishing = publisher(&scheduler, "news", (0..1000).collect());
        let run = scheduler.run();
        let drive = async {
            while publishing.is_running() {
                tokio::task::yield_now().await;
            }
            end.send(Control::ProducerFinished).await.unwrap();
        };
        futures::join!(run, drive);
        for (items, seen, _) in &subs {
            assert_eq!(items.take(), (0..1000).collect::<Vec<_>>());
            assert_eq!(*seen.borrow(), [Control::ProducerFinished]);
        }
        let cat = Cat::of(&scheduler);
        assert_eq!(
            cat.retrieve_value::<u64>("backplane.news.published")
                .unwrap(),
            1000
        );
    });
}

#[test]
fn block_holds_the_publisher_back_and_loses_nothing() {
    block_on(async {
        let scheduler = Scheduler::new();
        let bus = Backplane::<u32>::new("b");
        let end = bus.control.to_ref();
        scheduler.activate(bus);
        let (fast, _, _) = subscriber::<u32>(&scheduler, "b", Policy::Block, 4);
        let (mut slow, _signals) = slow_subscriber::<u32>(&scheduler, "b", Policy::Block, 4);
        let publishing = publisher(&scheduler, "b", (0..200).collect());
        let cat = Cat::of(&scheduler);
        let run = scheduler.run();
        let drive = async {
            settle().await;
            // The slow consumer has read nothing: the bus, and so the publisher, must wait.
            assert!(publishing.is_running(), "the publisher was not held back");
            assert!(fast.len() < 200);
            let mut got = Vec::new();
            while got.len() < 200 {
                got.push(slow.recv().await);
            }
            assert_eq!(got, (0..200).collect::<Vec<_>>());
            while publishing.is_running() {
                tokio::task::yield_now().await;
            }
            end.send(Control::ProducerFinished).await.unwrap();
        };
        futures::join!(run, drive);
        assert_eq!(fast.take(), (0..200).collect::<Vec<_>>());
        assert!(
            cat.retrieve_value::<i64>("backplane.b.dropped").is_err(),
            "nothing dropped"
        );
    });
}

#[test]
fn drop_oldest_keeps_the_bus_moving_and_counts_what_it_drops() {
    block_on(async {
        let scheduler = Scheduler::new();
        let bus = Backplane::<u32>::new("d");
        let end = bus.control.to_ref();
        scheduler.activate(bus);
        let (fast, _, _) = subscriber::<u32>(&scheduler, "d", Policy::Block, 4);
        let (mut slow, _signals) = slow_subscriber::<u32>(&scheduler, "d", Policy::DropOldest, 4);
        let publishing = publisher(&scheduler, "d", (0..500).collect());
        let cat = Cat::of(&scheduler);
        let run = scheduler.run();
        let drive = async {
            // The slow consumer reads nothing until the publisher is done.
            while publishing.is_running() {
                tokio::task::yield_now().await;
            }
            settle().await;
            end.send(Control::ProducerFinished).await.unwrap();
            let mut got = Vec::new();
            while let Ok(v) = tokio::time::timeout(Duration::from_millis(200), slow.recv()).await {
                got.push(v);
            }
            got
        };
        let ((), got) = futures::join!(run, drive);
        assert_eq!(
            fast.take(),
            (0..500).collect::<Vec<_>>(),
            "the fast subscriber lost nothing"
        );
        let dropped = cat.retrieve_value::<i64>("backplane.d.dropped").unwrap();
        assert!(dropped > 0);
        // What the slow one got is in order, ends with the newest values, and the rest were
        // counted: none vanished unaccounted.
        assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
        assert_eq!(got.last(), Some(&499));
        assert_eq!(
            got.len() as i64 + dropped,
            500,
            "received + dropped = published"
        );
        // Memory stayed bounded: the queue held at most 4, plus the consumer's room and the
        // subscriber's inbox.
        assert!(got.len() <= 4 + 1 + axon_core::DEFAULT_CAPACITY);
    });
}

#[test]
fn disconnect_removes_a_slow_subscriber_and_tells_it_why() {
    block_on(async {
        let scheduler = Scheduler::new();
        let bus = Backplane::<u32>::new("x");
        let end = bus.control.to_ref();
        scheduler.activate(bus);
        let (fast, _, _) = subscriber::<u32>(&scheduler, "x", Policy::Block, 4);
        let (_slow, mut signals) = slow_subscriber::<u32>(&scheduler, "x", Policy::Disconnect, 4);
        let publishing = publisher(&scheduler, "x", (0..300).collect());
        let cat = Cat::of(&scheduler);
        let run = scheduler.run();
        let drive = async {
            let why = signals.recv().await;
            while publishing.is_running() {
                tokio::task::yield_now().await;
            }
            end.send(Control::ProducerFinished).await.unwrap();
            why
        };
        let ((), why) = futures::join!(run, drive);
        match why {
            Control::Failed(info) => assert!(info.message.contains("fell more than 4"), "{info}"),
            other => panic!("expected Failed, got {other:?}"),
        }
        assert_eq!(fast.take(), (0..300).collect::<Vec<_>>());
        assert_eq!(
            cat.retrieve_value::<i64>("backplane.x.disconnected")
                .unwrap(),
            1
        );
    });
}

#[test]
fn subscribers_join_and_leave_during_traffic() {
    block_on(async {
        let scheduler = Scheduler::new();
        let bus = Backplane::<u32>::new("j");
        let end = bus.control.to_ref();
        let data: InboxRef<u32> = bus.inbox.to_ref();
        scheduler.activate(bus);
        let (always, _, _) = subscriber::<u32>(&scheduler, "j", Policy::Block, 8);
        let cat = Cat::of(&scheduler);
        let run = scheduler.run();
        let drive = async {
            settle().await;
            for v in 0..100 {
                data.send(v).await.unwrap();
            }
            settle().await;
            let (late, late_seen, late_handle) =
                subscriber::<u32>(&scheduler, "j", Policy::Block, 8);
            settle().await;
            assert_eq!(
                cat.retrieve_value::<usize>("backplane.j.subscribers")
                    .unwrap(),
                2
            );
            for v in 100..200 {
                data.send(v).await.unwrap();
            }
            settle().await;
            // The late subscriber leaves.
            let leave: Outbox<Control> = Outbox::new();
            link(&leave, late_handle.inbox::<Control>("control").unwrap()).unwrap();
            leave.send(Control::ShutdownMicroprocess).await.unwrap();
            settle().await;
            for v in 200..300 {
                data.send(v).await.unwrap();
            }
            settle().await;
            end.send(Control::ProducerFinished).await.unwrap();
            (late.take(), late_seen.take())
        };
        let ((), (late, late_seen)) = futures::join!(run, drive);
        assert_eq!(always.take(), (0..300).collect::<Vec<_>>());
        assert_eq!(
            late,
            (100..200).collect::<Vec<_>>(),
            "joined at 100, left at 200"
        );
        assert_eq!(late_seen, [Control::ShutdownMicroprocess]);
    });
}

#[test]
fn bytes_fan_out_by_reference_not_by_copy() {
    block_on(async {
        let scheduler = Scheduler::new();
        let bus = Backplane::<Bytes>::new("pages");
        let end = bus.control.to_ref();
        let data = bus.inbox.to_ref();
        scheduler.activate(bus);
        let subs: Vec<_> = (0..3)
            .map(|_| subscriber::<Bytes>(&scheduler, "pages", Policy::Disconnect, 8))
            .collect();
        let page = Bytes::from(vec![7u8; 4096]);
        let run = scheduler.run();
        let drive = async {
            settle().await;
            data.send(page.clone()).await.unwrap();
            end.send(Control::ProducerFinished).await.unwrap();
        };
        futures::join!(run, drive);
        for (items, _, _) in &subs {
            let got = items.take();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].as_ptr(), page.as_ptr(), "the page was copied");
        }
    });
}
