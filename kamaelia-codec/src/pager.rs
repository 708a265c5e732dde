//! `OggPager`: bytes in any split → whole, checksummed Ogg pages, marked for live serving
//! (header pages, join points), with optional fresh serials per chain link and periodic repeats
//! of the header pages.

use crate::ogg::report_damage;
use crate::page::OggDamage;
use crate::page::{OggPage, PageSplitter, Split};
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Outbox};
use bytes::Bytes;
use std::collections::{HashMap, HashSet, VecDeque};

/// What [`OggPageReader::next_event`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageEvent {
    /// A page, marked.
    Page(OggPage),
    /// Damaged or foreign bytes were skipped.
    Damage(OggDamage),
}

/// The most header-page bytes kept for late joiners: real headers (with cover art in the
/// comments) are a few MB at most.
const MAX_HEADER_BYTES: usize = crate::ogg::DEFAULT_MAX_PACKET;

/// Logical streams tracked at once (a multiplexed file has a handful).
const MAX_LINKS: usize = 1024;

/// One logical stream (one chain link) as seen so far.
struct Link {
    /// The serial it is given on output.
    serial: u32,
    /// Header packets still to come.
    headers_left: usize,
}

/// How many header packets a stream's first packet announces: Vorbis and Theora 3, Opus 2,
/// Speex 2 plus its extra headers, FLAC 1 plus the count in its first packet, Skeleton all of
/// its packets; for anything else only the first packet.
fn header_packets(first: &[u8]) -> usize {
    let le_u32 = |at: usize| {
        first
            .get(at..at + 4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    if first.starts_with(b"\x01vorbis") || first.starts_with(b"\x80theora") {
        3
    } else if first.starts_with(b"OpusHead") {
        2
    } else if first.starts_with(b"Speex   ") {
        2usize.saturating_add(le_u32(68).min(255))
    } else if first.starts_with(b"\x7fFLAC") {
        1 + first
            .get(7..9)
            .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    } else if first.starts_with(b"fishead\0") {
        usize::MAX // a Skeleton stream is all metadata, up to its last page
    } else {
        1
    }
}

/// The logic behind [`OggPager`]: push bytes with [`push`](Self::push), take pages with
/// [`next_event`](Self::next_event).
///
/// ```
/// use kamaelia_codec::{OggPageReader, PageEvent};
///
/// let ogg = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/tone_44k_stereo.ogg")).unwrap();
/// let mut reader = OggPageReader::new();
/// reader.push(&ogg);
/// let mut pages = Vec::new();
/// while let Some(PageEvent::Page(page)) = reader.next_event() {
///     pages.push(page);
/// }
/// // A Vorbis stream: its three header packets come first, on their own pages.
/// assert!(pages[0].is_bos() && pages[0].is_header());
/// let audio = pages.iter().position(|p| !p.is_header()).unwrap();
/// assert!(pages[audio].is_join_point());
/// ```
#[derive(Default)]
pub struct OggPageReader {
    splitter: PageSplitter,
    /// By input serial.
    links: HashMap<u32, Link>,
    unique_serials: bool,
    /// Output serials given so far (only kept with `unique_serials`).
    used: HashSet<u32>,
    repeat_every: Option<usize>,
    /// The header pages of the latest group of streams (what a late joiner needs first).
    headers: Vec<OggPage>,
    /// Bytes of the current group of header pages (kept only up to `MAX_HEADER_BYTES`).
    headers_bytes: usize,
    /// The last page out was a header page: a further one joins the same group.
    in_headers: bool,
    /// Non-header pages since the headers were last sent.
    since_headers: usize,
    ready: VecDeque<PageEvent>,
}

impl std::fmt::Debug for OggPageReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OggPageReader")
            .field("streams", &self.links.len())
            .field("header_pages", &self.headers.len())
            .field("unique_serials", &self.unique_serials)
            .field("repeat_every", &self.repeat_every)
            .finish_non_exhaustive()
    }
}

impl OggPageReader {
    /// A reader at the start of a stream: pages pass through unchanged.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives every chain link a serial number not used before in this output. A looping source
    /// replays the same link; without this, the replay would restart granule positions under
    /// a serial already seen, which is not valid Ogg. A rewritten page gets a new checksum.
    pub fn unique_serials(mut self) -> Self {
        self.unique_serials = true;
        self
    }

    /// Sends the current header pages again before the first page that begins a packet after
    /// every `pages` non-header pages, so a receiver that joins late (multicast) can start.
    /// Decoders ignore a repeat identical to the headers they have. Meant for a single logical
    /// stream (an audio station): in a multiplexed file the repeated first pages would look
    /// like new streams to other demuxers.
    pub fn repeat_headers(mut self, pages: usize) -> Self {
        self.repeat_every = Some(pages.max(1));
        self
    }

    /// Adds input bytes, in any split.
    pub fn push(&mut self, bytes: &[u8]) {
        self.splitter.push(bytes);
    }

