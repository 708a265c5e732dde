//! The Introspector over real loopback sockets: the page, the JSON snapshot (with the CAT and a
//! real deadlock found), DOT, and Server-Sent Events.

use axon_core::{Boxes, Component, ComponentError, Inbox, Outbox, Scheduler, link};
use kamaelia_cat::Cat;
use kamaelia_net::Introspector;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Sends to its peer forever and never reads its own inbox: two of them, each with an inbox of
/// one, block each other (a deadlock the introspector should name).
#[derive(Boxes)]
struct Stubborn {
    inbox: Inbox<u32>,
    outbox: Outbox<u32>,
}

impl Component for Stubborn {
    async fn main(self) -> Result<(), ComponentError> {
        let mut n = 0;
        loop {
            self.outbox.send(n).await?;
            n += 1;
        }
    }
}

fn start() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let scheduler = Scheduler::new();
            let view = Introspector::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            tx.send(view.local_addr()).unwrap();
            let stubborn = || Stubborn {
                inbox: Inbox::with_capacity(1),
                outbox: Outbox::new(),
            };
            let (a, b) = (stubborn(), stubborn());
            link(&a.outbox, &b.inbox).unwrap();
            link(&b.outbox, &a.inbox).unwrap();
            Cat::of(&scheduler).set_value("demo.listeners", 3).unwrap();
            scheduler.activate(view);
            scheduler.activate(a);
            scheduler.activate(b);
            scheduler.run().await;
        });
    });
    rx.recv().unwrap()
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut all = String::new();
    let _ = stream.read_to_string(&mut all);
    all
}

#[test]
fn the_page_json_dot_and_events_show_the_running_system() {
    let addr = start();
    let page = get(addr, "/");
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("<title>Kamaelia"),
        "{page}"
    );
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "self-contained: no CDN"
    );
    // Give the two components time to fill each other's inbox.
    std::thread::sleep(Duration::from_millis(200));
    let json = get(addr, "/topology.json");
    let body = json.split("\r\n\r\n").nth(1).unwrap();
    let snapshot: serde_json::Value = serde_json::from_str(body).unwrap();
    let names: Vec<&str> = snapshot["topology"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Introspector") && names.contains(&"Stubborn"),
        "{names:?}"
    );
    assert_eq!(snapshot["values"]["demo.listeners"], 3);
    // While the view runs, the scheduler measures every component's polls.
    let polled = snapshot["topology"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["stats"]["polls"].as_u64().is_some_and(|p| p > 0))
        .count();
    assert!(polled >= 2, "{snapshot}");
    let deadlocks = snapshot["deadlocks"].as_array().unwrap();
    assert_eq!(deadlocks.len(), 1, "{snapshot}");
    assert_eq!(
        deadlocks[0].as_array().unwrap().len(),
        2,
        "the two stubborn components"
    );
    let dot = get(addr, "/topology.dot");
    assert!(dot.contains("digraph axon"), "{dot}");
    assert!(get(addr, "/nothing").starts_with("HTTP/1.1 404"));

    let mut events = TcpStream::connect(addr).unwrap();
    events
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(events, "GET /events HTTP/1.1\r\n\r\n").unwrap();
    let mut reader = BufReader::new(events);
    let mut line = String::new();
    let mut content_type = false;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        content_type |= line
            .to_ascii_lowercase()
            .starts_with("content-type: text/event-stream");
        if let Some(data) = line.strip_prefix("data: ") {
            let event: serde_json::Value = serde_json::from_str(data).unwrap();
            assert!(event["topology"]["components"].as_array().unwrap().len() >= 3);
            break;
        }
    }
    assert!(content_type);
}
