//! Ogg pages: finding them in a byte stream (capture pattern, checksum, resynchronisation),
//! and reading their header fields.

use bytes::{Buf, Bytes, BytesMut};

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

impl std::fmt::Display for OggDamage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} damaged byte(s) skipped at offset {}: {}",
            self.skipped, self.offset, self.reason
        )
    }
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut r = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            r = if r & 0x8000_0000 != 0 {
                (r << 1) ^ 0x04c1_1db7
            } else {
                r << 1
            };
            bit += 1;
        }
        table[i] = r;
        i += 1;
    }
    table
};

/// The Ogg page checksum (CRC-32, polynomial 0x04c11db7, no reflection, initial 0).
pub fn ogg_crc(bytes: &[u8]) -> u32 {
    crc_update(0, bytes)
}

fn crc_update(crc: u32, bytes: &[u8]) -> u32 {
    bytes.iter().fold(crc, |crc, &b| {
        (crc << 8) ^ CRC_TABLE[(((crc >> 24) as u8) ^ b) as usize]
    })
}

/// The checksum of a whole page, its own CRC field read as zeros.
fn page_crc(page: &[u8]) -> u32 {
    crc_update(crc_update(crc_update(0, &page[..22]), &[0; 4]), &page[26..])
}

/// Bytes in a page header before the lacing values.
pub(crate) const HEADER: usize = 27;
const CAPTURE: &[u8; 4] = b"OggS";
/// The largest page: 27 + 255 lacing values + 255 × 255 bytes.
pub(crate) const MAX_PAGE: usize = HEADER + 255 + 255 * 255;

/// What [`PageSplitter::next`] found.
pub(crate) enum Split {
    /// A complete page whose checksum is right.
    Page(Bytes),
    /// Bytes skipped before the next good page.
    Damage(OggDamage),
}

/// Splits a byte stream, pushed in any split, into checksummed pages.
#[derive(Default)]
pub(crate) struct PageSplitter {
    buffer: BytesMut,
    /// Input offset of `buffer[0]`.
    offset: u64,
    /// Damage being accumulated (bytes skipped since the last good page).
    skipping: Option<OggDamage>,
    /// A good page found right after damage: returned after the damage report.
    found: Option<Bytes>,
}

impl PageSplitter {
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Input offset just past the last page returned (or bytes skipped).
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// The next page, or the damage before it, if the input so far holds one.
    pub(crate) fn next(&mut self) -> Option<Split> {
        if let Some(page) = self.found.take() {
            return Some(Split::Page(page));
        }
        loop {
            match self.scan() {
                Scan::NeedMore => return None,
                Scan::Skipped => continue,
                Scan::Page(page) => {
                    return Some(match self.skipping.take() {
                        Some(damage) => {
                            self.found = Some(page);
                            Split::Damage(damage)
                        }
                        None => Split::Page(page),
                    });
                }
            }
        }
    }

    /// At end of input: what is left (an unfinished page) is reported as damage.
    pub(crate) fn finish(&mut self) -> Option<OggDamage> {
        let leftover = self.buffer.len() as u64 + self.skipping.as_ref().map_or(0, |d| d.skipped);
        if leftover == 0 {
            return None;
        }
        let offset = self.skipping.as_ref().map_or(self.offset, |d| d.offset);
        // Only a buffer holding the start of a page is an unfinished page; otherwise the
        // skipped bytes keep their own reason (no page there at all, say).
        let reason = match self.skipping.take() {
            Some(damage) if !self.buffer.starts_with(CAPTURE) => damage.reason,
            _ => "the input ended inside a page",
        };
        self.offset += self.buffer.len() as u64;
        self.buffer.clear();
        Some(OggDamage {
            offset,
            skipped: leftover,
            reason,
        })
    }

    fn skip(&mut self, n: usize, reason: &'static str) {
        let offset = self.offset;
        match &mut self.skipping {
            Some(damage) => damage.skipped += n as u64,
            None => {
                self.skipping = Some(OggDamage {
                    offset,
                    skipped: n as u64,
                    reason,
                })
            }
        }
        self.buffer.advance(n);
        self.offset += n as u64;
    }

