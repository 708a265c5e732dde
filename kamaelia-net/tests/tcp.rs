//! TcpServer and TcpClient over real loopback sockets: echo, many clients, resets,
//! half-closes, abrupt disconnects, limits, idle timeout, statistics.

use axon_core::components::{Collect, map};
use axon_core::{Control, Outbox, Scheduler, link};
use bytes::Bytes;
use kamaelia_cat::Cat;
use kamaelia_net::{ServerConfig, TcpClient, TcpServer};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Runs an echo server on its own thread; returns its address and a way to stop it.
fn echo_server(
    config: ServerConfig,
) -> (
    SocketAddr,
    std::sync::mpsc::Sender<()>,
    std::thread::JoinHandle<serde_json_value::Value>,
) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = TcpServer::bind(config, |_| map(|b: Bytes| b)).unwrap();
            addr_tx.send(server.local_addr()).unwrap();
            let stop = server.control.to_ref();
            let scheduler = Scheduler::new();
            scheduler.activate(server);
            let run = scheduler.run();
            let watch = async {
                loop {
                    if stop_rx.try_recv().is_ok() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                stop.send(Control::ShutdownMicroprocess).await.unwrap();
            };
            tokio::join!(run, watch);
            serde_json_value::Value(Cat::of(&scheduler).values_json().to_string())
        })
    });
    (addr_rx.recv().unwrap(), stop_tx, thread)
}

/// The CAT snapshot, carried out of the server thread as text.
mod serde_json_value {
    pub(crate) struct Value(pub String);
}

fn round_trip(addr: SocketAddr, message: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(message).unwrap();
    let mut got = vec![0; message.len()];
    stream.read_exact(&mut got).unwrap();
    got
}

#[test]
fn echoes_to_many_clients_at_once() {
    let (addr, stop, thread) = echo_server(ServerConfig::new("127.0.0.1:0".parse().unwrap()));
    let clients: Vec<_> = (0..50)
        .map(|i| {
            std::thread::spawn(move || {
                let message = format!("hello from client {i}\n").repeat(100);
                assert_eq!(round_trip(addr, message.as_bytes()), message.as_bytes());
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    stop.send(()).unwrap();
    let stats = thread.join().unwrap().0;
    assert!(stats.contains("\"net.tcp.127.0.0.1"), "{stats}");
    assert!(stats.contains(".accepted\":50"), "{stats}");
}

fn reset(stream: TcpStream) {
    // SO_LINGER 0 makes close() send RST instead of FIN.
    let socket = socket2::Socket::from(stream);
    socket.set_linger(Some(Duration::ZERO)).unwrap();
    drop(socket);
}

#[test]
fn a_reset_or_abrupt_disconnect_affects_no_other_connection() {
    let (addr, stop, thread) = echo_server(ServerConfig::new("127.0.0.1:0".parse().unwrap()));
    let mut survivor = TcpStream::connect(addr).unwrap();
    survivor
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for _ in 0..20 {
        // Resets mid-stream, with data in flight both ways.
        let mut victim = TcpStream::connect(addr).unwrap();
        victim.write_all(&[1u8; 100_000]).unwrap();
        reset(victim);
        // Abrupt close without reading the echo.
        let mut quitter = TcpStream::connect(addr).unwrap();
        quitter.write_all(b"bye").unwrap();
        drop(quitter);
    }
    survivor.write_all(b"still here").unwrap();
    let mut got = [0u8; 10];
    survivor.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"still here");
    assert_eq!(round_trip(addr, b"new client"), b"new client");
    stop.send(()).unwrap();
    thread.join().unwrap();
}

#[test]
fn a_half_closed_client_still_gets_its_answer() {
    let (addr, stop, thread) = echo_server(ServerConfig::new("127.0.0.1:0".parse().unwrap()));
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(b"half-closed").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut got = Vec::new();
    stream.read_to_end(&mut got).unwrap(); // the server closes after the protocol finishes
    assert_eq!(got, b"half-closed");
    stop.send(()).unwrap();
    thread.join().unwrap();
}

#[test]
fn connections_over_the_limit_are_refused_cleanly() {
    let (addr, stop, thread) =
        echo_server(ServerConfig::new("127.0.0.1:0".parse().unwrap()).max_connections(2));
    let held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"x").unwrap();
            let mut b = [0u8; 1];
            s.read_exact(&mut b).unwrap(); // accepted and served
            s
        })
        .collect();
    let mut extra = TcpStream::connect(addr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buffer = [0u8; 1];
    let n = extra.read(&mut buffer).unwrap_or(0);
    assert_eq!(n, 0, "the extra connection is closed, not left hanging");
    drop(held);
    stop.send(()).unwrap();
    let stats = thread.join().unwrap().0;
    assert!(stats.contains(".refused\":1"), "{stats}");
}

#[test]
fn an_idle_connection_is_closed() {
    let (addr, stop, thread) = echo_server(
        ServerConfig::new("127.0.0.1:0".parse().unwrap()).idle_timeout(Duration::from_millis(200)),
    );
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buffer = [0u8; 1];
    assert_eq!(idle.read(&mut buffer).unwrap_or(0), 0);
    assert!(started.elapsed() >= Duration::from_millis(150));
    stop.send(()).unwrap();
    thread.join().unwrap();
}

#[test]
fn a_client_that_stops_reading_cannot_grow_server_memory() {
    // The client sends far more than it reads; the server's echo protocol ends up waiting on a
    // full write queue (backpressure), then the idle timeout closes the connection.
    let (addr, stop, thread) = echo_server(
        ServerConfig::new("127.0.0.1:0".parse().unwrap()).idle_timeout(Duration::from_millis(300)),
    );
    let mut greedy = TcpStream::connect(addr).unwrap();
    greedy
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut sent = 0usize;
    while sent < 256 * 1024 * 1024 {
        match greedy.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break, // the server stopped reading (backpressure), then closed
        }
    }
    assert!(
        sent < 256 * 1024 * 1024,
        "the server kept accepting {sent} bytes without bound"
    );
    assert_eq!(round_trip(addr, b"others fine"), b"others fine");
    stop.send(()).unwrap();
    thread.join().unwrap();
}

