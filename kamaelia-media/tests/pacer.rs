//! OggPacer and AudioClock: pages released at the audio's own pace, under tokio's paused clock.

use axon_core::components::DataSource;
use axon_core::{Boxes, Component, ComponentError, Control, Inbox, Next, Scheduler, link};
use kamaelia_codec::{OggPage, OggPageReader, PageEvent, ogg_crc};
use kamaelia_media::{AudioClock, OggPacer};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

const BOS: u8 = 2;
const EOS: u8 = 4;
const CONTINUED: u8 = 1;

/// One Ogg page holding `packets` (the last one left open when `open_end`).
fn raw_page(
    serial: u32,
    sequence: u32,
    granule: i64,
    flags: u8,
    packets: &[&[u8]],
    open_end: bool,
) -> Vec<u8> {
    let mut lacing = Vec::new();
    let mut body = Vec::new();
    for (i, packet) in packets.iter().enumerate() {
        let last_open = open_end && i + 1 == packets.len();
        let mut left = packet.len();
        while left >= 255 {
            lacing.push(255);
            left -= 255;
        }
        if !last_open {
            lacing.push(left as u8);
        } else {
            assert_eq!(left, 0, "an open packet fills whole segments");
        }
        body.extend_from_slice(packet);
    }
    let mut page = b"OggS\0".to_vec();
    page.push(flags);
    page.extend_from_slice(&granule.to_le_bytes());
    page.extend_from_slice(&serial.to_le_bytes());
    page.extend_from_slice(&sequence.to_le_bytes());
    page.extend_from_slice(&[0; 4]);
    page.push(lacing.len() as u8);
    page.extend_from_slice(&lacing);
    page.extend_from_slice(&body);
    let crc = ogg_crc(&page);
    page[22..26].copy_from_slice(&crc.to_le_bytes());
    page
}

fn vorbis_ident(rate: u32) -> Vec<u8> {
    let mut p = b"\x01vorbis".to_vec();
    p.extend_from_slice(&0u32.to_le_bytes()); // version
    p.push(2); // channels
    p.extend_from_slice(&rate.to_le_bytes());
    p.extend_from_slice(&[0; 12]); // bit rates
    p.push(0xb8); // block sizes
    p.push(1); // framing
    p
}

fn opus_head(pre_skip: u16) -> Vec<u8> {
    let mut p = b"OpusHead".to_vec();
    p.push(1);
    p.push(2);
    p.extend_from_slice(&pre_skip.to_le_bytes());
    p.extend_from_slice(&48_000u32.to_le_bytes());
    p.extend_from_slice(&[0, 0, 0]);
    p
}

/// Builds a logical stream page by page.
struct StreamWriter {
    serial: u32,
    sequence: u32,
    bytes: Vec<u8>,
}

impl StreamWriter {
    /// A Vorbis stream at `rate` (its three header packets on two pages).
    fn vorbis(serial: u32, rate: u32) -> Self {
        let mut w = StreamWriter {
            serial,
            sequence: 0,
            bytes: Vec::new(),
        };
        w.page(0, BOS, &[&vorbis_ident(rate)], false);
        w.page(0, 0, &[b"\x03vorbis comment", b"\x05vorbis setup"], false);
        w
    }

    /// An Opus stream with `pre_skip` (its two header packets on two pages).
    fn opus(serial: u32, pre_skip: u16) -> Self {
        let mut w = StreamWriter {
            serial,
            sequence: 0,
            bytes: Vec::new(),
        };
        w.page(0, BOS, &[&opus_head(pre_skip)], false);
        w.page(0, 0, &[b"OpusTags\0\0\0\0\0\0\0\0"], false);
        w
    }

    fn page(&mut self, granule: i64, flags: u8, packets: &[&[u8]], open_end: bool) {
        self.bytes.extend(raw_page(
            self.serial,
            self.sequence,
            granule,
            flags,
            packets,
            open_end,
        ));
        self.sequence += 1;
    }

    /// An audio page of `size` bytes, ending at `granule`.
    fn audio(&mut self, granule: i64, size: usize) {
        self.page(granule, 0, &[&vec![0x55; size]], false);
    }
}

fn pages(bytes: &[u8]) -> Vec<OggPage> {
    let mut reader = OggPageReader::new();
    reader.push(bytes);
    let mut out = Vec::new();
    while let Some(event) = reader.next_event() {
        match event {
            PageEvent::Page(p) => out.push(p),
            PageEvent::Damage(d) => panic!("test stream is damaged: {d:?}"),
        }
    }
    out
}

