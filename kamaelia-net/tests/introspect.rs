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

/// Sends a number every 20 ms, forever.
#[derive(Boxes)]
struct Ticker {
    outbox: Outbox<u32>,
}

impl Component for Ticker {
    async fn main(self) -> Result<(), ComponentError> {
        let mut n = 0;
        loop {
            self.outbox.send(n).await?;
            n += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Takes everything it is sent.
#[derive(Boxes)]
struct Taker {
    inbox: Inbox<u32>,
}

impl Component for Taker {
    async fn main(mut self) -> Result<(), ComponentError> {
        loop {
            self.inbox.recv().await;
        }
    }
}

/// Never reads: whoever sends to it ends up blocked.
#[derive(Boxes)]
struct Stalled {
    inbox: Inbox<u32>,
}

impl Component for Stalled {
    async fn main(self) -> Result<(), ComponentError> {
        std::future::pending::<()>().await;
        Ok(())
    }
}

/// Fails on purpose, a moment after it starts.
#[derive(Boxes)]
struct Bomb {
    inbox: Inbox<u32>,
}

impl Component for Bomb {
    async fn main(self) -> Result<(), ComponentError> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        panic!("a bomb goes off on purpose");
    }
}

/// Chromium (headless) and Python's websocket client, for reading the page as a person would;
/// missing, the test is skipped with a note, unless `KAMAELIA_REQUIRE_ALL` is set (as in CI).
fn browser_available() -> bool {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .any(|name| {
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {name}")])
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let websocket = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import websocket"])
        .output()
        .is_ok_and(|o| o.status.success());
    if chromium && websocket {
        return true;
    }
    if std::env::var_os("KAMAELIA_REQUIRE_ALL").is_some() {
        panic!("chromium and python3-websocket are required (KAMAELIA_REQUIRE_ALL is set)");
    }
    eprintln!("skipped: needs chromium and python3-websocket");
    false
}

#[test]
fn a_person_sees_the_running_system_in_headless_chromium() {
    if !browser_available() {
        return;
    }
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
            // Flowing: a ticker and a taker.
            let (ticker, taker) = (
                Ticker {
                    outbox: Outbox::new(),
                },
                Taker {
                    inbox: Inbox::new(),
                },
            );
            link(&ticker.outbox, &taker.inbox).unwrap();
            // Blocked: a stubborn sender into a component that never reads.
            let (flooder, stalled) = (
                Stubborn {
                    inbox: Inbox::new(),
                    outbox: Outbox::new(),
                },
                Stalled {
                    inbox: Inbox::with_capacity(2),
                },
            );
            link(&flooder.outbox, &stalled.inbox).unwrap();
            // A cycle: two stubborn components, each blocked on the other's full inbox.
            let stubborn = || Stubborn {
                inbox: Inbox::with_capacity(1),
                outbox: Outbox::new(),
            };
            let (a, b) = (stubborn(), stubborn());
            link(&a.outbox, &b.inbox).unwrap();
            link(&b.outbox, &a.inbox).unwrap();
            scheduler.activate(view);
            scheduler.activate(ticker);
            scheduler.activate(taker);
            scheduler.activate(flooder);
            scheduler.activate(stalled);
            scheduler.activate(a);
            scheduler.activate(b);
            scheduler.activate(Bomb {
                inbox: Inbox::new(),
            });
            scheduler.run().await;
        });
    });
    let addr = rx.recv().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/read_page.py");
    let out = std::process::Command::new("/usr/bin/python3")
        .args([script, &format!("http://{addr}/"), "2", "1.5"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reads: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (first, second) = (
        reads["reads"][0].as_str().unwrap(),
        reads["reads"][1].as_str().unwrap(),
    );
    // What a person sees: the components by name…
    for name in ["Introspector", "Ticker", "Taker", "Stubborn", "Stalled"] {
        assert!(first.contains(name), "{name} not on the page:\n{first}");
    }
    // …the ticker's link moving (its count of messages grows between two looks)…
    let ticker_sent = |text: &str| -> u64 {
        text.lines()
            .skip_while(|l| !l.starts_with("Ticker"))
            .find_map(|l| {
                let l = l.trim();
                l.strip_prefix("◀ outbox: u32 — ")
                    .and_then(|rest| rest.split(", ").nth(1))
                    .and_then(|m| m.trim_end_matches(" messages").parse().ok())
            })
            .unwrap_or_else(|| panic!("no Ticker outbox count on the page:\n{text}"))
    };
    assert!(
        ticker_sent(second) > ticker_sent(first),
        "counts move: {} then {}",
        ticker_sent(first),
        ticker_sent(second)
    );
    // …a blocked sender shown as blocked, and the cycle reported as a deadlock.
    assert!(second.contains("blocked-on-send"), "{second}");
    assert!(
        second.contains("(blocked: destination full)"),
        "the blocked link is marked:\n{second}"
    );
    assert!(second.contains("Deadlock: Stubborn"), "{second}");
    // The stalled component's inbox (capacity 2) has been full: its high-water mark says so.
    assert!(
        second.contains("— 2/2, 2 messages, high water 2"),
        "the full inbox's high water:\n{second}"
    );
    // …and the failures panel names what failed, and why.
    assert!(
        second.contains("a bomb goes off on purpose") && second.contains("Bomb#"),
        "{second}"
    );
}
