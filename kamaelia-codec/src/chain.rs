//! `ChainWriter`: one continuous chained Ogg stream made from pages of origins that come and go
//! (a live source, its fallback, a relay), so a player that stays connected keeps decoding
//! across every switch.
//!
//! Each origin's stream becomes a link of the output chain with a serial number of its own and
//! page sequence numbers without gaps; a link cut off (its origin gone mid-stream) is ended
//! with an empty last-page; an origin joined mid-stream gets its header pages first and then
//! its pages from the next join point. A new title becomes a new link whose comment header
//! names it, at the next join point: players read comments when a link starts.

use crate::comments::Comments;
use crate::ogg::{OggDemuxer, OggEvent};
use crate::page::OggPage;

/// Makes one chained Ogg stream of the pages of origins that come and go (a live source, its
/// fallback, a relay): each origin's stream a link with a serial number of its own and page
/// sequence numbers without gaps; a link cut off ended with an empty last page; an origin
/// joined mid-stream started with its header pages, then its pages from the next join point;
/// a new title a new link whose comment header names it.
///
/// ```
/// use kamaelia_codec::{ChainWriter, OggPageReader, PageEvent};
///
/// let ogg = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/bench_30s_stereo.ogg"))?;
/// let mut reader = OggPageReader::new();
/// reader.push(&ogg);
/// let mut chain = ChainWriter::new();
/// let mut out = Vec::new();
/// while let Some(PageEvent::Page(page)) = reader.next_event() {
///     chain.push(&page, &mut out);
///     if out.len() == 5 {
///         chain.set_title("Now playing");
///     }
/// }
/// // The stream, then a second link (fresh serial) whose comments name the title.
/// let serials: std::collections::BTreeSet<u32> = out.iter().map(|p| p.serial()).collect();
/// assert_eq!(serials.len(), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ChainWriter {
    /// The next output serial number to give.
    next_serial: u32,
    link: Option<Link>,
    /// Pages before the next join point are dropped (an origin joined mid-stream).
    skip_to_join: bool,
    /// A title to put in a new link at the next join point.
    retitle: Option<String>,
    /// The output link's header pages, as sent (what a listener or another chain starts with).
    headers_out: Vec<OggPage>,
}

#[derive(Debug)]
struct Link {
    /// The serial of the pages coming in for this link.
    serial_in: u32,
    /// The serial they go out under.
    serial_out: u32,
    /// The next output page sequence number.
    sequence: u32,
    /// The granule position of the last page out that had one.
    granule: i64,
    /// The incoming header pages (kept for a new title).
    headers_in: Vec<OggPage>,
    /// Its last page has gone out.
    ended: bool,
}

