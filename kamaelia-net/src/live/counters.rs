//! The live server's counters: published as CAT values `net.live.<bind>.<name>` and served as
//! JSON at `/stats`, with every connection event counted by its reason.

use crate::access::{ConnectionEvent, ConnectionRecord, Reason};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Shared by every shard of a server on several cores (see
/// [`serve_live_on_cores`](crate::serve_live_on_cores)), so `/stats` and the CAT show the
/// whole server whichever core answers; relaxed atomics, a few per chunk written.
#[derive(Default)]
pub(crate) struct Counters {
    /// Connections open now.
    pub(crate) connections: AtomicU64,
    /// Listeners receiving the stream now.
    pub(crate) listeners: AtomicU64,
    /// Stream responses started, in all.
    pub(crate) served: AtomicU64,
    /// Listeners disconnected for falling behind.
    pub(crate) dropped: AtomicU64,
    /// Connections refused (503) at the connection limit.
    pub(crate) refused: AtomicU64,
    /// Requests for unknown paths (404).
    pub(crate) not_found: AtomicU64,
    /// Requests answered 400, 405, 408 or 431.
    pub(crate) bad_requests: AtomicU64,
    /// Stream bytes written to listeners' sockets.
    pub(crate) bytes_out: AtomicU64,
    /// Chunks received from the source.
    pub(crate) chunks: AtomicU64,
    /// Refusals being answered now (each holds its connection about a second, at most the
    /// write grace plus the linger); not published.
    pub(crate) refusing: AtomicU64,
    /// Connection events by reason, in the order of [`Reason::ALL`].
    by_reason: [AtomicU64; Reason::ALL.len()],
}

impl Counters {
    pub(crate) fn named(&self) -> Vec<(String, u64)> {
        let mut named: Vec<(String, u64)> = [
            ("connections", self.connections.load(Ordering::Relaxed)),
            ("listeners", self.listeners.load(Ordering::Relaxed)),
            ("served", self.served.load(Ordering::Relaxed)),
            ("dropped", self.dropped.load(Ordering::Relaxed)),
            ("refused", self.refused.load(Ordering::Relaxed)),
            ("not_found", self.not_found.load(Ordering::Relaxed)),
            ("bad_requests", self.bad_requests.load(Ordering::Relaxed)),
            ("bytes_out", self.bytes_out.load(Ordering::Relaxed)),
            ("chunks", self.chunks.load(Ordering::Relaxed)),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
        for (reason, count) in Reason::ALL.iter().zip(&self.by_reason) {
            named.push((
                format!("reason.{}", reason.as_str()),
                count.load(Ordering::Relaxed),
            ));
        }
        named
    }

    /// `{"connections":…, …, "by_reason":{"client_left":…, "lagging":…, …}}`
    pub(crate) fn json(&self) -> String {
        let mut json = serde_json::Value::from(self.fields()).to_string();
        json.push('\n');
        json
    }

    /// The counters as JSON fields, for a server that adds its own (the radio's mounts).
    pub(crate) fn fields(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut fields = serde_json::Map::new();
        let mut reasons = serde_json::Map::new();
        for (name, value) in self.named() {
            match name.strip_prefix("reason.") {
                Some(reason) => reasons.insert(reason.to_string(), value.into()),
                None => fields.insert(name, value.into()),
            };
        }
        fields.insert("by_reason".into(), reasons.into());
        fields
    }

    /// Counts a connection event by its reason and writes its log line.
    pub(crate) fn record(&self, record: ConnectionRecord<'_>) {
        if let Some(i) = Reason::ALL.iter().position(|r| *r == record.reason) {
            bump(&self.by_reason[i], 1);
        }
        match (record.event, record.reason) {
            (ConnectionEvent::Dropped, _) => bump(&self.dropped, 1),
            (ConnectionEvent::Refused, _) => bump(&self.refused, 1),
            (ConnectionEvent::Rejected, Reason::NotFound) => bump(&self.not_found, 1),
            (ConnectionEvent::Rejected, Reason::BadRequest) => bump(&self.bad_requests, 1),
            _ => {}
        }
        record.log();
    }
}

pub(crate) fn bump(counter: &AtomicU64, delta: i64) {
    if delta >= 0 {
        counter.fetch_add(delta as u64, Ordering::Relaxed);
    } else {
        counter.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
    }
}

/// Counts something open (a connection, a listener) for as long as it lives.
pub(crate) struct Open {
    counters: Arc<Counters>,
    counter: fn(&Counters) -> &AtomicU64,
}

impl Open {
    pub(crate) fn new(counters: &Arc<Counters>, counter: fn(&Counters) -> &AtomicU64) -> Self {
        bump(counter(counters), 1);
        Open {
            counters: counters.clone(),
            counter,
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        bump((self.counter)(&self.counters), -1);
    }
}
