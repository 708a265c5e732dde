//! Boxes and linkages: typed links, names, fan-in, errors, unlink/relink, passthrough,
//! backpressure, no silent loss.

mod common;

use axon_core::components::{Collect, DataSource};
use axon_core::{
    Boxes, Component, ComponentError, Control, Direction, Inbox, LinkError, Outbox, Scheduler,
    SendError, TrySendError, link, link_named, link_with_capacity, pass_inbox, pass_outbox, unlink,
};
use common::{Relay, block_on};
use std::cell::Cell;
use std::rc::Rc;

#[derive(Boxes, Default)]
struct Documented {
    /// Lines of text to shout.
    inbox: Inbox<String>,
    control: Inbox<Control>,
    /// The lines, upper-cased.
    outbox: Outbox<String>,
    signal: Outbox<Control>,
    /// Counts of words per line.
    words: Outbox<usize>,
    state: u32,
}

impl Component for Documented {
    async fn main(mut self) -> Result<(), ComponentError> {
        while let Some(line) = self.inbox_or_finished().await {
            self.words.send(line.split_whitespace().count()).await?;
            self.outbox.send(line.to_uppercase()).await?;
        }
        self.signal.send(Control::ProducerFinished).await?;
        Ok(())
    }
}

#[test]
fn boxes_keep_names_docs_directions_and_types_as_data() {
    let c = Documented::default();
    assert_eq!(c.state, 0);
    let boxes = c.boxes();
    let names: Vec<_> = boxes.iter().map(|b| b.name()).collect();
    assert_eq!(names, ["inbox", "control", "outbox", "signal", "words"]);
    assert_eq!(boxes[0].doc(), "Lines of text to shout.");
    assert_eq!(boxes[1].doc(), "");
    assert_eq!(boxes[4].direction(), Direction::Out);
    assert_eq!(boxes[4].type_name(), "usize");
    assert_eq!(boxes[1].type_name(), std::any::type_name::<Control>());
}

#[test]
fn unlinked_outbox_holds_values_and_delivers_them_in_order_when_linked() {
    let out: Outbox<u32> = Outbox::with_hold_capacity(3);
    let mut inbox: Inbox<u32> = Inbox::new();
    for i in 0..3 {
        out.try_send(i).unwrap();
    }
    assert!(matches!(out.try_send(9), Err(TrySendError::Full(9))));
    assert_eq!(out.held(), 3);
    link(&out, &inbox).unwrap();
    assert_eq!(out.held(), 0);
    let got: Vec<_> = std::iter::from_fn(|| inbox.try_recv()).collect();
    assert_eq!(got, [0, 1, 2]);
}

#[test]
fn full_inbox_hands_the_value_back_and_capacity_is_shared_by_all_senders() {
    let a: Outbox<u8> = Outbox::new();
    let b: Outbox<u8> = Outbox::new();
    let mut inbox: Inbox<u8> = Inbox::with_capacity(2);
    link(&a, &inbox).unwrap();
    link(&b, &inbox).unwrap(); // fan-in
    a.try_send(1).unwrap();
    b.try_send(2).unwrap();
    assert!(matches!(a.try_send(3), Err(TrySendError::Full(3))));
    assert!(matches!(b.try_send(4), Err(TrySendError::Full(4))));
    assert_eq!(inbox.try_recv(), Some(1));
    b.try_send(4).unwrap();
    assert_eq!(inbox.try_recv(), Some(2));
    assert_eq!(inbox.try_recv(), Some(4));
}

#[test]
fn fan_out_from_one_outbox_is_an_error_naming_both_ends() {
    let out: Outbox<u8> = Outbox::new();
    let first: Inbox<u8> = Inbox::new();
    let second: Inbox<u8> = Inbox::new();
    link(&out, &first).unwrap();
    let err = link(&out, &second).unwrap_err();
    assert!(matches!(err, LinkError::AlreadyLinked { .. }), "{err}");
    assert!(err.to_string().contains("already linked"), "{err}");
}

#[test]
fn link_with_capacity_sets_the_destination_capacity() {
    let out: Outbox<u8> = Outbox::new();
    let inbox: Inbox<u8> = Inbox::new();
    link_with_capacity(&out, &inbox, 5).unwrap();
    assert_eq!(inbox.capacity(), 5);
}

#[test]
fn unlink_then_relink_loses_nothing() {
    let out: Outbox<u32> = Outbox::new();
    let mut first: Inbox<u32> = Inbox::new();
    let mut second: Inbox<u32> = Inbox::new();
    link(&out, &first).unwrap();
    out.try_send(1).unwrap();
    assert!(unlink(&out));
    out.try_send(2).unwrap(); // held
    link(&out, &second).unwrap();
    out.try_send(3).unwrap();
    // What was delivered stays where it was delivered; what was held follows the new link.
    assert_eq!(first.try_recv(), Some(1));
    assert_eq!(second.try_recv(), Some(2));
    assert_eq!(second.try_recv(), Some(3));
    assert_eq!(first.try_recv(), None);
}

