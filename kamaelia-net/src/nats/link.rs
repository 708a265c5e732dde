//! A linkage between processes: [`RemoteOutbox`] (where a local outbox is linked to send away)
//! and [`RemoteInbox`] (whose outbox gives what arrived), joined by a link name, with credit
//! flowing back so the receiver paces the sender.
//!
//! The protocol, on the subject `<prefix>.link.<name>`:
//! 1. A sender starts a session (a random id) and sends a probe as a request; the receiver
//!    answers with a grant: "send values numbered below `upto`". No answer at all ("no
//!    responders") means nobody receives the link yet: the sender waits and asks again.
//! 2. The sender sends data frames, numbered from 0, while it has credit. As the receiver hands
//!    values on to its consumer it tops the credit up (a grant on
//!    `<prefix>.link.<name>.credit.<session>`), half a window at a time.
//! 3. Out of credit, or idle, the sender probes again: that recovers a grant lost in a broker
//!    restart, tells the receiver the sender is alive, and tells it the number of the next
//!    value, so values lost in between are counted.
//! 4. `ProducerFinished`, a shutdown or a failure upstream goes across as the session's end,
//!    with the number of values sent, after the last value.

use super::wire::{self, EndReason, Frame, Grant};
use super::{Cluster, ClusterError, check_name};
use async_nats::{Client, RequestErrorKind, Subject, Subscriber};
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Next, Outbox, TrySendError};
use futures::FutureExt;
use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The default credit window: values in flight (sent, not yet handed on) per sender. Large
/// enough that credit never waits on a round trip at a million small values a second.
const DEFAULT_WINDOW: u64 = 4096;
/// The default byte budget per sender: credit is counted in bytes of frames as well as values.
const DEFAULT_WINDOW_BYTES: u64 = 8 << 20;
/// The window of a lossless link: values awaiting the server's acknowledgement at once.
const LOSSLESS_WINDOW: u64 = 256;
/// How long a sender with nothing to do, or with no credit, waits before it probes.
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How long a peer may be unheard of before it is taken to be gone.
const DEFAULT_PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// Counters of one end of a link, readable from outside while it runs (cloned before
/// activation). All counts are since the component started.
#[derive(Clone, Debug, Default)]
pub struct LinkStats(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    delivered: AtomicU64,
    lost: AtomicU64,
    duplicates: AtomicU64,
    malformed: AtomicU64,
    stalls: AtomicU64,
}

impl LinkStats {
    /// Values a [`RemoteOutbox`] published.
    pub fn sent(&self) -> u64 {
        self.0.sent.load(Ordering::Relaxed)
    }
    /// Values a [`RemoteInbox`] handed on to its consumer.
    pub fn delivered(&self) -> u64 {
        self.0.delivered.load(Ordering::Relaxed)
    }
    /// Values a [`RemoteInbox`] knows were sent and never arrived (a gap in the numbering).
    pub fn lost(&self) -> u64 {
        self.0.lost.load(Ordering::Relaxed)
    }
    /// Values that arrived twice and were dropped the second time.
    pub fn duplicates(&self) -> u64 {
        self.0.duplicates.load(Ordering::Relaxed)
    }
    /// Messages on the link's subject that were not frames of this link's type.
    pub fn malformed(&self) -> u64 {
        self.0.malformed.load(Ordering::Relaxed)
    }
    /// Times a [`RemoteOutbox`] ran out of credit and waited for its receiver.
    pub fn stalls(&self) -> u64 {
        self.0.stalls.load(Ordering::Relaxed)
    }
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
    pub(super) fn count_sent(&self) {
        Self::add(&self.0.sent, 1);
    }
    pub(super) fn count_delivered(&self) {
        Self::add(&self.0.delivered, 1);
    }
    pub(super) fn count_duplicate(&self) {
        Self::add(&self.0.duplicates, 1);
    }
    pub(super) fn count_malformed(&self) {
        Self::add(&self.0.malformed, 1);
    }
    pub(super) fn count_stall(&self) {
        Self::add(&self.0.stalls, 1);
    }
    pub(super) fn count_lost(&self, n: u64) {
        Self::add(&self.0.lost, n);
    }
}

