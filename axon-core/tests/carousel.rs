//! Carousel as an Axon user expects it: one child at a time (outputs never interleave), queued
//! jobs served before the end, an end that waits for a child even when that child never
//! signals, and `request_next` when a child ends by itself.

use axon_core::components::Collect;
use axon_core::{
    Boxes, Carousel, Component, ComponentError, Control, Inbox, Outbox, Scheduler, link,
};
use std::time::Duration;

/// Sends its numbers one every 10 ms, ignoring its control inbox, and ends without a word on
/// `signal`.
#[derive(Boxes)]
struct Slow {
    inbox: Inbox<()>,
    control: Inbox<Control>,
    outbox: Outbox<u32>,
    signal: Outbox<Control>,
    numbers: Vec<u32>,
}

fn slow(numbers: Vec<u32>) -> Slow {
    Slow {
        inbox: Inbox::new(),
        control: Inbox::new(),
        outbox: Outbox::new(),
        signal: Outbox::new(),
        numbers,
    }
}

impl Component for Slow {
    async fn main(self) -> Result<(), ComponentError> {
        for n in self.numbers {
            tokio::time::sleep(Duration::from_millis(10)).await;
            self.outbox.send(n).await?;
        }
        Ok(())
    }
}

struct Rig {
    next: Outbox<Vec<u32>>,
    control: Outbox<Control>,
    requests: axon_core::components::Collected<()>,
    out: axon_core::components::Collected<u32>,
    ending: axon_core::components::Collected<Control>,
    scheduler: Scheduler,
}

fn rig(carousel: Carousel<Vec<u32>, Slow>) -> Rig {
    let (sink, out) = Collect::new();
    let (asks, requests) = Collect::new();
    let (end, ending) = Collect::new();
    link(&carousel.outbox, &sink.inbox).unwrap();
    link(&carousel.request_next, &asks.inbox).unwrap();
    link(&carousel.signal, &end.inbox).unwrap();
    let (next, control) = (Outbox::new(), Outbox::new());
    link(&next, &carousel.next).unwrap();
    link(&control, &carousel.control).unwrap();
    let scheduler = Scheduler::new();
    scheduler.activate(carousel);
    scheduler.activate(sink);
    scheduler.activate(asks);
    scheduler.activate(end);
    Rig {
        next,
        control,
        requests,
        out,
        ending,
        scheduler,
    }
}

impl Rig {
    /// Runs until the carousel has said it ended (then stops the sinks), at most a minute.
    async fn run_until_ended(&self) {
        let watch = async {
            while self.ending.is_empty() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            self.scheduler.shutdown();
        };
        tokio::time::timeout(Duration::from_secs(60), async {
            tokio::join!(self.scheduler.run(), watch)
        })
        .await
        .expect("the carousel ends");
    }
}

#[tokio::test(start_paused = true)]
async fn a_replacement_starts_only_after_the_child_before_it_has_ended() {
    let rig = rig(Carousel::new(slow).finish_timeout(Duration::from_secs(5)));
    rig.next.try_send(vec![1, 2, 3, 4, 5]).unwrap();
    rig.next.try_send(vec![100, 101]).unwrap(); // at once: the first child has just begun
    rig.control.try_send(Control::ProducerFinished).unwrap();
    rig.run_until_ended().await;
    assert_eq!(
        rig.out.take(),
        [1, 2, 3, 4, 5, 100, 101],
        "outputs never interleave"
    );
    assert_eq!(rig.ending.take(), [Control::ProducerFinished]);
}

#[tokio::test(start_paused = true)]
async fn it_ends_after_a_child_that_exits_without_signalling() {
    let rig = rig(Carousel::new(slow));
    rig.next.try_send(vec![7]).unwrap();
    rig.control.try_send(Control::ProducerFinished).unwrap();
    rig.run_until_ended().await;
    assert_eq!(rig.out.take(), [7]);
    assert_eq!(rig.ending.take(), [Control::ProducerFinished]);
}

#[tokio::test(start_paused = true)]
async fn it_asks_for_work_at_start_and_whenever_a_child_ends_by_itself() {
    let rig = rig(Carousel::new(slow).request_first());
    let run = rig.run_until_ended();
    let drive = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(rig.requests.len(), 1, "asked at start");
        rig.next.send(vec![1, 2]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            rig.requests.len(),
            2,
            "asked again once the child had ended"
        );
        rig.control
            .send(Control::ShutdownMicroprocess)
            .await
            .unwrap();
    };
    tokio::time::timeout(Duration::from_secs(60), async { tokio::join!(run, drive) })
        .await
        .unwrap();
    assert_eq!(rig.out.take(), [1, 2]);
    assert_eq!(rig.ending.take(), [Control::ShutdownMicroprocess]);
}

/// A child that never finishes when told is shut down after the finish timeout.
#[tokio::test(start_paused = true)]
async fn a_child_that_does_not_finish_when_told_is_shut_down_after_the_timeout() {
    let rig = rig(Carousel::new(slow).finish_timeout(Duration::from_millis(25)));
    rig.next.try_send((0..1000).collect()).unwrap(); // ten seconds of numbers
    rig.next.try_send(vec![9999]).unwrap();
    rig.control.try_send(Control::ProducerFinished).unwrap();
    rig.run_until_ended().await;
    let out = rig.out.take();
    assert_eq!(out.last(), Some(&9999));
    assert!(out.len() < 10, "the first child was stopped early: {out:?}");
}