#[test]
fn send_waits_while_full_and_reserve_is_cancel_safe() {
    block_on(async {
        let out: Outbox<u32> = Outbox::new();
        let mut inbox: Inbox<u32> = Inbox::with_capacity(1);
        link(&out, &inbox).unwrap();
        out.send(1).await.unwrap();
        // A second send must wait: the inbox is full.
        let pending = tokio::time::timeout(std::time::Duration::from_millis(20), out.send(2)).await;
        assert!(pending.is_err(), "send completed into a full inbox");
        // A reservation dropped before use gives its room back.
        assert_eq!(inbox.recv().await, 1);
        let permit = out.reserve().await.unwrap();
        assert!(matches!(out.try_send(5), Err(TrySendError::Full(5))));
        drop(permit);
        out.try_send(5).unwrap();
        assert_eq!(inbox.recv().await, 5);
        let permit = out.reserve().await.unwrap();
        permit.send(6).unwrap();
        assert_eq!(inbox.recv().await, 6);
    });
}

#[test]
fn recv_is_cancel_safe() {
    block_on(async {
        let out: Outbox<u32> = Outbox::new();
        let mut inbox: Inbox<u32> = Inbox::new();
        link(&out, &inbox).unwrap();
        // Start a recv, let it time out (the future is dropped), then deliver.
        let r = tokio::time::timeout(std::time::Duration::from_millis(5), inbox.recv()).await;
        assert!(r.is_err());
        out.try_send(42).unwrap();
        // A recv dropped just as the value arrives does not take it.
        {
            let mut fut = std::pin::pin!(inbox.recv());
            let _ = futures::poll!(fut.as_mut()); // may be Ready; dropping a Ready future is fine
        }
        let remaining: Vec<_> = std::iter::from_fn(|| inbox.try_recv()).collect();
        // Either the poll took it (and returned it, which we dropped as the Ready output) or it
        // is still queued: the pinned future only removes a value when it returns it.
        assert!(remaining.len() <= 1);
    });
}

#[test]
fn waits_on_several_boxes_at_once() {
    block_on(async {
        let data: Outbox<u32> = Outbox::new();
        let ctl: Outbox<Control> = Outbox::new();
        let mut inbox: Inbox<u32> = Inbox::new();
        let mut control: Inbox<Control> = Inbox::new();
        link(&data, &inbox).unwrap();
        link(&ctl, &control).unwrap();
        ctl.try_send(Control::ProducerFinished).unwrap();
        data.try_send(1).unwrap();
        // Data first, then the control message.
        assert_eq!(
            inbox.next_or_control(&mut control).await,
            axon_core::Next::Data(1)
        );
        assert_eq!(
            inbox.next_or_control(&mut control).await,
            axon_core::Next::Control(Control::ProducerFinished)
        );
        // tokio::select! works too, since recv is cancel-safe.
        data.try_send(2).unwrap();
        let got = tokio::select! {
            v = inbox.recv() => v,
            c = control.recv() => panic!("unexpected {c:?}"),
        };
        assert_eq!(got, 2);
    });
}

#[test]
fn sending_to_an_exited_component_returns_the_value() {
    block_on(async {
        let scheduler = Scheduler::new();
        let (sink, _items) = Collect::<u32>::new();
        let out: Outbox<u32> = Outbox::new();
        let ctl: Outbox<Control> = Outbox::new();
        link(&out, &sink.inbox).unwrap();
        link(&ctl, &sink.control).unwrap();
        scheduler.activate(sink);
        ctl.try_send(Control::ShutdownMicroprocess).unwrap();
        scheduler.run().await;
        assert!(matches!(out.try_send(7), Err(TrySendError::Closed(7))));
        assert!(matches!(out.send(8).await, Err(SendError::Closed(8))));
    });
}

