//! Lossless links on JetStream: the same [`RemoteOutbox`](super::RemoteOutbox) and
//! [`RemoteInbox`](super::RemoteInbox), made with `.lossless()`.
//!
//! Each link is a work-queue stream `KLINK_<name>` on the subject `<prefix>.durable.<name>`,
//! kept on disk by the server, and a durable pull consumer of it.
//! - The sender publishes each value with a message id (`<session>-<seq>`) and waits for the
//!   server's acknowledgement (up to a window at once), publishing again — same id — until it
//!   comes: a value is never lost, and the server's duplicate window drops a second copy.
//! - The stream holds at most a few windows of values (new ones are refused when it is full),
//!   so a sender whose receiver is slow or absent is paced, as with credit.
//! - The receiver acknowledges a value only once it has handed it on, so a value in the stream
//!   survives a broker or receiver restart; it hands values on in sequence order (holding any
//!   that arrive early) and drops any it has already handed on, so nothing is duplicated at
//!   its consumer while it runs.

use super::link::LinkStats;
use super::wire::{self, EndReason, Frame};
use super::{Cluster, ClusterError};
use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, stream};
use axon_core::{ComponentError, Control, Inbox, Next, Outbox};
use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::{Duration, Instant};

/// How long values may wait behind a missing one before it is declared lost (a sender that
/// died before the server stored it) and they are handed on.
const GAP_PATIENCE: Duration = Duration::from_secs(30);
/// How long the server waits for a value handed out to be acknowledged before handing it out
/// again (to this receiver, or to the next one if this one died).
const ACK_WAIT: Duration = Duration::from_secs(5);

type Ack = Pin<Box<dyn Future<Output = Result<jetstream::publish::PublishAck, ()>> + Send>>;

fn subject(cluster: &Cluster, name: &str) -> String {
    cluster.subject("durable", name)
}

/// `KLINK_<prefix.name>`, escaped so that distinct names stay distinct (`_` becomes `__`,
/// `.` becomes `_d`): a stream name may hold only letters, digits, `-` and `_`.
fn stream_name(cluster: &Cluster, name: &str) -> String {
    format!("KLINK_{}", escape(&format!("{}.{name}", cluster.prefix())))
}

fn escape(name: &str) -> String {
    name.replace('_', "__").replace('.', "_d")
}