    /// The next page or damage report, if the input so far holds one.
    pub fn next_event(&mut self) -> Option<PageEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            match self.splitter.next()? {
                Split::Page(bytes) => self.page(bytes),
                Split::Damage(damage) => return Some(PageEvent::Damage(damage)),
            }
        }
    }

    /// At end of input: an unfinished page is reported as damage.
    pub fn finish(&mut self) -> Option<OggDamage> {
        self.splitter.finish()
    }

    /// The header pages a listener joining now needs first.
    pub fn header_pages(&self) -> &[OggPage] {
        &self.headers
    }

    fn page(&mut self, bytes: Bytes) {
        let unmarked = OggPage::new(bytes, false, false);
        let serial = unmarked.serial();
        if unmarked.is_bos() {
            if self.links.len() >= MAX_LINKS && !self.links.contains_key(&serial) {
                // Crafted input naming endless serials, not a real multiplex.
                tracing::warn!(
                    streams = self.links.len(),
                    "too many Ogg streams at once: their state is reset"
                );
                self.links.clear();
            }
            let out = if self.unique_serials {
                let mut out = serial;
                while self.used.contains(&out) {
                    out = out.wrapping_add(1);
                }
                self.used.insert(out);
                out
            } else {
                serial
            };
            let headers_left = header_packets(unmarked.body());
            self.links.insert(
                serial,
                Link {
                    serial: out,
                    headers_left,
                },
            );
        }
        // A stream joined part-way (no first page seen) is passed through as data.
        let (out_serial, header, known) = match self.links.get_mut(&serial) {
            Some(link) => {
                let header = link.headers_left > 0;
                link.headers_left = link
                    .headers_left
                    .saturating_sub(unmarked.packets_completed());
                (link.serial, header, true)
            }
            None => (serial, false, false),
        };
        let marked = OggPage::new(unmarked.into_bytes(), header, known);
        let page = if out_serial == serial {
            marked
        } else {
            marked.with_serial(out_serial)
        };
        if page.is_eos() {
            self.links.remove(&serial);
        }
        if header {
            if !self.in_headers {
                self.headers.clear();
                self.headers_bytes = 0;
                self.in_headers = true;
            }
            self.headers_bytes += page.bytes().len();
            if self.headers_bytes <= MAX_HEADER_BYTES {
                self.headers.push(page.clone());
            } else if !self.headers.is_empty() {
                // Header pages without end (a Skeleton stream never finishing, or crafted
                // input): stop keeping them, so memory stays bounded. Listeners joining later
                // get no headers for this group.
                tracing::warn!(
                    limit = MAX_HEADER_BYTES,
                    "Ogg header pages longer than the limit: not kept for late joiners"
                );
                self.headers.clear();
            }
            self.since_headers = 0;
        } else {
            self.in_headers = false;
            if let Some(every) = self.repeat_every
                && self.since_headers >= every
                && page.is_join_point()
            {
                for header in &self.headers {
                    self.ready.push_back(PageEvent::Page(header.clone()));
                }
                self.since_headers = 0;
            }
            self.since_headers += 1;
        }
        self.ready.push_back(PageEvent::Page(page));
    }
}

/// Bytes in (any split), whole Ogg pages out — checksummed, resynchronised after damage (reported
/// on `errors` with its offset), each marked: [`OggPage::is_header`] for pages carrying stream
/// headers, [`OggPage::is_join_point`] where a listener may start. This is what a live server
/// needs to let listeners join a running stream. Options as on [`OggPageReader`]:
/// [`unique_serials`](Self::unique_serials) for looping sources and
/// [`repeat_headers`](Self::repeat_headers) for multicast.
#[derive(Boxes, Default)]
pub struct OggPager {
    /// Ogg bytes.
    pub inbox: Inbox<Bytes>,
    /// `ProducerFinished` at end of input.
    pub control: Inbox<Control>,
    /// Pages, in order.
    pub outbox: Outbox<OggPage>,
    /// What was skipped, and where (logged as a warning instead when nothing is linked here).
    pub errors: Outbox<OggDamage>,
    /// Forwards the end of the input.
    pub signal: Outbox<Control>,
    reader: OggPageReader,
}

impl OggPager {
    /// A pager that passes pages through unchanged (marked).
    pub fn new() -> Self {
        Self::default()
    }

    /// See [`OggPageReader::unique_serials`].
    pub fn unique_serials(mut self) -> Self {
        self.reader = self.reader.unique_serials();
        self
    }

    /// See [`OggPageReader::repeat_headers`].
    pub fn repeat_headers(mut self, pages: usize) -> Self {
        self.reader = self.reader.repeat_headers(pages);
        self
    }
}

impl Component for OggPager {
    async fn main(mut self) -> Result<(), ComponentError> {
        let (outbox, errors) = (&self.outbox, &self.errors);
        crate::drive(
            "OggPager",
            &mut self.reader,
            &mut self.inbox,
            &mut self.control,
            &self.signal,
            async |event| {
                match event {
                    PageEvent::Page(page) => outbox.send(page).await?,
                    PageEvent::Damage(d) => report_damage(errors, d, "OggPager"),
                }
                Ok(())
            },
        )
        .await
    }
}
