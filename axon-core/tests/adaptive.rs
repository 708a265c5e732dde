//! Adaptive boxes (Axon's AdaptiveCommsComponent): boxes added and removed while a component
//! runs, unique names, resources tracked both ways, linking by name, the topology, and links
//! removed with the box.

mod common;

use common::{block_on, settle};

use axon_core::components::Collect;
use axon_core::{
    AdaptiveBoxes, Boxes, Component, ComponentError, Control, Direction, Inbox, InboxRef, Outbox,
    Scheduler, SendError, link_named,
};
use std::cell::RefCell;
use std::rc::Rc;

/// What a test asks the router to do.
enum Order {
    /// Add an outbox for this client (named "client", or a variant).
    Join(u32),
    /// Send this line to that client's outbox.
    Say(u32, &'static str),
    /// Remove that client's outbox.
    Leave(u32),
    /// Add an inbox named "feed" (reports its name).
    AddInbox,
}

/// One outbox per client, found by the client's id.
#[derive(Boxes)]
struct Router {
    inbox: Inbox<Order>,
    control: Inbox<Control>,
    clients: AdaptiveBoxes<u32>,
    /// Names the router gave, in order, for the test to read.
    names: Rc<RefCell<Vec<String>>>,
    /// Inboxes added at run time (kept so they live as long as the router).
    feeds: Vec<Inbox<String>>,
}

impl Component for Router {
    async fn main(mut self) -> Result<(), ComponentError> {
        let mut outboxes = std::collections::HashMap::new();
        while let Some(order) = self.inbox_or_finished().await {
            match order {
                Order::Join(client) => {
                    let (name, outbox): (String, Outbox<String>) =
                        self.clients.add_outbox("client");
                    self.clients.track(&name, client);
                    self.names.borrow_mut().push(name.clone());
                    outboxes.insert(name, outbox);
                }
                Order::Say(client, line) => {
                    let name = self.clients.name_of(&client).expect("joined").to_string();
                    outboxes[&name].send(line.to_string()).await?;
                }
                Order::Leave(client) => {
                    let name = self.clients.name_of(&client).expect("joined").to_string();
                    assert!(self.clients.remove_outbox(&name));
                    assert_eq!(self.clients.resource(&name), None, "forgotten with its box");
                    outboxes.remove(&name);
                }
                Order::AddInbox => {
                    let (name, feed) = self.clients.add_inbox::<String>("inbox");
                    self.names.borrow_mut().push(name);
                    self.feeds.push(feed);
                }
            }
        }
        Ok(())
    }
}

fn router() -> (Router, InboxRef<Order>, Rc<RefCell<Vec<String>>>) {
    let router = Router {
        inbox: Inbox::new(),
        control: Inbox::new(),
        clients: AdaptiveBoxes::new(),
        names: Rc::default(),
        feeds: Vec::new(),
    };
    let (orders, names) = (router.inbox.to_ref(), router.names.clone());
    (router, orders, names)
}

#[test]
fn boxes_added_at_run_time_get_unique_names_and_link_by_name() {
    block_on(async {
        let scheduler = Scheduler::new();
        let (router, orders, names) = router();
        let control = router.control.to_ref();
        let router = scheduler.activate(router);
        let (first, got_first) = Collect::<String>::new();
        let (second, got_second) = Collect::<String>::new();
        let (first, second) = (scheduler.activate(first), scheduler.activate(second));
        let run = scheduler.run();
        let drive = async {
            orders.send(Order::Join(7)).await.unwrap();
            orders.send(Order::Join(9)).await.unwrap();
            orders.send(Order::AddInbox).await.unwrap();
            settle().await;
            assert_eq!(*names.borrow(), ["client", "client.2", "inbox.2"]);
            // Linked by name, like any declared box; a wrong type is a clear error.
            link_named((&router, "client"), (&first, "inbox")).unwrap();
            link_named((&router, "client.2"), (&second, "inbox")).unwrap();
            assert!(router.outbox::<u64>("client").is_err());
            assert!(router.inbox::<String>("inbox.2").is_ok());
            let topology = scheduler.topology();
            let added = topology.find_box(router.id(), "client.2").expect("shown");
            assert_eq!(added.direction, Direction::Out);
            assert!(
                topology
                    .links
                    .iter()
                    .any(|l| l.from.box_name == "client.2" && l.to.component == Some(second.id()))
            );
            orders.send(Order::Say(7, "to seven")).await.unwrap();
            orders.send(Order::Say(9, "to nine")).await.unwrap();
            settle().await;
            control.send(Control::ProducerFinished).await.unwrap();
            settle().await;
            first.stop();
            second.stop();
        };
        let ((), ()) = futures::join!(run, drive);
        assert_eq!(got_first.take(), ["to seven"]);
        assert_eq!(got_second.take(), ["to nine"]);
    });
}

#[test]
fn a_removed_box_loses_its_links_and_its_tracked_resource() {
    block_on(async {
        let scheduler = Scheduler::new();
        let (router, orders, _) = router();
        let control = router.control.to_ref();
        let router = scheduler.activate(router);
        let (sink, _) = Collect::<String>::new();
        let sink = scheduler.activate(sink);
        let run = scheduler.run();
        let drive = async {
            orders.send(Order::Join(1)).await.unwrap();
            settle().await;
            link_named((&router, "client"), (&sink, "inbox")).unwrap();
            assert_eq!(scheduler.topology().links.len(), 1);
            orders.send(Order::Leave(1)).await.unwrap();
            settle().await;
            let topology = scheduler.topology();
            assert!(topology.links.is_empty(), "{:?}", topology.links);
            assert!(topology.find_box(router.id(), "client").is_none());
            assert!(router.outbox::<String>("client").is_err());
            // The name is free again.
            orders.send(Order::Join(2)).await.unwrap();
            settle().await;
            assert!(router.outbox::<String>("client").is_ok());
            control.send(Control::ProducerFinished).await.unwrap();
            sink.stop();
        };
        let ((), ()) = futures::join!(run, drive);
    });
}

#[test]
fn added_inboxes_close_when_the_component_exits() {
    block_on(async {
        let scheduler = Scheduler::new();
        let (router, orders, _) = router();
        let control = router.control.to_ref();
        let router = scheduler.activate(router);
        let run = scheduler.run();
        let drive = async {
            orders.send(Order::AddInbox).await.unwrap();
            settle().await;
            let feed = router.inbox::<String>("inbox.2").unwrap();
            feed.send("kept".into()).await.unwrap();
            control.send(Control::ShutdownMicroprocess).await.unwrap();
            settle().await;
            assert!(feed.is_closed());
            assert!(matches!(
                feed.send("late".into()).await,
                Err(SendError::Closed(_))
            ));
            assert_eq!(feed.undelivered(), 1, "counted, not silently lost");
        };
        let ((), ()) = futures::join!(run, drive);
    });
}

#[test]
fn tracking_finds_resources_both_ways() {
    let mut boxes: AdaptiveBoxes<&'static str> = AdaptiveBoxes::new();
    let (a, _inbox): (String, Inbox<u8>) = boxes.add_inbox("peer");
    let (b, _outbox): (String, Outbox<u8>) = boxes.add_outbox("peer");
    assert_eq!(
        (a.as_str(), b.as_str()),
        ("peer", "peer"),
        "one name per direction"
    );
    boxes.track("peer", "10.0.0.1:4000");
    assert_eq!(boxes.resource("peer"), Some(&"10.0.0.1:4000"));
    assert_eq!(boxes.name_of(&"10.0.0.1:4000"), Some("peer"));
    assert!(boxes.remove_inbox("peer"));
    assert_eq!(
        boxes.resource("peer"),
        Some(&"10.0.0.1:4000"),
        "kept while the outbox of that name remains"
    );
    assert!(boxes.remove_outbox("peer"));
    assert_eq!(boxes.name_of(&"10.0.0.1:4000"), None);
    assert!(!boxes.remove_outbox("peer"));
}
