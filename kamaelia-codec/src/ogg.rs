//! `OggDemux`: a push parser from bytes in any split to Ogg packets, with page CRC checks,
//! resynchronisation after damage, and chained streams.
//!
//! Written here rather than taken from the `ogg` crate: its `PacketReader` pulls from a
//! `Read + Seek` source, and a component is pushed bytes as they arrive (from a socket, one
//! byte at a time if need be) and must never block or seek.

use crate::page::{HEADER, OggDamage, PageSplitter, Split};
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;

/// One Ogg packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OggPacket {
    /// The logical stream's serial number.
    pub serial: u32,
    /// The packet's bytes.
    pub data: Bytes,
    /// Granule position of the page on which the packet ends (`-1`: none set). For Vorbis, the
    /// sample count at the end of the last packet completed on that page.
    pub granule: i64,
    /// The last packet completed on its page (the one the page's granule position describes).
    pub last_in_page: bool,
    /// The first packet of its logical stream (a new stream, or a new link of a chain).
    pub bos: bool,
    /// The last packet of its logical stream.
    pub eos: bool,
}

/// Sends `damage` on `errors`; when nothing is linked there (or it is full) it is logged as a
/// warning instead, so skipped bytes are never dropped silently.
pub(crate) fn report_damage(errors: &Outbox<OggDamage>, damage: OggDamage, component: &str) {
    let undelivered = errors.offer(damage);
    static LIMIT: axon_core::LogLimit = axon_core::LogLimit::new(std::time::Duration::from_secs(1));
    if let Some((d, held_back)) = undelivered.and_then(|d| Some((d, LIMIT.check()?))) {
        tracing::warn!(
            held_back,
            component,
            offset = d.offset,
            skipped = d.skipped,
            reason = d.reason,
            "damaged Ogg input skipped"
        );
    }
}

/// What the parser found next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OggEvent {
    /// A complete packet.
    Packet(OggPacket),
    /// Damaged or foreign bytes were skipped (a partial packet they cut is dropped too).
    Damage(OggDamage),
}

/// A packet being assembled from segments (it may span pages).
struct Partial {
    data: BytesMut,
    bos: bool,
    /// Input offset of the page the packet began on.
    offset: u64,
}

/// The most packet data [`OggDemuxer`] holds by default for packets not yet complete: 8 MiB,
/// far above any real Vorbis or Opus packet (a comment header carrying cover art is the largest
/// seen in practice, a few MB).
pub const DEFAULT_MAX_PACKET: usize = 8 << 20;

/// Logical streams tracked at once; a multiplexed file has a handful. Beyond this the state is
/// reset (and reported), so crafted input naming endless serials cannot grow memory.
const MAX_STREAMS: usize = 1024;

/// The push parser behind [`OggDemux`]: feed bytes with [`push`](Self::push), take events with
/// [`next_event`](Self::next_event).
///
/// Memory is bounded whatever the input: at most one page of unparsed input beyond what was
/// pushed, and at most [`max_packet`](Self::max_packet) bytes of unfinished packets. A packet
/// that would grow past the limit is dropped, reported as damage, and the parser picks up again
/// at the next packet.
pub struct OggDemuxer {
    pages: PageSplitter,
    partial: HashMap<u32, Partial>,
    /// Bytes held in `partial`, over every stream.
    held: usize,
    max_packet: usize,
    /// Next expected page sequence number per stream.
    sequence: HashMap<u32, u32>,
    /// First packet of a stream not yet returned (to mark `bos`).
    fresh: HashMap<u32, bool>,
    ready: std::collections::VecDeque<OggEvent>,
}

impl std::fmt::Debug for OggDemuxer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OggDemuxer")
            .field("streams", &self.fresh.len())
            .field("held", &self.held)
            .field("max_packet", &self.max_packet)
            .finish_non_exhaustive()
    }
}