/// Why a link end gave up, carried in the `Control::Failed` it sends on `signal`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkError {
    /// Nobody received the link for the whole peer timeout.
    NoReceiver {
        /// The link.
        link: String,
        /// How long the sender waited.
        waited: Duration,
    },
    /// A sender fell silent (no data, probe or end) for the whole peer timeout.
    SenderGone {
        /// The link.
        link: String,
    },
    /// The sender's upstream failed, and this is what it said.
    SenderFailed {
        /// The link.
        link: String,
        /// The failure, as the sending side described it.
        reason: String,
    },
    /// A value could not be encoded, or is larger than the server takes.
    Unsendable {
        /// The link.
        link: String,
        /// Why.
        reason: String,
    },
    /// The receiver ended (its consumer or owner stopped it) and said so.
    ReceiverLeft {
        /// The link.
        link: String,
    },
    /// Nobody answered the request to join a bus or live stream for the whole peer timeout,
    /// or the exporter refused it.
    NotJoined {
        /// What was to be joined.
        what: String,
        /// Why not.
        reason: String,
    },
    /// The connection to NATS is closed for good (the client was dropped or gave up).
    Closed {
        /// The link.
        link: String,
    },
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::NoReceiver { link, waited } => write!(
                f,
                "nobody receives the link {link:?} (waited {:.1} s)",
                waited.as_secs_f64()
            ),
            LinkError::SenderGone { link } => {
                write!(
                    f,
                    "the sender of the link {link:?} is gone (silent too long)"
                )
            }
            LinkError::SenderFailed { link, reason } => {
                write!(f, "the sender of the link {link:?} failed: {reason}")
            }
            LinkError::Unsendable { link, reason } => {
                write!(f, "a value cannot go on the link {link:?}: {reason}")
            }
            LinkError::ReceiverLeft { link } => {
                write!(f, "the receiver of the link {link:?} has gone")
            }
            LinkError::NotJoined { what, reason } => write!(f, "cannot join {what}: {reason}"),
            LinkError::Closed { link } => {
                write!(f, "the NATS connection of the link {link:?} is closed")
            }
        }
    }
}

impl std::error::Error for LinkError {}

/// Something a [`RemoteInbox`] noticed, on its `events` outbox (never blocking: with nothing
/// linked, or a full inbox, events are dropped; the counters in [`LinkStats`] always count).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkEvent {
    /// A sender started (or this receiver first heard of it mid-stream, at value `from`).
    SenderJoined {
        /// The sender's session.
        session: u64,
        /// The first value number this receiver will see from it.
        from: u64,
    },
    /// Values sent by `session` that never arrived (a broker restart, typically).
    Lost {
        /// The sender's session.
        session: u64,
        /// How many.
        count: u64,
    },
    /// A sender ended (its end frame arrived) or fell silent.
    SenderLeft {
        /// The sender's session.
        session: u64,
        /// Values handed on from it in all.
        delivered: u64,
    },
    /// A message on the link's subject was not a frame of this link's type.
    Malformed {
        /// Why it could not be read.
        reason: String,
    },
}

/// Timings and window shared by both ends.
#[derive(Clone, Copy, Debug)]
struct Settings {
    window: u64,
    window_bytes: u64,
    peer_timeout: Duration,
    lossless: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            window: DEFAULT_WINDOW,
            window_bytes: DEFAULT_WINDOW_BYTES,
            peer_timeout: DEFAULT_PEER_TIMEOUT,
            lossless: false,
        }
    }
}

fn link_subject(cluster: &Cluster, name: &str) -> String {
    cluster.subject("link", name)
}

fn credit_subject(cluster: &Cluster, name: &str, session: u64) -> String {
    format!("{}.credit.{session}", link_subject(cluster, name))
}

/// Sends what arrives on its `inbox` to the link `name`, in order, as fast as the link's
/// receiver grants credit: when it has none it stops taking from `inbox`, so the inbox fills
/// and whatever feeds it waits, exactly as with a full local inbox.
///
/// `ProducerFinished`, `ShutdownMicroprocess` or `Failed` on `control` goes across after the
/// values sent before it, then this component ends (saying `ProducerFinished` on `signal`).
/// If nobody receives the link for the peer timeout (default 10 s) it sends
/// `Control::Failed` with [`LinkError::NoReceiver`] on `signal` instead.
#[derive(Boxes)]
#[doc(alias = "RemoteLinkage")]
pub struct RemoteOutbox<T: Serialize + 'static> {
    /// Values to send across.
    pub inbox: Inbox<T>,
    /// The end of the stream, carried across.
    pub control: Inbox<Control>,
    /// `ProducerFinished` once the end went across; `Failed` with a [`LinkError`].
    pub signal: Outbox<Control>,
    cluster: Cluster,
    name: String,
    settings: Settings,
    stats: LinkStats,
}

