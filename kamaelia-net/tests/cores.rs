//! Servers on every core: `serve_on_cores` with both ways of spreading connections, checked
//! with real sockets on loopback — every client echoed, and both cores serving some.

use axon_core::Cores;
use axon_core::components::map;
use bytes::Bytes;
use kamaelia_cat::Cat;
use kamaelia_net::{ServerConfig, Spread, serve_on_cores};
use std::io::{Read, Write};
use std::time::Duration;

fn accepted_on(cores: &Cores, core: usize, addr: std::net::SocketAddr) -> u64 {
    cores
        .on_blocking(core, move |_| {
            Cat::current()
                .unwrap()
                .retrieve_value::<u64>(&format!("net.tcp.{addr}.accepted"))
                .unwrap_or(0)
        })
        .unwrap()
}

fn echo_on_two_cores(spread: Spread) {
    let cores = Cores::with_count(2).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    let addr = rt
        .block_on(serve_on_cores(&cores, config, spread, |_| {
            map(|b: Bytes| b)
        }))
        .unwrap();
    let clients: Vec<_> = (0..40)
        .map(|i| {
            std::thread::spawn(move || {
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let message = format!("client {i} says hello");
                stream.write_all(message.as_bytes()).unwrap();
                let mut reply = vec![0u8; message.len()];
                stream.read_exact(&mut reply).unwrap();
                assert_eq!(reply, message.as_bytes());
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    // Connections are counted where they were served: both cores took some.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (a, b) = loop {
        let counts = (accepted_on(&cores, 0, addr), accepted_on(&cores, 1, addr));
        if counts.0 + counts.1 == 40 || std::time::Instant::now() > deadline {
            break counts;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(a + b, 40, "{a} + {b}");
    assert!(a > 0 && b > 0, "both cores serve: {a} and {b}");
    cores.shutdown();
    cores.wait_blocking();
}

#[test]
fn reuseport_listeners_on_two_cores_echo_every_client() {
    echo_on_two_cores(Spread::ReusePort);
}

#[test]
fn one_acceptor_handing_sockets_to_two_cores_echoes_every_client() {
    echo_on_two_cores(Spread::OneAcceptor);
}

/// A live server with a shard on each of two cores: listeners land on both, every one gets the
/// header then the stream in order, `/stats` counts the whole server, and the end of the
/// stream ends every core.
#[test]
fn a_live_server_sharded_over_two_cores_serves_every_listener_everything() {
    use kamaelia_net::{ChunkKind, LiveChunk, LiveConfig, serve_live_on_cores};
    let cores = Cores::with_count(2).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = LiveConfig::new("127.0.0.1:0".parse().unwrap()).burst(Duration::ZERO);
    let (addr, shards) = rt.block_on(serve_live_on_cores(&cores, config)).unwrap();
    let publish = |kind: ChunkKind, text: String| {
        let chunk = LiveChunk {
            bytes: Bytes::from(text),
            kind,
        };
        rt.block_on(async {
            for shard in &shards {
                shard.send(chunk.clone()).await.unwrap();
            }
        });
    };
    publish(ChunkKind::Header, "HEAD|".into());
    publish(ChunkKind::JoinPoint, "J0|".into());
    let mut listeners: Vec<std::net::TcpStream> = (0..20)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            s.write_all(b"GET /stream HTTP/1.0\r\n\r\n").unwrap();
            s
        })
        .collect();
    let stats = || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /stats HTTP/1.0\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !stats().contains("\"listeners\":20") {
        assert!(std::time::Instant::now() < deadline, "{}", stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    let topology = rt.block_on(cores.topology());
    let on = |core: usize| {
        topology.cores[core]
            .components
            .iter()
            .filter(|c| c.name.contains("Listener"))
            .count()
    };
    // (A `/stats` connection may still be closing: at least the 20 listeners.)
    assert!(on(0) + on(1) >= 20, "{} + {}", on(0), on(1));
    assert!(
        on(0) > 0 && on(1) > 0,
        "both shards serve: {} and {}",
        on(0),
        on(1)
    );
    for i in 1..=50 {
        publish(ChunkKind::JoinPoint, format!("J{i}|"));
    }
    // Chunks are counted once for the server, not once per core.
    while !stats().contains("\"chunks\":52") {
        assert!(std::time::Instant::now() < deadline, "{}", stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    rt.block_on(async {
        for shard in &shards {
            shard
                .send_control(axon_core::Control::ProducerFinished)
                .await
                .unwrap();
        }
    });
    drop(shards);
    let expected: String = (1..=50).map(|i| format!("J{i}|")).collect();
    for listener in &mut listeners {
        let mut text = String::new();
        listener.read_to_string(&mut text).unwrap();
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        assert_eq!(body, format!("HEAD|{expected}"), "{text}");
    }
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), cores.wait())
            .await
            .expect("every core ends with the stream")
    });
}

/// An Introspector on core 0 of `cores`; its address.
fn introspector_on_core_0(cores: &Cores) -> std::net::SocketAddr {
    cores
        .on_blocking(0, |scheduler| {
            let view = kamaelia_net::Introspector::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = view.local_addr();
            scheduler.activate(view);
            addr
        })
        .unwrap()
}

/// The live view's `/topology.json`.
fn topology_json(view: std::net::SocketAddr) -> serde_json::Value {
    let mut stream = std::net::TcpStream::connect(view).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /topology.json HTTP/1.0\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap()
}

/// The live view on one core shows every core: components carry their core, ids are
/// `core:id`, and a link between cores is drawn as `cross-core`.
#[test]
fn the_introspector_on_one_core_shows_every_core_and_the_links_between_them() {
    use axon_core::components::{Collect, DataSource};
    use axon_core::{CrossInbox, link_cross};
    let cores = Cores::with_count(2).unwrap();
    let view = introspector_on_core_0(&cores);
    // A collector on core 1 fed from core 0 by an endless source (blocked once the link is
    // full, so the link is there whenever the snapshot is taken).
    let address = cores
        .on_blocking(1, |scheduler| {
            let (sink, _got) = Collect::<u64>::new();
            let address = CrossInbox::of(&sink.inbox, &sink.control).unwrap();
            // Nobody reads the collector's results; it only holds the link open.
            scheduler.activate(sink);
            address
        })
        .unwrap();
    cores
        .on_blocking(0, move |scheduler| {
            let source = DataSource::new(0..u64::MAX);
            link_cross(&source.outbox, &address).unwrap();
            scheduler.activate(source);
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let snapshot = topology_json(view);
    let topology = &snapshot["topology"];
    assert_eq!(topology["cores"], 2, "{topology}");
    let on_core = |core: u64, name: &str| {
        topology["components"].as_array().unwrap().iter().any(|c| {
            c["core"] == core
                && c["name"].as_str().unwrap().contains(name)
                && c["id"].as_str().unwrap().starts_with(&format!("{core}:"))
        })
    };
    assert!(
        on_core(0, "Introspector") && on_core(0, "DataSource"),
        "{topology}"
    );
    assert!(
        on_core(1, "Collect") && on_core(1, "CrossCoreIn"),
        "{topology}"
    );
    let cross = topology["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "cross-core")
        .expect("the link between cores is drawn");
    assert!(
        cross["from"]["component"]
            .as_str()
            .unwrap()
            .starts_with("0:")
    );
    assert!(cross["to"]["component"].as_str().unwrap().starts_with("1:"));
    cores.shutdown();
    cores.wait_blocking();
}

/// Sends forever and never reads its own inbox.
#[derive(axon_core::Boxes)]
struct Stubborn {
    inbox: axon_core::Inbox<u32>,
    outbox: axon_core::Outbox<u32>,
}

impl axon_core::Component for Stubborn {
    async fn main(self) -> Result<(), axon_core::ComponentError> {
        let mut n = 0;
        loop {
            self.outbox.send(n).await?;
            n += 1;
        }
    }
}

thread_local! {
    /// A's outbox, kept on its core until B's address exists.
    static A_OUT: std::cell::RefCell<Option<axon_core::OutboxRef<u32>>> =
        const { std::cell::RefCell::new(None) };
}

/// Two components on two cores, each blocked sending into the other's full cross-core link:
/// the live view names the cycle, through the `CrossCoreIn` on each side.
#[test]
fn a_deadlock_across_two_cores_is_named() {
    use axon_core::{CrossInbox, Inbox, Outbox, link_cross};
    let cores = Cores::with_count(2).unwrap();
    let view = introspector_on_core_0(&cores);
    let stubborn = || Stubborn {
        inbox: Inbox::with_capacity(1),
        outbox: Outbox::new(),
    };
    let to_a = cores
        .on_blocking(0, move |scheduler| {
            let a = stubborn();
            let address = CrossInbox::with_capacity(&a.inbox, None, 1).unwrap();
            A_OUT.with(|o| *o.borrow_mut() = Some(a.outbox.to_ref()));
            scheduler.activate(a);
            address
        })
        .unwrap();
    let to_b = cores
        .on_blocking(1, move |scheduler| {
            let b = stubborn();
            let address = CrossInbox::with_capacity(&b.inbox, None, 1).unwrap();
            link_cross(&b.outbox, &to_a).unwrap();
            scheduler.activate(b);
            address
        })
        .unwrap();
    cores
        .on_blocking(0, move |_| {
            let out = A_OUT.with(|o| o.borrow_mut().take()).unwrap();
            link_cross(&out, &to_b).unwrap();
        })
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let cycle = loop {
        let snapshot = topology_json(view);
        if let Some(cycle) = snapshot["deadlocks"].as_array().and_then(|d| d.first()) {
            break cycle.clone();
        }
        assert!(std::time::Instant::now() < deadline, "{snapshot}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let members: Vec<&str> = cycle
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    // A, the ingress on B's core, B, the ingress on A's core.
    assert_eq!(members.len(), 4, "{members:?}");
    assert_eq!(members.iter().filter(|m| m.starts_with("0:")).count(), 2);
    assert_eq!(members.iter().filter(|m| m.starts_with("1:")).count(), 2);
    cores.shutdown();
    cores.wait_blocking();
}
