//! One mount point: who feeds it (its source, its relay, or its fallback), the chain it makes of
//! them, its listeners, and what it says about itself (title, `ice-*` headers, bit rate).
//!
//! Pages arrive from whoever feeds the mount now; pages from anyone else (a source that has
//! been replaced, a fallback that was stopped) are dropped. Each change of feeder starts a new
//! link of the chain the listeners receive, so their players keep decoding.

use super::config::{Fallback, MountConfig};
use crate::LiveChunk;
use crate::icy::Title;
use crate::live::audience::Audience;
use crate::live::counters::Counters;
use axon_core::{Boxes, Component, ComponentError, ComponentHandle, Control, Inbox, Next};
use kamaelia_codec::{ChainWriter, Comments, OggDemuxer, OggEvent, OggPage};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Who feeds a mount now.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Feed {
    /// Nobody: listeners wait (or are told there is no such stream).
    Nobody,
    /// The source connection with this id.
    Source(u64),
    /// Its relay.
    Relay,
    /// Its fallback mount.
    FallbackMount,
    /// Its fallback stream, started the n-th time.
    FallbackPages(u64),
}

/// What a source says about its stream (`ice-*` headers), for listeners and the status page.
#[derive(Clone, Debug, Default)]
pub(crate) struct StreamInfo {
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) genre: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) public: bool,
    /// `Vorbis` or `Opus`, from the stream's first page.
    pub(crate) codec: Option<&'static str>,
    /// The encoder's nominal bit rate (Vorbis headers), bits a second.
    pub(crate) nominal_bitrate: Option<u64>,
    /// Channels and sample rate, from the stream's first packet.
    pub(crate) channels: Option<u8>,
    pub(crate) sample_rate: Option<u32>,
}

pub(crate) struct Mount {
    pub(crate) path: String,
    pub(crate) config: MountConfig,
    pub(crate) audience: RefCell<Audience>,
    chain: RefCell<ChainWriter>,
    feed: Cell<Feed>,
    /// A feeder that has claimed the mount while the fallback plays, and its pages so far.
    incoming: RefCell<Option<(Feed, Vec<OggPage>)>>,
    /// The now-playing title (from the stream's comments, or set by an admin).
    pub(crate) title: Title,
    pub(crate) info: RefCell<StreamInfo>,
    pub(crate) listeners: Cell<u64>,
    pub(crate) peak: Cell<u64>,
    /// When the current feeder started.
    pub(crate) started: Cell<Option<SystemTime>>,
    /// Stream bytes in over the last few seconds: the measured bit rate.
    rate: RefCell<RateMeter>,
    /// Reads the codec, bit rate and title from the feeder's header pages.
    headers: RefCell<HeaderReader>,
    /// The fallback stream running now, and how many times it has been started.
    fallback_run: RefCell<Option<ComponentHandle>>,
    fallback_runs: Cell<u64>,
    /// Mounts that fall back to this one (pages go on to them while they use it).
    dependents: RefCell<Vec<Weak<Mount>>>,
    counters: Arc<Counters>,
}

impl Mount {
    pub(crate) fn new(
        config: MountConfig,
        burst: Duration,
        max_lag: usize,
        counters: Arc<Counters>,
    ) -> Self {
        Mount {
            path: config.path.clone(),
            config,
            audience: RefCell::new(Audience::new(burst, max_lag)),
            chain: RefCell::new(ChainWriter::new()),
            feed: Cell::new(Feed::Nobody),
            incoming: RefCell::default(),
            title: Title::default(),
            info: RefCell::default(),
            listeners: Cell::new(0),
            peak: Cell::new(0),
            started: Cell::new(None),
            rate: RefCell::default(),
            headers: RefCell::default(),
            fallback_run: RefCell::default(),
            fallback_runs: Cell::new(0),
            dependents: RefCell::default(),
            counters,
        }
    }

    pub(crate) fn feed(&self) -> Feed {
        self.feed.get()
    }

    /// Whether it has a stream to give a listener now.
    pub(crate) fn on_air(&self) -> bool {
        self.feed.get() != Feed::Nobody
    }

    /// `dependent` falls back to this mount.
    pub(crate) fn add_dependent(&self, dependent: &Rc<Mount>) {
        self.dependents.borrow_mut().push(Rc::downgrade(dependent));
    }

    /// A page from `from`; dropped unless `from` feeds the mount now.
    pub(crate) fn take_page(&self, from: Feed, page: &OggPage) {
        if self.feed.get() != from {
            self.take_incoming(from, page);
            return;
        }
        if from != Feed::FallbackMount {
            self.rate.borrow_mut().add(page.bytes().len());
        }
        if page.is_header() {
            self.headers.borrow_mut().page(page, self);
        }
        let mut out = Vec::new();
        self.chain.borrow_mut().push(page, &mut out);
        self.send(out);
    }

    /// The title players show: for ICY listeners at once, in the Ogg stream as a new link at
    /// the next join point.
    pub(crate) fn set_title(&self, title: &str) {
        *self.title.borrow_mut() = Some(title.into());
        self.chain.borrow_mut().set_title(title);
    }

