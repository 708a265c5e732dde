//! `OggPacer`: Ogg pages released when their audio is due, so a stream runs at the audio's own
//! pace — not at a nominal bit rate.
//!
//! Why not bytes per second: Vorbis and Opus are variable-rate. A stream paced at the header's
//! nominal rate ran 1.3× faster than real time here (a file averaging 86 kbit/s against a
//! nominal 112), so a listener pulling at real time fell further behind every minute until it
//! was dropped. A page's granule position says how much audio has been played by its end; that
//! converted to time — samples for Vorbis, FLAC and Speex, 48 kHz samples after the pre-skip
//! for Opus — is when the next page of the stream is due (a page goes out as its audio begins,
//! so a player is never starved by the pacing).
//!
//! Time is measured from the start of each chain link: a link (a new group of first pages,
//! such as the next pass of a looping source) starts where the previous one's audio ended. Due
//! times are computed from the link's start, never accumulated page by page, so rounding never
//! becomes drift, over hours.

use crate::MAX_BURST;
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Next, Outbox};
use kamaelia_codec::OggPage;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// A stream whose first timed page claims more audio before it than this was cut out of a
/// longer one (a recording of a live stream): its time is counted from that page instead.
const MAX_START_OFFSET: Duration = Duration::from_secs(60);

/// A granule position this far from the previous page's (forwards or backwards) is a splice or
/// damage, not audio: the stream's time carries on from where it was instead of waiting (or
/// rushing) that long.
const MAX_JUMP: Duration = Duration::from_secs(60);

/// How audio time is read from one logical stream's granule positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Timebase {
    /// Granule positions per second.
    rate: u64,
    /// The granule position at which audio starts (Opus's pre-skip).
    origin: i64,
}