impl<T: Serialize + 'static> RemoteOutbox<T> {
    /// A sender to the link `name` (a NATS subject token: letters, digits, `-`, `_`, dots).
    pub fn new(cluster: &Cluster, name: &str) -> Result<Self, ClusterError> {
        check_name("link", name)?;
        Ok(RemoteOutbox {
            inbox: Inbox::new(),
            control: Inbox::new(),
            signal: Outbox::new(),
            cluster: cluster.clone(),
            name: name.to_string(),
            settings: Settings::default(),
            stats: LinkStats::default(),
        })
    }

    /// How long to wait for a receiver to appear, or to come back, before failing (default
    /// 10 s). A broker restart is not a missing receiver: the sender waits it out.
    pub fn peer_timeout(mut self, timeout: Duration) -> Self {
        self.settings.peer_timeout = timeout;
        self
    }

    /// Its counters.
    pub fn stats(&self) -> LinkStats {
        self.stats.clone()
    }

    /// Makes the link lossless, over JetStream (the server must run with `-js`; the receiver
    /// must be made `lossless` too). Every value is stored by the server before it counts as
    /// sent, so the link survives a broker restart, or a receiver that is away, with nothing
    /// lost; up to `window` values (256 unless [`window`](Self::window) is called after this)
    /// await the server's acknowledgement at once.
    pub fn lossless(mut self) -> Self {
        self.settings.lossless = true;
        self.settings.window = LOSSLESS_WINDOW;
        self
    }

    /// Values awaiting the server's acknowledgement at once on a [`lossless`](Self::lossless)
    /// link (at least 1; 256 by default). A core link's window is set by its receiver.
    pub fn window(mut self, values: u64) -> Self {
        self.settings.window = values.max(1);
        self
    }
}

/// A sender's view of its session.
struct Session {
    client: Client,
    subject: Subject,
    id: u64,
    next: u64,
    granted: u64,
    /// Bytes of frames sent, and the byte credit.
    bytes_sent: u64,
    bytes_granted: u64,
    /// When the receiver last answered (or the session began).
    heard: Instant,
    /// Where frames are encoded (they share its allocation).
    buffer: bytes::BytesMut,
}

enum Probed {
    Granted,
    NoReceiver,
    Unreachable,
}

impl Session {
    /// Whether the next value may go: credit left in values and in bytes.
    fn has_credit(&self) -> bool {
        self.next < self.granted && self.bytes_sent < self.bytes_granted
    }

    /// Takes a grant (credit only ever grows: grants are cumulative).
    fn grant(&mut self, grant: Grant) {
        self.granted = self.granted.max(grant.upto);
        self.bytes_granted = self.bytes_granted.max(grant.bytes);
        self.heard = Instant::now();
    }

    /// Asks for credit.
    async fn probe(&mut self) -> Probed {
        let ask = self.client.request(
            self.subject.clone(),
            wire::encode_probe(self.id, self.next, self.bytes_sent),
        );
        match tokio::time::timeout(Duration::from_secs(2), ask).await {
            Ok(Ok(reply)) => match wire::decode::<Grant>(&reply.payload) {
                Ok(grant) => {
                    self.grant(grant);
                    Probed::Granted
                }
                Err(e) => {
                    tracing::warn!(link = %self.subject, error = %e, "a probe's answer is not a grant");
                    Probed::Unreachable
                }
            },
            Ok(Err(e)) if e.kind() == RequestErrorKind::NoResponders => Probed::NoReceiver,
            Ok(Err(e)) => {
                tracing::debug!(link = %self.subject, error = %e, "probe failed");
                Probed::Unreachable
            }
            Err(_) => Probed::Unreachable,
        }
    }
}

