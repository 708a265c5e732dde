//! `OggDemux`: a push parser from bytes in any split to Ogg packets, with page CRC checks,
//! resynchronisation after damage, and chained streams.
//!
//! Written here rather than taken from the `ogg` crate: its `PacketReader` pulls from a
//! `Read + Seek` source, and a component is pushed bytes as they arrive (from a socket, one
//! byte at a time if need be) and must never block or seek.

use crate::page::{HEADER, PageSplitter, Split};
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Next, Outbox};
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

/// Bytes that could not be used: where, how many, and why. Reported, never fatal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OggDamage {
    /// Offset in the input of the first byte skipped.
    pub offset: u64,
    /// Bytes skipped before the next valid page.
    pub skipped: u64,
    /// What was wrong.
    pub reason: &'static str,
}

/// Sends `damage` on `errors`; when nothing is linked there (or it is full) it is logged as a
/// warning instead, so skipped bytes are never dropped silently.
pub(crate) fn report_damage(errors: &Outbox<OggDamage>, damage: OggDamage, component: &str) {
    let undelivered = if errors.is_linked() {
        errors.try_send(damage).err().map(|e| e.into_inner())
    } else {
        Some(damage)
    };
    if let Some(d) = undelivered {
        tracing::warn!(
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
}

/// The push parser behind [`OggDemux`]: feed bytes with [`push`](Self::push), take events with
/// [`next_event`](Self::next_event).
#[derive(Default)]
pub struct OggDemuxer {
    pages: PageSplitter,
    partial: HashMap<u32, Partial>,
    /// Next expected page sequence number per stream.
    sequence: HashMap<u32, u32>,
    /// First packet of a stream not yet returned (to mark `bos`).
    fresh: HashMap<u32, bool>,
    ready: std::collections::VecDeque<OggEvent>,
}

impl OggDemuxer {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
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
                    self.partial.clear();
                    return Some(OggEvent::Damage(damage));
                }
            }
        }
    }

    /// At end of input: what is left (an unfinished page, or a packet cut off by the end) is
    /// reported as damage.
    pub fn finish(&mut self) -> Option<OggDamage> {
        self.partial.clear();
        self.pages.finish()
    }

    fn take_packets(&mut self, page: &Bytes) {
        let segments = page[26] as usize;
        let flags = page[5];
        let (continued, bos, eos) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0);
        let granule = i64::from_le_bytes(page[6..14].try_into().expect("8 bytes"));
        let serial = u32::from_le_bytes(page[14..18].try_into().expect("4 bytes"));
        let sequence = u32::from_le_bytes(page[18..22].try_into().expect("4 bytes"));
        if bos {
            // A new logical stream (or a new link of a chain) under this serial.
            self.partial.remove(&serial);
            self.fresh.insert(serial, true);
        } else if self
            .sequence
            .get(&serial)
            .is_some_and(|&expected| expected != sequence)
        {
            // Pages missing: a packet spanning the gap is lost.
            self.partial.remove(&serial);
        }
        self.sequence.insert(serial, sequence.wrapping_add(1));
        let lacing = &page[HEADER..HEADER + segments];
        let mut at = HEADER + segments;
        let mut first_segment = true;
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
            let fresh = self.fresh.get(&serial).copied().unwrap_or(false);
            let partial = self.partial.entry(serial).or_insert_with(|| Partial {
                data: BytesMut::new(),
                bos: fresh,
            });
            partial.data.extend_from_slice(piece);
            if len < 255 {
                let done = self.partial.remove(&serial).expect("just filled");
                self.fresh.insert(serial, false);
                ended.push(done);
            }
        }
        let count = ended.len();
        for (i, done) in ended.into_iter().enumerate() {
            let last = i + 1 == count;
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
            self.partial.remove(&serial);
            self.sequence.remove(&serial);
        }
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

impl Component for OggDemux {
    async fn main(mut self) -> Result<(), ComponentError> {
        loop {
            match self.inbox.next_or_control(&mut self.control).await {
                Next::Data(bytes) => {
                    self.demuxer.push(&bytes);
                    while let Some(event) = self.demuxer.next_event() {
                        match event {
                            OggEvent::Packet(p) => self.outbox.send(p).await?,
                            // Damage is data: reported, never fatal (and logged when nobody
                            // listens on `errors`).
                            OggEvent::Damage(d) => report_damage(&self.errors, d, "OggDemux"),
                        }
                    }
                }
                Next::Control(message) => {
                    if let Some(d) = self.demuxer.finish() {
                        report_damage(&self.errors, d, "OggDemux");
                    }
                    self.signal.send(message).await?;
                    return Ok(());
                }
            }
        }
    }
}
