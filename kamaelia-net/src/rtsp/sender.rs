//! `RtpSender`: RTP packets to a UDP destination — unicast or a multicast group — with an RTCP
//! sender report every 5 s to the port after it.

use crate::udp::MulticastConfig;
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, LogLimit, Next, Outbox};
use kamaelia_codec::rtp::{RtpPacket, SenderReport, VorbisConfig, ntp_time};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;
use tokio::time::Instant;

/// How often the sender reports.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// Sends RTP packets as datagrams to `destination` (RTP on its port, RTCP on the next), with
/// an RTCP sender report every 5 s (wall clock ↔ RTP time, packets and bytes) — what a
/// receiver that opens an SDP file for the stream needs. A datagram the socket cannot take is
/// dropped and counted, as on any UDP path. `ProducerFinished` ends it.
#[derive(Boxes)]
pub struct RtpSender {
    /// RTP packets.
    pub inbox: Inbox<RtpPacket>,
    /// The stream's configuration (link `RtpVorbisPay`'s `config`): its sample rate is the RTP
    /// clock the reports need; no report goes out before it is known.
    pub config: Inbox<VorbisConfig>,
    /// `ProducerFinished` or a shutdown ends it.
    pub control: Inbox<Control>,
    /// Forwards the end.
    pub signal: Outbox<Control>,
    socket: Option<UdpSocket>,
    destination: SocketAddr,
}

impl RtpSender {
    /// Sends to `destination` (unicast) from an ephemeral port.
    pub fn unicast(destination: SocketAddr) -> std::io::Result<Self> {
        let any: SocketAddr = if destination.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(any)?;
        socket.set_nonblocking(true)?;
        Ok(Self::from_socket(socket, destination))
    }

    /// Sends to a multicast group (its port is the RTP port), from `config`'s interface with
    /// its TTL and loopback.
    pub fn multicast(config: &MulticastConfig) -> std::io::Result<Self> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        socket.bind(&SocketAddr::V4(SocketAddrV4::new(config.interface, 0)).into())?;
        socket.set_multicast_if_v4(&config.interface)?;
        socket.set_multicast_ttl_v4(config.ttl)?;
        socket.set_multicast_loop_v4(config.loopback)?;
        socket.set_nonblocking(true)?;
        Ok(Self::from_socket(
            socket.into(),
            SocketAddr::V4(config.group),
        ))
    }

    fn from_socket(socket: UdpSocket, destination: SocketAddr) -> Self {
        RtpSender {
            inbox: Inbox::new(),
            config: Inbox::new(),
            control: Inbox::new(),
            signal: Outbox::new(),
            socket: Some(socket),
            destination,
        }
    }
}

impl Component for RtpSender {
    async fn main(mut self) -> Result<(), ComponentError> {
        static DROPPED: LogLimit = LogLimit::new(Duration::from_secs(1));
        let socket = tokio::net::UdpSocket::from_std(self.socket.take().expect("runs once"))?;
        let rtcp_to = SocketAddr::new(
            self.destination.ip(),
            self.destination.port().checked_add(1).ok_or_else(|| {
                ComponentError::msg("the RTP port must leave room for RTCP on the next one")
            })?,
        );
        let cname = format!("kamaelia@{}", socket.local_addr()?);
        let mut reports = tokio::time::interval(REPORT_EVERY);
        let (mut packets, mut octets) = (0u32, 0u32);
        let mut last: Option<(u32, u32, Instant)> = None; // ssrc, timestamp, when
        let mut clock_rate: Option<u32> = None;
        let ending = loop {
            tokio::select! {
                biased;
                config = self.config.recv() => clock_rate = Some(config.sample_rate().max(1)),
                next = self.inbox.next_or_control(&mut self.control) => match next {
                    Next::Data(packet) => {
                        match socket.try_send_to(&packet.to_bytes(), self.destination) {
                            Ok(_) => {
                                packets = packets.wrapping_add(1);
                                octets = octets.wrapping_add(packet.payload.len() as u32);
                            }
                            Err(e) => {
                                if let Some(held_back) = DROPPED.check() {
                                    tracing::warn!(%e, held_back, to = %self.destination, "RTP datagram dropped");
                                }
                            }
                        }
                        last = Some((packet.ssrc, packet.timestamp, Instant::now()));
                    }
                    Next::Control(message) => break message,
                },
                _ = reports.tick() => {
                    if let (Some((ssrc, timestamp, at)), Some(rate)) = (last, clock_rate) {
                        let elapsed = at.elapsed().as_secs_f64() * f64::from(rate);
                        let report = SenderReport {
                            ssrc,
                            ntp: ntp_time(std::time::SystemTime::now()),
                            rtp_time: timestamp.wrapping_add(elapsed as u32),
                            packets,
                            octets,
                        };
                        let _ = socket.try_send_to(&report.to_bytes(&cname), rtcp_to);
                    }
                }
            }
        };
        self.signal.send(ending).await?;
        Ok(())
    }
}