    /// The title from a stream's own comment header.
    pub(crate) fn title_from_comments(&self, comments: &Comments) {
        if let Some(title) = comments.now_playing() {
            *self.title.borrow_mut() = Some(title.into());
        }
    }

    /// `feeder` (a source connection, or the relay) feeds the mount from now on, unless another source
    /// or the relay already does. A fallback running now is stopped.
    ///
    /// While a fallback plays, it goes on playing until the new feeder's first audio page
    /// (its header pages are held until then), so listeners hear no gap while an encoder
    /// starts up.
    pub(crate) fn claim(&self, feeder: Feed) -> bool {
        if matches!(self.feed.get(), Feed::Source(_) | Feed::Relay)
            || self.incoming.borrow().is_some()
        {
            return false;
        }
        *self.info.borrow_mut() = StreamInfo::default();
        *self.title.borrow_mut() = None; // until the new stream names itself
        self.rate.borrow_mut().reset();
        if self.feed.get() == Feed::Nobody {
            self.switch(feeder);
        } else {
            *self.incoming.borrow_mut() = Some((feeder, Vec::new()));
        }
        true
    }

    /// A page from a feeder that has claimed the mount while its fallback still plays: held
    /// until the first audio page, then the mount switches to it.
    fn take_incoming(&self, from: Feed, page: &OggPage) {
        let mut incoming = self.incoming.borrow_mut();
        let Some((feeder, held)) = incoming.as_mut().filter(|(f, _)| *f == from) else {
            return;
        };
        if page.is_bos() {
            held.clear(); // a new stream: what came before it cannot start anyone
        }
        held.push(page.clone());
        if !page.is_join_point() || !held[0].is_bos() {
            // Bounded: a stream whose headers never end is not let in until it has audio.
            if held.len() > 64 {
                held.remove(0);
            }
            return;
        }
        let (feeder, held) = (*feeder, std::mem::take(held));
        *incoming = None;
        drop(incoming);
        self.stop_fallback();
        self.switch(feeder);
        for page in &held {
            self.take_page(feeder, page);
        }
    }

    /// `feeder` has stopped: the mount falls back (to `fallback`, the mount it names when it
    /// names one) or goes quiet; its listeners stay.
    pub(crate) fn release(self: &Rc<Self>, feeder: Feed, fallback: Option<&Rc<Mount>>) {
        if self
            .incoming
            .borrow()
            .as_ref()
            .is_some_and(|(f, _)| *f == feeder)
        {
            // It left before it sent audio: the fallback never stopped.
            *self.incoming.borrow_mut() = None;
            return;
        }
        if self.feed.get() != feeder {
            return;
        }
        self.switch(Feed::Nobody);
        match (&self.config.fallback, fallback) {
            (Some(Fallback::Mount(_)), Some(other)) => {
                self.feed.set(Feed::FallbackMount);
                self.started.set(Some(SystemTime::now()));
                let mut out = Vec::new();
                let headers = other.chain.borrow().header_pages().to_vec();
                self.chain.borrow_mut().join_mid_stream(&headers, &mut out);
                self.send(out);
                tracing::info!(mount = %self.path, fallback = %other.path, "falling back to another mount");
            }
            (Some(Fallback::Pages(factory)), _) => self.start_fallback_pages(factory),
            _ => {}
        }
    }

    /// Ends the current link and hands the mount to `feeder`.
    fn switch(&self, feeder: Feed) {
        let mut out = Vec::new();
        self.chain.borrow_mut().cut(&mut out);
        self.send(out);
        self.feed.set(feeder);
        self.started
            .set((feeder != Feed::Nobody).then(SystemTime::now));
    }

    /// Starts the fallback stream (a new run of the factory's pipeline, feeding the mount
    /// through a [`MountInput`]). Called from a running component.
    fn start_fallback_pages(self: &Rc<Self>, factory: &super::config::PagesFactory) {
        let run = self.fallback_runs.get() + 1;
        self.fallback_runs.set(run);
        let started = factory().and_then(|pages| {
            let input = MountInput {
                inbox: Inbox::new(),
                control: Inbox::new(),
                mount: Rc::downgrade(self),
                feed: Feed::FallbackPages(run),
            };
            axon_core::link(&pages.outbox, &input.inbox).map_err(|e| e.to_string())?;
            axon_core::link(&pages.signal, &input.control).map_err(|e| e.to_string())?;
            Ok((pages, input))
        });
        let (pages, input) = match started {
            Ok(started) => started,
            Err(error) => {
                tracing::warn!(mount = %self.path, %error, "the fallback stream cannot start");
                return;
            }
        };
        self.feed.set(Feed::FallbackPages(run));
        self.started.set(Some(SystemTime::now()));
        tracing::info!(mount = %self.path, "playing the fallback stream");
        axon_core::activate(input);
        *self.fallback_run.borrow_mut() = Some(axon_core::activate(pages));
    }

    /// Stops the fallback stream, if one runs.
    pub(crate) fn stop_fallback(&self) {
        if let Some(run) = self.fallback_run.borrow_mut().take() {
            run.stop();
        }
    }

