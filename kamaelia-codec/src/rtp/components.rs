//! The payloader and depayloader as components.

use super::config::VorbisConfig;
use super::depay::{DepayEvent, VorbisDepayloader};
use super::packet::RtpPacket;
use super::pay::{DEFAULT_MAX_PAYLOAD, VorbisPayloader};
use crate::OggPacket;
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, LogLimit, Next, Outbox};
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// A random 32-bit number (RTP wants random SSRCs and starting points), from the standard
/// library's per-process random hashing keys: no dependency for four bytes.
fn random_u32() -> u32 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    hasher.finish() as u32
}

/// Ogg Vorbis packets in (from `OggDemux`), RTP packets out (RFC 5215). Each configuration
/// that comes into force is announced on `config` (for the SDP) and, if asked, repeated
/// in-band every so many seconds of audio for receivers that joined without the SDP.
/// Payloads are packed while input keeps coming and sent as soon as the inbox is empty, so a
/// live stream is never held back. SSRC, first sequence number and timestamp base are random.
#[derive(Boxes)]
pub struct RtpVorbisPay {
    /// Vorbis packets, headers first.
    pub inbox: Inbox<OggPacket>,
    /// `ProducerFinished` flushes what is packed and ends it.
    pub control: Inbox<Control>,
    /// RTP packets.
    pub outbox: Outbox<RtpPacket>,
    /// Each new configuration (headers that do not configure Vorbis are logged and skipped).
    pub config: Outbox<VorbisConfig>,
    /// Forwards the end of the stream.
    pub signal: Outbox<Control>,
    payloader: VorbisPayloader,
    payload_type: u8,
    ssrc: u32,
    sequence: u16,
    timestamp_base: u32,
    inband_every: Option<Duration>,
}

impl Default for RtpVorbisPay {
    fn default() -> Self {
        Self::new()
    }
}

impl RtpVorbisPay {
    /// Payload type 96, payloads of at most [`DEFAULT_MAX_PAYLOAD`] bytes, no in-band repeats.
    pub fn new() -> Self {
        RtpVorbisPay {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            config: Outbox::new(),
            signal: Outbox::new(),
            payloader: VorbisPayloader::new(DEFAULT_MAX_PAYLOAD),
            payload_type: 96,
            ssrc: random_u32(),
            sequence: random_u32() as u16,
            timestamp_base: random_u32(),
            inband_every: None,
        }
    }

    /// Sets the payload type (dynamic: 96–127).
    pub fn payload_type(mut self, pt: u8) -> Self {
        self.payload_type = pt & 0x7f;
        self
    }

    /// Sets the largest payload (at least 16 bytes).
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.payloader = VorbisPayloader::new(bytes);
        self
    }

    /// Sends the configuration in-band at the start of each configuration and then every
    /// `every` of audio.
    pub fn inband_config(mut self, every: Duration) -> Self {
        self.inband_every = Some(every);
        self
    }

    /// The SSRC its packets carry.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The RTP timestamp of sample position 0 (for RTP-Info and sender reports).
    pub fn timestamp_base(&self) -> u32 {
        self.timestamp_base
    }

    /// The sequence number the next packet will carry.
    pub fn next_sequence(&self) -> u16 {
        self.sequence
    }

    async fn send_ready(&mut self) -> Result<(), ComponentError> {
        while let Some(payload) = self.payloader.next_payload() {
            let packet = RtpPacket {
                marker: false,
                payload_type: self.payload_type,
                sequence: self.sequence,
                timestamp: self.timestamp_base.wrapping_add(payload.position as u32),
                ssrc: self.ssrc,
                payload: payload.data,
            };
            self.sequence = self.sequence.wrapping_add(1);
            self.outbox.send(packet).await?;
        }
        Ok(())
    }
}