/// The timebase announced by a stream's first packet; `None` for a codec whose granule
/// positions are not a sample count we know (Theora, Skeleton, anything unknown).
fn timebase(first: &[u8]) -> Option<Timebase> {
    let le_u32 = |at: usize| -> Option<u64> {
        let b = first.get(at..at + 4)?;
        Some(u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    };
    let (rate, origin) = if first.starts_with(b"\x01vorbis") {
        (le_u32(12)?, 0)
    } else if first.starts_with(b"OpusHead") {
        let b = first.get(10..12)?;
        (48_000, i64::from(u16::from_le_bytes([b[0], b[1]])))
    } else if first.starts_with(b"Speex   ") {
        (le_u32(36)?, 0)
    } else if first.starts_with(b"\x7fFLAC") {
        // STREAMINFO follows "\x7fFLAC", version (2), header count (2), "fLaC" and a block
        // header (4): its sample rate is the top 20 bits of bytes 10..13.
        let b = first.get(27..30)?;
        let rate = (u64::from(b[0]) << 12) | (u64::from(b[1]) << 4) | (u64::from(b[2]) >> 4);
        (rate, 0)
    } else {
        return None;
    };
    (rate > 0).then_some(Timebase { rate, origin })
}

/// One logical stream of the current chain link.
#[derive(Debug)]
struct Stream {
    /// `None`: not a codec we can time; its pages go out with the pages around them.
    timebase: Option<Timebase>,
    /// Granule position counted as the link's start (the origin, unless the stream was cut
    /// from a longer one or its positions jumped).
    base: Option<i64>,
    /// Offset from the link's start to `base`.
    offset: Duration,
    /// Audio time of its latest timed page, from the link's start.
    last: Duration,
    /// Its last page (end of stream) has been seen.
    ended: bool,
}

/// Audio time for a sequence of Ogg pages: the pure clock behind [`OggPacer`], usable on its
/// own (a file's duration, a test, another transport).
///
/// [`due`](Self::due) gives, for each page in order, the audio time from the start of the
/// stream at which it is due: when the audio it begins is to be played, i.e. the end of the
/// same stream's previous page (its granule position). A player given each page then has it
/// just as it needs it — never starved by the pacing — and is ahead of real time by at most
/// one page (typically 0.1–0.5 s; up to about 2 s for pages of near-silence). Pages that
/// complete no packet (granule position −1) are due with the rest of their packet; header
/// pages and pages of streams it cannot time are due at once. [`elapsed`](Self::elapsed) is
/// the end of all the audio seen.
///
/// ```
/// use kamaelia_codec::{OggPageReader, PageEvent};
/// use kamaelia_media::AudioClock;
///
/// let ogg = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../kamaelia-codec/testdata/tone_44k_stereo.ogg")).unwrap();
/// let mut reader = OggPageReader::new();
/// reader.push(&ogg);
/// let mut clock = AudioClock::new();
/// while let Some(PageEvent::Page(page)) = reader.next_event() {
///     let _due = clock.due(&page);
/// }
/// assert_eq!(clock.elapsed().as_millis(), 1000); // one second of audio
/// ```
#[derive(Debug, Default)]
pub struct AudioClock {
    /// By serial number.
    streams: HashMap<u32, Stream>,
    /// When the current chain link started.
    link_start: Duration,
    /// The latest due time given (due times never go backwards).
    cursor: Duration,
    /// The end of all the audio timed so far.
    end: Duration,
    /// The end of the audio of the latest timed page.
    page_end: Duration,
    /// The last page was a first page: a further first page joins the same link.
    in_first_pages: bool,
}

impl AudioClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The audio time, from the start of the stream, at which `page` is due.
    pub fn due(&mut self, page: &OggPage) -> Duration {
        if page.is_bos() {
            if self
                .streams
                .get(&page.serial())
                .is_some_and(|stream| !stream.ended)
            {
                // The headers sent again for receivers joining late (a multicast repeat):
                // the stream goes on, and so does its time.
                return self.cursor;
            }
            if !self.in_first_pages {
                // A new chain link: it starts where the audio so far ends.
                self.streams.clear();
                self.link_start = self.end;
                self.cursor = self.cursor.max(self.end);
                self.in_first_pages = true;
            }
            self.streams.insert(
                page.serial(),
                Stream {
                    timebase: timebase(page.body()),
                    base: None,
                    offset: Duration::ZERO,
                    last: Duration::ZERO,
                    ended: false,
                },
            );
            return self.cursor;
        }
        self.in_first_pages = false;
        let granule = page.granule();
        let Some(stream) = self.streams.get_mut(&page.serial()) else {
            return self.cursor; // a stream joined part-way: nothing to time it by
        };
        stream.ended |= page.is_eos();
        let Some(timebase) = stream.timebase else {
            return self.cursor;
        };
        if page.is_header() {
            return self.cursor;
        }
        // Due when the audio it begins is: where the stream's previous page ended.
        let begins = self.link_start + stream.last;
        self.cursor = self.cursor.max(begins);
        if granule < 0 {
            return self.cursor; // completes no packet: it goes with the rest of its packet
        }
        let since = |base: i64| -> Duration {
            let granules = u128::try_from(granule.saturating_sub(base)).unwrap_or(0);
            let nanos = granules * 1_000_000_000 / u128::from(timebase.rate);
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        };
        let time = match stream.base {
            None => {
                let from_origin = since(timebase.origin);
                if from_origin > MAX_START_OFFSET {
                    // Cut from a longer stream: its first timed page starts the link.
                    stream.base = Some(granule);
                    stream.offset = Duration::ZERO;
                } else {
                    stream.base = Some(timebase.origin);
                }
                since(stream.base.unwrap_or(timebase.origin)) + stream.offset
            }
            Some(base) => {
                let time = if granule < base {
                    None
                } else {
                    Some(since(base) + stream.offset)
                };
                match time {
                    Some(t) if t >= stream.last && t - stream.last <= MAX_JUMP => t,
                    Some(t) if t < stream.last && stream.last - t <= MAX_JUMP => stream.last,
                    _ => {
                        tracing::warn!(
                            serial = page.serial(),
                            granule,
                            "OggPacer: granule position jumped; carrying on from the previous page's time"
                        );
                        stream.base = Some(granule);
                        stream.offset = stream.last;
                        stream.last
                    }
                }
            }
        };
        stream.last = time;
        self.end = self.end.max(self.link_start + time);
        self.page_end = self.link_start + time;
        self.cursor
    }

    /// The end of the audio completed by the page last given to [`due`](Self::due) (for a
    /// page that completes none, the time it is due).
    pub fn page_end(&self) -> Duration {
        self.page_end.max(self.cursor)
    }

    /// The end of all the audio timed so far: the stream's duration, once it has all been seen.
    pub fn elapsed(&self) -> Duration {
        self.end
    }
}

/// Releases Ogg pages when their audio is due (as it begins, see [`AudioClock`]), or
/// [`lead`](Self::lead) ahead of it: compose it after an [`OggPager`](kamaelia_codec::OggPager) to
/// send a file live at its own pace, however variable its bit rate, chained or looping.
///
/// If the pacer falls behind — its consumer held it up (backpressure), or the process was
/// suspended — by more than [`max_late`](Self::max_late), its timeline moves forward instead of
/// rushing the backlog out: a live stream never bursts to catch up.
///
/// `ProducerFinished` on `control` is forwarded once every page has been released and the
/// audio has played out (less the lead); `ShutdownMicroprocess` stops at once.
///
/// ```no_run
/// use axon_core::{components::map, pipeline};
/// use kamaelia_codec::{OggPage, OggPager};
/// use kamaelia_media::{OggPacer, ReadFile};
///
/// // Pages of a looping file, each released when its audio is due, 2 s early at the start.
/// let live = pipeline!(
///     ReadFile::new("radio.ogg").looping(true),
///     OggPager::new().unique_serials(),
///     OggPacer::new().lead(std::time::Duration::from_secs(2)),
///     map(OggPage::into_bytes),
/// )
/// .unwrap();
/// ```
#[derive(Boxes)]
pub struct OggPacer {
    /// Pages, in stream order.
    pub inbox: Inbox<OggPage>,
    /// `ProducerFinished` (forwarded once every page is out) or `ShutdownMicroprocess`.
    pub control: Inbox<Control>,
    /// The same pages, each when it is due.
    pub outbox: Outbox<OggPage>,
    /// What came on `control`.
    pub signal: Outbox<Control>,
    clock: AudioClock,
    lead: Duration,
    max_late: Duration,
}