    /// Pages out to the listeners, and on to mounts falling back to this one.
    fn send(&self, out: Vec<OggPage>) {
        if out.is_empty() {
            return;
        }
        // A dependent only ever takes pages in: with fallback loops refused, nothing here is
        // borrowed again while it does.
        let dependents = self.dependents.borrow();
        let mut audience = self.audience.borrow_mut();
        for page in out {
            for dependent in dependents.iter().filter_map(Weak::upgrade) {
                dependent.take_page(Feed::FallbackMount, &page);
            }
            audience.publish(LiveChunk::from(page), &self.counters, true);
        }
    }

    /// The bit rate, bits a second: the encoder's nominal one, else measured.
    pub(crate) fn bitrate(&self) -> u64 {
        self.info
            .borrow()
            .nominal_bitrate
            .unwrap_or_else(|| self.rate.borrow().bits_per_second())
    }

    /// Counts a listener in for as long as the guard lives.
    pub(crate) fn listening(self: &Rc<Self>) -> Listening {
        let now = self.listeners.get() + 1;
        self.listeners.set(now);
        self.peak.set(self.peak.get().max(now));
        Listening(self.clone())
    }
}

/// A listener counted on its mount.
pub(crate) struct Listening(Rc<Mount>);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0
            .listeners
            .set(self.0.listeners.get().saturating_sub(1));
    }
}

/// Takes a fallback stream's pages into its mount, while that stream is the mount's feed.
#[derive(Boxes)]
pub(crate) struct MountInput {
    /// The pages.
    pub(crate) inbox: Inbox<OggPage>,
    /// The stream's end, or shutdown.
    pub(crate) control: Inbox<Control>,
    pub(crate) mount: Weak<Mount>,
    pub(crate) feed: Feed,
}

impl Component for MountInput {
    async fn main(mut self) -> Result<(), ComponentError> {
        while let Next::Data(page) = self.inbox.next_or_control(&mut self.control).await {
            let Some(mount) = self.mount.upgrade() else {
                break;
            };
            if mount.feed() != self.feed {
                break; // replaced: the stream is stopped by its mount
            }
            mount.take_page(self.feed, &page);
        }
        Ok(())
    }
}

/// Reads what a stream says about itself from its header pages: its codec and nominal bit rate
/// (first page), its comments (the title).
#[derive(Default)]
struct HeaderReader {
    demuxer: Option<OggDemuxer>,
}

impl HeaderReader {
    /// A header page of the stream feeding `mount`.
    fn page(&mut self, page: &OggPage, mount: &Mount) {
        if page.is_bos() {
            self.demuxer = Some(OggDemuxer::new());
            let body = page.body();
            let mut info = mount.info.borrow_mut();
            info.codec = codec(body);
            let le32 = |at: usize| {
                body.get(at..at + 4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            };
            (info.channels, info.sample_rate) = match info.codec {
                Some("Vorbis") => (body.get(11).copied(), le32(12)),
                Some("Opus") => (body.get(9).copied(), le32(12)),
                _ => (None, None),
            };
            info.nominal_bitrate = (body.len() >= 24 && body.starts_with(b"\x01vorbis"))
                .then(|| i32::from_le_bytes([body[20], body[21], body[22], body[23]]))
                .filter(|&b| b > 0)
                .map(|b| b as u64);
        }
        let Some(demuxer) = &mut self.demuxer else {
            return;
        };
        demuxer.push(page.bytes());
        while let Some(event) = demuxer.next_event() {
            if let OggEvent::Packet(packet) = event
                && let Some(comments) = Comments::parse(&packet.data)
            {
                mount.title_from_comments(&comments);
                self.demuxer = None;
                break;
            }
        }
    }
}

/// The codec a stream's first packet names, if we carry it.
pub(crate) fn codec(first_packet: &[u8]) -> Option<&'static str> {
    if first_packet.starts_with(b"\x01vorbis") {
        Some("Vorbis")
    } else if first_packet.starts_with(b"OpusHead") {
        Some("Opus")
    } else {
        None
    }
}

/// Bytes in over a sliding few seconds.
#[derive(Default)]
struct RateMeter {
    /// (second it started, bytes in it), the last few seconds.
    seconds: std::collections::VecDeque<(Instant, u64)>,
}

impl RateMeter {
    const WINDOW: usize = 5;

    fn add(&mut self, bytes: usize) {
        let now = Instant::now();
        match self.seconds.back_mut() {
            Some((start, total)) if now.duration_since(*start) < Duration::from_secs(1) => {
                *total += bytes as u64;
            }
            _ => {
                if self.seconds.len() > Self::WINDOW {
                    self.seconds.pop_front();
                }
                self.seconds.push_back((now, bytes as u64));
            }
        }
    }

    fn reset(&mut self) {
        self.seconds.clear();
    }

    fn bits_per_second(&self) -> u64 {
        let Some((first, _)) = self.seconds.front() else {
            return 0;
        };
        let span = first.elapsed().as_secs_f64().max(1.0);
        let bytes: u64 = self.seconds.iter().map(|(_, b)| b).sum();
        (bytes as f64 * 8.0 / span) as u64
    }
}
