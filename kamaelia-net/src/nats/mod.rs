//! Components across machines, on [NATS](https://nats.io) (the `nats` feature).
//!
//! A component only ever talks to its own boxes, so it cannot tell whether the component at the
//! other end of a link runs in the same process or on another machine. This module makes the
//! second case real, on an existing message engine rather than a protocol of our own:
//!
//! | Kamaelia | here | on NATS |
//! |---|---|---|
//! | a linkage | [`RemoteOutbox`] → [`RemoteInbox`], by name | one subject per link, credit granted back |
//! | a CAT service | [`ClusterService`], [`Cluster::call`] | request/reply, a queue group per service |
//! | tracked values | [`ClusterValues`] | a JetStream key/value bucket |
//! | the Backplane | [`ExportBackplane`], [`RemoteSubscribeTo`], [`RemotePublishTo`] | a credit link per remote subscriber |
//! | a live stream's edges | [`LiveExport`], [`LiveEdge`] | a credit link per edge, header first |
//!
//! **Backpressure crosses the wire.** A [`RemoteInbox`] grants its sender credit for a window of
//! messages and tops it up as it hands them on, so a slow consumer is never flooded, NATS never
//! drops a message for a slow subscriber, memory stays bounded on both sides, and the producer is
//! paced by the consumer exactly as a full local inbox paces it.
//!
//! **What NATS loses on the way is reported, not hidden.** Core NATS delivers at most once: if
//! the broker dies mid-stream the messages it held are gone. Every data message carries a
//! sequence number, so the receiver counts the gap ([`LinkStats::lost`], a [`LinkEvent::Lost`]
//! on its `events` outbox and a warning) and carries on once the client has reconnected. (What
//! a sender publishes after its receiver died has nobody to count it: the sender fails with
//! [`LinkError::NoReceiver`] after the peer timeout.) Lossless links, on JetStream, lose
//! nothing on the way: see [`RemoteOutbox::lossless`].
//!
//! The wire encoding is [postcard](https://docs.rs/postcard): a compact serde format (varint
//! integers, no field names, no type tags beyond enum indices), so a 64-byte payload costs a few
//! bytes of framing. Both ends share the Rust type, so a self-describing format (JSON, CBOR)
//! would only add bytes and parsing time; postcard's wire format is stable and documented.
//!
//! ```no_run
//! use kamaelia_net::axon_core::{Scheduler, components::{Collect, DataSource}, link};
//! use kamaelia_net::nats::{Cluster, RemoteInbox, RemoteOutbox};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = Cluster::connect("nats://127.0.0.1:4222").await?;
//! // In one process: whatever reaches `to_remote`'s inbox goes to the link "numbers".
//! let source = DataSource::new(0..1000u64);
//! let to_remote = RemoteOutbox::<u64>::new(&cluster, "numbers")?;
//! link(&source.outbox, &to_remote.inbox);
//! link(&source.signal, &to_remote.control);
//! // In another (here the same, for brevity): what arrives on "numbers" leaves on `outbox`.
//! let from_remote = RemoteInbox::<u64>::new(&cluster, "numbers")?;
//! let (sink, collected) = Collect::<u64>::new();
//! link(&from_remote.outbox, &sink.inbox);
//! link(&from_remote.signal, &sink.control);
//! let scheduler = Scheduler::new();
//! scheduler.activate(from_remote);
//! scheduler.activate(to_remote);
//! scheduler.activate(source);
//! scheduler.activate(sink);
//! scheduler.run().await;
//! # Ok(()) }
//! ```
//!
//! Works with nats-server 2.9 and later (Debian's `nats-server` package). The client is
//! [async-nats](https://docs.rs/async-nats), built without a TLS provider: use it on loopback and
//! private networks, or give [`Cluster::from_client`] a client you configured yourself.

mod bus;
mod durable;
mod link;
mod live;
mod service;
mod values;
mod wire;

pub use bus::{ExportBackplane, RemotePublishTo, RemoteSubscribeTo};
pub use link::{LinkError, LinkEvent, LinkStats, RemoteInbox, RemoteOutbox};
pub use live::{LiveEdge, LiveExport};
pub use service::{ClusterService, DEFAULT_CALL_TIMEOUT, ServiceCall, ServiceError};
pub use values::ClusterValues;

