//! The RFC 5215 depayloader: RTP packets (in any order, some lost) → Vorbis packets, headers
//! first, ready for `VorbisDecoder`.

use super::config::VorbisConfig;
use super::packet::RtpPacket;
use super::pay::PayloadKind;
use crate::OggPacket;
use bytes::{Bytes, BytesMut};
use std::collections::{BTreeMap, VecDeque};

/// Packets held to put late arrivals back in order before a gap is declared lost.
pub const DEFAULT_JITTER_WINDOW: usize = 16;

/// The largest packet reassembled from fragments; a longer one is damage (crafted input).
pub const MAX_REASSEMBLED: usize = 1 << 20;

/// What the depayloader found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DepayEvent {
    /// A Vorbis packet (its logical stream's serial is the configuration's ident). A new
    /// configuration's three headers come first, the first marked `bos`.
    Packet(OggPacket),
    /// A configuration came into force (its headers follow as packets).
    Configured(VorbisConfig),
    /// RTP packets never arrived (a sequence gap the jitter window could not fill); a packet
    /// they cut in two is dropped.
    Lost(u64),
    /// A payload that could not be read, and why; it is skipped.
    Damaged(&'static str),
}

/// A fragmented packet being put back together.
#[derive(Debug)]
struct Fragment {
    ident: u32,
    kind: u8,
    timestamp: u32,
    data: BytesMut,
}

/// Turns RFC 5215 RTP packets back into Vorbis packets.
///
/// Packets may arrive out of order: they are held (up to a window) and released in sequence
/// order; a gap that the window cannot fill is reported as lost and a packet it cut is
/// dropped, so what comes out is always whole packets. Configurations come from the SDP
/// ([`with_config`](Self::with_config)) or in-band; audio waits for the configuration its
/// ident names, and a new ident starts a new stream cleanly (its headers first).
#[derive(Debug)]
pub struct VorbisDepayloader {
    known: Vec<VorbisConfig>,
    current: Option<u32>,
    held: BTreeMap<u64, RtpPacket>,
    next: Option<u64>,
    highest: u64,
    window: usize,
    fragment: Option<Fragment>,
    events: VecDeque<DepayEvent>,
    /// The last reason audio was skipped, so a run of them is reported once.
    waiting_reported: bool,
}

impl Default for VorbisDepayloader {
    fn default() -> Self {
        Self::new()
    }
}

impl VorbisDepayloader {
    /// A depayloader with no configuration yet (it waits for one in-band) and the default
    /// jitter window.
    pub fn new() -> Self {
        VorbisDepayloader {
            known: Vec::new(),
            current: None,
            held: BTreeMap::new(),
            next: None,
            highest: 0,
            window: DEFAULT_JITTER_WINDOW,
            fragment: None,
            events: VecDeque::new(),
            waiting_reported: false,
        }
    }

    /// Knows `config` from the start (from the SDP's `configuration=`).
    pub fn with_config(mut self, config: VorbisConfig) -> Self {
        self.learn(config);
        self
    }

    /// Holds up to `packets` out-of-order packets (at least 1) before declaring a gap lost.
    pub fn jitter_window(mut self, packets: usize) -> Self {
        self.window = packets.max(1);
        self
    }

    /// The next thing found.
    pub fn next_event(&mut self) -> Option<DepayEvent> {
        self.events.pop_front()
    }

    /// Adds one RTP packet.
    pub fn push(&mut self, packet: RtpPacket) {
        let seq = self.extend(packet.sequence);
        let next = *self.next.get_or_insert(seq);
        if seq < next || self.held.contains_key(&seq) {
            return; // late (already given up on) or a duplicate
        }
        self.held.insert(seq, packet);
        self.release(false);
    }

    /// At the end of the stream: releases everything held (gaps reported as lost).
    pub fn finish(&mut self) {
        self.release(true);
        if self.fragment.take().is_some() {
            self.events.push_back(DepayEvent::Damaged(
                "the stream ended inside a fragmented packet",
            ));
        }
    }

    /// The 64-bit sequence number closest to the highest seen with these low 16 bits.
    fn extend(&mut self, sequence: u16) -> u64 {
        let base = self.highest & !0xffff;
        let candidates = [
            base.wrapping_sub(0x1_0000) | u64::from(sequence),
            base | u64::from(sequence),
            (base + 0x1_0000) | u64::from(sequence),
        ];
        let seq = if self.next.is_none() {
            // Start mid-range so sequence numbers just before the first do not underflow.
            (1 << 32) | u64::from(sequence)
        } else {
            candidates
                .into_iter()
                .filter(|c| *c < 1 << 62)
                .min_by_key(|c| c.abs_diff(self.highest))
                .unwrap_or(base | u64::from(sequence))
        };
        self.highest = self.highest.max(seq);
        seq
    }

    fn release(&mut self, all: bool) {
        loop {
            let Some(next) = self.next else { return };
            if let Some(packet) = self.held.remove(&next) {
                self.next = Some(next + 1);
                self.payload(packet.timestamp, &packet.payload);
                continue;
            }
            let Some((&first, _)) = self.held.first_key_value() else {
                return;
            };
            if !all && self.held.len() <= self.window {
                return; // the gap may yet fill
            }
            self.events.push_back(DepayEvent::Lost(first - next));
            if self.fragment.take().is_some() {
                self.events.push_back(DepayEvent::Damaged(
                    "a fragmented packet lost a piece and was dropped",
                ));
            }
            self.next = Some(first);
        }
    }

