//! The audience: who is listening, the header a newcomer is sent first, and the burst of recent
//! stream a newcomer starts with.
//!
//! Every chunk is one shared `Bytes`, fanned out by axon-core's [`Fanout`] with the
//! [`Disconnect`](Policy::Disconnect) policy: delivering it to a listener is one `try_send` of a
//! reference, and a listener whose queue is full has fallen behind: it is told so and forgotten,
//! and nobody else waits for it.

use super::counters::{Counters, bump};
use super::{ChunkKind, LiveChunk};
use axon_core::{Control, Fanout, InboxRef, Offer, Policy, Subscription};
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// Where the server delivers to one listener: its chunk queue and its control inbox.
pub(crate) fn subscriber(data: InboxRef<Bytes>, control: InboxRef<Control>) -> Subscription<Bytes> {
    Subscription::new(data, Policy::Disconnect).with_control(control)
}

pub(crate) struct Audience {
    /// Listeners receiving the stream.
    streaming: Fanout<Bytes>,
    /// Listeners that have been sent the response head and wait for the next join point.
    waiting: Vec<Subscription<Bytes>>,
    /// The latest run of header chunks.
    header: Vec<Bytes>,
    /// The header as one chunk (made once per header, not per listener), so a header of many
    /// chunks never counts against a newcomer's lag bound.
    joined_header: Option<Bytes>,
    in_header: bool,
    /// Chunks since the header that arrived within the last `burst`, with their arrival time.
    recent: VecDeque<(Instant, LiveChunk)>,
    /// The header and the burst as one chunk, for everyone joining until the next chunk.
    joined_start: Option<Bytes>,
    burst: Duration,
    /// Arrival times of the last `max_lag` chunks: how far behind a lagging listener is.
    arrivals: VecDeque<Instant>,
    max_lag: usize,
}

impl Audience {
    pub(crate) fn new(burst: Duration, max_lag: usize) -> Self {
        Audience {
            streaming: Fanout::new(),
            waiting: Vec::new(),
            header: Vec::new(),
            joined_header: None,
            in_header: false,
            recent: VecDeque::new(),
            joined_start: None,
            burst,
            arrivals: VecDeque::new(),
            max_lag,
        }
    }

    /// A chunk from the source: to every listener, and into the header or the burst.
    /// `counts_chunks`: this server counts the source's chunks (one shard of several does).
    pub(crate) fn publish(&mut self, chunk: LiveChunk, counters: &Counters, counts_chunks: bool) {
        if counts_chunks {
            bump(&counters.chunks, 1);
        }
        if chunk.bytes.is_empty() {
            return; // nothing to send (and an empty HTTP chunk would end the body)
        }
        let now = Instant::now();
        if self.arrivals.len() >= self.max_lag {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back(now);
        self.joined_start = None;
        match chunk.kind {
            ChunkKind::Header => {
                if !self.in_header {
                    self.header.clear();
                    self.recent.clear(); // the burst restarts with the new header
                    self.in_header = true;
                }
                self.header.push(chunk.bytes.clone());
                self.joined_header = None;
            }
            ChunkKind::JoinPoint => {
                self.in_header = false;
                let waiting = std::mem::take(&mut self.waiting);
                if !waiting.is_empty() {
                    let header = self.header().clone();
                    for listener in waiting {
                        if header.is_empty() || self.deliver(&listener, &header) {
                            self.streaming.subscribe(listener);
                        }
                    }
                }
            }
            ChunkKind::Continuation => self.in_header = false,
        }
        if chunk.kind != ChunkKind::Header && !self.burst.is_zero() {
            self.recent.push_back((now, chunk.clone()));
            self.trim(now);
        }
        let published = self.streaming.publish_now(chunk.bytes);
        for listener in &published.lagging {
            self.tell_lagging(listener);
        }
    }

    /// A new listener: it starts at once with the header and the recent burst when the burst
    /// holds a join point, else with the header at the next join point.
    pub(crate) fn join(&mut self, listener: Subscription<Bytes>) {
        self.trim(Instant::now());
        let from = self
            .recent
            .iter()
            .position(|(_, c)| c.kind == ChunkKind::JoinPoint);
        if let Some(from) = from {
            let start = match &self.joined_start {
                Some(start) => start.clone(),
                None => {
                    let mut start = self.header().to_vec();
                    for (_, chunk) in self.recent.iter().skip(from) {
                        start.extend_from_slice(&chunk.bytes);
                    }
                    let start = Bytes::from(start);
                    self.joined_start = Some(start.clone());
                    start
                }
            };
            if self.deliver(&listener, &start) {
                self.streaming.subscribe(listener);
            }
        } else {
            // Listeners that left while waiting are forgotten here too, so a source that
            // rarely sends a join point cannot make the waiting list grow.
            if self.waiting.len() >= 64 && self.waiting.len() >= self.streaming.len() {
                self.waiting.retain(|listener| !listener.data.is_closed());
            }
            self.waiting.push(listener);
        }
    }

    /// Everyone listening or waiting (to tell them the stream has ended).
    pub(crate) fn everyone(&self) -> impl Iterator<Item = &Subscription<Bytes>> {
        self.streaming.iter().chain(&self.waiting)
    }

    fn header(&mut self) -> &Bytes {
        self.joined_header
            .get_or_insert_with(|| Bytes::from(self.header.concat()))
    }

    /// Forgets chunks older than the burst.
    fn trim(&mut self, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > self.burst)
        {
            self.recent.pop_front();
            self.joined_start = None;
        }
    }

    /// Queues `bytes` for one listener; false when it has gone or has fallen too far behind
    /// (then it is told to close, and how far behind it was).
    fn deliver(&self, listener: &Subscription<Bytes>, bytes: &Bytes) -> bool {
        match listener.offer(bytes.clone()) {
            Offer::Delivered | Offer::Displaced(_) => true,
            Offer::Full(_) | Offer::Lagging(_) => {
                self.tell_lagging(listener);
                false
            }
            Offer::Gone(_) => false,
        }
    }

    /// Tells a listener that fell behind how far behind it was.
    fn tell_lagging(&self, listener: &Subscription<Bytes>) {
        let behind = self
            .arrivals
            .front()
            .map_or(Duration::ZERO, |oldest| oldest.elapsed());
        let why = format!(
            "{} chunks queued, {:.1} s behind the live stream",
            self.max_lag,
            behind.as_secs_f64()
        );
        listener.tell(Control::failed("LiveHttpServer", why));
    }
}
