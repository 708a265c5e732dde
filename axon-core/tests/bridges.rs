//! Threads, handles and the three-callback form.

mod common;

use axon_core::components::{Collect, DataSource, map};
use axon_core::{
    Boxes, CallbackBoxes, CallbackComponent, Callbacks, Component, ComponentError, Control, Flow,
    Inbox, Next, Outbox, Scheduler, ThreadBoxes, link, pipeline, threaded,
};
use common::block_on;
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[derive(Boxes)]
struct Metronome {
    ticks: Rc<Cell<u32>>,
    worst_gap: Rc<Cell<Duration>>,
}

impl Component for Metronome {
    async fn main(self) -> Result<(), ComponentError> {
        let mut last = Instant::now();
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let now = Instant::now();
            self.worst_gap.set(self.worst_gap.get().max(now - last));
            last = now;
            self.ticks.set(self.ticks.get() + 1);
        }
        Ok(())
    }
}

#[test]
fn a_blocking_thread_body_does_not_stop_the_scheduler() {
    block_on(async {
        let sleeper = threaded(|boxes| {
            while let Some(Next::Data(n)) = boxes.recv_blocking() {
                std::thread::sleep(Duration::from_millis(30)); // blocks its own thread only
                boxes.send_blocking(n + 1)?;
            }
            Ok(())
        });
        let source = DataSource::new([1u32, 2, 3]);
        let (sink, out) = Collect::new();
        link(&source.outbox, &sleeper.inbox).unwrap();
        link(&source.signal, &sleeper.control).unwrap();
        link(&sleeper.outbox, &sink.inbox).unwrap();
        link(&sleeper.signal, &sink.control).unwrap();
        let ticks = Rc::new(Cell::new(0));
        let worst_gap = Rc::new(Cell::new(Duration::ZERO));
        let scheduler = Scheduler::new();
        scheduler.activate(source);
        scheduler.activate(sleeper);
        scheduler.activate(sink);
        scheduler.activate(Metronome {
            ticks: ticks.clone(),
            worst_gap: worst_gap.clone(),
        });
        scheduler.run().await;
        assert_eq!(out.take(), [2, 3, 4]);
        assert_eq!(ticks.get(), 20);
        // The metronome kept its pace while the thread slept 90 ms in total: no 5 ms tick was
        // held up by anything like a 30 ms sleep (generous bound for a loaded machine).
        assert!(
            worst_gap.get() < Duration::from_millis(25),
            "a tick waited {:?}",
            worst_gap.get()
        );
    });
}

#[test]
fn a_panic_in_the_thread_is_reported_like_any_component_panic() {
    block_on(async {
        let boom = threaded(|boxes| -> Result<(), ComponentError> {
            let _ = boxes.recv_blocking();
            panic!("thread body exploded");
        });
        let (watch, seen) = Collect::<Control>::new();
        link(&boom.signal, &watch.inbox).unwrap();
        let feed: Outbox<u8> = Outbox::new();
        link(&feed, &boom.inbox).unwrap();
        feed.try_send(1).unwrap();
        let _: &Outbox<u8> = &boom.outbox;
        let watch_control = watch.control.to_ref();
        let scheduler = Scheduler::new();
        scheduler.activate(boom);
        scheduler.activate(watch);
        let run = scheduler.run();
        let stop = async {
            while seen.is_empty() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            watch_control.send(Control::ProducerFinished).await.unwrap();
        };
        futures::join!(run, stop);
        match &seen.take()[..] {
            [Control::Failed(info)] => {
                assert!(info.message.contains("thread body exploded"), "{info}")
            }
            other => panic!("expected Failed, got {other:?}"),
        }
    });
}

#[test]
fn a_thread_body_links_and_unlinks_its_own_boxes() {
    block_on(async {
        let scheduler = Scheduler::new();
        let (first, got_first) = Collect::<u32>::new();
        let (second, got_second) = Collect::<u32>::new();
        let first = scheduler.activate(first);
        let second = scheduler.activate(second);
        let (a, b) = (first.id(), second.id());
        let switcher = threaded(move |boxes: ThreadBoxes<(), u32>| {
            boxes
                .link("outbox", (a, "inbox"))
                .expect("link to the first sink");
            boxes.send_blocking(1)?; // delivered before the unlink: one ordered channel
            assert_eq!(boxes.unlink("outbox").unwrap(), 1);
            boxes
                .link("outbox", (b, "inbox"))
                .expect("relink to the second");
            boxes.send_blocking(2)?;
            assert!(
                boxes.link("outbox", (b, "nonesuch")).is_err(),
                "errors come back"
            );
            Ok(())
        });
        let switcher = scheduler.activate(switcher);
        let run = scheduler.run();
        let drive = async {
            while switcher.is_running() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            first.stop();
            second.stop();
        };
        futures::join!(run, drive);
        assert_eq!(got_first.take(), [1]);
        assert_eq!(got_second.take(), [2]);
    });
}

