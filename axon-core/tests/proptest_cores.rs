//! Random graphs spread over 2–4 cores: sources, chains of relays and a fan-in sink, each on a
//! random core, linked locally when two neighbours share a core and through a `CrossInbox`
//! (random capacity) when they do not. Ended by ProducerFinished (every value delivered once,
//! in order per source) or by ShutdownMicroprocess at a random moment (each source delivers a
//! prefix, in order, and every value sent is delivered, handed back as `Closed(v)`, or counted
//! as undelivered: none vanishes).

use axon_core::{
    Boxes, Component, ComponentError, Control, Cores, CrossInbox, Inbox, InboxRef, Next, Outbox,
    OutboxRef, SendError, link, link_cross, link_cross_control,
};
use proptest::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Msg = (usize, u64); // (source, sequence number)

#[derive(Default)]
struct Ledger {
    sent: Vec<u64>,
    returned_by_relays: u64,
    received: Vec<Vec<u64>>,
}

type Shared = Arc<Mutex<Ledger>>;

fn ledger(shared: &Shared) -> std::sync::MutexGuard<'_, Ledger> {
    shared.lock().unwrap()
}

#[derive(Boxes)]
struct Source {
    control: Inbox<Control>,
    outbox: Outbox<Msg>,
    signal: Outbox<Control>,
    id: usize,
    n: u64,
    ledger: Shared,
}

