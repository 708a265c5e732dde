//! `RtspServer`: accepts RTSP connections and gives each its own session component; streams
//! are registered by path.

use super::session::RtspSession;
use super::stream::{RtspStream, Streams, normalise};
use crate::access::accept_failed;
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox};
use std::cell::Cell;
use std::net::{SocketAddr, UdpSocket};
use std::rc::Rc;
use std::time::Duration;

/// How an [`RtspServer`] listens and what it allows.
#[derive(Clone, Debug)]
pub struct RtspConfig {
    /// Address for RTSP (TCP); the server's UDP ports for RTP and RTCP are on the same IP.
    pub bind: SocketAddr,
    /// Connections open at once; more are answered 503 and closed. `None`: no limit.
    pub max_connections: Option<usize>,
    /// Bytes a request (head and body) may have (default 8 KiB).
    pub max_request: usize,
    /// Time allowed for a request to arrive once begun, and for a connection's first request
    /// (default 10 s).
    pub request_timeout: Duration,
    /// A session with no request (keep-alive) for this long is ended (default 60 s; told to
    /// clients in the `Session` header).
    pub session_timeout: Duration,
    /// RTP packets a session may fall behind before it is disconnected (default 512).
    pub max_lag: usize,
    /// Listen backlog (default 4096).
    pub backlog: u32,
}

impl RtspConfig {
    /// Listens on `bind` with the defaults above.
    pub fn new(bind: SocketAddr) -> Self {
        RtspConfig {
            bind,
            max_connections: None,
            max_request: 8 * 1024,
            request_timeout: Duration::from_secs(10),
            session_timeout: Duration::from_secs(60),
            max_lag: 512,
            backlog: 4096,
        }
    }

    /// Sets the connection limit.
    pub fn max_connections(mut self, limit: usize) -> Self {
        self.max_connections = Some(limit);
        self
    }

    /// Sets the session timeout.
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }
}

/// What the server's sessions share.
pub(crate) struct Shared {
    pub(crate) config: RtspConfig,
    pub(crate) streams: Streams,
    pub(crate) rtp: tokio::net::UdpSocket,
    pub(crate) rtcp: tokio::net::UdpSocket,
    pub(crate) open: Cell<usize>,
    pub(crate) cname: String,
}

impl Shared {
    pub(crate) fn server_ports(&self) -> (u16, u16) {
        let port = |s: &tokio::net::UdpSocket| s.local_addr().map_or(0, |a| a.port());
        (port(&self.rtp), port(&self.rtcp))
    }
}

/// An RTSP 1.0 server (RFC 2326) for live Ogg Vorbis over RTP (RFC 5215).
///
/// Streams are registered by path ([`stream`](Self::stream)); each client gets a session
/// component that answers OPTIONS, DESCRIBE (SDP with the `configuration=` ffmpeg needs),
/// SETUP (RTP over UDP to `client_port`, or interleaved in the RTSP connection), PLAY (from
/// the live point, with `RTP-Info`), PAUSE, TEARDOWN and GET_PARAMETER / SET_PARAMETER as
/// keep-alives, and sends an RTCP sender report every 5 s. Every session shares the stream's
/// packets by reference. Requests are bounded in size and time, connections in number, and a
/// session that falls [`max_lag`](RtspConfig::max_lag) packets behind is disconnected.
///
/// `ShutdownMicroprocess` on `control` closes everything.
#[derive(Boxes)]
#[doc(alias("RTSP", "RTP"))]
pub struct RtspServer {
    /// `ShutdownMicroprocess` stops the server and its sessions.
    pub control: Inbox<Control>,
    /// The message that stopped it.
    pub signal: Outbox<Control>,
    listener: Option<std::net::TcpListener>,
    udp: Option<(UdpSocket, UdpSocket)>,
    local: SocketAddr,
    config: RtspConfig,
    streams: Streams,
}

impl RtspServer {
    /// Binds the RTSP port and a UDP pair for RTP and RTCP now (so the addresses are known
    /// and a port in use is an error here); serves once activated.
    pub fn bind(config: RtspConfig) -> std::io::Result<Self> {
        let listener = crate::server::listen(config.bind, config.backlog)?;
        let local = listener.local_addr()?;
        let udp = |port| {
            let socket = UdpSocket::bind(SocketAddr::new(local.ip(), port))?;
            socket.set_nonblocking(true)?;
            Ok::<_, std::io::Error>(socket)
        };
        let rtp = udp(0)?;
        let rtcp = udp(rtp.local_addr()?.port().wrapping_add(1)).or_else(|_| udp(0))?;
        Ok(RtspServer {
            control: Inbox::new(),
            signal: Outbox::new(),
            listener: Some(listener),
            udp: Some((rtp, rtcp)),
            local,
            config,
            streams: Streams::default(),
        })
    }

    /// The RTSP address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The URL a player opens for `path`.
    pub fn url(&self, path: &str) -> String {
        let path = normalise(path);
        format!(
            "rtsp://{}{}",
            self.local,
            if path == "/" { "/" } else { &path }
        )
    }

    /// A stream served at `path`: activate it, and link the payloader to it.
    pub fn stream(&self, path: &str) -> RtspStream {
        RtspStream::new(path, &self.streams)
    }
}

impl Component for RtspServer {
    async fn main(mut self) -> Result<(), ComponentError> {
        let listener =
            tokio::net::TcpListener::from_std(self.listener.take().expect("a server runs once"))?;
        let (rtp, rtcp) = self.udp.take().expect("a server runs once");
        let shared = Rc::new(Shared {
            config: self.config.clone(),
            streams: self.streams.clone(),
            rtp: tokio::net::UdpSocket::from_std(rtp)?,
            rtcp: tokio::net::UdpSocket::from_std(rtcp)?,
            open: Cell::new(0),
            cname: format!("kamaelia@{}", self.local),
        });
        let mut report = [0u8; 1500];
        let ending = loop {
            tokio::select! {
                message = self.control.recv() => break message,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        axon_core::activate(RtspSession::new(stream, peer, shared.clone()));
                    }
                    Err(e) => {
                        accept_failed(&e);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                // Receiver reports over UDP: read (so they never fill the socket buffer).
                _ = shared.rtcp.recv_from(&mut report) => {}
            }
        };
        drop(listener);
        axon_core::children().shutdown(Duration::from_secs(1)).await;
        self.signal.send(ending).await?;
        Ok(())
    }
}
