//! Dormant boxes (made on first use): an idle component allocates none, and a box made late
//! — by the component or by the scheduler — is one box, found by both, whoever asks first.

mod common;

use axon_core::{Boxes, Component, ComponentError, Control, Direction, Inbox, Outbox, Scheduler};
use common::block_on;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::cell::RefCell;
use std::rc::Rc;

/// Waits for one value inside a `FuturesUnordered` (its own sub-waker), then reports it.
#[derive(Boxes, Default)]
struct WaitsInASet {
    inbox: Inbox<u32>,
    control: Inbox<Control>,
    outbox: Outbox<u32>,
    signal: Outbox<Control>,
    got: Rc<RefCell<Option<u32>>>,
}

impl Component for WaitsInASet {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut set = FuturesUnordered::new();
        set.push(self.inbox.recv());
        let value = set.next().await;
        *self.got.borrow_mut() = value;
        Ok(())
    }
}

/// A `recv` polled by a waker other than the component's own still hears of its inbox being
/// made (by a link by name from outside) and gets the value sent.
#[test]
fn a_receive_inside_a_set_is_woken_when_its_dormant_inbox_is_made() {
    block_on(async {
        let scheduler = Scheduler::new();
        let got = Rc::new(RefCell::new(None));
        let handle = scheduler.activate(WaitsInASet {
            got: got.clone(),
            ..WaitsInASet::default()
        });
        let run = scheduler.run();
        let send = async {
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            // The inbox is still dormant: asking for it by name makes it.
            let inbox = handle.inbox::<u32>("inbox").unwrap();
            inbox.send(7).await.unwrap();
        };
        futures::join!(run, send);
        assert_eq!(*got.borrow(), Some(7));
    });
}

/// Links its dormant outbox from the synchronous part of `main` (before the first poll,
/// outside the scheduler's poll): the scheduler's list holds the same box.
struct LinksEarly {
    outbox: Outbox<u32>,
    target: axon_core::InboxRef<u32>,
}

impl Boxes for LinksEarly {
    fn boxes(&self) -> Vec<axon_core::BoxEntry> {
        static SPEC: axon_core::BoxSpec = axon_core::BoxSpec::new("outbox", "");
        vec![axon_core::BoxEntry::outbox(&SPEC, &self.outbox)]
    }
    fn declare(&self, declaration: &mut axon_core::Declaration) {
        static SPEC: axon_core::BoxSpec = axon_core::BoxSpec::new("outbox", "");
        declaration.add(&SPEC, &self.outbox);
    }
    fn declared(index: usize) -> Option<axon_core::BoxDecl> {
        static SPEC: axon_core::BoxSpec = axon_core::BoxSpec::new("outbox", "");
        (index == 0).then(|| axon_core::BoxDecl::of::<Outbox<u32>>(&SPEC))
    }
}

impl Component for LinksEarly {
    #[allow(clippy::manual_async_fn)]
    fn main(self) -> impl std::future::Future<Output = Result<(), ComponentError>> {
        axon_core::link(&self.outbox, &self.target).unwrap();
        async move {
            self.outbox.send(5).await?;
            Ok(())
        }
    }
}

#[test]
fn a_box_made_by_the_component_outside_a_poll_is_the_one_the_scheduler_lists() {
    block_on(async {
        let scheduler = Scheduler::new();
        let mut sink: Inbox<u32> = Inbox::new();
        let handle = scheduler.activate(LinksEarly {
            outbox: Outbox::new(),
            target: sink.to_ref(),
        });
        // Made once: what the scheduler lists is linked where the component linked it.
        let listed = handle.outbox::<u32>("outbox").unwrap();
        assert!(listed.is_linked());
        scheduler.run().await;
        assert_eq!(sink.try_recv(), Some(5));
    });
}

/// Idle components with default boxes: the topology lists every box, in declaration order,
/// though none was made.
#[test]
fn dormant_boxes_are_listed_in_order() {
    block_on(async {
        let scheduler = Scheduler::new();
        let handle = scheduler.activate(WaitsInASet::default());
        let topology = scheduler.topology();
        let names: Vec<(&str, Direction)> = topology
            .boxes
            .iter()
            .filter(|b| b.component == handle.id())
            .map(|b| (b.name.as_str(), b.direction))
            .collect();
        assert_eq!(
            names,
            [
                ("inbox", Direction::In),
                ("control", Direction::In),
                ("outbox", Direction::Out),
                ("signal", Direction::Out),
            ]
        );
        scheduler.shutdown(); // it never reads `control`
        scheduler.run().await;
    });
}