    fn scan(&mut self) -> Scan {
        // Find the capture pattern.
        match self.buffer.windows(4).position(|w| w == CAPTURE) {
            Some(0) => {}
            Some(at) => {
                self.skip(at, "bytes between pages are not Ogg");
                return Scan::Skipped;
            }
            None => {
                // Keep the last 3 bytes: they may begin "OggS".
                let keep = self.buffer.len().min(3);
                let drop = self.buffer.len() - keep;
                if drop > 0 {
                    self.skip(drop, "bytes between pages are not Ogg");
                    return Scan::Skipped;
                }
                return Scan::NeedMore;
            }
        }
        if self.buffer.len() < HEADER {
            return Scan::NeedMore;
        }
        let segments = self.buffer[26] as usize;
        if self.buffer[4] != 0 {
            self.skip(1, "unknown Ogg version");
            return Scan::Skipped;
        }
        // Only three flag bits are defined: anything else is not a page, and is rejected
        // before the checksum. (Input crafted to look like pages still costs a checksum over
        // each claimed page, at most 64 KiB each: libogg has the same bound.)
        if self.buffer[5] & !0b111 != 0 {
            self.skip(1, "undefined page flags");
            return Scan::Skipped;
        }
        if self.buffer.len() < HEADER + segments {
            return Scan::NeedMore;
        }
        let body: usize = self.buffer[HEADER..HEADER + segments]
            .iter()
            .map(|&l| l as usize)
            .sum();
        let total = HEADER + segments + body;
        debug_assert!(total <= MAX_PAGE);
        if self.buffer.len() < total {
            return Scan::NeedMore;
        }
        let page = &self.buffer[..total];
        let stored = u32::from_le_bytes([page[22], page[23], page[24], page[25]]);
        if page_crc(page) != stored {
            self.skip(1, "page checksum mismatch");
            return Scan::Skipped;
        }
        self.offset += total as u64;
        Scan::Page(self.buffer.split_to(total).freeze())
    }
}

enum Scan {
    NeedMore,
    Skipped,
    Page(Bytes),
}

/// One checksummed Ogg page, as [`OggPager`](crate::OggPager) found it, with the marks a live
/// server needs: whether it carries stream headers, and whether a listener may start on it.
/// The bytes are shared (`Bytes`): cloning a page never copies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OggPage {
    bytes: Bytes,
    header: bool,
    /// The stream's first page was seen (so its headers are known).
    known: bool,
}

impl OggPage {
    /// A page whose bytes the splitter has checked (so every field read below is in range).
    pub(crate) fn new(bytes: Bytes, header: bool, known: bool) -> Self {
        debug_assert!(bytes.len() >= HEADER && bytes.len() >= HEADER + bytes[26] as usize);
        OggPage {
            bytes,
            header,
            known,
        }
    }

    /// The whole page, header and body.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The whole page, header and body.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// The logical stream's serial number.
    pub fn serial(&self) -> u32 {
        u32::from_le_bytes([
            self.bytes[14],
            self.bytes[15],
            self.bytes[16],
            self.bytes[17],
        ])
    }

    /// The page sequence number within its logical stream.
    pub fn sequence(&self) -> u32 {
        u32::from_le_bytes([
            self.bytes[18],
            self.bytes[19],
            self.bytes[20],
            self.bytes[21],
        ])
    }

    /// The granule position (`-1`: no packet ends on this page).
    pub fn granule(&self) -> i64 {
        let mut field = [0u8; 8];
        field.copy_from_slice(&self.bytes[6..14]);
        i64::from_le_bytes(field)
    }

    /// The first page of a logical stream (or of a chain link).
    pub fn is_bos(&self) -> bool {
        self.bytes[5] & 2 != 0
    }

    /// The last page of a logical stream.
    pub fn is_eos(&self) -> bool {
        self.bytes[5] & 4 != 0
    }

    /// The page begins with the rest of a packet begun on an earlier page.
    pub fn is_continued(&self) -> bool {
        self.bytes[5] & 1 != 0
    }

    /// The page carries (part of) its stream's header packets: a decoder needs every header
    /// page of a stream before any other page of it.
    pub fn is_header(&self) -> bool {
        self.header
    }

    /// A listener may start here: a page that begins a packet, of a stream whose header pages
    /// were seen (and are what a listener is sent first), and not itself a header page.
    /// Everything from here on decodes after those header pages. A page of a stream joined
    /// part-way, or whose first page was lost to damage, is never a join point.
    pub fn is_join_point(&self) -> bool {
        self.known && !self.header && !self.is_continued()
    }