impl Default for OggDemuxer {
    fn default() -> Self {
        OggDemuxer {
            pages: PageSplitter::default(),
            partial: HashMap::new(),
            held: 0,
            max_packet: DEFAULT_MAX_PACKET,
            sequence: HashMap::new(),
            fresh: HashMap::new(),
            ready: Default::default(),
        }
    }
}

impl OggDemuxer {
    /// A parser at the start of a stream, holding at most [`DEFAULT_MAX_PACKET`] bytes of
    /// unfinished packets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the most bytes held for packets not yet complete (over all streams; at least one
    /// page's worth, 65,025 bytes). A longer packet is dropped and reported as damage.
    pub fn max_packet(mut self, bytes: usize) -> Self {
        self.max_packet = bytes.max(255 * 255);
        self
    }

    fn drop_partial(&mut self, serial: u32) -> Option<Partial> {
        let gone = self.partial.remove(&serial)?;
        self.held -= gone.data.len();
        Some(gone)
    }

    fn drop_all_partials(&mut self) {
        self.partial.clear();
        self.held = 0;
    }

    /// Adds input bytes, in any split.
    pub fn push(&mut self, bytes: &[u8]) {
        self.pages.push(bytes);
    }

    /// The next packet or damage report, if the input so far holds one.
    pub fn next_event(&mut self) -> Option<OggEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            match self.pages.next()? {
                Split::Page(page) => self.take_packets(&page),
                Split::Damage(damage) => {
                    // Whatever packet was being assembled is cut: it can never be completed.
                    self.drop_all_partials();
                    return Some(OggEvent::Damage(damage));
                }
            }
        }
    }

    /// At end of input: what is left (an unfinished page, or a packet cut off by the end) is
    /// reported as damage, as one report. An unfinished page is reported from where it begins;
    /// a packet cut off on whole pages, from the page it began on. `skipped` counts the page
    /// bytes left and the packet bytes held.
    pub fn finish(&mut self) -> Option<OggDamage> {
        let cut = self.partial.values().map(|p| p.offset).min();
        let held = self.held as u64;
        self.drop_all_partials();
        match (self.pages.finish(), cut) {
            (Some(mut page), _) => {
                page.skipped += held;
                Some(page)
            }
            (None, Some(offset)) => Some(OggDamage {
                offset,
                skipped: held,
                reason: "the input ended inside a packet",
            }),
            (None, None) => None,
        }
    }

    fn take_packets(&mut self, page: &Bytes) {
        let page_offset = self.pages.offset() - page.len() as u64;
        let segments = page[26] as usize;
        let flags = page[5];
        let (continued, bos, eos) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0);
        let granule = i64::from_le_bytes(page[6..14].try_into().expect("8 bytes"));
        let serial = u32::from_le_bytes(page[14..18].try_into().expect("4 bytes"));
        let sequence = u32::from_le_bytes(page[18..22].try_into().expect("4 bytes"));
        if bos {
            // A new logical stream (or a new link of a chain) under this serial.
            if !self.fresh.contains_key(&serial) && self.fresh.len() >= MAX_STREAMS {
                self.reset_streams(page_offset);
            }
            self.drop_partial(serial);
            self.fresh.insert(serial, true);
        } else if self
            .sequence
            .get(&serial)
            .is_some_and(|&expected| expected != sequence)
        {
            // Pages missing: a packet spanning the gap is lost.
            self.drop_partial(serial);
        }
        self.sequence.insert(serial, sequence.wrapping_add(1));
        let lacing = &page[HEADER..HEADER + segments];
        let mut at = HEADER + segments;
        let mut first_segment = true;
        // Within a packet dropped for its size: skip segments up to its end.
        let mut discarding = false;
        let mut ended = Vec::new();
        for &len in lacing {
            let len = len as usize;
            let piece = &page[at..at + len];
            at += len;
            let has_partial = self.partial.contains_key(&serial);
            if first_segment && continued && !has_partial {
                // The start of this packet was lost: drop its continuation.
                if len < 255 {
                    first_segment = false;
                }
                continue;
            }
            first_segment = false;
            if discarding {
                // The rest of a packet dropped for its size, up to its end.
                discarding = len == 255;
                continue;
            }
            if self.held + len > self.max_packet {
                let gone = self.drop_partial(serial);
                ended.push(Err(OggDamage {
                    offset: gone.as_ref().map_or(page_offset, |p| p.offset),
                    skipped: gone.map_or(0, |p| p.data.len() as u64) + len as u64,
                    reason: "a packet is longer than the limit (dropped up to its end)",
                }));
                discarding = len == 255;
                continue;
            }
            let fresh = self.fresh.get(&serial).copied().unwrap_or(false);
            let partial = self.partial.entry(serial).or_insert_with(|| Partial {
                data: BytesMut::new(),
                bos: fresh,
                offset: page_offset,
            });
            partial.data.extend_from_slice(piece);
            self.held += len;
            if len < 255 {
                let done = self.drop_partial(serial).expect("just filled");
                self.fresh.insert(serial, false);
                ended.push(Ok(done));
            }
        }
        let last_packet = ended.iter().rposition(Result::is_ok);
        for (i, done) in ended.into_iter().enumerate() {
            let done = match done {
                Ok(done) => done,
                Err(damage) => {
                    self.ready.push_back(OggEvent::Damage(damage));
                    continue;
                }
            };
            let last = Some(i) == last_packet;
            self.ready.push_back(OggEvent::Packet(OggPacket {
                serial,
                data: done.data.freeze(),
                granule,
                last_in_page: last,
                bos: done.bos,
                eos: eos && last && !self.partial.contains_key(&serial),
            }));
        }
        if eos {
            self.drop_partial(serial);
            self.sequence.remove(&serial);
            self.fresh.remove(&serial);
        }
    }

    /// Forgets every stream (too many at once: crafted input, not a real multiplex).
    fn reset_streams(&mut self, offset: u64) {
        let held = self.held as u64;
        self.drop_all_partials();
        self.sequence.clear();
        self.fresh.clear();
        self.ready.push_back(OggEvent::Damage(OggDamage {
            offset,
            skipped: held,
            reason: "too many logical streams at once (stream state reset)",
        }));
    }
}

