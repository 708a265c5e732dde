//! Rewiring while data flows: a pipeline's middle stage is replaced at run time; no message is
//! lost or duplicated, and each stage's output stays in order.

mod common;

use axon_core::{
    Boxes, Component, ComponentError, Control, Inbox, Next, Outbox, Scheduler, link, unlink,
};
use common::Relay;
use proptest::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;

/// Collects values until `producers` ProducerFinished messages have arrived.
#[derive(Boxes)]
struct FanInSink {
    inbox: Inbox<(u8, u32)>,
    control: Inbox<Control>,
    producers: usize,
    got: Rc<RefCell<Vec<(u8, u32)>>>,
}

impl Component for FanInSink {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut finished = 0;
        loop {
            match self.inbox.next_or_control(&mut self.control).await {
                Next::Data(v) => self.got.borrow_mut().push(v),
                Next::Control(_) => {
                    finished += 1;
                    if finished == self.producers {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// Tags what passes through with its stage number, so the sink can check order per stage.
fn tagger(tag: u8, capacity: usize) -> axon_core::components::Map<u32, (u8, u32)> {
    let m = axon_core::components::map(move |v: u32| (tag, v));
    m.inbox.set_capacity(capacity);
    m
}

fn run(n: u32, switch_at: u32, capacities: (usize, usize, usize)) -> Vec<(u8, u32)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let scheduler = Scheduler::new();
        let a = Relay::<u32>::with_capacity(capacities.0);
        let b = tagger(1, capacities.1);
        let got = Rc::new(RefCell::new(Vec::new()));
        let sink = FanInSink {
            inbox: Inbox::with_capacity(capacities.2),
            control: Inbox::new(),
            producers: 2,
            got: got.clone(),
        };
        let feed: Outbox<u32> = Outbox::new();
        let feed_signal: Outbox<Control> = Outbox::new();
        link(&feed, &a.inbox).unwrap();
        link(&feed_signal, &a.control).unwrap();
        link(&a.outbox, &b.inbox).unwrap();
        link(&a.signal, &b.control).unwrap();
        link(&b.outbox, &sink.inbox).unwrap();
        link(&b.signal, &sink.control).unwrap();
        let (a_out, a_signal) = (a.outbox.to_ref(), a.signal.to_ref());
        let (b_control, sink_inbox, sink_control) = (
            b.control.to_ref(),
            sink.inbox.to_ref(),
            sink.control.to_ref(),
        );
        scheduler.activate(a);
        scheduler.activate(b);
        scheduler.activate(sink);
        let run = scheduler.run();
        let drive = async {
            for v in 0..n {
                if v == switch_at {
                    // Replace stage b by b2 while values are in flight.
                    let b2 = tagger(2, capacities.1);
                    unlink(&a_out);
                    link(&a_out, &b2.inbox).unwrap();
                    unlink(&a_signal);
                    link(&a_signal, &b2.control).unwrap();
                    link(&b2.outbox, &sink_inbox).unwrap();
                    link(&b2.signal, &sink_control).unwrap();
                    scheduler.activate(b2);
                    // The old stage finishes what it already has, then leaves.
                    b_control.send(Control::ProducerFinished).await.unwrap();
                }
                feed.send(v).await.unwrap();
                if v % 7 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            feed_signal.send(Control::ProducerFinished).await.unwrap();
            if switch_at >= n {
                // No switch happened, so no second stage will finish: count it as done.
                sink_control.send(Control::ProducerFinished).await.unwrap();
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), async {
            futures::join!(run, drive)
        })
        .await
        .expect("the rewired system did not finish");
        got.take()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn relinking_the_middle_stage_loses_and_duplicates_nothing(
        n in 1u32..400,
        switch in 0u32..450,
        capacities in (1usize..8, 1usize..8, 1usize..8),
    ) {
        let got = run(n, switch, capacities);
        let mut values: Vec<u32> = got.iter().map(|(_, v)| *v).collect();
        values.sort_unstable();
        prop_assert_eq!(values, (0..n).collect::<Vec<_>>(), "lost or duplicated");
        for tag in [1u8, 2] {
            let stage: Vec<u32> = got.iter().filter(|(t, _)| *t == tag).map(|(_, v)| *v).collect();
            prop_assert!(stage.windows(2).all(|w| w[0] < w[1]), "stage {} out of order", tag);
            if tag == 1 {
                prop_assert!(stage.iter().all(|v| *v < switch), "old stage got a value sent after the switch");
            }
        }
    }
}

#[test]
fn unlink_all_frees_every_link_of_a_running_component() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (sink, got) = axon_core::components::Collect::<u32>::new();
        let sink_control = sink.control.to_ref();
        let double = axon_core::components::map(|n: u32| n * 2);
        let feed: axon_core::Outbox<u32> = axon_core::Outbox::new();
        axon_core::link(&feed, &double.inbox).unwrap();
        axon_core::link(&double.outbox, &sink.inbox).unwrap();
        let scheduler = axon_core::Scheduler::new();
        let double = scheduler.activate(double);
        scheduler.activate(sink);
        let drive = async {
            feed.send(1).await.unwrap();
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            // feed → double and double → sink.
            assert_eq!(double.unlink_all(), 2);
            assert_eq!(double.unlink_all(), 0, "nothing left to remove");
            feed.try_send(5).unwrap(); // held: the outbox is no longer linked
            assert_eq!(feed.held(), 1);
            double.stop();
            sink_control
                .send(axon_core::Control::ProducerFinished)
                .await
                .unwrap();
        };
        tokio::join!(scheduler.run(), drive);
        assert_eq!(got.take(), [2], "only what went through before the unlink");
    });
}