/// A protocol that takes nothing from its inbox until it is told to stop.
#[derive(axon_core::Boxes)]
struct Deaf {
    inbox: axon_core::Inbox<Bytes>,
    control: axon_core::Inbox<Control>,
    outbox: Outbox<Bytes>,
    signal: Outbox<Control>,
}

impl axon_core::Component for Deaf {
    async fn main(mut self) -> Result<(), axon_core::ComponentError> {
        let _ = self.control.recv().await;
        Ok(())
    }
}

#[test]
fn a_protocol_that_never_reads_holds_at_most_its_budget_of_read_bytes() {
    const BUDGET: usize = 128 * 1024;
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let server_thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let config =
                ServerConfig::new("127.0.0.1:0".parse().unwrap()).connection_budget(BUDGET);
            let server = TcpServer::bind(config, |_| Deaf {
                inbox: axon_core::Inbox::new(),
                control: axon_core::Inbox::new(),
                outbox: Outbox::new(),
                signal: Outbox::new(),
            })
            .unwrap();
            let local = server.local_addr();
            let bytes_in = format!("net.tcp.{local}.bytes_in");
            let stop = server.control.to_ref();
            let scheduler = Scheduler::new();
            scheduler.activate(server);
            let cat = Cat::of(&scheduler);
            let (report_tx, report_rx) = std::sync::mpsc::channel::<()>();
            addr_tx.send((local, report_tx)).unwrap();
            let run = scheduler.run();
            let watch = async {
                // Once the client has sent all it could, stop: byte counts are flushed as
                // each connection ends.
                while report_rx.try_recv().is_err() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                stop.send(Control::ShutdownMicroprocess).await.unwrap();
            };
            tokio::join!(run, watch);
            cat.retrieve_value::<u64>(&bytes_in).unwrap_or(0)
        })
    });
    let (addr, report) = addr_rx.recv().unwrap();
    let mut client = TcpStream::connect(addr).unwrap();
    client
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0usize;
    while sent < 64 * 1024 * 1024 {
        match client.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break, // the kernel's buffers are full: the server stopped reading
        }
    }
    report.send(()).unwrap();
    let taken = server_thread.join().unwrap() as usize;
    // Half the budget queued for the protocol, one chunk in hand, the small first read.
    let bound = BUDGET / 2 + 16 * 1024 + 1024;
    assert!(
        taken > 0 && taken <= bound,
        "the server took {taken} bytes off the socket (bound {bound}; the client sent {sent})"
    );
}

#[test]
fn tcp_client_talks_to_the_server_and_reports_failures() {
    let (addr, stop, thread) = echo_server(ServerConfig::new("127.0.0.1:0".parse().unwrap()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let scheduler = Scheduler::new();
        let client = TcpClient::new(addr);
        let feed: Outbox<Bytes> = Outbox::new();
        let finish: Outbox<Control> = Outbox::new();
        link(&feed, &client.inbox).unwrap();
        link(&finish, &client.control).unwrap();
        let (sink, got) = Collect::<Bytes>::new();
        link(&client.outbox, &sink.inbox).unwrap();
        link(&client.signal, &sink.control).unwrap();
        feed.try_send(Bytes::from_static(b"ping ")).unwrap();
        feed.try_send(Bytes::from_static(b"pong")).unwrap();
        finish.try_send(Control::ProducerFinished).unwrap();
        scheduler.activate(client);
        scheduler.activate(sink);
        scheduler.run().await;
        let all: Vec<u8> = got.take().iter().flat_map(|b| b.to_vec()).collect();
        assert_eq!(all, b"ping pong");

        // Nobody listening: a clear error after the retries, no panic, no hang.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let nowhere = closed.local_addr().unwrap();
        drop(closed);
        let scheduler = Scheduler::new();
        let client = TcpClient::new(nowhere).with_retry(3, Duration::from_millis(10));
        let (watch, seen) = Collect::<Control>::new();
        link(&client.signal, &watch.inbox).unwrap();
        let stop_watch = watch.control.to_ref();
        scheduler.activate(client);
        scheduler.activate(watch);
        let run = scheduler.run();
        let wait = async {
            while seen.is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            stop_watch.send(Control::ProducerFinished).await.unwrap();
        };
        tokio::join!(run, wait);
        match &seen.take()[..] {
            [Control::Failed(info)] => {
                assert!(
                    info.message.contains("cannot connect") && info.message.contains("3 attempt"),
                    "{info}"
                )
            }
            other => panic!("expected Failed, got {other:?}"),
        }
    });
    stop.send(()).unwrap();
    thread.join().unwrap();
}
