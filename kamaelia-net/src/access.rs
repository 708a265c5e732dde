//! One log line per connection event, the same on every server.
//!
//! A listener dropped for lag used to vanish without a word; now every refusal, rejection,
//! drop and close is one line an operator can grep, in one format across servers:
//!
//! ```text
//! 2026-11-30T20:51:07.412Z 127.0.0.1:40312 /stream.ogg dropped lagging "256 chunks queued, 3.2 s behind" 1482337
//! ```
//!
//! Fields, space-separated: time (UTC, RFC 3339), peer, path (`-` where there is none, such as
//! a plain TCP connection), event, reason, detail (quoted), bytes sent to the peer. Lines are
//! `tracing` events at INFO level with the target [`CONNECTION_LOG`], so an application turns
//! them on or off, or routes them to a file, like any other target.

use std::fmt;
use std::net::SocketAddr;

/// The `tracing` target of connection events.
pub const CONNECTION_LOG: &str = "kamaelia::connections";

/// What happened to a connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// A connection was accepted and given its protocol (TCP servers).
    Accepted,
    /// A listener started receiving a stream.
    Joined,
    /// A connection ended the ordinary way (see the reason).
    Closed,
    /// A listener was disconnected by the server for falling behind.
    Dropped,
    /// Turned away before its request was read (the connection limit).
    Refused,
    /// Its request was answered with an error status.
    Rejected,
    /// A short response (statistics, `HEAD`, 404) was sent and the connection closed.
    Answered,
}

impl ConnectionEvent {
    /// The event's name in log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionEvent::Accepted => "accepted",
            ConnectionEvent::Joined => "joined",
            ConnectionEvent::Closed => "closed",
            ConnectionEvent::Dropped => "dropped",
            ConnectionEvent::Refused => "refused",
            ConnectionEvent::Rejected => "rejected",
            ConnectionEvent::Answered => "answered",
        }
    }
}

/// Why: the reason a connection event happened, as counted in a server's statistics.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Reason {
    /// Started listening.
    Listening,
    /// The peer closed or reset the connection.
    ClientLeft,
    /// The stream (or the protocol) finished and the connection was closed after it.
    Finished,
    /// The server was told to stop.
    Shutdown,
    /// Fell more chunks behind than the server allows.
    Lagging,
    /// Nothing moved for longer than the idle timeout, or a write could not finish in time.
    Timeout,
    /// The connection limit was reached (503, or a plain close on a TCP server).
    ServerFull,
    /// A malformed request (400), a method not allowed (405), a request head not received in
    /// time (408) or too large (431).
    BadRequest,
    /// A path the server does not serve (404).
    NotFound,
    /// A response was sent as asked (statistics, `HEAD`).
    Served,
    /// The server's protocol factory failed (or panicked) for this connection.
    ProtocolError,
    /// Credentials missing or wrong (401).
    Unauthorized,
    /// Not allowed whatever the credentials (403): a mount that already has its source, or one
    /// fed by a relay.
    Forbidden,
    /// A source stream in a format the server does not carry (415).
    Unsupported,
    /// A source started or stopped sending a stream.
    Source,
}

impl Reason {
    /// The reason's name in log lines and statistics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Listening => "listening",
            Reason::ClientLeft => "client_left",
            Reason::Finished => "finished",
            Reason::Shutdown => "shutdown",
            Reason::Lagging => "lagging",
            Reason::Timeout => "timeout",
            Reason::ServerFull => "server_full",
            Reason::BadRequest => "bad_request",
            Reason::NotFound => "not_found",
            Reason::Served => "served",
            Reason::ProtocolError => "protocol_error",
            Reason::Unauthorized => "unauthorized",
            Reason::Forbidden => "forbidden",
            Reason::Unsupported => "unsupported",
            Reason::Source => "source",
        }
    }

    /// Every reason, in the order statistics list them.
    pub const ALL: [Reason; 15] = [
        Reason::Listening,
        Reason::ClientLeft,
        Reason::Finished,
        Reason::Shutdown,
        Reason::Lagging,
        Reason::Timeout,
        Reason::ServerFull,
        Reason::BadRequest,
        Reason::NotFound,
        Reason::Served,
        Reason::ProtocolError,
        Reason::Unauthorized,
        Reason::Forbidden,
        Reason::Unsupported,
        Reason::Source,
    ];
}

/// One connection event, written as one line by [`log`](Self::log) (or `Display`).
#[derive(Clone, Debug)]
pub struct ConnectionRecord<'a> {
    /// The peer.
    pub peer: SocketAddr,
    /// The request path, if there was one.
    pub path: Option<&'a str>,
    /// What happened.
    pub event: ConnectionEvent,
    /// Why.
    pub reason: Reason,
    /// Free text for a person: how far behind, which status, the error.
    pub detail: &'a str,
    /// Bytes sent to the peer over the connection's life.
    pub bytes: u64,
}

impl fmt::Display for ConnectionRecord<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = humantime::format_rfc3339_millis(std::time::SystemTime::now());
        // The path comes from a client: anything that would break the line or the fields is
        // escaped.
        let path = self.path.map_or_else(|| "-".to_string(), escape);
        write!(
            f,
            "{time} {} {path} {} {} \"{}\" {}",
            self.peer,
            self.event.as_str(),
            self.reason.as_str(),
            self.detail.escape_debug(),
            self.bytes
        )
    }
}

fn escape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    for &byte in field.as_bytes() {
        if byte.is_ascii_graphic() && byte != b'"' && byte != b'\\' && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl ConnectionRecord<'_> {
    /// Writes the line (INFO, target [`CONNECTION_LOG`]).
    pub fn log(&self) {
        tracing::info!(target: CONNECTION_LOG, "{self}");
    }
}

/// Logs a failed `accept` (out of file descriptors, say) as a warning, at most once a second
/// for the whole process: a flood of connections would otherwise repeat it a hundred times a
/// second per listener.
pub(crate) fn accept_failed(error: &std::io::Error) {
    static LIMIT: axon_core::LogLimit = axon_core::LogLimit::new(std::time::Duration::from_secs(1));
    if let Some(held_back) = LIMIT.check() {
        tracing::warn!(%error, held_back, "accept failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_line_of_fields_a_client_cannot_break() {
        let record = ConnectionRecord {
            peer: "127.0.0.1:40312".parse().unwrap(),
            path: Some("/a b\n\"c"),
            event: ConnectionEvent::Dropped,
            reason: Reason::Lagging,
            detail: "256 chunks \"queued\"\n",
            bytes: 1482337,
        };
        let line = record.to_string();
        assert!(!line.contains('\n'));
        let fields: Vec<&str> = line.splitn(6, ' ').collect();
        assert_eq!(fields[1], "127.0.0.1:40312");
        assert_eq!(fields[2], "/a%20b%0A%22c");
        assert_eq!(fields[3], "dropped");
        assert_eq!(fields[4], "lagging");
        assert!(fields[5].ends_with("\" 1482337"), "{line}");
        assert!(fields[0].ends_with('Z') && fields[0].contains('T'));
    }
}