#[test]
fn recv_timeout_times_out_and_then_receives() {
    block_on(async {
        let (result_tx, result_rx) = std::sync::mpsc::channel();
        let waiter = threaded(move |boxes| {
            let first = boxes.recv_timeout(Duration::from_millis(20));
            let second = boxes.recv_timeout(Duration::from_secs(10));
            result_tx
                .send((first.is_err(), matches!(second, Ok(Next::Data(7u8)))))
                .unwrap();
            boxes.send_blocking(())?;
            Ok(())
        });
        let feed: Outbox<u8> = Outbox::new();
        link(&feed, &waiter.inbox).unwrap();
        let (sink, out) = Collect::<()>::new();
        link(&waiter.outbox, &sink.inbox).unwrap();
        link(&waiter.signal, &sink.control).unwrap();
        let scheduler = Scheduler::new();
        scheduler.activate(waiter);
        scheduler.activate(sink);
        let run = scheduler.run();
        let drive = async {
            tokio::time::sleep(Duration::from_millis(60)).await;
            feed.send(7).await.unwrap();
        };
        futures::join!(run, drive);
        assert_eq!(out.len(), 1);
        assert_eq!(result_rx.recv().unwrap(), (true, true));
    });
}

#[test]
fn handles_work_from_a_tokio_task_on_another_thread() {
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    let scheduler_thread = std::thread::spawn(move || {
        block_on(async {
            let scheduler = Scheduler::new();
            let shout =
                pipeline!(map(|s: String| s.to_uppercase()), map(|s: String| s + "!")).unwrap();
            handle_tx.send(scheduler.handle(shout).unwrap()).unwrap();
            scheduler.run().await;
        })
    });
    let handle = handle_rx.recv().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let got = tokio::spawn(async move {
            for word in ["a", "b", "c"] {
                handle.put(word.to_string()).await.unwrap();
            }
            handle.finish().await;
            let mut got = Vec::new();
            while let Some(s) = handle.get().await {
                got.push(s);
            }
            got
        })
        .await
        .unwrap();
        assert_eq!(got, ["A!", "B!", "C!"]);
    });
    scheduler_thread.join().unwrap();
}

/// The same logic twice: a running total, as an async body and as three callbacks.
#[derive(Boxes, Default)]
struct TotalAsync {
    inbox: Inbox<i64>,
    control: Inbox<Control>,
    outbox: Outbox<i64>,
    signal: Outbox<Control>,
}

impl Component for TotalAsync {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut total = 0;
        while let Some(n) = self.inbox_or_finished().await {
            total += n;
            self.outbox.send(total).await?;
        }
        self.signal.send(Control::ProducerFinished).await?;
        Ok(())
    }
}

struct TotalCallbacks {
    total: i64,
    initialised: bool,
    closed: Rc<Cell<bool>>,
}

impl Callbacks for TotalCallbacks {
    type In = i64;
    type Out = i64;
    fn initialise(&mut self, _: &mut CallbackBoxes<i64, i64>) {
        self.initialised = true;
    }
    fn main_body(&mut self, boxes: &mut CallbackBoxes<i64, i64>) -> Flow {
        assert!(self.initialised);
        while let Some(n) = boxes.recv() {
            self.total += n;
            boxes.send(self.total);
        }
        match boxes.recv_control() {
            Some(Control::ProducerFinished) => Flow::Stop,
            _ => Flow::Pause,
        }
    }
    fn close_down(&mut self, _: &mut CallbackBoxes<i64, i64>) {
        self.closed.set(true);
    }
}

async fn run_total<C>(component: C) -> Vec<i64>
where
    C: axon_core::Stage<In = i64, Out = i64> + Component,
{
    let (sink, out) = Collect::new();
    let system = pipeline!(DataSource::new([5i64, -2, 10, 1]), component, sink).unwrap();
    let scheduler = Scheduler::new();
    scheduler.activate(system);
    scheduler.run().await;
    out.take()
}

#[test]
fn the_three_callback_form_behaves_like_the_async_form() {
    block_on(async {
        let closed = Rc::new(Cell::new(false));
        let from_async = run_total(TotalAsync::default()).await;
        let from_callbacks = run_total(CallbackComponent::new(TotalCallbacks {
            total: 0,
            initialised: false,
            closed: closed.clone(),
        }))
        .await;
        assert_eq!(from_async, [5, 3, 13, 14]);
        assert_eq!(from_callbacks, from_async);
        assert!(closed.get(), "close_down ran");
    });
}
