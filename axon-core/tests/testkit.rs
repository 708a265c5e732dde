//! Components tested with the test kit, under tokio's paused clock.

mod common;

use axon_core::components::{Detuple, map};
use axon_core::testkit::TestKit;
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox};
use common::Relay;
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn map_transforms_and_forwards_the_end() {
    let mut outcome = TestKit::new(map(|s: String| s.len()))
        .deliver_all(
            Duration::ZERO,
            "inbox",
            ["a".to_string(), "abc".to_string()],
        )
        .unwrap()
        .control(Duration::from_millis(10), Control::ProducerFinished)
        .unwrap()
        .collect::<usize>("outbox")
        .unwrap()
        .collect::<Control>("signal")
        .unwrap()
        .run_for(Duration::from_secs(1))
        .await;
    assert!(outcome.finished());
    assert_eq!(outcome.take::<usize>("outbox"), [1, 3]);
    assert_eq!(
        outcome.take::<Control>("signal"),
        [Control::ProducerFinished]
    );
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_is_forwarded_not_a_finish() {
    let mut outcome = TestKit::new(Relay::<u8>::default())
        .control(Duration::ZERO, Control::ShutdownMicroprocess)
        .unwrap()
        .collect::<Control>("signal")
        .unwrap()
        .run_for(Duration::from_secs(1))
        .await;
    assert!(outcome.finished());
    assert_eq!(
        outcome.take::<Control>("signal"),
        [Control::ShutdownMicroprocess]
    );
}

#[tokio::test(start_paused = true)]
async fn detuple_keeps_the_second_element() {
    let mut outcome = TestKit::new(Detuple::<&'static str, u8>::default())
        .deliver_all(Duration::ZERO, "inbox", [("x", 1u8), ("y", 2)])
        .unwrap()
        .control(Duration::ZERO, Control::ProducerFinished)
        .unwrap()
        .collect::<u8>("outbox")
        .unwrap()
        .run_for(Duration::from_secs(1))
        .await;
    assert_eq!(outcome.take::<u8>("outbox"), [1, 2]);
}

/// Emits a tick every 100 ms until told to stop.
#[derive(Boxes, Default)]
struct Ticker {
    control: Inbox<Control>,
    outbox: Outbox<u32>,
}

impl Component for Ticker {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut interval = tokio::time::interval(Duration::from_millis(100));
        let mut n = 0;
        loop {
            tokio::select! {
                _ = interval.tick() => {
                    self.outbox.send(n).await?;
                    n += 1;
                }
                _ = self.control.recv() => return Ok(()),
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn scripted_times_cost_no_real_time() {
    let started = std::time::Instant::now();
    let mut outcome = TestKit::new(Ticker::default())
        .control(Duration::from_millis(550), Control::ShutdownMicroprocess)
        .unwrap()
        .collect::<u32>("outbox")
        .unwrap()
        .run_for(Duration::from_secs(60))
        .await;
    assert!(outcome.finished());
    assert_eq!(outcome.take::<u32>("outbox"), [0, 1, 2, 3, 4, 5]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the clock was not paused"
    );
}

#[tokio::test(start_paused = true)]
async fn a_component_that_never_ends_is_reported_unfinished() {
    let outcome = TestKit::new(Ticker::default())
        .run_for(Duration::from_secs(2))
        .await;
    assert!(!outcome.finished());
}

#[test]
fn scripting_a_box_that_does_not_exist_is_an_error() {
    let kit = TestKit::new(Ticker::default());
    let err = kit.deliver(Duration::ZERO, "inbox", 1u32).err().unwrap();
    assert!(err.to_string().contains("inbox"), "{err}");
    let kit = TestKit::new(Ticker::default());
    let err = kit.collect::<String>("outbox").err().unwrap();
    assert!(
        matches!(err, axon_core::LinkError::TypeMismatch { .. }),
        "{err}"
    );
}