/// Records when each page arrives (tokio time since the run began) and its granule.
#[derive(Boxes)]
struct Arrivals {
    inbox: Inbox<OggPage>,
    control: Inbox<Control>,
    log: Rc<RefCell<Vec<(Duration, i64)>>>,
    ended: Rc<RefCell<Option<(Control, Duration)>>>,
}

impl Component for Arrivals {
    async fn main(mut self) -> Result<(), ComponentError> {
        let start = tokio::time::Instant::now();
        loop {
            match self.inbox.next_or_control(&mut self.control).await {
                Next::Data(page) => self
                    .log
                    .borrow_mut()
                    .push((start.elapsed(), page.granule())),
                Next::Control(c) => {
                    *self.ended.borrow_mut() = Some((c, start.elapsed()));
                    return Ok(());
                }
            }
        }
    }
}

type Log = Rc<RefCell<Vec<(Duration, i64)>>>;

/// Runs `pages` through `pacer` to a recorder; returns the arrivals and what ended the stream.
async fn pace(pacer: OggPacer, pages: Vec<OggPage>) -> (Vec<(Duration, i64)>, Option<Control>) {
    let (log, ended) = pace_timed(pacer, pages).await;
    (log, ended.map(|(c, _)| c))
}

/// As [`pace`], with when the end came.
async fn pace_timed(
    pacer: OggPacer,
    pages: Vec<OggPage>,
) -> (Vec<(Duration, i64)>, Option<(Control, Duration)>) {
    let log: Log = Rc::default();
    let ended = Rc::default();
    let source = DataSource::new(pages);
    let sink = Arrivals {
        inbox: Inbox::new(),
        control: Inbox::new(),
        log: log.clone(),
        ended: Rc::clone(&ended),
    };
    link(&source.outbox, &pacer.inbox).unwrap();
    link(&source.signal, &pacer.control).unwrap();
    link(&pacer.outbox, &sink.inbox).unwrap();
    link(&pacer.signal, &sink.control).unwrap();
    let scheduler = Scheduler::new();
    scheduler.activate(sink);
    scheduler.activate(pacer);
    scheduler.activate(source);
    scheduler.run().await;
    let log = log.take();
    let ended = ended.take();
    (log, ended)
}

/// A pseudo-random sequence (xorshift): page sizes and lengths that swing like real VBR.
struct Swing(u64);
impl Swing {
    fn next(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + self.0 % (high - low)
    }
}

