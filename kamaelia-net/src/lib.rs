//! # kamaelia-net
//!
//! Sockets as components. tokio's reactor is the one `select()`: every socket component simply
//! awaits its socket.
//!
//! - [`TcpServer`]: accepts connections and gives each a socket component plus a **protocol
//!   component** made by a factory, linked both ways (Kamaelia's SimpleServer / ServerCore).
//! - [`TcpClient`]: connects (with optional retry and backoff); inbox → socket, socket → outbox.
//! - [`UdpTransceiver`] and [`MulticastTransceiver`]: datagrams as `(SocketAddr, Bytes)`.
//! - [`LiveHttpServer`]: one live stream to many HTTP listeners, fanned out by reference, with
//!   late joiners started at a join point after the stream's header (Icecast-style radio).
//! - [`RadioServer`]: live radio as Icecast serves it — encoders push streams into mount points
//!   (`PUT`/`SOURCE`), listeners tune in, titles update (ICY and Ogg comments), fallbacks and
//!   relays keep mounts playing.
//! - [`http`]: the request reader behind it, with size and time limits.
//! - [`framing`]: length-prefixed frames and fixed-size chunks, with a maximum frame size.
//!
//! ```no_run
//! use axon_core::{Scheduler, components::map};
//! use bytes::Bytes;
//! use kamaelia_net::{ServerConfig, TcpServer};
//!
//! # async fn example() -> std::io::Result<()> {
//! // An echo server: every connection gets its own protocol component.
//! let server = TcpServer::bind(ServerConfig::new("127.0.0.1:8000".parse().unwrap()), |_conn| {
//!     map(|data: Bytes| data)
//! })?;
//! println!("listening on {}", server.local_addr());
//! let scheduler = Scheduler::new();
//! scheduler.activate(server);
//! scheduler.run().await;
//! # Ok(()) }
//! ```
//!
//! Statistics are CAT values named `net.tcp.<bind address>.<what>`: `connections` (open now),
//! `accepted`, `refused`, `bytes_in`, `bytes_out`.
#![forbid(unsafe_code)]

mod access;
mod client;
mod connection;
mod cores;
pub mod framing;
pub mod http;
mod icy;
mod introspect;
mod live;
#[cfg(feature = "nats")]
#[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
pub mod nats;
mod radio;
pub mod rtsp;
mod server;
mod udp;

/// The component crates this one's API is made of, re-exported so that `kamaelia-net` (with
/// tokio) is the only dependency a server needs: write `use kamaelia_net::axon_core::…`, and
/// derive boxes with `#[derive(Boxes)] #[boxes(crate = kamaelia_net::axon_core)]`.
pub use axon_core;
/// Byte buffers, as every socket component sends and receives them.
pub use bytes;
/// Services and statistics (the CAT), where the servers publish their counters.
pub use kamaelia_cat;

pub use access::{CONNECTION_LOG, ConnectionEvent, ConnectionRecord, Reason};
pub use client::TcpClient;
pub use connection::{ConnectionInfo, TcpConnection};
pub use cores::{Spread, serve_live_on_cores, serve_on_cores};
pub use introspect::{Introspector, deadlocks};
pub use live::{ChunkKind, LiveChunk, LiveConfig, LiveHttpServer, MAX_BURST};
pub use radio::{Fallback, MountConfig, PagesFactory, RadioConfig, RadioServer};
pub use server::{DEFAULT_CONNECTION_BUDGET, ServerConfig, TcpServer};
pub use udp::{MulticastConfig, MulticastTransceiver, UdpTransceiver};
