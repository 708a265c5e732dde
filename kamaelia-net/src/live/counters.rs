//! The live server's counters: published as CAT values `net.live.<bind>.<name>` and served as
//! JSON at `/stats`, with every connection event counted by its reason.

use crate::access::{ConnectionEvent, ConnectionRecord, Reason};
use std::cell::Cell;
use std::rc::Rc;

#[derive(Default)]
pub(super) struct Counters {
    /// Connections open now.
    pub(super) connections: Cell<u64>,
    /// Listeners receiving the stream now.
    pub(super) listeners: Cell<u64>,
    /// Stream responses started, in all.
    pub(super) served: Cell<u64>,
    /// Listeners disconnected for falling behind.
    pub(super) dropped: Cell<u64>,
    /// Connections refused (503) at the connection limit.
    pub(super) refused: Cell<u64>,
    /// Requests for unknown paths (404).
    pub(super) not_found: Cell<u64>,
    /// Requests answered 400, 405, 408 or 431.
    pub(super) bad_requests: Cell<u64>,
    /// Stream bytes written to listeners' sockets.
    pub(super) bytes_out: Cell<u64>,
    /// Chunks received from the source.
    pub(super) chunks: Cell<u64>,
    /// Refusals being answered now (each holds its connection about a second, at most the
    /// write grace plus the linger); not published.
    pub(super) refusing: Cell<u64>,
    /// Connection events by reason, in the order of [`Reason::ALL`].
    by_reason: [Cell<u64>; Reason::ALL.len()],
}

impl Counters {
    pub(super) fn named(&self) -> Vec<(String, u64)> {
        let mut named: Vec<(String, u64)> = [
            ("connections", self.connections.get()),
            ("listeners", self.listeners.get()),
            ("served", self.served.get()),
            ("dropped", self.dropped.get()),
            ("refused", self.refused.get()),
            ("not_found", self.not_found.get()),
            ("bad_requests", self.bad_requests.get()),
            ("bytes_out", self.bytes_out.get()),
            ("chunks", self.chunks.get()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
        for (reason, count) in Reason::ALL.iter().zip(&self.by_reason) {
            named.push((format!("reason.{}", reason.as_str()), count.get()));
        }
        named
    }

    /// `{"connections":…, …, "by_reason":{"client_left":…, "lagging":…, …}}`
    pub(super) fn json(&self) -> String {
        let mut fields = serde_json::Map::new();
        let mut reasons = serde_json::Map::new();
        for (name, value) in self.named() {
            match name.strip_prefix("reason.") {
                Some(reason) => reasons.insert(reason.to_string(), value.into()),
                None => fields.insert(name, value.into()),
            };
        }
        fields.insert("by_reason".into(), reasons.into());
        let mut json = serde_json::Value::from(fields).to_string();
        json.push('\n');
        json
    }

    /// Counts a connection event by its reason and writes its log line.
    pub(super) fn record(&self, record: ConnectionRecord<'_>) {
        if let Some(i) = Reason::ALL.iter().position(|r| *r == record.reason) {
            bump(&self.by_reason[i], 1);
        }
        match (record.event, record.reason) {
            (ConnectionEvent::Dropped, _) => bump(&self.dropped, 1),
            (ConnectionEvent::Refused, _) => bump(&self.refused, 1),
            (ConnectionEvent::Rejected, Reason::NotFound) => bump(&self.not_found, 1),
            (ConnectionEvent::Rejected, _) => bump(&self.bad_requests, 1),
            _ => {}
        }
        record.log();
    }
}

pub(super) fn bump(counter: &Cell<u64>, delta: i64) {
    counter.set(counter.get().saturating_add_signed(delta));
}

/// Counts something open (a connection, a listener) for as long as it lives.
pub(super) struct Open {
    counters: Rc<Counters>,
    counter: fn(&Counters) -> &Cell<u64>,
}

impl Open {
    pub(super) fn new(counters: &Rc<Counters>, counter: fn(&Counters) -> &Cell<u64>) -> Self {
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