impl Default for OggPacer {
    fn default() -> Self {
        Self::new()
    }
}

impl OggPacer {
    /// A pacer with no lead that moves on after falling 1 s behind.
    pub fn new() -> Self {
        OggPacer {
            inbox: Inbox::new(),
            control: Inbox::new(),
            outbox: Outbox::new(),
            signal: Outbox::new(),
            clock: AudioClock::new(),
            lead: Duration::ZERO,
            max_late: Duration::from_secs(1),
        }
    }

    /// Runs `lead` ahead of real time (at most [`MAX_BURST`], 5 s): the first `lead` of audio
    /// goes out at once, so a player starts quickly, and each later page as the end of its
    /// audio comes within `lead` of being due — a fixed lead, never a growing one. Without a
    /// lead a page goes out as its audio begins (ahead by at most that one page).
    pub fn lead(mut self, lead: Duration) -> Self {
        self.lead = lead.min(MAX_BURST);
        self
    }

    /// How far behind the pacer may fall before it moves its timeline on (default 1 s).
    pub fn max_late(mut self, late: Duration) -> Self {
        self.max_late = late;
        self
    }
}

impl Component for OggPacer {
    async fn main(mut self) -> Result<(), ComponentError> {
        // The stream's time zero: when its first page arrived.
        let mut start: Option<Instant> = None;
        // A ProducerFinished that arrived while a page was waiting: the rest go out first.
        let mut finished: Option<Control> = None;
        loop {
            let page = match finished {
                Some(_) => self.inbox.try_recv(),
                None => match self.inbox.next_or_control(&mut self.control).await {
                    Next::Data(page) => Some(page),
                    Next::Control(message) if message.is_producer_finished() => {
                        finished = Some(message);
                        continue; // the end goes out when the audio ends
                    }
                    Next::Control(message) => {
                        self.signal.send(message).await?;
                        return Ok(());
                    }
                },
            };
            let Some(page) = page else {
                // The stream ends when its audio does (less the lead), not as its last page
                // goes out: a live source lasts as long as what it plays.
                if let Some(start) = start {
                    let end = (start + self.clock.elapsed()).checked_sub(self.lead);
                    if let Some(end) = end.filter(|end| *end > Instant::now()) {
                        tokio::select! {
                            () = tokio::time::sleep_until(end) => {}
                            message = self.control.recv() => {
                                if !message.is_producer_finished() {
                                    self.signal.send(message).await?;
                                    return Ok(());
                                }
                            }
                        }
                    }
                }
                let message = finished.take().unwrap_or(Control::ProducerFinished);
                self.signal.send(message).await?;
                return Ok(());
            };
            let now = Instant::now();
            let start = start.get_or_insert(now);
            // Due as its audio begins; with a lead, as its audio ends less the lead if that is
            // sooner: so the stream is never more than the lead ahead (or one page, when the
            // lead is shorter than a page).
            let begins = self.clock.due(&page);
            let offset = if self.lead.is_zero() {
                begins
            } else {
                begins.min(self.clock.page_end().saturating_sub(self.lead))
            };
            let due = *start + offset;
            if now > due + self.max_late {
                // Held up (backpressure, a suspended process): carry on from now.
                *start += now - due;
                tracing::debug!(late = ?(now - due), "OggPacer fell behind; timeline moved on");
            }
            let release = *start + offset;
            if release > now {
                let sleep = tokio::time::sleep_until(release);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        () = &mut sleep => break,
                        message = self.control.recv() => {
                            if message.is_producer_finished() {
                                finished = Some(message);
                            } else {
                                // Stop now: this page and any queued stay undelivered.
                                self.signal.send(message).await?;
                                return Ok(());
                            }
                        }
                    }
                }
            }
            self.outbox.send(page).await?;
        }
    }
}

/// An Ogg file as a live source: [`ReadFile`](crate::ReadFile) →
/// [`OggPager`](kamaelia_codec::OggPager) (fresh serials per pass) → [`OggPacer`], giving
/// marked pages at the audio's own pace. With `looping` the file plays forever, each pass a new
/// chain link. `lead` is how far ahead of real time it may run (at most [`MAX_BURST`]): a
/// per-listener burst for an on-demand stream; zero for a shared live source (the live server
/// keeps its own burst for joiners). The file is read only as fast as pages are released (the
/// pager's inbox is bounded), so a long or endless file never fills memory.
///
/// ```no_run
/// use kamaelia_media::paced_ogg_file;
/// let pages = paced_ogg_file("radio.ogg", true, std::time::Duration::ZERO).unwrap();
/// // link(&pages.outbox, ...) and activate it.
/// ```
pub fn paced_ogg_file(
    path: impl Into<std::path::PathBuf>,
    looping: bool,
    lead: Duration,
) -> Result<axon_core::Pipeline<(), OggPage>, axon_core::LinkError> {
    axon_core::pipeline!(
        crate::ReadFile::new(path).looping(looping),
        kamaelia_codec::OggPager::new().unique_serials(),
        OggPacer::new().lead(lead),
    )
}