impl<T: Serialize + 'static> Component for RemoteOutbox<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        if self.settings.lossless {
            return super::durable::send(
                &self.cluster,
                &self.name,
                self.settings.window,
                &mut self.inbox,
                &mut self.control,
                &self.signal,
                &self.stats,
            )
            .await;
        }
        let client = self.cluster.client().clone();
        let id = wire::new_session();
        let mut credit = client
            .subscribe(credit_subject(&self.cluster, &self.name, id))
            .await
            .map_err(ClusterError::nats)?;
        let mut session = Session {
            client: client.clone(),
            subject: Subject::from(link_subject(&self.cluster, &self.name)),
            id,
            next: 0,
            granted: 0,
            bytes_sent: 0,
            bytes_granted: 0,
            heard: Instant::now(),
            buffer: bytes::BytesMut::new(),
        };
        let max_payload = client.server_info().max_payload.max(1);
        // Probes go out when a whole period passed with nothing sent.
        let mut idle_check = tokio::time::interval(PROBE_EVERY);
        idle_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sent_lately = true;
        // The end of the stream, once told, waiting for the values queued before it to go.
        let mut ending: Option<Control> = None;
        let mut stalled = false;
        loop {
            if session.has_credit() {
                stalled = false;
                if let Some(end) = ending.take() {
                    match self.inbox.try_recv() {
                        Some(value) => {
                            ending = Some(end);
                            self.send_one(&client, &mut session, &value, max_payload)
                                .await?;
                            continue;
                        }
                        None => return self.finish(&client, &session, end).await,
                    }
                }
                // What is queued goes at once, as far as the credit reaches.
                let mut sent_now = false;
                while session.has_credit() {
                    let Some(value) = self.inbox.try_recv() else {
                        break;
                    };
                    self.send_one(&client, &mut session, &value, max_payload)
                        .await?;
                    sent_now = true;
                }
                if sent_now {
                    sent_lately = true;
                    continue;
                }
                tokio::select! {
                    biased;
                    Some(grant) = credit.next() => self.take_credit(&mut session, &grant.payload)?,
                    next = self.inbox.next_or_control(&mut self.control) => match next {
                        Next::Data(value) => {
                            self.send_one(&client, &mut session, &value, max_payload).await?;
                            sent_lately = true;
                        }
                        Next::Control(control) => return self.finish(&client, &session, control).await,
                    },
                    _ = idle_check.tick() => {
                        // Idle: tell the receiver we are alive (and learn whether it is).
                        if !std::mem::take(&mut sent_lately) {
                            self.keep_in_touch(&mut session).await?;
                        }
                    }
                }
            } else {
                if !stalled && session.granted > 0 {
                    LinkStats::add(&self.stats.0.stalls, 1);
                }
                stalled = true;
                // Out of credit: wait for a grant, probing now and then. A shutdown stops us at
                // once; the end of the stream waits for the values queued before it.
                let probe_at = Instant::now()
                    + if session.granted == 0 {
                        Duration::ZERO
                    } else {
                        PROBE_EVERY
                    };
                tokio::select! {
                    biased;
                    Some(grant) = credit.next() => self.take_credit(&mut session, &grant.payload)?,
                    control = self.control.recv() => {
                        // The end of the stream waits for what was queued before it; a
                        // shutdown does not, even after an end.
                        let stop = matches!(control, Control::ShutdownMicroprocess);
                        if stop || (ending.is_none() && self.inbox.is_empty()) {
                            return self.finish(&client, &session, control).await;
                        }
                        ending.get_or_insert(control);
                    }
                    () = tokio::time::sleep_until(probe_at.into()) => {
                        self.keep_in_touch(&mut session).await?;
                        if !session.has_credit() {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            }
        }
    }
}

impl<T: Serialize + 'static> RemoteOutbox<T> {
    /// Takes what arrived on the credit subject: a grant, or (an empty message) word that the
    /// receiver has gone, which fails the link with `ReceiverLeft`.
    fn take_credit(&self, session: &mut Session, payload: &[u8]) -> Result<(), ComponentError> {
        if payload.is_empty() {
            return Err(self.fail(LinkError::ReceiverLeft {
                link: self.name.clone(),
            }));
        }
        match wire::decode::<Grant>(payload) {
            Ok(grant) => session.grant(grant),
            Err(e) => {
                tracing::warn!(link = %session.subject, error = %e, "malformed grant ignored")
            }
        }
        Ok(())
    }

    /// Publishes one value; a value that cannot go (unencodable, too large) or a closed
    /// connection fails the link, saying so on `signal` and to the receiver.
    async fn send_one(
        &self,
        client: &Client,
        session: &mut Session,
        value: &T,
        max_payload: usize,
    ) -> Result<(), ComponentError> {
        let head = (session.id, session.next, session.bytes_sent);
        let reason = match wire::encode_data(head, value, &mut session.buffer) {
            Ok(bytes) if bytes.len() <= max_payload => {
                let len = bytes.len() as u64;
                // A publish only fails once the client is closed for good.
                if client
                    .publish(session.subject.clone(), bytes)
                    .await
                    .is_err()
                {
                    return Err(self.fail(LinkError::Closed {
                        link: self.name.clone(),
                    }));
                }
                session.next += 1;
                session.bytes_sent += len;
                LinkStats::add(&self.stats.0.sent, 1);
                return Ok(());
            }
            Ok(bytes) => format!(
                "{} bytes, above the server's limit of {max_payload}",
                bytes.len()
            ),
            Err(e) => e.to_string(),
        };
        let error = LinkError::Unsendable {
            link: self.name.clone(),
            reason,
        };
        self.end(client, session, EndReason::Failed(error.to_string()))
            .await;
        Err(self.fail(error))
    }

    /// Probes; fails the link if the receiver has not been heard from (a grant) for the whole
    /// peer timeout and nobody receives the link now.
    async fn keep_in_touch(&mut self, session: &mut Session) -> Result<(), ComponentError> {
        match session.probe().await {
            Probed::Granted => {}
            Probed::NoReceiver => {
                if session.heard.elapsed() >= self.settings.peer_timeout {
                    let error = LinkError::NoReceiver {
                        link: self.name.clone(),
                        waited: session.heard.elapsed(),
                    };
                    return Err(self.fail(error));
                }
            }
            // The broker is away: the client reconnects by itself, and the receiver cannot be
            // blamed for the time that takes.
            Probed::Unreachable => session.heard = Instant::now(),
        }
        Ok(())
    }

    /// Sends the session's end across (best effort: the receiver also notices silence).
    async fn end(&self, client: &Client, session: &Session, end: EndReason) {
        let frame: Frame<()> = Frame::End {
            session: session.id,
            sent: session.next,
            end,
        };
        if let Ok(bytes) = wire::encode(&frame) {
            let _ = client.publish(session.subject.clone(), bytes).await;
            let _ = tokio::time::timeout(Duration::from_secs(5), client.flush()).await;
        }
    }

    async fn finish(
        &self,
        client: &Client,
        session: &Session,
        control: Control,
    ) -> Result<(), ComponentError> {
        let end = match &control {
            Control::ShutdownMicroprocess => EndReason::Shutdown,
            Control::Failed(info) => EndReason::Failed(info.to_string()),
            _ => EndReason::Finished,
        };
        self.end(client, session, end).await;
        let _ = self.signal.send(Control::ProducerFinished).await;
        Ok(())
    }

    /// The error this component ends with: the scheduler sends it on `signal` as
    /// `Control::Failed`, cause kept.
    fn fail(&self, error: LinkError) -> ComponentError {
        tracing::warn!(link = %self.name, %error, "remote link failed");
        ComponentError::Other(Box::new(error))
    }
}

