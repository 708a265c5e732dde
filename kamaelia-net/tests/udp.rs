//! UDP and multicast on loopback.
//!
//! Multicast runs on a machine without a multicast route: the group is joined on the loopback
//! interface with `IP_MULTICAST_IF = 127.0.0.1`, TTL 0 and loopback on, so datagrams never leave
//! the host. If even that is impossible here the test says so and skips — unless
//! `KAMAELIA_REQUIRE_ALL=1` (as in CI), where it fails instead.

use axon_core::components::{Collect, Detuple};
use axon_core::{Control, Outbox, Scheduler, link};
use bytes::Bytes;
use kamaelia_net::{MulticastConfig, UdpTransceiver};
use std::net::SocketAddr;
use std::time::Duration;

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(20), f)
                .await
                .expect("deadline")
        })
}

#[test]
fn udp_datagrams_go_both_ways_with_their_addresses() {
    run(async {
        let scheduler = Scheduler::new();
        let a = UdpTransceiver::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let b = UdpTransceiver::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let a = a.with_destination(b_addr);
        let to_a: Outbox<Bytes> = Outbox::new();
        link(&to_a, &a.inbox).unwrap();
        let to_b: Outbox<(SocketAddr, Bytes)> = Outbox::new();
        link(&to_b, &b.send_to).unwrap();
        let (at_b, got_b) = Collect::<(SocketAddr, Bytes)>::new();
        let (at_a, got_a) = Collect::<(SocketAddr, Bytes)>::new();
        link(&b.outbox, &at_b.inbox).unwrap();
        link(&a.outbox, &at_a.inbox).unwrap();
        let stops = [
            a.control.to_ref(),
            b.control.to_ref(),
            at_a.control.to_ref(),
            at_b.control.to_ref(),
        ];
        scheduler.activate(a);
        scheduler.activate(b);
        scheduler.activate(at_a);
        scheduler.activate(at_b);
        let drive = async {
            to_a.send(Bytes::from_static(b"to the default destination"))
                .await
                .unwrap();
            to_b.send((a_addr, Bytes::from_static(b"to a named address")))
                .await
                .unwrap();
            while got_a.is_empty() || got_b.is_empty() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            for stop in &stops {
                stop.send(Control::ProducerFinished).await.unwrap();
            }
        };
        tokio::join!(scheduler.run(), drive);
        assert_eq!(
            got_b.take(),
            [(a_addr, Bytes::from_static(b"to the default destination"))]
        );
        assert_eq!(
            got_a.take(),
            [(b_addr, Bytes::from_static(b"to a named address"))]
        );
    });
}

#[test]
fn multicast_on_loopback_reaches_every_member_and_detuples() {
    let group = "239.255.77.3:47123".parse().unwrap();
    let config = MulticastConfig::local(group);
    let joined = (
        UdpTransceiver::multicast(&config),
        UdpTransceiver::multicast(&config),
    );
    let (sender, receiver) = match joined {
        (Ok(s), Ok(r)) => (s, r),
        (Err(e), _) | (_, Err(e)) => {
            if std::env::var_os("KAMAELIA_REQUIRE_ALL").is_some() {
                panic!("cannot join a multicast group on loopback here: {e}");
            }
            eprintln!("SKIPPED: cannot join a multicast group on loopback here: {e}");
            return;
        }
    };
    run(async {
        let scheduler = Scheduler::new();
        let send: Outbox<Bytes> = Outbox::new();
        link(&send, &sender.inbox).unwrap();
        let payloads = Detuple::<SocketAddr, Bytes>::default();
        link(&receiver.outbox, &payloads.inbox).unwrap();
        let (sink, got) = Collect::<Bytes>::new();
        link(&payloads.outbox, &sink.inbox).unwrap();
        let stops = [
            sender.control.to_ref(),
            receiver.control.to_ref(),
            sink.control.to_ref(),
            payloads.control.to_ref(),
        ];
        scheduler.activate(sender);
        scheduler.activate(receiver);
        scheduler.activate(payloads);
        scheduler.activate(sink);
        let drive = async {
            for i in 0..5u8 {
                send.send(Bytes::from(vec![i; 100])).await.unwrap();
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while got.len() < 5 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            for stop in &stops {
                let _ = stop.send(Control::ProducerFinished).await;
            }
        };
        tokio::join!(scheduler.run(), drive);
        let got = got.take();
        assert_eq!(got.len(), 5, "each datagram reached the group member once");
        for (i, payload) in got.iter().enumerate() {
            assert_eq!(payload.as_ref(), vec![i as u8; 100].as_slice());
        }
    });
}