    fn payload(&mut self, timestamp: u32, payload: &Bytes) {
        if payload.len() < 4 {
            return self.damaged("a payload shorter than its 4-byte header");
        }
        let ident = u32::from_be_bytes([0, payload[0], payload[1], payload[2]]);
        let (fragment, kind, count) = (payload[3] >> 6, (payload[3] >> 4) & 3, payload[3] & 0x0f);
        if kind == 3 {
            return self.damaged("a payload of the reserved data type");
        }
        let body = payload.slice(4..);
        if fragment == 0 {
            if self.fragment.take().is_some() {
                self.damaged("a fragmented packet never ended and was dropped");
            }
            return self.whole(ident, kind, count, body);
        }
        let Some((piece, _)) = length_prefixed(&body) else {
            return self.damaged("a fragment longer than its payload");
        };
        match fragment {
            1 => {
                if self.fragment.is_some() {
                    self.damaged("a fragmented packet never ended and was dropped");
                }
                self.fragment = Some(Fragment {
                    ident,
                    kind,
                    timestamp,
                    data: BytesMut::from(&piece[..]),
                });
            }
            _ => {
                let Some(mut open) = self.fragment.take() else {
                    return self.damaged("a fragment without its start");
                };
                if (open.ident, open.kind, open.timestamp) != (ident, kind, timestamp) {
                    return self.damaged("a fragment that does not continue the packet");
                }
                if open.data.len() + piece.len() > MAX_REASSEMBLED {
                    return self.damaged("a fragmented packet larger than 1 MiB");
                }
                open.data.extend_from_slice(&piece);
                if fragment == 3 {
                    let data = open.data.freeze();
                    match kind {
                        0 => self.audio(ident, data),
                        1 => self.learn_inband(VorbisConfig::from_laced(ident, &data, None)),
                        _ => {} // a comment header alone: nothing to do with it
                    }
                } else {
                    self.fragment = Some(open);
                }
            }
        }
    }

    /// A payload of whole packets.
    fn whole(&mut self, ident: u32, kind: u8, count: u8, body: Bytes) {
        if kind == PayloadKind::Config as u8 {
            return self.inband_config(ident, &body);
        }
        if kind == PayloadKind::Comment as u8 {
            return;
        }
        if count == 0 {
            return self.damaged("a payload of whole packets that counts none");
        }
        let mut rest = body;
        for _ in 0..count {
            let Some((packet, after)) = length_prefixed(&rest) else {
                return self.damaged("a packet longer than its payload");
            };
            self.audio(ident, packet);
            rest = after;
        }
    }

    fn inband_config(&mut self, ident: u32, data: &[u8]) {
        self.learn_inband(VorbisConfig::from_inband(ident, data));
    }

    fn learn_inband(&mut self, config: Result<VorbisConfig, super::config::ConfigError>) {
        match config {
            Ok(config) => {
                if !self.known.contains(&config) {
                    self.learn(config);
                }
            }
            Err(_) => self.damaged("an in-band configuration that does not configure Vorbis"),
        }
    }

    /// Knows `config` from now on (a configuration delivered out of band).
    pub fn learn(&mut self, config: VorbisConfig) {
        self.known.retain(|k| k.ident() != config.ident());
        self.known.push(config);
        if self.known.len() > 8 {
            self.known.remove(0);
        }
    }

    fn audio(&mut self, ident: u32, data: Bytes) {
        if self.current != Some(ident) {
            let Some(config) = self.known.iter().find(|c| c.ident() == ident).cloned() else {
                if !self.waiting_reported {
                    self.waiting_reported = true;
                    self.damaged(
                        "audio for a configuration not yet received (skipped until it is)",
                    );
                }
                return;
            };
            self.start(config);
        }
        self.events.push_back(DepayEvent::Packet(OggPacket {
            serial: ident,
            data,
            granule: -1,
            last_in_page: false,
            bos: false,
            eos: false,
        }));
    }

    /// A configuration comes into force: its headers go out first.
    fn start(&mut self, config: VorbisConfig) {
        self.current = Some(config.ident());
        self.waiting_reported = false;
        self.events
            .push_back(DepayEvent::Configured(config.clone()));
        for (i, header) in config.headers().iter().enumerate() {
            self.events.push_back(DepayEvent::Packet(OggPacket {
                serial: config.ident(),
                data: header.clone(),
                granule: 0,
                last_in_page: i == 2,
                bos: i == 0,
                eos: false,
            }));
        }
    }

    fn damaged(&mut self, why: &'static str) {
        self.events.push_back(DepayEvent::Damaged(why));
    }
}

/// A 16-bit length, then that many bytes: `(them, the rest)`.
fn length_prefixed(bytes: &Bytes) -> Option<(Bytes, Bytes)> {
    let length = usize::from(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]));
    if bytes.len() < 2 + length {
        return None;
    }
    Some((bytes.slice(2..2 + length), bytes.slice(2 + length..)))
}