impl Component for RtpVorbisPay {
    async fn main(mut self) -> Result<(), ComponentError> {
        static BAD_HEADERS: LogLimit = LogLimit::new(Duration::from_secs(1));
        let mut last_inband: Option<u64> = None;
        let ending = loop {
            let packet = match self.inbox.next_or_control(&mut self.control).await {
                Next::Data(packet) => packet,
                Next::Control(message) => break message,
            };
            match self.payloader.push(&packet) {
                Ok(Some(config)) => {
                    if self.config.is_linked() {
                        self.config.send(config).await?;
                    }
                    if self.inband_every.is_some() {
                        self.payloader.send_config();
                        last_inband = Some(self.payloader.position());
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    if let Some(held_back) = BAD_HEADERS.check() {
                        tracing::warn!(%error, held_back, "RtpVorbisPay: headers skipped");
                    }
                }
            }
            if let (Some(every), Some(config)) = (self.inband_every, self.payloader.config()) {
                let due = (every.as_secs_f64() * f64::from(config.sample_rate())) as u64;
                let position = self.payloader.position();
                if last_inband.is_none_or(|last| position >= last + due.max(1)) {
                    self.payloader.send_config();
                    last_inband = Some(position);
                }
            }
            if self.inbox.is_empty() {
                self.payloader.flush();
            }
            self.send_ready().await?;
        };
        if ending.is_producer_finished() {
            self.payloader.flush();
            self.send_ready().await?;
        }
        self.signal.send(ending).await?;
        Ok(())
    }
}

/// RTP packets in (any order, some lost), Vorbis packets out — headers first, ready for
/// `VorbisDecode`. Losses, damage and each configuration that comes into force are reported
/// on `notices` (when nothing is linked there, losses and damage are logged as warnings, at
/// most one a second, and configurations at debug level).
#[derive(Boxes)]
pub struct RtpVorbisDepay {
    /// RTP packets.
    pub inbox: Inbox<RtpPacket>,
    /// Configurations learnt out of band (from an SDP: `RtspClient`'s `config`), taken before
    /// any packet that arrives after them.
    pub config: Inbox<VorbisConfig>,
    /// `ProducerFinished` releases what is held and ends it.
    pub control: Inbox<Control>,
    /// Vorbis packets.
    pub outbox: Outbox<OggPacket>,
    /// Losses, damage and configurations (never packets).
    pub notices: Outbox<DepayEvent>,
    /// Forwards the end of the stream.
    pub signal: Outbox<Control>,
    depayloader: VorbisDepayloader,
}

impl Default for RtpVorbisDepay {
    fn default() -> Self {
        Self::new(VorbisDepayloader::new())
    }
}

impl RtpVorbisDepay {
    /// Runs `depayloader` (give it the SDP's configuration with
    /// [`VorbisDepayloader::with_config`]).
    pub fn new(depayloader: VorbisDepayloader) -> Self {
        RtpVorbisDepay {
            inbox: Inbox::new(),
            config: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            notices: Outbox::new(),
            signal: Outbox::new(),
            depayloader,
        }
    }

    async fn send_events(&mut self) -> Result<(), ComponentError> {
        static NOTICES: LogLimit = LogLimit::new(Duration::from_secs(1));
        while let Some(event) = self.depayloader.next_event() {
            match event {
                DepayEvent::Packet(packet) => self.outbox.send(packet).await?,
                other => {
                    if let Some(unsent) = self.notices.offer(other) {
                        if let DepayEvent::Configured(config) = unsent {
                            tracing::debug!(?config, "RtpVorbisDepay: configured");
                        } else if let Some(held_back) = NOTICES.check() {
                            tracing::warn!(held_back, notice = ?unsent, "RtpVorbisDepay");
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl Component for RtpVorbisDepay {
    async fn main(mut self) -> Result<(), ComponentError> {
        let ending = loop {
            tokio::select! {
                biased;
                config = self.config.recv() => self.depayloader.learn(config),
                next = self.inbox.next_or_control(&mut self.control) => match next {
                    Next::Data(packet) => {
                        self.depayloader.push(packet);
                        self.send_events().await?;
                    }
                    Next::Control(message) => break message,
                },
            }
        };
        if ending.is_producer_finished() {
            self.depayloader.finish();
            self.send_events().await?;
        }
        self.signal.send(ending).await?;
        Ok(())
    }
}