/// What arrives on the link `name`, in order, on its `outbox`: the other end of one or more
/// [`RemoteOutbox`]es. Each sender gets a window of credit (default 4,096 values and 8 MiB of
/// frames, whichever runs out first) and more as values leave on `outbox`, so what waits here
/// is bounded — a window per sender — whatever the senders do.
///
/// By default it ends with its sender: the sender's `ProducerFinished`, shutdown or failure
/// arrives on `signal` (a failure as `Control::Failed` with [`LinkError::SenderFailed`]; a
/// sender silent past the peer timeout as [`LinkError::SenderGone`]). With
/// [`many_senders`](RemoteInbox::many_senders) senders come and go and only its own `control`
/// ends it.
///
/// Gaps (values a broker restart lost), duplicates and malformed messages are counted in
/// [`LinkStats`], logged, and reported on `events`; a malformed message never stops the link.
#[derive(Boxes)]
pub struct RemoteInbox<T: DeserializeOwned + 'static> {
    /// `ShutdownMicroprocess` (or any end) stops receiving.
    pub control: Inbox<Control>,
    /// The values, in each sender's order.
    pub outbox: Outbox<T>,
    /// How the sender ended, carried across; `Failed` with a [`LinkError`].
    pub signal: Outbox<Control>,
    /// What it noticed: senders joining and leaving, losses, malformed messages.
    pub events: Outbox<LinkEvent>,
    cluster: Cluster,
    name: String,
    settings: Settings,
    many: bool,
    stats: LinkStats,
    join: Option<Join>,
}

/// A request to an exporter (of a bus or a live stream) to start sending to this receiver's
/// link, made once the receiver listens.
#[derive(Clone)]
pub(super) struct Join {
    /// What is joined, for messages.
    pub(super) what: String,
    /// Join again when the feed fails or falls silent (a live edge whose source restarted),
    /// instead of ending.
    pub(super) rejoin: bool,
    pub(super) subject: String,
    pub(super) payload: bytes::Bytes,
}

impl<T: DeserializeOwned + 'static> RemoteInbox<T> {
    /// A receiver of the link `name`.
    pub fn new(cluster: &Cluster, name: &str) -> Result<Self, ClusterError> {
        check_name("link", name)?;
        Ok(RemoteInbox {
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            events: Outbox::new(),
            cluster: cluster.clone(),
            name: name.to_string(),
            settings: Settings::default(),
            many: false,
            stats: LinkStats::default(),
            join: None,
        })
    }

    /// A receiver on a fresh link of its own, which asks an exporter to feed it.
    pub(super) fn joining(
        cluster: &Cluster,
        link_prefix: &str,
        join: impl FnOnce(&str) -> Join,
    ) -> Result<Self, ClusterError> {
        let link = format!("{link_prefix}.{}", wire::new_session());
        let mut receiver = RemoteInbox::new(cluster, &link)?;
        receiver.join = Some(join(&link));
        Ok(receiver)
    }

    /// Values each sender may have in flight (at least 2; default 4,096). Memory held for a
    /// link is at most this many values per sender, plus what the consumer's inbox holds.
    pub fn window(mut self, values: u64) -> Self {
        self.settings.window = values.max(2);
        self
    }

    /// Bytes each sender may have in flight (default 8 MiB), counted in encoded frames: credit
    /// is granted in bytes as well as values, so large values are bounded too (one value may
    /// overshoot the budget by its own size). Keep senders × this well below nats-server's
    /// limit on what it queues for one slow connection (64 MiB by default).
    pub fn window_bytes(mut self, bytes: u64) -> Self {
        self.settings.window_bytes = bytes.max(1);
        self
    }

    /// How long a sender may be silent before it counts as gone (default 10 s; senders probe
    /// twice a second when idle).
    pub fn peer_timeout(mut self, timeout: Duration) -> Self {
        self.settings.peer_timeout = timeout;
        self
    }

    /// Makes the link lossless, over JetStream (see [`RemoteOutbox::lossless`]). Values are
    /// handed on in each sender's order, each once, and acknowledged to the server only after
    /// they left on `outbox`, so a value in hand when the receiver or broker dies is sent again
    /// rather than lost. The window is the most values handed out by the server unacknowledged.
    pub fn lossless(mut self) -> Self {
        self.settings.lossless = true;
        self.settings.window = LOSSLESS_WINDOW;
        self
    }

    /// Keeps receiving as senders come and go; only `control` ends it.
    pub fn many_senders(mut self) -> Self {
        self.many = true;
        self
    }

    /// Its counters.
    pub fn stats(&self) -> LinkStats {
        self.stats.clone()
    }
}

