//! Random pipelines and fan-in graphs, random capacities and message counts, ended either by
//! ProducerFinished (every message delivered exactly once, in order per source) or by
//! ShutdownMicroprocess at a random point (each source delivers a prefix, in order, and every
//! value not delivered is handed back as Closed(v) or counted as undelivered: none vanishes).

use axon_core::{
    Boxes, Component, ComponentError, Control, Inbox, InboxRef, Outbox, Scheduler, SendError, link,
};
use proptest::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;

type Msg = (usize, u64); // (source, sequence number)

/// Counts what each source managed to send and what came back to it as `Closed`.
#[derive(Default)]
struct Ledger {
    /// Values each source sent successfully.
    sent: Vec<u64>,
    /// Values a relay had received and then got back as `Closed(v)` from its consumer.
    returned_by_relays: u64,
    received: Vec<Vec<u64>>,
}

#[derive(Boxes)]
struct Source {
    control: Inbox<Control>,
    outbox: Outbox<Msg>,
    signal: Outbox<Control>,
    id: usize,
    n: u64,
    ledger: Rc<RefCell<Ledger>>,
}

impl Component for Source {
    async fn main(mut self) -> Result<(), ComponentError> {
        for seq in 0..self.n {
            if let Some(c) = self.control.try_recv() {
                let _ = self.signal.send(c).await;
                return Ok(());
            }
            match self.outbox.send((self.id, seq)).await {
                Ok(()) => self.ledger.borrow_mut().sent[self.id] += 1,
                // Handed back to the source: never counted as sent.
                Err(SendError::Closed(_)) => return Ok(()),
                Err(_) => unreachable!(),
            }
        }
        let _ = self.signal.send(Control::ProducerFinished).await;
        Ok(())
    }
}

#[derive(Boxes)]
struct Relay {
    inbox: Inbox<Msg>,
    control: Inbox<Control>,
    outbox: Outbox<Msg>,
    signal: Outbox<Control>,
    ledger: Rc<RefCell<Ledger>>,
}

impl Component for Relay {
    async fn main(mut self) -> Result<(), ComponentError> {
        loop {
            match self.inbox.next_or_control(&mut self.control).await {
                axon_core::Next::Data(v) => {
                    if let Err(SendError::Closed(_)) = self.outbox.send(v).await {
                        // Handed back: the value is accounted for, not lost.
                        self.ledger.borrow_mut().returned_by_relays += 1;
                    }
                }
                axon_core::Next::Control(c) => {
                    let _ = self.signal.send(c).await;
                    return Ok(());
                }
            }
        }
    }
}

/// Fan-in sink: finishes after the last of its `producers` says ProducerFinished, or at once on
/// ShutdownMicroprocess.
#[derive(Boxes)]
struct Sink {
    inbox: Inbox<Msg>,
    control: Inbox<Control>,
    producers: usize,
    ledger: Rc<RefCell<Ledger>>,
}

