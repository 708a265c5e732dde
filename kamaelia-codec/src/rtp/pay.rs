//! The RFC 5215 payloader: Vorbis packets (as OggDemux gives them) → RTP payloads, with
//! timestamps in samples.

use super::config::{ConfigError, VorbisConfig};
use crate::OggPacket;
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::VecDeque;

/// What a payload carries (the 2-bit VDT field).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PayloadKind {
    /// Vorbis audio packets.
    Audio = 0,
    /// A packed configuration (the three headers), sent in-band.
    Config = 1,
    /// A comment header on its own.
    Comment = 2,
}

/// One RTP payload and its media time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    /// The sample position of its first packet (the RTP timestamp, before the random base).
    pub position: u64,
    /// The payload: the 4-byte RFC 5215 header, then length-prefixed data.
    pub data: Bytes,
    /// What it carries.
    pub kind: PayloadKind,
}

/// The largest RTP payload a payloader makes when not told otherwise: fits a 1500-byte
/// Ethernet MTU with IP, UDP and RTP headers to spare.
pub const DEFAULT_MAX_PAYLOAD: usize = 1400;

/// Complete packets one payload may hold (the 4-bit count).
const MAX_PACKED: u8 = 15;

/// Turns Vorbis packets into RFC 5215 payloads: several small packets share a payload, a large
/// one is fragmented, every payload names its configuration by ident, and each payload's
/// position is the sample where its first packet's audio begins.
///
/// Feed it the packets of an Ogg Vorbis stream in order ([`push`](Self::push)); the three
/// header packets configure it (a chained stream's next headers reconfigure it). Audio packets
/// are held until a payload is full, or until [`flush`](Self::flush) — call that when no more
/// input is waiting, so a live stream is never delayed by packing.
#[derive(Debug)]
pub struct VorbisPayloader {
    max_payload: usize,
    config: Option<VorbisConfig>,
    /// Header packets of the next configuration, as they arrive.
    incoming: Vec<Bytes>,
    /// Samples so far, over every configuration (one timeline).
    position: u64,
    previous_long: Option<bool>,
    /// Where the current link's audio began on our timeline.
    link_start: u64,
    /// Our count minus the link's granule positions, fixed at the link's first granule (a
    /// stream joined mid-way has large granules from the start).
    granule_offset: Option<i64>,
    /// Audio packets packed but not yet sent: header written later.
    packing: BytesMut,
    packed: u8,
    packing_position: u64,
    ready: VecDeque<Payload>,
    /// Packets skipped (not audio of the current configuration); a count, for reports.
    skipped: u64,
    /// Times our count was corrected to a granule position.
    corrections: u64,
}

impl Default for VorbisPayloader {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PAYLOAD)
    }
}

impl VorbisPayloader {
    /// A payloader making payloads of at most `max_payload` bytes (at least 16).
    pub fn new(max_payload: usize) -> Self {
        VorbisPayloader {
            max_payload: max_payload.max(16),
            config: None,
            incoming: Vec::new(),
            position: 0,
            previous_long: None,
            link_start: 0,
            granule_offset: None,
            packing: BytesMut::new(),
            packed: 0,
            packing_position: 0,
            ready: VecDeque::new(),
            skipped: 0,
            corrections: 0,
        }
    }

    /// The configuration in force (after the three headers).
    pub fn config(&self) -> Option<&VorbisConfig> {
        self.config.as_ref()
    }

    /// Packets skipped: audio before any configuration, or packets that are not Vorbis audio.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Times the sample count from block sizes disagreed with a page's granule position and
    /// was corrected to it (0 for every stream we have tested).
    pub fn granule_corrections(&self) -> u64 {
        self.corrections
    }

    /// The sample position reached.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Takes the next payload made.
    pub fn next_payload(&mut self) -> Option<Payload> {
        self.ready.pop_front()
    }

    /// Adds one packet of the Ogg Vorbis stream. A new configuration is returned when this
    /// packet completed one (callers announce it: SDP, in-band); an error when header packets
    /// do not configure a Vorbis stream (its audio is then skipped).
    pub fn push(&mut self, packet: &OggPacket) -> Result<Option<VorbisConfig>, ConfigError> {
        let data = &packet.data;
        if packet.bos {
            self.incoming.clear();
        }
        if data.first().is_some_and(|b| b & 1 == 1) {
            return self.header(data.clone());
        }
        let Some(config) = &self.config else {
            self.skipped += 1;
            return Ok(None);
        };
        let Some((samples, long)) = config.packet_samples(data, self.previous_long) else {
            self.skipped += 1;
            return Ok(None);
        };
        self.previous_long = Some(long);
        let start = self.position;
        self.position += u64::from(samples);
        if packet.last_in_page && packet.granule >= 0 && !packet.eos {
            self.follow_granule(packet.granule);
        }
        self.audio(data, start);
        Ok(None)
    }