    /// Packets that end on this page.
    pub fn packets_completed(&self) -> usize {
        self.lacing().iter().filter(|&&l| l < 255).count()
    }

    /// The page body (the packet data, without the header and lacing values).
    pub fn body(&self) -> &[u8] {
        &self.bytes[HEADER + self.lacing().len()..]
    }

    fn lacing(&self) -> &[u8] {
        let segments = self.bytes[26] as usize;
        &self.bytes[HEADER..HEADER + segments]
    }

    /// The same page under another serial number (its checksum recomputed).
    pub(crate) fn with_serial(&self, serial: u32) -> OggPage {
        self.renumbered(serial, self.sequence())
    }

    /// The same page under another serial and sequence number (its checksum recomputed).
    pub(crate) fn renumbered(&self, serial: u32, sequence: u32) -> OggPage {
        let mut bytes = BytesMut::from(&self.bytes[..]);
        bytes[14..18].copy_from_slice(&serial.to_le_bytes());
        bytes[18..22].copy_from_slice(&sequence.to_le_bytes());
        let crc = page_crc(&bytes);
        bytes[22..26].copy_from_slice(&crc.to_le_bytes());
        OggPage {
            bytes: bytes.freeze(),
            header: self.header,
            known: self.known,
        }
    }

    /// A page built here: `flags` (1 continued, 2 first, 4 last), the lacing values and the
    /// body they describe, its checksum computed.
    pub(crate) fn build(
        serial: u32,
        sequence: u32,
        granule: i64,
        flags: u8,
        lacing: &[u8],
        body: &[u8],
        header: bool,
    ) -> OggPage {
        debug_assert!(lacing.len() <= 255);
        debug_assert_eq!(
            lacing.iter().map(|&l| l as usize).sum::<usize>(),
            body.len()
        );
        let mut bytes = BytesMut::with_capacity(HEADER + lacing.len() + body.len());
        bytes.extend_from_slice(CAPTURE);
        bytes.extend_from_slice(&[0, flags]);
        bytes.extend_from_slice(&granule.to_le_bytes());
        bytes.extend_from_slice(&serial.to_le_bytes());
        bytes.extend_from_slice(&sequence.to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        bytes.extend_from_slice(&[lacing.len() as u8]);
        bytes.extend_from_slice(lacing);
        bytes.extend_from_slice(body);
        let crc = page_crc(&bytes);
        bytes[22..26].copy_from_slice(&crc.to_le_bytes());
        OggPage {
            bytes: bytes.freeze(),
            header,
            // An empty page (a last page with no packet) is nowhere to start.
            known: !lacing.is_empty(),
        }
    }

    /// Splits `packets` into pages of one logical stream, the way encoders lay out headers: the
    /// first packet alone on the first page (marked first of its stream when `bos`), the rest
    /// together on as few pages as fit, each packet's lacing ending it; granule 0 throughout.
    pub(crate) fn paginate(
        serial: u32,
        packets: &[&[u8]],
        bos: bool,
        header: bool,
    ) -> Vec<OggPage> {
        let mut pages = Vec::new();
        let mut lacing: Vec<u8> = Vec::new();
        let mut body: Vec<u8> = Vec::new();
        let flush = |lacing: &mut Vec<u8>, body: &mut Vec<u8>, pages: &mut Vec<OggPage>| {
            // A page begins inside a packet when the page before ended on a 255 lacing value.
            let continued = pages
                .last()
                .is_some_and(|p: &OggPage| p.lacing().last() == Some(&255));
            let mut flags = u8::from(continued);
            if bos && pages.is_empty() {
                flags |= 2;
            }
            let ends_packet = lacing.iter().any(|&l| l < 255);
            let granule = if ends_packet { 0 } else { -1 };
            let sequence = pages.len() as u32;
            pages.push(OggPage::build(
                serial, sequence, granule, flags, lacing, body, header,
            ));
            lacing.clear();
            body.clear();
        };
        for (i, packet) in packets.iter().enumerate() {
            let mut rest: &[u8] = packet;
            loop {
                if lacing.len() == 255 {
                    flush(&mut lacing, &mut body, &mut pages);
                }
                let take = rest.len().min(255);
                lacing.push(take as u8);
                body.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if take < 255 {
                    break;
                }
            }
            if i == 0 || i + 1 == packets.len() {
                flush(&mut lacing, &mut body, &mut pages);
            }
        }
        pages
    }
}