/// Creates the link's stream (or finds it), waiting out a broker that is not up yet.
async fn ensure_stream(
    cluster: &Cluster,
    name: &str,
    window: u64,
) -> Result<stream::Stream, ClusterError> {
    let js = jetstream::new(cluster.client().clone());
    let config = stream::Config {
        name: stream_name(cluster, name),
        subjects: vec![subject(cluster, name)],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        max_messages: (window * 4) as i64,
        discard: stream::DiscardPolicy::New,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    };
    let mut last = String::new();
    for _ in 0..50 {
        match js.get_or_create_stream(config.clone()).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(ClusterError::Nats(format!(
        "cannot create the lossless link {name:?}'s stream (is JetStream on? nats-server -js): {last}"
    )))
}

/// Publishes one value under its id; the server's acknowledgement, to be awaited.
async fn publish(js: &jetstream::Context, subject: &str, id: String, payload: bytes::Bytes) -> Ack {
    let message = PublishMessage::build().payload(payload).message_id(id);
    let sent: Result<PublishAckFuture, _> = js.send_publish(subject.to_string(), message).await;
    match sent {
        Ok(ack) => Box::pin(async move { ack.into_future().await.map_err(|_| ()) }),
        Err(_) => Box::pin(async { Err(()) }),
    }
}

/// The sending side: publish with ids, keep up to `window` unacknowledged, republish on error.
pub(super) async fn send<T: Serialize + 'static>(
    cluster: &Cluster,
    name: &str,
    window: u64,
    inbox: &mut Inbox<T>,
    control: &mut Inbox<Control>,
    signal: &Outbox<Control>,
    stats: &LinkStats,
) -> Result<(), ComponentError> {
    ensure_stream(cluster, name, window).await?;
    // An acknowledgement not back in 2 s is taken as lost, and the value is published again.
    let js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(2))
        .build(cluster.client().clone());
    let subject = subject(cluster, name);
    let session = wire::new_session();
    let publish = |id: String, payload: bytes::Bytes| publish(&js, &subject, id, payload);
    // Values sent and not yet stored: (id, payload, the server's acknowledgement).
    let mut unacked: VecDeque<(String, bytes::Bytes, Ack)> = VecDeque::new();
    let mut next = 0u64;
    let mut end: Option<Control> = None;
    let mut backoff = Duration::from_millis(1);
    let mut buffer = bytes::BytesMut::new();
    loop {
        let room = (unacked.len() as u64) < window && end.is_none();
        if unacked.is_empty() && end.is_some() {
            break;
        }
        tokio::select! {
            biased;
            acked = async { (&mut unacked.front_mut().expect("not empty").2).await }, if !unacked.is_empty() => {
                match acked {
                    Ok(_) => {
                        unacked.pop_front();
                        stats.count_sent();
                        backoff = Duration::from_millis(1);
                    }
                    Err(()) => {
                        // Refused (the stream is full) or unanswered (the broker is away).
                        // What was sent after it most likely met the same fate: pause once,
                        // then send again, with the same ids, whatever was not stored.
                        stats.count_stall();
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_millis(100));
                        // The first's acknowledgement is spent: it goes again without a look.
                        let (id, payload, _) = unacked.pop_front().expect("not empty");
                        let ack = publish(id.clone(), payload.clone()).await;
                        let waiting: Vec<_> = unacked.drain(..).collect();
                        unacked.push_back((id, payload, ack));
                        // Their answers are awaited together: one at a time, each unanswered
                        // one (the broker died) would cost a whole timeout.
                        let (sent, answers): (Vec<_>, Vec<_>) = waiting
                            .into_iter()
                            .map(|(id, payload, ack)| ((id, payload), ack))
                            .unzip();
                        let answers = futures::future::join_all(answers).await;
                        for ((id, payload), answer) in sent.into_iter().zip(answers) {
                            if answer.is_ok() {
                                stats.count_sent();
                            } else {
                                let ack = publish(id.clone(), payload.clone()).await;
                                unacked.push_back((id, payload, ack));
                            }
                        }
                    }
                }
            }
            next_value = inbox.next_or_control(control), if room => match next_value {
                Next::Data(value) => {
                    let payload = wire::encode_data((session, next, 0), &value, &mut buffer)
                        .map_err(|e| ComponentError::msg(format!("a value cannot go on the link {name:?}: {e}")))?;
                    let id = format!("{session}-{next}");
                    let ack = publish(id.clone(), payload.clone()).await;
                    unacked.push_back((id, payload, ack));
                    next += 1;
                }
                Next::Control(control) => {
                    if matches!(control, Control::ShutdownMicroprocess) {
                        // Stop now: what is unacknowledged may or may not be stored. The end is
                        // sent once, without waiting for the server to store it.
                        let frame: Frame<()> = Frame::End { session, sent: next, end: EndReason::Shutdown };
                        if let Ok(payload) = wire::encode(&frame) {
                            let ack = publish(format!("{session}-end"), payload).await;
                            let _ = tokio::time::timeout(Duration::from_secs(1), ack).await;
                        }
                        let _ = signal.send(Control::ProducerFinished).await;
                        return Ok(());
                    }
                    end = Some(control);
                }
            },
        }
    }
    // Everything is stored: the end goes the same way, until it is stored too.
    let reason = match end {
        Some(Control::Failed(info)) => EndReason::Failed(info.to_string()),
        _ => EndReason::Finished,
    };
    let frame: Frame<()> = Frame::End {
        session,
        sent: next,
        end: reason,
    };
    let payload = wire::encode(&frame).map_err(ComponentError::msg)?;
    loop {
        if publish(format!("{session}-end"), payload.clone())
            .await
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(500));
    }
    let _ = signal.send(Control::ProducerFinished).await;
    Ok(())
}