/// The async-nats client this module is built on, re-exported for [`Cluster::from_client`].
pub use async_nats;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A connection to a NATS cluster, and the subject prefix that keeps this system's subjects
/// apart from anyone else's (default `kamaelia`). Cheap to clone: clones share one connection.
#[derive(Clone)]
pub struct Cluster {
    client: async_nats::Client,
    prefix: Arc<str>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("prefix", &self.prefix)
            .field("state", &self.client.connection_state())
            .finish()
    }
}

impl Cluster {
    /// Connects to the NATS server at `url` (`nats://host:port`, or several separated by commas).
    ///
    /// The first connection must succeed (a clear [`ClusterError::Connect`] otherwise); after
    /// that the client reconnects by itself, waiting at most a second between attempts, and
    /// resubscribes every subscription, so links and services resume after a broker restart.
    pub async fn connect(url: &str) -> Result<Cluster, ClusterError> {
        let client = async_nats::ConnectOptions::new()
            .name("kamaelia")
            .connection_timeout(Duration::from_secs(5))
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(50 * attempts.min(20) as u64)
            })
            .event_callback(|event| async move {
                tracing::info!(%event, "nats connection");
            })
            .connect(url)
            .await
            .map_err(|e| ClusterError::Connect {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Cluster::from_client(client))
    }

    /// A cluster over a client you connected yourself (TLS, credentials, other options).
    pub fn from_client(client: async_nats::Client) -> Cluster {
        Cluster {
            client,
            prefix: Arc::from("kamaelia"),
        }
    }

    /// Uses `prefix` as the first token of every subject (default `kamaelia`): systems sharing
    /// one NATS server with different prefixes never see each other's links or services.
    pub fn with_prefix(mut self, prefix: &str) -> Result<Cluster, ClusterError> {
        check_name("prefix", prefix)?;
        self.prefix = Arc::from(prefix);
        Ok(self)
    }

    /// The underlying client.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The subject prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>.<kind>.<name>`.
    fn subject(&self, kind: &str, name: &str) -> String {
        format!("{}.{kind}.{name}", self.prefix)
    }
}

/// Why a cluster operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterError {
    /// The first connection to the server failed.
    Connect {
        /// The server address given.
        url: String,
        /// What the client said.
        reason: String,
    },
    /// A link, service, bus or bucket name that cannot be a NATS subject token.
    BadName {
        /// What the name was for.
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// Subscribing, publishing or a JetStream call failed at the client or the server.
    Nats(String),
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::Connect { url, reason } => {
                write!(f, "cannot connect to the NATS server at {url}: {reason}")
            }
            ClusterError::BadName { what, name } => write!(
                f,
                "{name:?} cannot be a {what} name: use letters, digits, '-', '_' and dots \
                 between non-empty parts (no spaces, '*' or '>')"
            ),
            ClusterError::Nats(reason) => write!(f, "NATS: {reason}"),
        }
    }
}

impl std::error::Error for ClusterError {}

impl From<ClusterError> for axon_core::ComponentError {
    fn from(e: ClusterError) -> Self {
        axon_core::ComponentError::Other(Box::new(e))
    }
}

impl ClusterError {
    fn nats(e: impl fmt::Display) -> ClusterError {
        ClusterError::Nats(e.to_string())
    }
}

/// Where the `nats-server` binary is: on `PATH`, or where Debian installs it (`/usr/sbin`, often
/// not on a user's `PATH`). For programs and tests that start their own broker.
pub fn find_nats_server() -> Option<std::path::PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("nats-server"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let debian = std::path::PathBuf::from("/usr/sbin/nats-server");
        debian.is_file().then_some(debian)
    })
}

/// A name becomes one or more subject tokens: dots separate non-empty parts; wildcards and
/// whitespace would change what the subject matches, so they are refused.
fn check_name(what: &'static str, name: &str) -> Result<(), ClusterError> {
    let fine = !name.is_empty()
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        });
    if fine {
        Ok(())
    } else {
        Err(ClusterError::BadName {
            what,
            name: name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_change_a_subject_are_refused() {
        for good in ["numbers", "radio.main", "edge-3_a"] {
            assert!(check_name("link", good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "a.*", ">", "a..b", ".a", "a.", "ümlaut", "a\tb"] {
            let err = check_name("link", bad).unwrap_err();
            assert!(err.to_string().contains("cannot be a link name"), "{bad}");
        }
    }
}