/// The receiver's view of one sender.
struct Sender {
    /// The number of the next value expected.
    expected: u64,
    /// Credit given: values below this may be sent.
    granted: u64,
    /// Bytes of frames up to `expected`, and the byte credit given.
    bytes_expected: u64,
    bytes_granted: u64,
    delivered: u64,
    /// Frames seen in all, and at the last check: a sender is silent while they match (a
    /// count per frame instead of a clock reading per frame).
    frames: u64,
    frames_at_check: u64,
    quiet_since: Instant,
}

/// The senders of a link: usually one, rarely more than a few, so a list searched from the
/// front beats hashing on every frame.
#[derive(Default)]
struct Senders(Vec<(u64, Sender)>);

impl Senders {
    fn get_mut(&mut self, session: &u64) -> Option<&mut Sender> {
        self.0
            .iter_mut()
            .find(|(id, _)| id == session)
            .map(|(_, sender)| sender)
    }

    fn get_or_insert_with(&mut self, session: u64, make: impl FnOnce() -> Sender) -> &mut Sender {
        let at = match self.0.iter().position(|(id, _)| *id == session) {
            Some(at) => at,
            None => {
                self.0.push((session, make()));
                self.0.len() - 1
            }
        };
        &mut self.0[at].1
    }

    fn remove(&mut self, session: &u64) -> Option<Sender> {
        let at = self.0.iter().position(|(id, _)| id == session)?;
        Some(self.0.swap_remove(at).1)
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (&u64, &mut Sender)> {
        self.0.iter_mut().map(|(id, sender)| (&*id, sender))
    }
}

impl Sender {
    /// Credit up to a window ahead of what was handed on, when `due`: the grant to send.
    fn top_up(&mut self, due: bool, window: u64, window_bytes: u64) -> Option<Grant> {
        if !due {
            return None;
        }
        self.granted = self.granted.max(self.expected.saturating_add(window));
        self.bytes_granted = self
            .bytes_granted
            .max(self.bytes_expected.saturating_add(window_bytes));
        Some(Grant {
            upto: self.granted,
            bytes: self.bytes_granted,
        })
    }
}

/// What handling a frame decided.
enum Then {
    Go,
    End(Control),
}

impl<T: DeserializeOwned + 'static> Component for RemoteInbox<T> {
    async fn main(mut self) -> Result<(), ComponentError> {
        if self.settings.lossless {
            let end = super::durable::receive(
                &self.cluster,
                &self.name,
                self.settings.window,
                &mut self.control,
                &self.outbox,
                &self.stats,
                self.many,
            )
            .await?;
            if let Some(end) = end {
                let _ = self.signal.send(end).await;
            }
            return Ok(());
        }
        let client = self.cluster.client().clone();
        let mut frames: Subscriber = client
            .subscribe(link_subject(&self.cluster, &self.name))
            .await
            .map_err(ClusterError::nats)?;
        // The subscription is at the server before any sender can be answered.
        let _ = client.flush().await;
        match self.join.clone() {
            Some(join) if join.rejoin => {
                if let Some(stop) = self.join_again(&client, join).await {
                    let _ = self.signal.send(stop).await;
                    return Ok(());
                }
            }
            Some(join) => {
                if let Err(error) = self.ask_to_join(&client, join).await {
                    tracing::warn!(%error, "remote join failed");
                    let _ = self
                        .signal
                        .send(Control::failed("RemoteInbox", error))
                        .await;
                    return Ok(());
                }
            }
            None => {}
        }
        let mut senders = Senders::default();
        let mut check = tokio::time::interval(Duration::from_millis(500));
        loop {
            let then = tokio::select! {
                biased;
                control = self.control.recv() => Then::End(control),
                frame = frames.next() => match frame {
                    Some(message) => {
                        let mut then = self.on_frame(&client, &mut senders, message).await;
                        // Frames already here are handled without going round the select.
                        for _ in 0..64 {
                            if !matches!(then, Then::Go) {
                                break;
                            }
                            match frames.next().now_or_never() {
                                Some(Some(message)) => {
                                    then = self.on_frame(&client, &mut senders, message).await;
                                }
                                _ => break,
                            }
                        }
                        then
                    }
                    None => {
                        let error = LinkError::Closed { link: self.name.clone() };
                        Then::End(Control::failed("RemoteInbox", error))
                    }
                },
                _ = check.tick() => {
                    let connected = client.connection_state() == async_nats::connection::State::Connected;
                    self.forget_silent(&mut senders, connected)
                }
            };
            if let Then::End(control) = then {
                // Senders learn at once that nobody receives any more (a bus stops holding
                // values for this receiver, a sender fails with `ReceiverLeft`).
                for (session, _) in senders.iter_mut() {
                    let _ = client
                        .publish(
                            credit_subject(&self.cluster, &self.name, *session),
                            bytes::Bytes::new(),
                        )
                        .await;
                }
                if let (Control::Failed(info), Some(join)) = (&control, &self.join)
                    && join.rejoin
                {
                    tracing::warn!(what = %join.what, reason = %info, "the feed failed; joining again");
                    senders.0.clear();
                    match self.join_again(&client, join.clone()).await {
                        None => continue,
                        Some(stop) => {
                            let _ = self.signal.send(stop).await;
                            return Ok(());
                        }
                    }
                }
                if !matches!(control, Control::ShutdownMicroprocess) || !self.many {
                    let _ = self.signal.send(control).await;
                }
                return Ok(());
            }
        }
    }
}