/// One sender, as the receiving side tracks it.
struct Sender<T> {
    /// The first value this receiver saw from the sender, and the next it will hand on: the
    /// values handed on in this receiver's life are exactly `first..expected`.
    first: u64,
    expected: u64,
    /// Values that arrived ahead of their turn (unacknowledged until handed on).
    early: BTreeMap<u64, (jetstream::Message, T)>,
    /// Since when the next value has been missing while later ones wait.
    gap_since: Option<Instant>,
}

/// The receiving side: a durable consumer; hand on in order, then acknowledge.
pub(super) async fn receive<T: DeserializeOwned + 'static>(
    cluster: &Cluster,
    name: &str,
    window: u64,
    control: &mut Inbox<Control>,
    outbox: &Outbox<T>,
    stats: &LinkStats,
    many: bool,
) -> Result<Option<Control>, ComponentError> {
    let stream = ensure_stream(cluster, name, window).await?;
    let durable = stream_name(cluster, name);
    let consumer: pull::Stream = loop {
        match stream
            .get_or_create_consumer(
                &durable,
                pull::Config {
                    durable_name: Some(durable.clone()),
                    ack_policy: AckPolicy::Explicit,
                    // Room for a window held back while an earlier value is awaited (values
                    // published again after a refusal may arrive out of order).
                    max_ack_pending: (window * 2) as i64,
                    // A value handed out but never acknowledged (lost with a broker) comes
                    // again after this; one acknowledged late is dropped as a duplicate.
                    ack_wait: ACK_WAIT,
                    ..Default::default()
                },
            )
            .await
        {
            Ok(consumer) => {
                let consumer: jetstream::consumer::Consumer<pull::Config> = consumer;
                match consumer
                    .stream()
                    .max_messages_per_batch(window.min(1000) as usize)
                    .heartbeat(Duration::from_secs(2))
                    .messages()
                    .await
                {
                    Ok(messages) => break messages,
                    Err(e) => tracing::debug!(error = %e, "pull stream failed"),
                }
            }
            Err(e) => tracing::debug!(error = %e, "consumer not ready"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut messages = consumer;
    let mut senders: HashMap<u64, Sender<T>> = HashMap::new();
    let mut check = tokio::time::interval(Duration::from_secs(1));
    let mut ending: Option<(Control, Instant)> = None;
    loop {
        tokio::select! {
            biased;
            c = control.recv() => return Ok(Some(c)),
            _ = check.tick() => {
                give_up_gaps(name, &mut senders, outbox, stats).await?;
                if let Some((_, at)) = &ending
                    && Instant::now() >= *at
                {
                    return Ok(ending.map(|(end, _)| end));
                }
            }
            message = messages.next() => {
                let message = match message {
                    Some(Ok(message)) => message,
                    Some(Err(e)) => {
                        // The broker went away or a heartbeat was missed: the pull stream
                        // carries on once the client has reconnected.
                        tracing::debug!(link = name, error = %e, "lossless link: pull interrupted");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    None => return Err(ClusterError::Nats("the pull stream ended".into()).into()),
                };
                match on_message::<T>(name, message, &mut senders, outbox, stats).await? {
                    Some(_) if many => {}
                    Some(Ending::Now(end)) => return Ok(Some(end)),
                    Some(Ending::After(end, at)) => ending = Some((end, at)),
                    None => {}
                }
            }
        }
    }
}

/// Handles one stored message; the end of a sender's stream is returned.
async fn on_message<T: DeserializeOwned + 'static>(
    name: &str,
    message: jetstream::Message,
    senders: &mut HashMap<u64, Sender<T>>,
    outbox: &Outbox<T>,
    stats: &LinkStats,
) -> Result<Option<Ending>, ComponentError> {
    let frame = match wire::decode::<Frame<T>>(&message.payload) {
        Ok(frame) => frame,
        Err(e) => {
            stats.count_malformed();
            tracing::warn!(link = name, error = %e, "malformed message on a lossless link dropped");
            let _ = message.ack().await;
            return Ok(None);
        }
    };
    match frame {
        Frame::Data {
            session,
            seq,
            value,
            ..
        } => {
            let sender = senders.entry(session).or_insert_with(|| Sender {
                first: seq,
                expected: seq,
                early: BTreeMap::new(),
                gap_since: None,
            });
            if seq < sender.first {
                // Older than anything this receiver has seen: a value a previous receiver held
                // unacknowledged, come again. It was never handed on here, so it is now, late
                // rather than lost (the previous receiver may have handed it on already).
                tracing::info!(
                    link = name,
                    session,
                    seq,
                    "a value held by a previous receiver, handed on late"
                );
                deliver(outbox, message, value, stats).await?;
                return Ok(None);
            }
            if seq < sender.expected {
                stats.count_duplicate();
                let _ = message.ack().await;
                return Ok(None);
            }
            if seq > sender.expected {
                // Held (a copy sent again replaces the one held, so what is kept is the
                // server's latest delivery), acknowledged once handed on.
                sender.early.insert(seq, (message, value));
                sender.gap_since.get_or_insert_with(Instant::now);
                return Ok(None);
            }
            deliver(outbox, message, value, stats).await?;
            sender.expected = seq.saturating_add(1);
            flush_early(outbox, sender, stats).await?;
            Ok(None)
        }
        Frame::Probe { .. } => {
            let _ = message.ack().await;
            Ok(None)
        }
        Frame::End { session, end, .. } => {
            let joined_late = senders.remove(&session).is_some_and(|s| s.first > 0);
            let _ = message.ack().await;
            let end = end_control(name, end);
            if joined_late {
                // This receiver took over mid-stream: values its predecessor held come back
                // only after the server's redelivery wait, so the end waits for them.
                return Ok(Some(Ending::After(
                    end,
                    Instant::now() + ACK_WAIT + Duration::from_secs(1),
                )));
            }
            Ok(Some(Ending::Now(end)))
        }
    }
}

/// How a sender's end is taken.
enum Ending {
    Now(Control),
    /// After this moment (values redelivered before it are still handed on).
    After(Control, Instant),
}

fn end_control(name: &str, end: EndReason) -> Control {
    match end {
        EndReason::Finished => Control::ProducerFinished,
        EndReason::Shutdown => Control::ShutdownMicroprocess,
        EndReason::Failed(reason) => Control::failed(
            "RemoteInbox",
            format!("the sender of the link {name:?} failed: {reason}"),
        ),
    }
}

/// Hands on the held values that are next in turn.
async fn flush_early<T: 'static>(
    outbox: &Outbox<T>,
    sender: &mut Sender<T>,
    stats: &LinkStats,
) -> Result<(), ComponentError> {
    while let Some((held, value)) = sender.early.remove(&sender.expected) {
        deliver(outbox, held, value, stats).await?;
        sender.expected = sender.expected.saturating_add(1);
    }
    sender.gap_since = if sender.early.is_empty() {
        None
    } else {
        Some(Instant::now())
    };
    Ok(())
}

/// Values that have waited behind a missing one for [`GAP_PATIENCE`]: the missing ones are
/// declared lost (counted, logged) and the held ones handed on.
async fn give_up_gaps<T: 'static>(
    name: &str,
    senders: &mut HashMap<u64, Sender<T>>,
    outbox: &Outbox<T>,
    stats: &LinkStats,
) -> Result<(), ComponentError> {
    for (session, sender) in senders.iter_mut() {
        if sender
            .gap_since
            .is_some_and(|t| t.elapsed() >= GAP_PATIENCE)
            && let Some(&next) = sender.early.keys().next()
        {
            let lost = next - sender.expected;
            tracing::warn!(
                link = name,
                session,
                lost,
                "values never stored by the server (the sender died?): skipped"
            );
            stats.count_lost(lost);
            sender.expected = next;
            flush_early(outbox, sender, stats).await?;
        }
    }
    Ok(())
}

/// Hands a value on, then acknowledges it (so it leaves the stream only once delivered).
async fn deliver<T: 'static>(
    outbox: &Outbox<T>,
    message: jetstream::Message,
    value: T,
    stats: &LinkStats,
) -> Result<(), ComponentError> {
    outbox.send(value).await?;
    stats.count_delivered();
    // A plain acknowledgement (no round trip): if a broker restart loses it, the value comes
    // again and is dropped as a duplicate by its sequence number.
    if let Err(e) = message.ack().await {
        tracing::debug!(error = %e, "an acknowledgement was not sent; the value may come again");
    }
    Ok(())
}