#[tokio::test(start_paused = true)]
async fn an_hour_of_variable_rate_audio_takes_an_hour_within_a_tenth_of_a_percent() {
    let rate = 44_100i64;
    let mut w = StreamWriter::vorbis(7, rate as u32);
    let mut swing = Swing(0x9e37_79b9_7f4a_7c15);
    let mut granule = 0i64;
    while granule < 3600 * rate {
        // Pages of 0.02–0.2 s of audio, 20 bytes (silence) to 1.5 KB (noise): bytes per second
        // swing by nearly two orders of magnitude, so any bytes-based pacing would be far out.
        granule = (granule + swing.next(1024, 8820) as i64).min(3600 * rate);
        let size = swing.next(20, 1500) as usize;
        w.audio(granule, size);
    }
    let (log, ended) = pace(OggPacer::new(), pages(&w.bytes)).await;
    assert_eq!(ended, Some(Control::ProducerFinished));
    // The last page begins at most 0.2 s before the hour ends.
    let last = log.last().unwrap().0.as_secs_f64();
    assert!(
        (last - 3600.0).abs() <= 3.6 && last <= 3600.0,
        "the last page came at {last} s, not 3600 s ± 0.1 %"
    );
    // Every page on its own time, not only the last: as the audio it begins is due (where the
    // page before it ended), never early, never late by a tick.
    let mut previous_end = 0i64;
    for &(at, granule) in &log[2..] {
        let due =
            Duration::from_nanos((previous_end as u128 * 1_000_000_000 / rate as u128) as u64);
        previous_end = granule;
        assert!(at >= due, "page due at {due:?} came early, at {at:?}");
        assert!(
            at - due <= Duration::from_millis(2),
            "page due at {due:?} came late, at {at:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_chain_of_links_at_different_rates_each_runs_at_its_own_rate_from_where_the_last_ended() {
    // Link 1: Vorbis 44.1 kHz, 5 s. Link 2: Vorbis 22.05 kHz, 6 s. Link 3: Opus (48 kHz,
    // pre-skip 312), 4 s. Each link's granule positions start again from zero.
    let mut bytes = Vec::new();
    let mut link1 = StreamWriter::vorbis(1, 44_100);
    for i in 1..=50 {
        link1.audio(i * 4410, 900);
    }
    link1.page(50 * 4410, EOS, &[b"end"], false);
    bytes.extend(link1.bytes);
    let mut link2 = StreamWriter::vorbis(2, 22_050);
    for i in 1..=60 {
        link2.audio(i * 2205, 300);
    }
    bytes.extend(link2.bytes);
    let mut link3 = StreamWriter::opus(3, 312);
    for i in 1..=40 {
        link3.audio(312 + i * 4800, 200);
    }
    bytes.extend(link3.bytes);
    let pages = pages(&bytes);

    let mut clock = AudioClock::new();
    let dues: Vec<Duration> = pages.iter().map(|p| clock.due(p)).collect();
    assert_eq!(clock.elapsed(), Duration::from_secs(15));

    let (log, _) = pace(OggPacer::new(), pages.clone()).await;
    assert_eq!(log.len(), pages.len());
    for (i, (&(at, _), due)) in log.iter().zip(&dues).enumerate() {
        assert!(
            at >= *due && at - *due <= Duration::from_millis(2),
            "page {i} due at {due:?} came at {at:?}"
        );
    }
    // Link 2 begins where link 1 ended; its second page 0.1 s later (at its own rate).
    let link2_first = pages
        .iter()
        .position(|p| p.serial() == 2 && !p.is_header())
        .unwrap();
    assert_eq!(dues[link2_first], Duration::from_millis(5000));
    assert_eq!(dues[link2_first + 1], Duration::from_millis(5100));
    // Opus time starts after the pre-skip: its second page begins 4800 granules past it.
    let link3_first = pages
        .iter()
        .position(|p| p.serial() == 3 && !p.is_header())
        .unwrap();
    assert_eq!(dues[link3_first], Duration::from_millis(11_000));
    assert_eq!(dues[link3_first + 1], Duration::from_millis(11_100));
}

#[tokio::test(start_paused = true)]
async fn pages_without_a_granule_position_go_out_with_the_page_before_them() {
    // A packet spread over three pages: the first two complete nothing (granule -1).
    let mut w = StreamWriter::vorbis(9, 48_000);
    w.audio(4800, 500); // 0.1 s
    let big = vec![0x11; 255 * 10];
    w.page(-1, 0, &[&big], true);
    w.page(-1, CONTINUED, &[&big], true);
    w.page(48_000, CONTINUED, &[&big[..100]], false); // 1 s
    w.audio(96_000, 500); // 2 s
    let pages = pages(&w.bytes);
    let (log, _) = pace(OggPacer::new(), pages).await;
    let times: Vec<u128> = log.iter().map(|(at, _)| at.as_millis()).collect();
    // 2 header pages and the first audio page at 0; the packet spread over three pages begins
    // at 0.1 s, so all three go then; the last page begins at 1 s.
    assert_eq!(times, [0, 0, 0, 100, 100, 100, 1000]);
}

#[tokio::test(start_paused = true)]
async fn a_lead_sends_that_much_at_once_then_runs_at_real_time_that_far_ahead() {
    let mut w = StreamWriter::vorbis(4, 10_000);
    for i in 1..=100 {
        w.audio(i * 1000, 100); // 0.1 s a page, 10 s in all
    }
    let pages = pages(&w.bytes);
    let (log, _) = pace(OggPacer::new().lead(Duration::from_secs(2)), pages).await;
    let audio = &log[2..];
    // The pages that end in the first 2 s, at once.
    let at_once = audio.iter().filter(|(at, _)| at.is_zero()).count();
    assert_eq!(at_once, 20);
    // Then each as its end comes within 2 s: never more than 2 s ahead, and never behind.
    for &(at, granule) in audio {
        let ends = Duration::from_millis(granule as u64 / 10);
        let release = ends.saturating_sub(Duration::from_secs(2));
        assert!(at >= release, "{granule} came too early, at {at:?}");
        assert!(
            at <= release + Duration::from_millis(2),
            "{granule} came late, at {at:?}"
        );
    }
    // A lead is capped at 5 s.
    let mut w = StreamWriter::vorbis(5, 10_000);
    for i in 1..=100 {
        w.audio(i * 1000, 100);
    }
    let (log, _) = pace(OggPacer::new().lead(Duration::from_secs(60)), pages_of(&w)).await;
    let at_once = log[2..].iter().filter(|(at, _)| at.is_zero()).count();
    assert_eq!(at_once, 50);
}

fn pages_of(w: &StreamWriter) -> Vec<OggPage> {
    pages(&w.bytes)
}

#[test]
fn a_stream_cut_from_a_longer_one_starts_at_once_and_a_jump_does_not_stall_it() {
    // Granule positions starting 10 hours in (a recording of a live stream).
    let mut w = StreamWriter::vorbis(6, 1000);
    let hours = 10 * 3600 * 1000;
    w.audio(hours + 100, 50);
    w.audio(hours + 200, 50);
    // Damage or a splice: positions jump back by hours, then go on.
    w.audio(500, 50);
    w.audio(600, 50);
    let mut clock = AudioClock::new();
    let dues: Vec<u128> = pages_of(&w)
        .iter()
        .map(|p| clock.due(p).as_millis())
        .collect();
    assert_eq!(dues, [0, 0, 0, 0, 100, 100]);
    assert_eq!(clock.elapsed(), Duration::from_millis(200));
}

#[test]
fn streams_it_cannot_time_are_never_held_back() {
    // An unknown codec: every page is due at once.
    let mut bytes = raw_page(1, 0, 0, BOS, &[b"\x80theora-ish header"], false);
    bytes.extend(raw_page(1, 1, 1 << 40, 0, &[b"frame"], false));
    bytes.extend(raw_page(1, 2, 2 << 40, 0, &[b"frame"], false));
    let mut clock = AudioClock::new();
    for page in pages(&bytes) {
        assert_eq!(clock.due(&page), Duration::ZERO);
    }
}

#[tokio::test(start_paused = true)]
async fn a_real_vorbis_file_takes_its_own_duration() {
    let ogg = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/chained_stereo_mono.ogg"
    ))
    .unwrap();
    // Two links: 1 s at 44.1 kHz, then 2 s at 22.05 kHz; the last page begins before 3 s.
    let mut clock = AudioClock::new();
    for page in pages(&ogg) {
        clock.due(&page);
    }
    assert_eq!(clock.elapsed(), Duration::from_secs(3));
    let (log, ended) = pace_timed(OggPacer::new(), pages(&ogg)).await;
    // The end comes when the audio ends, not as the last page goes out.
    assert_eq!(
        ended,
        Some((Control::ProducerFinished, Duration::from_secs(3)))
    );
    let last = log.last().unwrap().0;
    assert!(
        last >= Duration::from_millis(2000) && last < Duration::from_millis(3000),
        "{last:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_it_at_once_with_pages_still_waiting() {
    let mut w = StreamWriter::vorbis(8, 1000);
    for i in 1..=100 {
        w.audio(i * 100, 10); // 10 s
    }
    let pacer = OggPacer::new();
    let control = pacer.control.to_ref();
    let stopper = async move {
        tokio::time::sleep(Duration::from_millis(1050)).await;
        control.send(Control::ShutdownMicroprocess).await.unwrap();
    };
    let ((log, ended), ()) = tokio::join!(pace(pacer, pages_of(&w)), stopper);
    assert_eq!(ended, Some(Control::ShutdownMicroprocess));
    assert_eq!(
        log.len(),
        2 + 11,
        "headers and the pages beginning in the first 1.05 s"
    );
}

#[test]
fn header_pages_sent_again_mid_stream_do_not_restart_its_time() {
    use kamaelia_codec::OggPageReader;
    let mut w = StreamWriter::vorbis(11, 1000);
    for i in 1..=40 {
        w.audio(i * 100, 10); // 4 s
    }
    // The pager repeats the header pages every 8 pages (as the multicast server does).
    let mut reader = OggPageReader::new().repeat_headers(8);
    reader.push(&w.bytes);
    let mut clock = AudioClock::new();
    let mut repeats = 0;
    let mut last = Duration::ZERO;
    while let Some(PageEvent::Page(page)) = reader.next_event() {
        repeats += usize::from(page.is_bos());
        let due = clock.due(&page);
        assert!(due >= last);
        last = due;
    }
    assert!(repeats > 3, "the headers were repeated");
    assert_eq!(clock.elapsed(), Duration::from_secs(4));
}

#[test]
fn the_same_file_twice_under_one_serial_is_two_links_one_after_the_other() {
    let mut w = StreamWriter::vorbis(12, 1000);
    for i in 1..=10 {
        w.audio(i * 100, 10);
    }
    w.page(1000, EOS, &[b"x"], false);
    let mut twice = w.bytes.clone();
    twice.extend_from_slice(&w.bytes);
    let mut clock = AudioClock::new();
    for page in pages(&twice) {
        clock.due(&page);
    }
    assert_eq!(clock.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn the_end_of_a_one_page_stream_comes_when_its_audio_ends() {
    // The whole second of audio on one page, released at once: the end still waits for it.
    let mut w = StreamWriter::vorbis(13, 1000);
    w.page(1000, EOS, &[&[0x55; 100]], false);
    let (log, ended) = pace_timed(OggPacer::new(), pages_of(&w)).await;
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|(at, _)| at.is_zero()));
    assert_eq!(
        ended,
        Some((Control::ProducerFinished, Duration::from_secs(1)))
    );
}