    /// A header packet: collect the three, then configure.
    fn header(&mut self, data: Bytes) -> Result<Option<VorbisConfig>, ConfigError> {
        if data[0] == 1 {
            self.incoming.clear();
        }
        self.incoming.push(data);
        if self.incoming.len() < 3 {
            return Ok(None);
        }
        let mut headers = std::mem::take(&mut self.incoming).into_iter();
        let (id, comment, setup) = match (headers.next(), headers.next(), headers.next()) {
            (Some(a), Some(b), Some(c)) => (a, b, c),
            _ => return Ok(None),
        };
        let config = VorbisConfig::from_headers(id, comment, setup)?;
        self.flush();
        self.previous_long = None;
        self.link_start = self.position;
        self.granule_offset = None;
        if self.config.as_ref() == Some(&config) {
            // The same headers again (a looping source's next link): same ident, same SDP.
            return Ok(None);
        }
        self.config = Some(config.clone());
        Ok(Some(config))
    }

    /// The granule position is the truth at the end of a page: if our count (from the block
    /// sizes) drifted from it — an unusual setup header, damage upstream — follow it. The last
    /// page's granule is left out: it is trimmed to the true end, short of the last block.
    fn follow_granule(&mut self, granule: i64) {
        let ours = (self.position - self.link_start) as i64;
        match self.granule_offset {
            None => self.granule_offset = Some(ours.saturating_sub(granule)),
            Some(offset) if ours.saturating_sub(granule) != offset => {
                let to = (self.link_start as i64)
                    .saturating_add(granule)
                    .saturating_add(offset);
                if to >= 0 && self.granule_jump_is_plausible(to) {
                    self.position = to as u64;
                    self.corrections += 1;
                }
            }
            Some(_) => {}
        }
    }

    fn audio(&mut self, data: &Bytes, start: u64) {
        let room = self.max_payload - 4;
        if data.len() + 2 > room {
            self.flush();
            self.fragment(data, start, PayloadKind::Audio);
            return;
        }
        if self.packed == MAX_PACKED || self.packing.len() + data.len() + 2 > room {
            self.flush();
        }
        if self.packed == 0 {
            self.packing_position = start;
        }
        self.packing.put_u16(data.len() as u16);
        self.packing.extend_from_slice(data);
        self.packed += 1;
    }

    /// Sends what is packed now.
    pub fn flush(&mut self) {
        if self.packed == 0 {
            return;
        }
        let Some(ident) = self.config.as_ref().map(VorbisConfig::ident) else {
            return;
        };
        let mut data = BytesMut::with_capacity(self.packing.len() + 4);
        put_header(&mut data, ident, 0, PayloadKind::Audio, self.packed);
        data.extend_from_slice(&self.packing);
        self.packing.clear();
        self.packed = 0;
        self.ready.push_back(Payload {
            position: self.packing_position,
            data: data.freeze(),
            kind: PayloadKind::Audio,
        });
    }

    /// Queues the current configuration as in-band payloads (fragmented as needed), for
    /// receivers that did not get it out of band; stamped with the current position.
    pub fn send_config(&mut self) {
        let Some(config) = &self.config else {
            return;
        };
        let inband = config.inband();
        self.flush();
        self.fragment(&inband, self.position, PayloadKind::Config);
    }

    /// Follows a page's granule position: see [`push`](Self::push).
    fn granule_jump_is_plausible(&self, to: i64) -> bool {
        // More than an hour's jump is damage, not drift.
        let hour = i64::from(self.config.as_ref().map_or(48_000, |c| c.sample_rate())) * 3600;
        (to - self.position as i64).abs() <= hour
    }

    /// One packet in as many payloads as it needs; each piece has its own length prefix. A
    /// configuration's data begins with the headers' length: whole, it goes in as it is (that
    /// length is the packet's); fragmented, the pieces carry what follows it.
    fn fragment(&mut self, data: &Bytes, position: u64, kind: PayloadKind) {
        let Some(ident) = self.config.as_ref().map(VorbisConfig::ident) else {
            return;
        };
        let room = self.max_payload - 4 - 2;
        if kind == PayloadKind::Config && data.len() <= room + 2 {
            let mut out = BytesMut::with_capacity(data.len() + 4);
            put_header(&mut out, ident, 0, kind, 1);
            out.extend_from_slice(data);
            self.ready.push_back(Payload {
                position,
                data: out.freeze(),
                kind,
            });
            return;
        }
        let data = if kind == PayloadKind::Config {
            data.slice(2..)
        } else {
            data.clone()
        };
        let pieces = data.chunks(room).count();
        for (i, piece) in data.chunks(room).enumerate() {
            let fragment = match i {
                0 if pieces == 1 => 0,
                0 => 1,
                i if i + 1 == pieces => 3,
                _ => 2,
            };
            let mut out = BytesMut::with_capacity(piece.len() + 6);
            put_header(&mut out, ident, fragment, kind, u8::from(fragment == 0));
            out.put_u16(piece.len() as u16);
            out.extend_from_slice(piece);
            self.ready.push_back(Payload {
                position,
                data: out.freeze(),
                kind,
            });
        }
    }
}

/// The 4-byte payload header: ident, fragment type, data type, packet count.
fn put_header(out: &mut BytesMut, ident: u32, fragment: u8, kind: PayloadKind, count: u8) {
    out.put_uint(u64::from(ident & 0x00ff_ffff), 3);
    out.put_u8((fragment & 3) << 6 | (kind as u8) << 4 | (count & 0x0f));
}