impl Default for ChainWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainWriter {
    /// A writer whose serial numbers start at a value taken from the clock, so two writers
    /// (two servers, or a server restarted) rarely give the same.
    pub fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x4b41_4d41, |d| d.subsec_nanos() ^ d.as_secs() as u32);
        Self::with_first_serial(seed)
    }

    /// A writer whose first output link has serial `serial` (then `serial + 1`, …).
    pub fn with_first_serial(serial: u32) -> Self {
        ChainWriter {
            next_serial: serial,
            link: None,
            skip_to_join: false,
            retitle: None,
            headers_out: Vec::new(),
        }
    }

    /// The current link's header pages as they went out: what a listener joining now needs
    /// first.
    pub fn header_pages(&self) -> &[OggPage] {
        &self.headers_out
    }

    /// A page from the current origin; what goes out is appended to `out`. The first page of a
    /// stream starts a new link; pages of a stream whose first page was not seen here, or of a
    /// second stream multiplexed into the first, are dropped.
    pub fn push(&mut self, page: &OggPage, out: &mut Vec<OggPage>) {
        if page.is_bos() {
            // A new stream names itself: a title asked for earlier is not forced on it.
            self.retitle = None;
            self.start_link(page.serial(), out);
        }
        let Some(link) = &mut self.link else {
            return;
        };
        if page.serial() != link.serial_in || link.ended {
            return;
        }
        if page.is_header() {
            link.headers_in.push(page.clone());
            self.emit(page, out);
            return;
        }
        if self.skip_to_join {
            if !page.is_join_point() {
                return;
            }
            self.skip_to_join = false;
        }
        if page.is_join_point()
            && let Some(title) = self.retitle.take()
        {
            self.relink_with_title(&title, out);
        }
        self.emit(page, out);
    }

    /// The current origin has stopped: its link is ended (with an empty last page if its own
    /// never came), and nothing more goes out until a new stream starts.
    pub fn cut(&mut self, out: &mut Vec<OggPage>) {
        if let Some(link) = self.link.take()
            && !link.ended
        {
            out.push(OggPage::build(
                link.serial_out,
                link.sequence,
                link.granule,
                4,
                &[],
                &[],
                false,
            ));
        }
        self.skip_to_join = false;
    }

    /// A new origin that is already under way (another chain's output): `headers` are its
    /// current header pages; its next pages are taken from its next join point.
    pub fn join_mid_stream(&mut self, headers: &[OggPage], out: &mut Vec<OggPage>) {
        self.cut(out);
        let Some(first) = headers.first().filter(|p| p.is_bos()) else {
            return; // nothing under way: its next stream starts a link as usual
        };
        for page in headers {
            self.push(page, out);
        }
        self.skip_to_join = self
            .link
            .as_ref()
            .is_some_and(|l| l.serial_in == first.serial());
    }

    /// At the next join point, a new link whose comment header has `TITLE=title` (Vorbis or
    /// Opus; other codecs keep their link).
    pub fn set_title(&mut self, title: &str) {
        self.retitle = Some(title.to_string());
    }

    fn start_link(&mut self, serial_in: u32, out: &mut Vec<OggPage>) {
        self.cut(out);
        self.link = Some(Link {
            serial_in,
            serial_out: self.take_serial(),
            sequence: 0,
            granule: 0,
            headers_in: Vec::new(),
            ended: false,
        });
        self.headers_out.clear();
    }

    fn take_serial(&mut self) -> u32 {
        let serial = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1);
        serial
    }

    /// Sends `page` in the current link, renumbered.
    fn emit(&mut self, page: &OggPage, out: &mut Vec<OggPage>) {
        let link = self.link.as_mut().expect("a link is open");
        let page = page.renumbered(link.serial_out, link.sequence);
        link.sequence = link.sequence.wrapping_add(1);
        if page.granule() != -1 {
            link.granule = page.granule();
        }
        link.ended = page.is_eos();
        if page.is_header() {
            self.headers_out.push(page.clone());
        }
        out.push(page);
    }

    /// Ends the current link and starts another under a fresh serial whose header pages are the
    /// incoming ones with `title` written into the comments. Nothing changes when the headers
    /// cannot be read as Vorbis or Opus.
    fn relink_with_title(&mut self, title: &str, out: &mut Vec<OggPage>) {
        let Some(link) = &self.link else { return };
        let mut demuxer = OggDemuxer::new();
        for page in &link.headers_in {
            demuxer.push(page.bytes());
        }
        let mut packets = Vec::new();
        while let Some(event) = demuxer.next_event() {
            if let OggEvent::Packet(packet) = event {
                packets.push(packet.data);
            }
        }
        let Some((at, mut comments)) = packets
            .iter()
            .enumerate()
            .find_map(|(at, p)| Some((at, Comments::parse(p)?)))
        else {
            return;
        };
        comments.set("TITLE", title);
        let rewritten = comments.to_packet();
        let mut new_packets: Vec<&[u8]> = packets.iter().map(|p| &p[..]).collect();
        new_packets[at] = &rewritten;
        let serial_in = link.serial_in;
        let headers = OggPage::paginate(serial_in, &new_packets, true, true);
        // The link being ended gives its incoming headers to the next.
        let headers_in = self
            .link
            .as_mut()
            .map(|l| std::mem::take(&mut l.headers_in))
            .unwrap_or_default();
        self.start_link(serial_in, out);
        for page in &headers {
            self.emit(page, out);
        }
        // Later titles are written into the source's own headers again.
        if let Some(link) = &mut self.link {
            link.headers_in = headers_in;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pager::{OggPageReader, PageEvent};
    use std::collections::BTreeSet;

    fn pages(file: &str) -> Vec<OggPage> {
        let bytes = std::fs::read(format!("{}/testdata/{file}", env!("CARGO_MANIFEST_DIR")))
            .expect("test data");
        let mut reader = OggPageReader::new();
        reader.push(&bytes);
        let mut pages = Vec::new();
        while let Some(event) = reader.next_event() {
            if let PageEvent::Page(page) = event {
                pages.push(page);
            }
        }
        pages
    }

    /// Decodes `pages` as one byte stream: (links seen, frames, damage reports).
    fn decode(pages: &[OggPage]) -> (usize, u64, usize) {
        let mut demuxer = OggDemuxer::new();
        let mut decoder = crate::VorbisDecoder::new();
        let mut links = BTreeSet::new();
        let (mut frames, mut damage) = (0, 0);
        for page in pages {
            demuxer.push(page.bytes());
        }
        while let Some(event) = demuxer.next_event() {
            match event {
                OggEvent::Packet(packet) => {
                    links.insert(packet.serial);
                    if let (_, Some(pcm)) = decoder.packet(&packet) {
                        frames += pcm.frames() as u64;
                    }
                }
                OggEvent::Damage(_) => damage += 1,
            }
        }
        (links.len(), frames, damage)
    }

    fn sequences_have_no_gaps(pages: &[OggPage]) -> bool {
        let mut next = std::collections::HashMap::new();
        pages.iter().all(|page| {
            let expected = next.insert(page.serial(), page.sequence() + 1);
            expected.is_none_or(|e| e == page.sequence())
        })
    }

    #[test]
    fn one_stream_passes_as_one_link_with_the_same_audio() {
        let input = pages("bench_30s_stereo.ogg");
        let mut chain = ChainWriter::with_first_serial(7);
        let mut out = Vec::new();
        for page in &input {
            chain.push(page, &mut out);
        }
        assert_eq!(out.len(), input.len());
        assert!(out.iter().all(|p| p.serial() == 7));
        assert_eq!(decode(&out), decode(&input));
        assert!(sequences_have_no_gaps(&out));
    }

    #[test]
    fn a_source_cut_mid_stream_then_another_makes_a_decodable_chain() {
        let input = pages("bench_30s_stereo.ogg");
        let (_, whole_frames, _) = decode(&input);
        let mut chain = ChainWriter::with_first_serial(1);
        let mut out = Vec::new();
        for page in &input[..input.len() / 2] {
            chain.push(page, &mut out);
        }
        chain.cut(&mut out);
        assert!(out.last().unwrap().is_eos());
        for page in &input {
            chain.push(page, &mut out);
        }
        let (links, frames, damage) = decode(&out);
        assert_eq!((links, damage), (2, 0));
        assert!(
            frames > whole_frames && frames < 2 * whole_frames,
            "{frames}"
        );
        assert!(sequences_have_no_gaps(&out));
    }

    #[test]
    fn an_origin_joined_mid_stream_starts_with_its_headers_at_a_join_point() {
        let input = pages("bench_30s_stereo.ogg");
        let mut upstream = ChainWriter::with_first_serial(100);
        let mut upstream_out = Vec::new();
        let half = input.len() / 2;
        for page in &input[..half] {
            upstream.push(page, &mut upstream_out);
        }
        let mut chain = ChainWriter::with_first_serial(1);
        let mut out = Vec::new();
        chain.join_mid_stream(upstream.header_pages(), &mut out);
        let mut rest = Vec::new();
        for page in &input[half..] {
            upstream.push(page, &mut rest);
        }
        for page in &rest {
            chain.push(page, &mut out);
        }
        let headers = out.iter().take_while(|p| p.is_header()).count();
        assert_eq!(headers, upstream.header_pages().len());
        assert!(out[headers].is_join_point());
        let (links, frames, damage) = decode(&out);
        assert_eq!((links, damage), (1, 0));
        assert!(frames > 0);
    }

    #[test]
    fn a_new_title_starts_a_link_whose_comments_name_it() {
        let input = pages("bench_30s_stereo.ogg");
        let mut chain = ChainWriter::with_first_serial(1);
        let mut out = Vec::new();
        for (i, page) in input.iter().enumerate() {
            if i == input.len() / 2 {
                chain.set_title("Song two");
            }
            chain.push(page, &mut out);
        }
        let (links, _, damage) = decode(&out);
        assert_eq!((links, damage), (2, 0));
        let mut demuxer = OggDemuxer::new();
        for page in chain.header_pages() {
            demuxer.push(page.bytes());
        }
        let titles: Vec<String> = std::iter::from_fn(|| demuxer.next_event())
            .filter_map(|e| match e {
                OggEvent::Packet(p) => Comments::parse(&p.data)?.get("TITLE").map(String::from),
                OggEvent::Damage(_) => None,
            })
            .collect();
        assert_eq!(titles, ["Song two"]);
        assert!(sequences_have_no_gaps(&out));
    }

    #[test]
    fn header_pages_laid_out_again_keep_long_packets_whole() {
        let long = vec![7u8; 255 * 300 + 255];
        let packets: [&[u8]; 3] = [b"\x01first", &long, b"third"];
        let laid = OggPage::paginate(3, &packets, true, true);
        assert!(laid[0].is_bos() && laid.len() >= 3);
        let mut demuxer = OggDemuxer::new();
        for page in &laid {
            demuxer.push(page.bytes());
        }
        let got: Vec<Vec<u8>> = std::iter::from_fn(|| demuxer.next_event())
            .filter_map(|e| match e {
                OggEvent::Packet(p) => Some(p.data.to_vec()),
                OggEvent::Damage(_) => None,
            })
            .collect();
        let want: Vec<Vec<u8>> = packets.iter().map(|p| p.to_vec()).collect();
        assert_eq!(got, want);
    }
}
