//! Services, values, and one CAT per scheduler.

use axon_core::{Boxes, Component, ComponentError, Control, Inbox, InboxRef, Scheduler};
use kamaelia_cat::{Cat, CatError};
use std::cell::RefCell;
use std::rc::Rc;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(30), f)
                .await
                .expect("deadline")
        })
}

#[test]
fn services_register_retrieve_list_and_deregister() {
    let scheduler = Scheduler::new();
    let cat = Cat::of(&scheduler);
    let inbox: Inbox<u32> = Inbox::new();
    cat.register_service("numbers", inbox.to_ref()).unwrap();
    assert!(matches!(
        cat.register_service("numbers", inbox.to_ref()),
        Err(CatError::ServiceAlreadyExists { .. })
    ));
    let found = cat.retrieve_service::<u32>("numbers").unwrap();
    assert!(found.same_inbox(&inbox.to_ref()));
    match cat.retrieve_service::<String>("numbers") {
        Err(CatError::TypeMismatch {
            expected, stored, ..
        }) => {
            assert!(expected.contains("String"));
            assert_eq!(stored, "u32");
        }
        other => panic!("expected TypeMismatch, got {:?}", other.err()),
    }
    let listed = cat.services();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].message_type),
        ("numbers", "u32")
    );
    cat.deregister_service("numbers").unwrap();
    assert!(matches!(
        cat.retrieve_service::<u32>("numbers"),
        Err(CatError::NoSuchService { .. })
    ));
    assert!(matches!(
        cat.deregister_service("numbers"),
        Err(CatError::NoSuchService { .. })
    ));
}

#[test]
fn values_are_declared_updated_and_exported_as_json() {
    let cat = Cat::default();
    cat.track_value("net.tcp.a.connections", 1u32).unwrap();
    assert!(matches!(
        cat.track_value("net.tcp.a.connections", 2u32),
        Err(CatError::NamespaceClash { .. })
    ));
    assert!(matches!(
        cat.update_value("nope", 1),
        Err(CatError::AccessToUndeclaredTrackedVariable { .. })
    ));
    assert!(matches!(
        cat.retrieve_value::<u32>("nope"),
        Err(CatError::AccessToUndeclaredTrackedVariable { .. })
    ));
    cat.update_value("net.tcp.a.connections", 5u32).unwrap();
    cat.track_value("stream.live.listeners", vec!["10.0.0.1", "10.0.0.2"])
        .unwrap();
    assert_eq!(
        cat.retrieve_value::<u32>("net.tcp.a.connections").unwrap(),
        5
    );
    assert!(matches!(
        cat.retrieve_value::<String>("net.tcp.a.connections"),
        Err(CatError::Value { .. })
    ));
    let json = cat.values_json();
    assert_eq!(json["net.tcp.a.connections"], 5);
    assert_eq!(json["stream.live.listeners"][1], "10.0.0.2");
    assert_eq!(cat.values().len(), 2);
    cat.add_to_value("counter", 2);
    cat.add_to_value("counter", 3);
    assert_eq!(cat.retrieve_value::<i64>("counter").unwrap(), 5);
}

/// A request carrying its reply address.
struct Request {
    n: u64,
    reply_to: InboxRef<u64>,
}

/// Squares numbers for whoever asks.
#[derive(Boxes, Default)]
struct SquareService {
    inbox: Inbox<Request>,
    control: Inbox<Control>,
}

impl Component for SquareService {
    async fn main(mut self) -> Result<(), ComponentError> {
        Cat::current()?.register_service("square", self.inbox.to_ref())?;
        while let Some(request) = self.inbox_or_finished().await {
            request.reply_to.send(request.n * request.n).await?;
        }
        Cat::current()?.deregister_service("square")?;
        Ok(())
    }
}

#[derive(Boxes)]
struct Client {
    inbox: Inbox<u64>,
    ask: Vec<u64>,
    answers: Rc<RefCell<Vec<u64>>>,
}

impl Component for Client {
    async fn main(mut self) -> Result<(), ComponentError> {
        let service = Cat::current()?.retrieve_service::<Request>("square")?;
        for n in self.ask.clone() {
            service
                .send(Request {
                    n,
                    reply_to: self.inbox.to_ref(),
                })
                .await?;
            let answer = self.inbox.recv().await;
            self.answers.borrow_mut().push(answer);
        }
        Ok(())
    }
}

#[test]
fn a_request_response_service_serves_two_clients_at_once() {
    block_on(async {
        let scheduler = Scheduler::new();
        let service = SquareService::default();
        let stop = service.control.to_ref();
        scheduler.activate(service);
        let answers = [
            Rc::new(RefCell::new(Vec::new())),
            Rc::new(RefCell::new(Vec::new())),
        ];
        for (i, answers) in answers.iter().enumerate() {
            scheduler.activate(Client {
                inbox: Inbox::new(),
                ask: (1..=50).map(|n| n * 10 + i as u64).collect(),
                answers: answers.clone(),
            });
        }
        let run = scheduler.run();
        let drive = async {
            while answers.iter().any(|a| a.borrow().len() < 50) {
                tokio::task::yield_now().await;
            }
            stop.send(Control::ProducerFinished).await.unwrap();
        };
        futures::join!(run, drive);
        for (i, answers) in answers.iter().enumerate() {
            let expected: Vec<u64> = (1..=50u64).map(|n| (n * 10 + i as u64).pow(2)).collect();
            assert_eq!(*answers.borrow(), expected);
        }
    });
}

#[derive(Boxes)]
struct Note {
    key: &'static str,
    seen: Rc<RefCell<Vec<Option<i64>>>>,
}

impl Component for Note {
    async fn main(self) -> Result<(), ComponentError> {
        let cat = Cat::current()?;
        self.seen
            .borrow_mut()
            .push(cat.retrieve_value::<i64>("shared").ok());
        cat.set_value("shared", self.key.len() as i64)?;
        Ok(())
    }
}

#[test]
fn two_schedulers_do_not_see_each_others_cat() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    for key in ["first", "second!"] {
        block_on(async {
            let scheduler = Scheduler::new();
            scheduler.activate(Note {
                key,
                seen: seen.clone(),
            });
            scheduler.run().await;
            assert_eq!(
                Cat::of(&scheduler).retrieve_value::<i64>("shared").unwrap(),
                key.len() as i64
            );
        });
    }
    // Each scheduler's component found no value left by the other.
    assert_eq!(*seen.borrow(), [None, None]);
    // Outside a running component there is no current CAT.
    assert!(matches!(Cat::current(), Err(CatError::NoScheduler)));
    // And two live schedulers side by side are separate too.
    let (a, b) = (Scheduler::new(), Scheduler::new());
    Cat::of(&a).set_value("x", 1).unwrap();
    assert!(Cat::of(&b).retrieve_value::<i64>("x").is_err());
}