#[test]
fn linking_by_name_checks_types_and_names_both_ends() {
    block_on(async {
        let scheduler = Scheduler::new();
        let source = scheduler.activate(DataSource::new(0..3u32));
        let words = scheduler.activate(Documented::default());
        let err = link_named((&source, "outbox"), (&words, "inbox")).unwrap_err();
        match &err {
            LinkError::TypeMismatch {
                from_type, to_type, ..
            } => {
                assert_eq!(*from_type, "u32");
                assert!(to_type.contains("String"));
            }
            other => panic!("expected TypeMismatch, got {other}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("DataSource") && text.contains("Documented"),
            "{text}"
        );
        assert!(text.contains("u32") && text.contains("String"), "{text}");

        let err = link_named((&source, "nope"), (&words, "inbox")).unwrap_err();
        assert!(matches!(err, LinkError::NoSuchBox { .. }), "{err}");
        assert!(err.to_string().contains("nope"));

        // Passthrough between two unrelated components is refused.
        let relay_a = scheduler.activate(Relay::<u32>::default());
        let relay_b = scheduler.activate(Relay::<u32>::default());
        let err = link_named((&relay_a, "inbox"), (&relay_b, "inbox")).unwrap_err();
        assert!(matches!(err, LinkError::WrongHierarchy { .. }), "{err}");

        // A correct link by name works.
        link_named((&source, "outbox"), (&relay_a, "inbox")).unwrap();
        let err = link_named((&source, "outbox"), (&relay_b, "inbox")).unwrap_err();
        assert!(matches!(err, LinkError::AlreadyLinked { .. }), "{err}");
        scheduler.shutdown();
        let err = link_named((&source, "outbox"), (&relay_b, "inbox")).unwrap_err();
        assert!(matches!(err, LinkError::NoSuchComponent { .. }), "{err}");
    });
}

#[derive(Boxes, Default)]
struct CountingSink {
    inbox: Inbox<u64>,
    control: Inbox<Control>,
    got: Rc<Cell<u64>>,
}

impl Component for CountingSink {
    async fn main(mut self) -> Result<(), ComponentError> {
        while let Some(v) = self.inbox_or_finished().await {
            self.got.set(self.got.get() + v);
        }
        Ok(())
    }
}

#[test]
fn five_levels_of_nesting_cost_one_push_and_one_wake() {
    // A producer outside sends one message into the top of 5 nested inbox passthroughs; a second
    // stack of 5 surfaces an outbox. Every passthrough box shows 0 pushes, the final inbox 1,
    // and the consumer is woken once.
    block_on(async {
        let scheduler = Scheduler::new();
        let got = Rc::new(Cell::new(0));
        let sink = CountingSink {
            got: got.clone(),
            ..CountingSink::default()
        };
        let sink_inbox = sink.inbox.to_ref();
        let sink_control = sink.control.to_ref();

        // Inbox chain: Top(5) → … → level 1, whose inbox we make the final one by passing the
        // innermost Nest's inbox on to the sink (activated as the innermost Nest's child).
        #[derive(Boxes, Default)]
        struct InChain {
            inbox: Inbox<u64>,
            control: Inbox<Control>,
            depth: usize,
            sink: Option<CountingSink>,
        }
        impl Component for InChain {
            async fn main(mut self) -> Result<(), ComponentError> {
                if self.depth == 0 {
                    let sink = self.sink.take().expect("sink");
                    pass_inbox(&self.inbox, &sink.inbox)?;
                    pass_inbox(&self.control, &sink.control)?;
                    axon_core::activate(sink);
                } else {
                    let child = InChain {
                        depth: self.depth - 1,
                        sink: self.sink.take(),
                        ..InChain::default()
                    };
                    pass_inbox(&self.inbox, &child.inbox)?;
                    pass_inbox(&self.control, &child.control)?;
                    axon_core::activate(child);
                }
                axon_core::children().all_done().await;
                Ok(())
            }
        }
        let top = InChain {
            depth: 4, // 5 passthrough levels: depths 4,3,2,1,0
            sink: Some(sink),
            ..InChain::default()
        };
        let producer: Outbox<u64> = Outbox::new();
        let finisher: Outbox<Control> = Outbox::new();
        link(&producer, &top.inbox).unwrap();
        link(&finisher, &top.control).unwrap();
        scheduler.activate(top);

        // Let the chain build itself, then send exactly one message.
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        let run = scheduler.run();
        let drive = async {
            // Wait until all five levels and the sink exist.
            while scheduler.len() < 6 {
                tokio::task::yield_now().await;
            }
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            producer.send(41).await.unwrap();
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            let topo = scheduler.topology();
            let passthrough_pushes: Vec<u64> = topo
                .boxes
                .iter()
                .filter(|b| b.name == "inbox" && b.item_type == "u64")
                .map(|b| b.counters.messages)
                .collect();
            assert_eq!(
                passthrough_pushes.len(),
                6,
                "5 passthrough inboxes + the sink"
            );
            assert_eq!(passthrough_pushes.iter().sum::<u64>(), 1);
            assert_eq!(
                sink_inbox.pushes(),
                1,
                "the final inbox got exactly one push"
            );
            assert_eq!(sink_inbox.wakes(), 1, "the consumer was woken exactly once");
            assert_eq!(got.get(), 41);
            let passthrough_links = topo
                .links
                .iter()
                .filter(|l| l.kind == axon_core::topology::LinkKind::InboxPassthrough)
                .count();
            assert_eq!(
                passthrough_links, 10,
                "inbox and control at each of 5 levels"
            );
            finisher.send(Control::ProducerFinished).await.unwrap();
            let _ = sink_control;
        };
        futures::join!(run, drive);
    });
}

#[test]
fn outbox_passthrough_through_nesting_is_one_push() {
    block_on(async {
        let scheduler = Scheduler::new();
        let (sink, items) = Collect::<u64>::new();
        let sink_ref = sink.inbox.to_ref();
        // The innermost Nest emits on its outbox; each level passes it outward.
        #[derive(Boxes, Default)]
        struct Emitter {
            outbox: Outbox<u64>,
        }
        impl Component for Emitter {
            async fn main(self) -> Result<(), ComponentError> {
                self.outbox.send(7).await?;
                // Stay alive so the snapshot still shows this outbox's counter.
                std::future::pending::<()>().await;
                Ok(())
            }
        }
        #[derive(Boxes, Default)]
        struct OutChain {
            outbox: Outbox<u64>,
            depth: usize,
        }
        impl Component for OutChain {
            async fn main(self) -> Result<(), ComponentError> {
                if self.depth == 0 {
                    let e = Emitter::default();
                    pass_outbox(&e.outbox, &self.outbox)?;
                    axon_core::activate(e);
                } else {
                    let child = OutChain {
                        depth: self.depth - 1,
                        ..OutChain::default()
                    };
                    pass_outbox(&child.outbox, &self.outbox)?;
                    axon_core::activate(child);
                }
                axon_core::children().all_done().await;
                Ok(())
            }
        }
        let top = OutChain {
            depth: 4,
            ..OutChain::default()
        };
        link(&top.outbox, &sink.inbox).unwrap();
        scheduler.activate(top);
        let sink_handle = scheduler.activate(sink);
        let run = scheduler.run();
        let drive = async {
            while items.is_empty() {
                tokio::task::yield_now().await;
            }
            let topo = scheduler.topology();
            let outbox_sends: u64 = topo
                .boxes
                .iter()
                .filter(|b| b.name == "outbox" && b.component != sink_handle.id())
                .map(|b| b.counters.messages)
                .sum();
            assert_eq!(
                outbox_sends, 1,
                "only the emitter's own outbox counts the send"
            );
            assert_eq!(sink_ref.pushes(), 1);
            assert_eq!(items.take(), vec![7]);
            scheduler.shutdown();
        };
        futures::join!(run, drive);
    });
}

/// A control inbox with another name, marked `#[boxes(control)]`: pipelines and
/// `inbox_or_finished` use it.
#[derive(axon_core::Boxes)]
struct MarkedControl {
    inbox: axon_core::Inbox<u32>,
    #[boxes(control)]
    stop: axon_core::Inbox<axon_core::Control>,
    outbox: axon_core::Outbox<u32>,
    signal: axon_core::Outbox<axon_core::Control>,
}

#[test]
fn a_control_inbox_marked_boxes_control_is_the_stage_control() {
    use axon_core::Stage;
    let mut worker = MarkedControl {
        inbox: axon_core::Inbox::new(),
        stop: axon_core::Inbox::new(),
        outbox: axon_core::Outbox::new(),
        signal: axon_core::Outbox::new(),
    };
    assert!(std::ptr::eq(worker.stage_control().unwrap(), &worker.stop));
    worker
        .stop
        .to_ref()
        .try_send(axon_core::Control::ProducerFinished)
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let finished = runtime.block_on(worker.inbox_or_finished());
    assert_eq!(finished, None);
    let _ = (&worker.outbox, &worker.signal);
}

/// An inbox that filled and drained between two looks still shows how full it came, while the
/// scheduler measures (the live view watches); when it does not, sends pay nothing for it.
#[test]
fn a_measured_inbox_remembers_how_full_it_came() {
    for measuring in [true, false] {
        block_on(async {
            let scheduler = Scheduler::new();
            scheduler.measure(measuring);
            let (sink, collected) = Collect::<u32>::new();
            let (inbox, control) = (sink.inbox.to_ref(), sink.control.to_ref());
            scheduler.activate(sink);
            // Five values queue while the sink has not yet run; it takes them all at once.
            for n in 0..5 {
                inbox.try_send(n).unwrap();
            }
            control.try_send(Control::ProducerFinished).unwrap();
            scheduler.run().await;
            assert_eq!(collected.take(), vec![0, 1, 2, 3, 4]);
            assert_eq!(inbox.len(), 0);
            let expected = if measuring { 5 } else { 0 };
            assert_eq!(inbox.high_water(), expected, "measuring: {measuring}");
        });
    }
}
