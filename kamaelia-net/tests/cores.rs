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