/// Bytes in (any split, one byte at a time if need be), Ogg packets out. Page checksums are
/// checked; after damage it resynchronises on the next valid page and reports what it skipped
/// (with the byte offset) on `errors`; a new serial number with its first page starts a new
/// stream (chained files). Never panics on any input.
#[derive(Boxes, Default)]
pub struct OggDemux {
    /// Ogg bytes.
    pub inbox: Inbox<Bytes>,
    /// `ProducerFinished` at end of input.
    pub control: Inbox<Control>,
    /// Packets, in order.
    pub outbox: Outbox<OggPacket>,
    /// What was skipped, and where (logged as a warning instead when nothing is linked here).
    pub errors: Outbox<OggDamage>,
    /// Forwards the end of the input.
    pub signal: Outbox<Control>,
    demuxer: OggDemuxer,
}

impl OggDemux {
    /// Sets the most bytes held for packets not yet complete (see
    /// [`OggDemuxer::max_packet`]; default [`DEFAULT_MAX_PACKET`]).
    pub fn max_packet(mut self, bytes: usize) -> Self {
        self.demuxer = std::mem::take(&mut self.demuxer).max_packet(bytes);
        self
    }
}

impl Component for OggDemux {
    async fn main(mut self) -> Result<(), ComponentError> {
        let (outbox, errors) = (&self.outbox, &self.errors);
        crate::drive(
            "OggDemux",
            &mut self.demuxer,
            &mut self.inbox,
            &mut self.control,
            &self.signal,
            async |event| {
                match event {
                    OggEvent::Packet(p) => outbox.send(p).await?,
                    // Damage is data: reported, never fatal (and logged when nobody listens on
                    // `errors`).
                    OggEvent::Damage(d) => report_damage(errors, d, "OggDemux"),
                }
                Ok(())
            },
        )
        .await
    }
}