impl<T: DeserializeOwned + 'static> RemoteInbox<T> {
    /// Asks the exporter to feed this link, retrying while nobody exports (yet).
    async fn ask_to_join(&self, client: &Client, join: Join) -> Result<(), LinkError> {
        let started = Instant::now();
        let not_joined = |reason: String| LinkError::NotJoined {
            what: join.what.clone(),
            reason,
        };
        loop {
            let ask = client.request(join.subject.clone(), join.payload.clone());
            match tokio::time::timeout(Duration::from_secs(2), ask).await {
                Ok(Ok(reply)) => {
                    return match wire::decode::<Result<(), String>>(&reply.payload) {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(reason)) => Err(not_joined(reason)),
                        Err(e) => Err(not_joined(format!("unreadable answer: {e}"))),
                    };
                }
                Ok(Err(e)) if e.kind() == RequestErrorKind::NoResponders => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "join request failed"),
                Err(_) => {}
            }
            if started.elapsed() >= self.settings.peer_timeout {
                return Err(not_joined(format!(
                    "no process exports it (waited {:.1} s)",
                    started.elapsed().as_secs_f64()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks to join until an exporter answers (a second between tries), or `control` says to
    /// stop (returned).
    async fn join_again(&mut self, client: &Client, join: Join) -> Option<Control> {
        loop {
            match self.ask_to_join(client, join.clone()).await {
                Ok(()) => {
                    tracing::info!(what = %join.what, "joined again");
                    return None;
                }
                Err(error) => tracing::debug!(%error, "not joined yet"),
            }
            tokio::select! {
                control = self.control.recv() => return Some(control),
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    async fn on_frame(
        &mut self,
        client: &Client,
        senders: &mut Senders,
        message: async_nats::Message,
    ) -> Then {
        let frame = match wire::decode::<Frame<T>>(&message.payload) {
            Ok(frame) => frame,
            Err(e) => {
                self.malformed(&e.to_string());
                // A value of the wrong type still says whose it was: count it as lost to that
                // sender rather than leave a gap to be misread later.
                if let Some((session, seq)) = wire::session_and_seq(&message.payload)
                    && let Some(sender) = senders.get_mut(&session)
                    && seq >= sender.expected
                {
                    self.lose(session, sender, seq.saturating_add(1));
                }
                return Then::Go;
            }
        };
        match frame {
            Frame::Data {
                session,
                seq,
                offset,
                value,
            } => {
                let (window, window_bytes) = (self.settings.window, self.settings.window_bytes);
                let sender = self.sender(senders, session, seq);
                sender.frames += 1;
                if seq < sender.expected {
                    LinkStats::add(&self.stats.0.duplicates, 1);
                    return Then::Go;
                }
                if seq > sender.expected {
                    self.lose(session, sender, seq);
                }
                sender.expected = seq.saturating_add(1);
                sender.bytes_expected = offset.saturating_add(message.payload.len() as u64);
                sender.delivered += 1;
                let top_up = sender.granted.saturating_sub(sender.expected) <= window / 2
                    || sender.bytes_granted.saturating_sub(sender.bytes_expected)
                        <= window_bytes / 2;
                let grant = sender.top_up(top_up, window, window_bytes);
                // Room now is the common case; waiting for room, a stop from the owner is
                // still heard.
                match self.outbox.try_send(value) {
                    Ok(()) => {}
                    Err(TrySendError::Full(value)) => tokio::select! {
                        sent = self.outbox.send(value) => if sent.is_err() {
                            return Then::End(Control::ShutdownMicroprocess);
                        },
                        control = self.control.recv() => return Then::End(control),
                    },
                    // Nobody consumes any more: stop receiving.
                    Err(_) => return Then::End(Control::ShutdownMicroprocess),
                }
                LinkStats::add(&self.stats.0.delivered, 1);
                // Credit goes out once the value has been handed on.
                if let Some(grant) = grant {
                    let grant = wire::encode(&grant).expect("a grant always encodes");
                    let _ = client
                        .publish(credit_subject(&self.cluster, &self.name, session), grant)
                        .await;
                }
                Then::Go
            }
            Frame::Probe {
                session,
                next,
                bytes,
            } => {
                let (window, window_bytes) = (self.settings.window, self.settings.window_bytes);
                let sender = self.sender(senders, session, next);
                sender.frames += 1;
                if next > sender.expected {
                    self.lose(session, sender, next);
                }
                if next >= sender.expected {
                    // The sender's own count of bytes is the truth (frames may have been lost).
                    sender.bytes_expected = bytes;
                }
                let grant = sender.top_up(true, window, window_bytes);
                if let (Some(reply), Some(grant)) = (message.reply, grant) {
                    let grant = wire::encode(&grant).expect("a grant always encodes");
                    let _ = client.publish(reply, grant).await;
                }
                Then::Go
            }
            Frame::End { session, sent, end } => {
                let Some(mut sender) = senders.remove(&session) else {
                    // The end of a sender never heard from (this receiver started late).
                    return self.ended(end);
                };
                if sent > sender.expected {
                    self.lose(session, &mut sender, sent);
                }
                self.events.offer(LinkEvent::SenderLeft {
                    session,
                    delivered: sender.delivered,
                });
                self.ended(end)
            }
        }
    }

    /// The state of `session`, made on first sight (at value `from`).
    fn sender<'a>(&self, senders: &'a mut Senders, session: u64, from: u64) -> &'a mut Sender {
        senders.get_or_insert_with(session, || {
            if from > 0 {
                tracing::info!(link = %self.name, session, from, "a sender joined mid-stream");
            }
            self.events.offer(LinkEvent::SenderJoined { session, from });
            Sender {
                expected: from,
                granted: from,
                bytes_expected: 0,
                bytes_granted: 0,
                delivered: 0,
                frames: 0,
                frames_at_check: 0,
                quiet_since: Instant::now(),
            }
        })
    }

    /// Values `sender.expected..upto` never arrived.
    fn lose(&self, session: u64, sender: &mut Sender, upto: u64) {
        let count = upto - sender.expected;
        sender.expected = upto;
        LinkStats::add(&self.stats.0.lost, count);
        tracing::warn!(link = %self.name, session, count, "values lost on the link (sent, never arrived)");
        self.events.offer(LinkEvent::Lost { session, count });
    }

    fn malformed(&self, reason: &str) {
        let n = self.stats.0.malformed.fetch_add(1, Ordering::Relaxed);
        if n == 0 || n.is_power_of_two() {
            tracing::warn!(link = %self.name, reason, count = n + 1, "malformed message on the link ignored");
        }
        self.events.offer(LinkEvent::Malformed {
            reason: reason.to_string(),
        });
    }

    fn ended(&self, end: EndReason) -> Then {
        if self.many {
            return Then::Go;
        }
        Then::End(match end {
            EndReason::Finished => Control::ProducerFinished,
            EndReason::Shutdown => Control::ShutdownMicroprocess,
            EndReason::Failed(reason) => Control::failed(
                "RemoteInbox",
                LinkError::SenderFailed {
                    link: self.name.clone(),
                    reason,
                },
            ),
        })
    }

    /// Drops senders unheard of for the peer timeout; without `many_senders`, that ends it.
    /// While this end is cut off from the broker, nobody counts as silent.
    fn forget_silent(&self, senders: &mut Senders, connected: bool) -> Then {
        let timeout = self.settings.peer_timeout;
        let mut gone = Vec::new();
        for (id, sender) in senders.iter_mut() {
            if sender.frames != sender.frames_at_check || !connected {
                sender.frames_at_check = sender.frames;
                sender.quiet_since = Instant::now();
            } else if sender.quiet_since.elapsed() >= timeout {
                gone.push(*id);
            }
        }
        for session in &gone {
            if let Some(sender) = senders.remove(session) {
                tracing::warn!(link = %self.name, session, "a sender fell silent and is taken to be gone");
                self.events.offer(LinkEvent::SenderLeft {
                    session: *session,
                    delivered: sender.delivered,
                });
            }
        }
        // A stray session that fell silent beside a live sender ends nothing.
        if !gone.is_empty() && !self.many && senders.0.is_empty() {
            let error = LinkError::SenderGone {
                link: self.name.clone(),
            };
            return Then::End(Control::failed("RemoteInbox", error));
        }
        Then::Go
    }
}