impl Component for Source {
    async fn main(mut self) -> Result<(), ComponentError> {
        for seq in 0..self.n {
            if let Some(c) = self.control.try_recv() {
                let _ = self.signal.send(c).await;
                return Ok(());
            }
            match self.outbox.send((self.id, seq)).await {
                Ok(()) => ledger(&self.ledger).sent[self.id] += 1,
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
    ledger: Shared,
}

impl Component for Relay {
    async fn main(mut self) -> Result<(), ComponentError> {
        loop {
            match self.inbox.next_or_control(&mut self.control).await {
                Next::Data(v) => {
                    if let Err(SendError::Closed(_)) = self.outbox.send(v).await {
                        ledger(&self.ledger).returned_by_relays += 1;
                    }
                }
                Next::Control(c) => {
                    let _ = self.signal.send(c).await;
                    return Ok(());
                }
            }
        }
    }
}

#[derive(Boxes)]
struct Sink {
    inbox: Inbox<Msg>,
    control: Inbox<Control>,
    producers: usize,
    ledger: Shared,
}

impl Component for Sink {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut finished = 0;
        loop {
            match self.inbox.next_or_control(&mut self.control).await {
                Next::Data((source, seq)) => ledger(&self.ledger).received[source].push(seq),
                Next::Control(Control::ProducerFinished) => {
                    finished += 1;
                    if finished == self.producers {
                        return Ok(());
                    }
                }
                Next::Control(_) => return Ok(()),
            }
        }
    }
}

/// What each core's thread keeps of the components built there (boxes are `!Send`: they stay
/// on their core, and requests reach them through `Cores::on`).
#[derive(Default)]
struct CoreRegistry {
    /// Consumers by node number: their data and control inboxes.
    consumers: HashMap<usize, (InboxRef<Msg>, InboxRef<Control>)>,
    /// Every control inbox, for the shutdown.
    controls: Vec<InboxRef<Control>>,
    /// Every data inbox, for the undelivered count.
    inboxes: Vec<InboxRef<Msg>>,
}

thread_local! {
    static REGISTRY: RefCell<CoreRegistry> = RefCell::new(CoreRegistry::default());
}

#[derive(Debug, Clone)]
struct Case {
    cores: usize,
    /// Per source: (core of the source, [(core, capacity) of each relay]).
    branches: Vec<(usize, Vec<(usize, usize)>)>,
    messages: Vec<u64>,
    sink: (usize, usize),
    /// Capacity of every cross-core link.
    cross_capacity: usize,
    /// `None`: run to completion; `Some(us)`: ShutdownMicroprocess to everyone after `us` µs.
    shutdown_after_us: Option<u64>,
}

fn case() -> impl Strategy<Value = Case> {
    (2usize..=4, 1usize..4)
        .prop_flat_map(|(cores, sources)| {
            (
                Just(cores),
                prop::collection::vec(
                    (0..cores, prop::collection::vec((0..cores, 1usize..8), 0..4)),
                    sources,
                ),
                prop::collection::vec(0u64..400, sources),
                (0..cores, 1usize..8),
                1usize..8,
                prop::option::of(0u64..3000),
            )
        })
        .prop_map(
            |(cores, branches, messages, sink, cross_capacity, shutdown_after_us)| Case {
                cores,
                branches,
                messages,
                sink,
                cross_capacity,
                shutdown_after_us,
            },
        )
}

/// Links the producer (already built on `producer_core`, its boxes given by `out`/`sig`) to
/// consumer node `to` on `to_core`.
fn wire(
    cores: &Cores,
    producer_core: usize,
    to: usize,
    to_core: usize,
    cross_capacity: usize,
) -> Option<CrossInbox<Msg>> {
    if producer_core == to_core {
        return None;
    }
    Some(
        cores
            .on_blocking(to_core, move |_| {
                REGISTRY.with(|r| {
                    let r = r.borrow();
                    let (inbox, control) = &r.consumers[&to];
                    CrossInbox::with_capacity(inbox, Some(control.clone()), cross_capacity).unwrap()
                })
            })
            .unwrap(),
    )
}

fn link_to(
    out: &OutboxRef<Msg>,
    sig: &OutboxRef<Control>,
    to: usize,
    address: Option<CrossInbox<Msg>>,
) {
    match address {
        Some(address) => {
            link_cross(out, &address).unwrap();
            link_cross_control(sig, &address).unwrap();
        }
        None => REGISTRY.with(|r| {
            let r = r.borrow();
            let (inbox, control) = &r.consumers[&to];
            link(out, inbox).unwrap();
            link(sig, control).unwrap();
        }),
    }
}

fn run_case(case: &Case) -> (Ledger, u64) {
    let sources = case.branches.len();
    let shared: Shared = Arc::new(Mutex::new(Ledger {
        sent: vec![0; sources],
        returned_by_relays: 0,
        received: vec![Vec::new(); sources],
    }));
    let cores = Cores::with_count(case.cores).unwrap();
    // Node 0 is the sink; consumers are built before their producers.
    let (sink_core, sink_capacity) = case.sink;
    let l = shared.clone();
    cores
        .on_blocking(sink_core, move |scheduler| {
            let sink = Sink {
                inbox: Inbox::with_capacity(sink_capacity),
                control: Inbox::new(),
                producers: sources,
                ledger: l,
            };
            REGISTRY.with(|r| {
                let mut r = r.borrow_mut();
                r.consumers
                    .insert(0, (sink.inbox.to_ref(), sink.control.to_ref()));
                r.controls.push(sink.control.to_ref());
                r.inboxes.push(sink.inbox.to_ref());
            });
            scheduler.activate(sink);
        })
        .unwrap();
    let mut next_node = 1;
    for (id, (source_core, relays)) in case.branches.iter().enumerate() {
        let (mut to, mut to_core) = (0usize, sink_core);
        for &(core, capacity) in relays.iter().rev() {
            let node = next_node;
            next_node += 1;
            let address = wire(&cores, core, to, to_core, case.cross_capacity);
            let l = shared.clone();
            cores
                .on_blocking(core, move |scheduler| {
                    let relay = Relay {
                        inbox: Inbox::with_capacity(capacity),
                        control: Inbox::new(),
                        outbox: Outbox::new(),
                        signal: Outbox::new(),
                        ledger: l,
                    };
                    link_to(&relay.outbox.to_ref(), &relay.signal.to_ref(), to, address);
                    REGISTRY.with(|r| {
                        let mut r = r.borrow_mut();
                        r.consumers
                            .insert(node, (relay.inbox.to_ref(), relay.control.to_ref()));
                        r.controls.push(relay.control.to_ref());
                        r.inboxes.push(relay.inbox.to_ref());
                    });
                    scheduler.activate(relay);
                })
                .unwrap();
            (to, to_core) = (node, core);
        }
        let address = wire(&cores, *source_core, to, to_core, case.cross_capacity);
        let (l, n) = (shared.clone(), case.messages[id]);
        cores
            .on_blocking(*source_core, move |scheduler| {
                let source = Source {
                    control: Inbox::new(),
                    outbox: Outbox::new(),
                    signal: Outbox::new(),
                    id,
                    n,
                    ledger: l,
                };
                link_to(
                    &source.outbox.to_ref(),
                    &source.signal.to_ref(),
                    to,
                    address,
                );
                REGISTRY.with(|r| r.borrow_mut().controls.push(source.control.to_ref()));
                scheduler.activate(source);
            })
            .unwrap();
    }
    if let Some(us) = case.shutdown_after_us {
        std::thread::sleep(Duration::from_micros(us));
        for core in 0..case.cores {
            cores
                .on_blocking(core, |_| {
                    REGISTRY.with(|r| {
                        for control in &r.borrow().controls {
                            let _ = control.try_send(Control::ShutdownMicroprocess);
                        }
                    })
                })
                .unwrap();
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), cores.wait())
            .await
            .expect("the system did not stop")
    });
    let mut undelivered = 0;
    for core in 0..case.cores {
        undelivered += cores
            .on_blocking(core, |_| {
                REGISTRY.with(|r| {
                    let r = std::mem::take(&mut *r.borrow_mut());
                    r.inboxes.iter().map(|i| i.undelivered()).sum::<u64>()
                })
            })
            .unwrap();
    }
    drop(cores);
    let ledger = std::mem::take(&mut *shared.lock().unwrap());
    (ledger, undelivered)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn across_cores_nothing_vanishes_and_order_holds(case in case()) {
        let (ledger, undelivered) = run_case(&case);
        for (source, received) in ledger.received.iter().enumerate() {
            let expected: Vec<u64> = (0..received.len() as u64).collect();
            prop_assert_eq!(received, &expected, "source {} out of order or duplicated", source);
            prop_assert!(received.len() as u64 <= ledger.sent[source]);
            if case.shutdown_after_us.is_none() {
                prop_assert_eq!(received.len() as u64, case.messages[source]);
            }
        }
        let delivered: u64 = ledger.received.iter().map(|r| r.len() as u64).sum();
        let sent: u64 = ledger.sent.iter().sum();
        prop_assert_eq!(sent, delivered + undelivered + ledger.returned_by_relays);
        if case.shutdown_after_us.is_none() {
            prop_assert_eq!(undelivered + ledger.returned_by_relays, 0);
        }
    }
}
