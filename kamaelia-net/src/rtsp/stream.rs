//! One stream the RTSP server serves at a path: RTP packets in (from `RtpVorbisPay`), each
//! serialized once and fanned out by reference to every playing session.

use axon_core::{
    Boxes, Component, ComponentError, Control, Fanout, Inbox, Next, Outbox, Policy, Subscription,
};
use bytes::Bytes;
use kamaelia_codec::rtp::{RtpPacket, VorbisConfig};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use tokio::time::Instant;

/// One RTP packet as every session sends it: its wire form, made once.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    pub(crate) wire: Bytes,
    pub(crate) sequence: u16,
    pub(crate) timestamp: u32,
    pub(crate) payload_len: usize,
    /// A session may start here: the payload does not continue a fragmented packet.
    pub(crate) join: bool,
}

/// What the server and its sessions know of a stream.
pub(crate) struct StreamState {
    pub(crate) config: RefCell<Option<VorbisConfig>>,
    pub(crate) ssrc: Cell<u32>,
    /// The last packet's RTP timestamp and when it arrived: RTP time "now" for reports.
    pub(crate) last: Cell<Option<(u32, Instant)>>,
    pub(crate) sessions: RefCell<Fanout<Frame>>,
    pub(crate) ended: Cell<bool>,
}

impl StreamState {
    /// Plays `data`'s owner from the next frame; it is disconnected (told on `control`) if it
    /// falls a full inbox behind.
    pub(crate) fn join(&self, data: &Inbox<Frame>, control: &Inbox<Control>) {
        self.sessions.borrow_mut().subscribe(
            Subscription::new(data.to_ref(), Policy::Disconnect).with_control(control.to_ref()),
        );
    }

    pub(crate) fn leave(&self, data: &Inbox<Frame>) {
        self.sessions.borrow_mut().unsubscribe(&data.to_ref());
    }

    /// The RTP timestamp corresponding to now (the last packet's, advanced by the time since).
    pub(crate) fn rtp_now(&self) -> Option<u32> {
        let (timestamp, at) = self.last.get()?;
        let rate = self.config.borrow().as_ref()?.sample_rate();
        let elapsed = at.elapsed().as_secs_f64() * f64::from(rate);
        Some(timestamp.wrapping_add(elapsed as u32))
    }
}

/// The streams of one server by path.
pub(crate) type Streams = Rc<RefCell<HashMap<String, Rc<StreamState>>>>;

/// A path's stream, normalised: no trailing slash, `/` for the root.
pub(crate) fn normalise(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    }
}

/// Feeds one path of an [`RtspServer`](super::RtspServer): link `RtpVorbisPay`'s `outbox` to
/// `inbox` and its `config` to `config`. `ProducerFinished` ends the stream for its sessions.
#[derive(Boxes)]
pub struct RtspStream {
    /// RTP packets.
    pub inbox: Inbox<RtpPacket>,
    /// Each configuration that comes into force (for DESCRIBE's SDP).
    pub config: Inbox<VorbisConfig>,
    /// `ProducerFinished` or a shutdown ends the stream.
    pub control: Inbox<Control>,
    /// The message that ended the stream, once its sessions have been told (link it to the
    /// server's `control` to stop the server with its only stream).
    pub signal: Outbox<Control>,
    pub(crate) path: String,
    pub(crate) state: Rc<StreamState>,
    pub(crate) streams: Streams,
}

impl RtspStream {
    pub(crate) fn new(path: &str, streams: &Streams) -> Self {
        let path = normalise(path);
        let state = Rc::new(StreamState {
            config: RefCell::new(None),
            ssrc: Cell::new(0),
            last: Cell::new(None),
            sessions: RefCell::new(Fanout::new()),
            ended: Cell::new(false),
        });
        streams.borrow_mut().insert(path.clone(), state.clone());
        RtspStream {
            inbox: Inbox::new(),
            config: Inbox::new(),
            control: Inbox::new(),
            signal: Outbox::new(),
            path,
            state,
            streams: streams.clone(),
        }
    }
}

impl Component for RtspStream {
    async fn main(mut self) -> Result<(), ComponentError> {
        let state = self.state.clone();
        let ending = loop {
            tokio::select! {
                biased;
                config = self.config.recv() => {
                    *state.config.borrow_mut() = Some(config);
                }
                next = self.inbox.next_or_control(&mut self.control) => match next {
                    Next::Data(packet) => {
                        state.ssrc.set(packet.ssrc);
                        state.last.set(Some((packet.timestamp, Instant::now())));
                        let frame = Frame {
                            wire: packet.to_bytes(),
                            sequence: packet.sequence,
                            timestamp: packet.timestamp,
                            payload_len: packet.payload.len(),
                            join: packet.payload.get(3).is_none_or(|b| b >> 6 < 2),
                        };
                        let published = state.sessions.borrow_mut().publish_now(frame);
                        for lagging in published.lagging {
                            lagging.tell(Control::failed(
                                "RtspStream",
                                "fell a full queue of packets behind the live stream",
                            ));
                        }
                    }
                    Next::Control(message) => break message,
                },
            }
        };
        state.ended.set(true);
        {
            // Only this stream's entry: another may have been registered at the path since.
            let mut streams = self.streams.borrow_mut();
            if streams
                .get(&self.path)
                .is_some_and(|s| Rc::ptr_eq(s, &state))
            {
                streams.remove(&self.path);
            }
        }
        let sessions = state.sessions.borrow_mut().drain().collect::<Vec<_>>();
        for session in sessions {
            session.tell(ending.clone());
        }
        self.signal.send(ending).await?;
        Ok(())
    }
}
