//! OggPager: pages come out whole and unchanged in any split, marked (header pages, join
//! points); `unique_serials` turns a replayed link into a valid chain; `repeat_headers` lets a
//! late joiner start while a listener from the start decodes exactly the same audio.

use kamaelia_codec::{
    DecodeNotice, OggDemuxer, OggEvent, OggPage, OggPageReader, PageEvent, PcmSamples,
    VorbisDecoder,
};
use proptest::prelude::*;

fn testdata(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Every page of `bytes`, fed in pieces of `split` bytes; panics on damage.
fn pages(mut reader: OggPageReader, bytes: &[u8], split: usize) -> Vec<OggPage> {
    let mut out = Vec::new();
    for piece in bytes.chunks(split.max(1)) {
        reader.push(piece);
        while let Some(event) = reader.next_event() {
            match event {
                PageEvent::Page(p) => out.push(p),
                PageEvent::Damage(d) => panic!("unexpected damage {d:?}"),
            }
        }
    }
    assert_eq!(reader.finish(), None);
    out
}

fn join(pages: &[OggPage]) -> Vec<u8> {
    pages.iter().flat_map(|p| p.bytes().to_vec()).collect()
}

/// (formats seen, samples, damage notices) from decoding `bytes`.
fn decode(bytes: &[u8]) -> (Vec<(u32, u16)>, Vec<i16>, usize) {
    let mut demuxer = OggDemuxer::new();
    let mut decoder = VorbisDecoder::new();
    demuxer.push(bytes);
    let (mut formats, mut samples, mut damage) = (Vec::new(), Vec::new(), 0);
    while let Some(event) = demuxer.next_event() {
        match event {
            OggEvent::Packet(p) => {
                let (notice, block) = decoder.packet(&p);
                match notice {
                    Some(DecodeNotice::Format {
                        sample_rate,
                        channels,
                        ..
                    }) => formats.push((sample_rate, channels)),
                    Some(DecodeNotice::BadPacket { reason, .. }) => panic!("bad packet: {reason}"),
                    _ => {}
                }
                if let Some(PcmSamples::I16(s)) = block.map(|b| b.samples) {
                    samples.extend(s);
                }
            }
            OggEvent::Damage(_) => damage += 1,
        }
    }
    damage += usize::from(demuxer.finish().is_some());
    (formats, samples, damage)
}

#[test]
fn pages_pass_through_unchanged_and_marked() {
    let ogg = testdata("tone_44k_stereo.ogg");
    let out = pages(OggPageReader::new(), &ogg, 4096);
    assert_eq!(join(&out), ogg, "pages are the input, byte for byte");
    let headers: Vec<_> = out.iter().take_while(|p| p.is_header()).collect();
    assert!(!headers.is_empty() && headers[0].is_bos());
    // Vorbis: ident on the first page, comment and setup complete on the header pages.
    let header_packets: usize = headers.iter().map(|p| p.packets_completed()).sum();
    assert_eq!(header_packets, 3);
    assert!(out[headers.len()..].iter().all(|p| !p.is_header()));
    assert!(
        out[headers.len()].is_join_point(),
        "audio starts on a fresh page"
    );
    for page in &out {
        assert_eq!(
            page.is_join_point(),
            !page.is_header() && !page.is_continued()
        );
    }
    assert!(out.last().unwrap().is_eos());
}

#[test]
fn chained_file_gives_each_link_its_header_pages() {
    let ogg = testdata("chained_stereo_mono.ogg");
    let mut reader = OggPageReader::new();
    reader.push(&ogg);
    let mut groups = 0;
    let mut last_was_header = false;
    while let Some(PageEvent::Page(p)) = reader.next_event() {
        if p.is_header() && !last_was_header {
            groups += 1;
        }
        last_was_header = p.is_header();
    }
    assert_eq!(groups, 2, "two links, two header groups");
    // What a listener joining now would be sent: the second link's headers.
    let latest = reader.header_pages();
    assert!(latest[0].is_bos());
    let (formats, _, _) = decode(&join(latest));
    assert_eq!(formats, vec![(22_050, 1)]);
}

#[test]
fn unique_serials_turn_a_replay_into_a_valid_chain() {
    let ogg = testdata("tone_44k_stereo.ogg");
    let twice = [ogg.clone(), ogg.clone(), ogg.clone()].concat();
    let out = pages(OggPageReader::new().unique_serials(), &twice, 1000);
    let firsts: Vec<u32> = out
        .iter()
        .filter(|p| p.is_bos())
        .map(|p| p.serial())
        .collect();
    assert_eq!(firsts.len(), 3);
    assert!(
        firsts[0] != firsts[1] && firsts[1] != firsts[2] && firsts[0] != firsts[2],
        "{firsts:?}"
    );
    // Every page of a link carries that link's serial, and every checksum is right.
    let (formats, samples, damage) = decode(&join(&out));
    assert_eq!(damage, 0);
    assert_eq!(formats.len(), 3);
    let (_, once, _) = decode(&ogg);
    assert_eq!(samples, [once.clone(), once.clone(), once].concat());
}

#[test]
fn repeated_headers_change_nothing_for_a_listener_from_the_start() {
    let ogg = testdata("bench_30s_stereo.ogg");
    let out = pages(OggPageReader::new().repeat_headers(2), &ogg, 3000);
    let plain = pages(OggPageReader::new(), &ogg, 3000);
    let header_pages = plain.iter().filter(|p| p.is_header()).count();
    let repeats = out.iter().filter(|p| p.is_header()).count() / header_pages - 1;
    assert!(repeats > 3, "{repeats} repeats");
    let (formats, samples, damage) = decode(&join(&out));
    let (_, reference, _) = decode(&ogg);
    assert_eq!(damage, 0);
    assert_eq!(formats.len(), 1, "a repeat is not a new stream");
    assert_eq!(samples.len(), reference.len());
    assert!(samples == reference, "identical audio");
}

#[test]
fn a_late_joiner_starts_at_the_next_repeat() {
    let ogg = testdata("bench_30s_stereo.ogg");
    let out = pages(OggPageReader::new().repeat_headers(8), &ogg, 3000);
    // Join a third of the way in, mid-page even: damage first, then audio after a repeat.
    let bytes = join(&out);
    let late = &bytes[bytes.len() / 3 + 17..];
    let (formats, samples, damage) = decode(late);
    assert_eq!(formats, vec![(44_100, 2)]);
    assert_eq!(damage, 1, "the cut page");
    let (_, reference, _) = decode(&ogg);
    let frames = samples.len() / 2;
    assert!(
        frames > reference.len() / 2 / 2 && frames < reference.len() / 2 * 2 / 3,
        "{frames} frames"
    );
}

#[test]
fn pages_of_a_stream_whose_first_page_was_not_seen_are_never_join_points() {
    let ogg = testdata("bench_30s_stereo.ogg");
    let whole = pages(OggPageReader::new(), &ogg, ogg.len());
    let from_middle = join(&whole[whole.len() / 2..]);
    let out = pages(OggPageReader::new(), &from_middle, 4096);
    assert!(!out.is_empty());
    assert!(out.iter().all(|p| !p.is_join_point() && !p.is_header()));
    // And with repeats asked for, there is nothing to repeat: pages pass through.
    let repeated = pages(OggPageReader::new().repeat_headers(1), &from_middle, 4096);
    assert_eq!(repeated, out);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_split_gives_the_same_pages(split in 1usize..5000) {
        let ogg = testdata("chained_stereo_mono.ogg");
        let whole = pages(OggPageReader::new(), &ogg, ogg.len());
        let split_up = pages(OggPageReader::new(), &ogg, split);
        prop_assert_eq!(whole, split_up);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4000),
                                   prefix in 0usize..3000) {
        // Real pages cut at a random point, then noise: damage is reported, nothing panics.
        let ogg = testdata("tone_44k_stereo.ogg");
        let input = [&ogg[..prefix.min(ogg.len())], &bytes[..]].concat();
        let mut reader = OggPageReader::new().unique_serials().repeat_headers(1);
        reader.push(&input);
        let mut taken = 0usize;
        while let Some(event) = reader.next_event() {
            if let PageEvent::Page(p) = event {
                taken += p.bytes().len();
                let _ = (p.serial(), p.granule(), p.sequence(), p.packets_completed(), p.body());
            }
        }
        let _ = reader.finish();
        prop_assert!(taken <= input.len() * 8);
    }
}
