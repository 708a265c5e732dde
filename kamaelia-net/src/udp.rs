//! UDP and multicast: datagrams as `(SocketAddr, Bytes)`.

use axon_core::{Boxes, Component, ComponentError, Control, Inbox, LogLimit, Outbox};
use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};

/// Sends and receives UDP datagrams. Received datagrams go out on `outbox` as
/// `(sender, payload)` — `Detuple` turns them back into payloads. What arrives on `inbox` goes to
/// the default destination, what arrives on `send_to` to the address it names.
#[derive(Boxes)]
#[doc(alias("Multicast_transceiver", "SimplePeer"))]
pub struct UdpTransceiver {
    /// Payloads for the default destination.
    pub inbox: Inbox<Bytes>,
    /// `(destination, payload)` pairs.
    pub send_to: Inbox<(SocketAddr, Bytes)>,
    /// `ProducerFinished` or `ShutdownMicroprocess` stops it (after sending what was queued).
    pub control: Inbox<Control>,
    /// `(sender, payload)` for every datagram received.
    pub outbox: Outbox<(SocketAddr, Bytes)>,
    /// Forwards the message that stopped it.
    pub signal: Outbox<Control>,
    socket: Option<UdpSocket>,
    destination: Option<SocketAddr>,
}

/// A [`UdpTransceiver`] joined to a multicast group (see [`UdpTransceiver::multicast`]).
pub type MulticastTransceiver = UdpTransceiver;

/// How to join a multicast group.
#[derive(Clone, Debug)]
pub struct MulticastConfig {
    /// The group and port, e.g. `239.255.42.1:5000`; also the default destination.
    pub group: SocketAddrV4,
    /// The interface to join on and send from (`IP_MULTICAST_IF`). `127.0.0.1` keeps
    /// everything on the host (what the tests use); `0.0.0.0` lets the kernel choose.
    pub interface: Ipv4Addr,
    /// Hops a datagram may travel (0: this host only).
    pub ttl: u32,
    /// Whether this host's own sends are delivered to its own sockets in the group.
    pub loopback: bool,
}

impl MulticastConfig {
    /// Joins `group` on the loopback interface with TTL 0 and loopback on: nothing leaves the
    /// host.
    pub fn local(group: SocketAddrV4) -> Self {
        MulticastConfig {
            group,
            interface: Ipv4Addr::LOCALHOST,
            ttl: 0,
            loopback: true,
        }
    }
}

impl UdpTransceiver {
    /// Binds a socket on `address` (port 0 picks one).
    pub fn bind(address: SocketAddr) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(address)?;
        socket.set_nonblocking(true)?;
        Ok(Self::from_socket(socket))
    }

    /// Joins a multicast group: binds the group's port (shared with other members on this
    /// host), joins on the configured interface, sets TTL and loopback, and sends to the group
    /// by default. The group is left when the component exits (the socket closes).
    pub fn multicast(config: &MulticastConfig) -> std::io::Result<Self> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.bind(
            &SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::UNSPECIFIED,
                config.group.port(),
            ))
            .into(),
        )?;
        socket.join_multicast_v4(config.group.ip(), &config.interface)?;
        socket.set_multicast_if_v4(&config.interface)?;
        socket.set_multicast_ttl_v4(config.ttl)?;
        socket.set_multicast_loop_v4(config.loopback)?;
        socket.set_nonblocking(true)?;
        let mut transceiver = Self::from_socket(socket.into());
        transceiver.destination = Some(SocketAddr::V4(config.group));
        Ok(transceiver)
    }

    fn from_socket(socket: UdpSocket) -> Self {
        UdpTransceiver {
            inbox: Inbox::new(),
            send_to: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            socket: Some(socket),
            destination: None,
        }
    }

    /// Sets where `inbox` payloads go.
    pub fn with_destination(mut self, destination: SocketAddr) -> Self {
        self.destination = Some(destination);
        self
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match &self.socket {
            Some(s) => s.local_addr(),
            None => Err(std::io::Error::other("the transceiver has run")),
        }
    }
}

impl Component for UdpTransceiver {
    async fn main(mut self) -> Result<(), ComponentError> {
        let socket = tokio::net::UdpSocket::from_std(self.socket.take().expect("runs once"))?;
        let mut buffer = vec![0u8; 65_536];
        let ending = loop {
            tokio::select! {
                received = socket.recv_from(&mut buffer) => match received {
                    Ok((n, from)) => {
                        self.outbox.send((from, Bytes::copy_from_slice(&buffer[..n]))).await?;
                    }
                    // ICMP errors from earlier sends surface here on some systems: not fatal.
                    Err(e) => tracing::debug!(error = %e, "udp receive error"),
                },
                payload = self.inbox.recv() => match self.destination {
                    Some(to) => send(&socket, to, &payload).await,
                    None => {
                        static LIMIT: LogLimit = LogLimit::new(std::time::Duration::from_secs(1));
                        if let Some(held_back) = LIMIT.check() {
                            tracing::warn!(held_back, "datagram dropped: no default destination (use send_to)");
                        }
                    }
                },
                (to, payload) = self.send_to.recv() => send(&socket, to, &payload).await,
                message = self.control.recv() => break message,
            }
        };
        // What was queued before the stop still goes out.
        while let Some(payload) = self.inbox.try_recv() {
            if let Some(to) = self.destination {
                send(&socket, to, &payload).await;
            }
        }
        while let Some((to, payload)) = self.send_to.try_recv() {
            send(&socket, to, &payload).await;
        }
        self.signal.send(ending).await?;
        Ok(())
    }
}

async fn send(socket: &tokio::net::UdpSocket, to: SocketAddr, payload: &[u8]) {
    if let Err(e) = socket.send_to(payload, to).await {
        static LIMIT: LogLimit = LogLimit::new(std::time::Duration::from_secs(1));
        if let Some(held_back) = LIMIT.check() {
            tracing::warn!(%to, error = %e, held_back, "datagram not sent");
        }
    }
}