impl Component for Sink {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut finished = 0;
        loop {
            match self.inbox.next_or_control(&mut self.control).await {
                axon_core::Next::Data((source, seq)) => {
                    self.ledger.borrow_mut().received[source].push(seq)
                }
                axon_core::Next::Control(Control::ProducerFinished) => {
                    finished += 1;
                    if finished == self.producers {
                        return Ok(());
                    }
                }
                axon_core::Next::Control(_) => return Ok(()),
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Case {
    /// Per source: the capacities of the relays on its branch (0..4 relays).
    branches: Vec<Vec<usize>>,
    messages: Vec<u64>,
    sink_capacity: usize,
    /// `None`: run to completion; `Some(k)`: shut everything down after `k` tokio yields.
    shutdown_after: Option<usize>,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..4)
        .prop_flat_map(|sources| {
            (
                prop::collection::vec(prop::collection::vec(1usize..8, 0..4), sources),
                prop::collection::vec(0u64..300, sources),
                1usize..8,
                prop::option::of(0usize..40),
            )
        })
        .prop_map(|(branches, messages, sink_capacity, shutdown_after)| Case {
            branches,
            messages,
            sink_capacity,
            shutdown_after,
        })
}

fn run_case(case: &Case) -> (Ledger, u64) {
    let sources = case.branches.len();
    let ledger = Rc::new(RefCell::new(Ledger {
        sent: vec![0; sources],
        returned_by_relays: 0,
        received: vec![Vec::new(); sources],
    }));
    let scheduler = Scheduler::new();
    let mut controls: Vec<InboxRef<Control>> = Vec::new();
    let mut inboxes: Vec<InboxRef<Msg>> = Vec::new();
    let sink = Sink {
        inbox: Inbox::with_capacity(case.sink_capacity),
        control: Inbox::new(),
        producers: sources,
        ledger: ledger.clone(),
    };
    inboxes.push(sink.inbox.to_ref());
    controls.push(sink.control.to_ref());
    for (id, capacities) in case.branches.iter().enumerate() {
        let source = Source {
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            id,
            n: case.messages[id],
            ledger: ledger.clone(),
        };
        controls.push(source.control.to_ref());
        let mut out = source.outbox.to_ref();
        let mut sig = source.signal.to_ref();
        scheduler.activate(source);
        for &capacity in capacities {
            let relay = Relay {
                inbox: Inbox::with_capacity(capacity),
                control: Inbox::new(),
                outbox: Outbox::new(),
                signal: Outbox::new(),
                ledger: ledger.clone(),
            };
            link(&out, &relay.inbox).unwrap();
            link(&sig, &relay.control).unwrap();
            inboxes.push(relay.inbox.to_ref());
            controls.push(relay.control.to_ref());
            out = relay.outbox.to_ref();
            sig = relay.signal.to_ref();
            scheduler.activate(relay);
        }
        link(&out, &sink.inbox).unwrap(); // fan-in
        link(&sig, &sink.control).unwrap();
    }
    scheduler.activate(sink);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let run = scheduler.run();
        let stop = async {
            if let Some(k) = case.shutdown_after {
                for _ in 0..k {
                    tokio::task::yield_now().await;
                }
                for control in &controls {
                    let _ = control.try_send(Control::ShutdownMicroprocess);
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), async {
            futures::join!(run, stop)
        })
        .await
        .expect("the system did not stop");
    });
    let undelivered = inboxes.iter().map(|i| i.undelivered()).sum();
    drop(scheduler);
    let ledger = Rc::try_unwrap(ledger)
        .ok()
        .expect("components released the ledger")
        .into_inner();
    (ledger, undelivered)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn nothing_vanishes_and_order_holds(case in case()) {
        let (ledger, undelivered) = run_case(&case);
        for (source, received) in ledger.received.iter().enumerate() {
            // In order, no duplicates, a prefix of what was sent.
            let expected: Vec<u64> = (0..received.len() as u64).collect();
            prop_assert_eq!(received, &expected, "source {} out of order or duplicated", source);
            prop_assert!(received.len() as u64 <= ledger.sent[source]);
            if case.shutdown_after.is_none() {
                prop_assert_eq!(received.len() as u64, case.messages[source]);
            }
        }
        let delivered: u64 = ledger.received.iter().map(|r| r.len() as u64).sum();
        let sent: u64 = ledger.sent.iter().sum();
        // Every value a source sent is delivered, counted undelivered, or handed back.
        prop_assert_eq!(sent, delivered + undelivered + ledger.returned_by_relays);
        if case.shutdown_after.is_none() {
            prop_assert_eq!(undelivered + ledger.returned_by_relays, 0);
        }
    }
}

#[test]
fn a_shutdown_mid_stream_delivers_a_prefix_and_accounts_for_the_rest() {
    let case = Case {
        branches: vec![vec![1, 2, 1], vec![3]],
        messages: vec![5000, 5000],
        sink_capacity: 2,
        shutdown_after: Some(1),
    };
    let (ledger, undelivered) = run_case(&case);
    let delivered: u64 = ledger.received.iter().map(|r| r.len() as u64).sum();
    let sent: u64 = ledger.sent.iter().sum();
    assert!(
        delivered < 10_000,
        "the shutdown came too late to test anything"
    );
    assert_eq!(sent, delivered + undelivered + ledger.returned_by_relays);
}
