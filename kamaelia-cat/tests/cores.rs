//! The CAT on several cores: a service shared by one core is found from another as a
//! cross-core address, and a Backplane made to span cores takes publishers and subscribers
//! from every core, each value crossing once.

use axon_core::components::{Collect, DataSource};
use axon_core::{Cores, link};
use kamaelia_cat::{Backplane, Cat, CatError, Policy, PublishTo, SubscribeTo};
use std::time::Duration;

#[test]
fn a_shared_service_is_found_from_another_core_and_gone_once_deregistered() {
    let cores = Cores::with_count(2).unwrap();
    let got = cores
        .on_blocking(0, |scheduler| {
            let (sink, got) = Collect::<String>::new();
            Cat::current()
                .unwrap()
                .register_shared_service("greeter", sink.inbox.to_ref())
                .unwrap();
            scheduler.activate(sink);
            got
        })
        .unwrap();
    let sent = cores
        .on_blocking(1, |_| {
            let cat = Cat::current().unwrap();
            // Not a local service on core 1, but reachable across.
            assert!(matches!(
                cat.retrieve_service::<String>("greeter"),
                Err(CatError::NoSuchService { .. })
            ));
            let wrong = cat.retrieve_cross_service::<u64>("greeter").unwrap_err();
            assert!(matches!(wrong, CatError::TypeMismatch { .. }), "{wrong}");
            let greeter = cat.retrieve_cross_service::<String>("greeter").unwrap();
            greeter.try_send("hello from core 1".to_string()).is_ok()
        })
        .unwrap();
    assert!(sent);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while got.is_empty() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(got.take(), vec!["hello from core 1".to_string()]);
    cores
        .on_blocking(0, |_| {
            Cat::current()
                .unwrap()
                .deregister_service("greeter")
                .unwrap()
        })
        .unwrap();
    let missing = cores
        .on_blocking(1, |_| {
            Cat::current()
                .unwrap()
                .retrieve_cross_service::<String>("greeter")
                .map(|_| ())
        })
        .unwrap();
    assert!(matches!(missing, Err(CatError::NoSuchService { .. })));
    cores.shutdown();
    cores.wait_blocking();
}

#[test]
fn a_backplane_spanning_cores_reaches_subscribers_on_every_core() {
    let cores = Cores::with_count(2).unwrap();
    // The bus on core 0; one subscriber on each core.
    let local = cores
        .on_blocking(0, |scheduler| {
            scheduler.activate(Backplane::<u64>::spanning_cores("numbers"));
            let subscriber = SubscribeTo::<u64>::spanning_cores("numbers", Policy::Block, 8);
            let (sink, got) = Collect::<u64>::new();
            link(&subscriber.outbox, &sink.inbox).unwrap();
            link(&subscriber.signal, &sink.control).unwrap();
            scheduler.activate(subscriber);
            scheduler.activate(sink);
            got
        })
        .unwrap();
    let remote = cores
        .on_blocking(1, |scheduler| {
            let subscriber = SubscribeTo::<u64>::spanning_cores("numbers", Policy::Block, 8);
            let (sink, got) = Collect::<u64>::new();
            link(&subscriber.outbox, &sink.inbox).unwrap();
            link(&subscriber.signal, &sink.control).unwrap();
            scheduler.activate(subscriber);
            scheduler.activate(sink);
            got
        })
        .unwrap();
    // Both subscribed before anything is published.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let subscribers = cores
            .on_blocking(0, |_| {
                Cat::current()
                    .unwrap()
                    .retrieve_value::<u64>("backplane.numbers.subscribers")
                    .unwrap_or(0)
            })
            .unwrap();
        if subscribers == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{subscribers} subscribers"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // A publisher on core 1 (across) and then one on core 0 (local).
    cores
        .on_blocking(1, |scheduler| {
            let source = DataSource::new(0..500u64);
            let publisher = PublishTo::<u64>::spanning_cores("numbers");
            link(&source.outbox, &publisher.inbox).unwrap();
            link(&source.signal, &publisher.control).unwrap();
            scheduler.activate(publisher);
            scheduler.activate(source);
        })
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while local.len() < 500 || remote.len() < 500 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} {}",
            local.len(),
            remote.len()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // The end of the bus reaches the subscriber on the other core too.
    cores
        .on_blocking(0, |scheduler| {
            let ender = DataSource::new(500..510u64);
            let publisher = PublishTo::<u64>::new("numbers");
            link(&ender.outbox, &publisher.inbox).unwrap();
            link(&ender.signal, &publisher.control).unwrap();
            scheduler.activate(publisher);
            scheduler.activate(ender);
        })
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while local.len() < 510 || remote.len() < 510 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} {}",
            local.len(),
            remote.len()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(local.take(), (0..510).collect::<Vec<_>>());
    assert_eq!(remote.take(), (0..510).collect::<Vec<_>>());
    // End the bus: ProducerFinished to its control, found through the topology of core 0.
    cores
        .on_blocking(0, |scheduler| {
            let topology = scheduler.topology();
            let bus = topology
                .components
                .iter()
                .find(|c| c.name.contains("Backplane"))
                .expect("the bus runs")
                .id;
            let bus = scheduler.component(bus).unwrap();
            bus.inbox::<axon_core::Control>("control")
                .unwrap()
                .try_send(axon_core::Control::ProducerFinished)
                .unwrap();
        })
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ended = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), cores.wait())
            .await
            .is_ok()
    });
    assert!(
        ended,
        "the bus's end reaches every core, and every core empties; left: {}",
        rt.block_on(cores.topology()).to_dot()
    );
}
