//! OggDemux: packets round-trip through pages in any split, damage is skipped and reported
//! with its offset, chains start new streams, nothing panics. Uses pages written here, and the
//! shared test media when `../shared/media` is present.

use kamaelia_codec::{OggDemuxer, OggEvent, OggPacket, ogg_crc};
use proptest::prelude::*;

/// Writes one logical stream's packets as Ogg pages (BOS first, EOS last, packets spanning
/// pages where they must), starting at page sequence 0. Granule = index of the last packet
/// ending on the page.
fn write_stream(serial: u32, packets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut lacing: Vec<u8> = Vec::new();
    let mut body: Vec<u8> = Vec::new();
    let mut sequence = 0u32;
    let mut continued = false;
    let mut granule: i64 = -1;
    let mut first = true;
    let flush = |out: &mut Vec<u8>,
                 lacing: &mut Vec<u8>,
                 body: &mut Vec<u8>,
                 seq: &mut u32,
                 continued: bool,
                 bos: bool,
                 eos: bool,
                 granule: i64| {
        let mut page = Vec::new();
        page.extend_from_slice(b"OggS");
        page.push(0);
        page.push(u8::from(continued) | (u8::from(bos) << 1) | (u8::from(eos) << 2));
        page.extend_from_slice(&granule.to_le_bytes());
        page.extend_from_slice(&serial.to_le_bytes());
        page.extend_from_slice(&seq.to_le_bytes());
        page.extend_from_slice(&[0; 4]);
        page.push(lacing.len() as u8);
        page.extend_from_slice(lacing);
        page.extend_from_slice(body);
        let crc = ogg_crc(&page);
        page[22..26].copy_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&page);
        lacing.clear();
        body.clear();
        *seq += 1;
    };
    for (index, packet) in packets.iter().enumerate() {
        let mut rest = &packet[..];
        loop {
            let take = rest.len().min(255);
            lacing.push(take as u8);
            body.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            let packet_done = take < 255;
            if packet_done {
                granule = index as i64;
            }
            if lacing.len() == 255 {
                let eos = packet_done && index + 1 == packets.len();
                let next_continued = !packet_done;
                flush(
                    &mut out,
                    &mut lacing,
                    &mut body,
                    &mut sequence,
                    continued,
                    first,
                    eos,
                    if packet_done { granule } else { -1 },
                );
                first = false;
                continued = next_continued;
                if eos {
                    return out;
                }
            }
            if packet_done {
                break;
            }
        }
    }
    flush(
        &mut out,
        &mut lacing,
        &mut body,
        &mut sequence,
        continued,
        first,
        true,
        granule,
    );
    out
}

fn demux_in_splits(bytes: &[u8], split: usize) -> (Vec<OggPacket>, Vec<kamaelia_codec::OggDamage>) {
    let mut demuxer = OggDemuxer::new();
    let (mut packets, mut damage) = (Vec::new(), Vec::new());
    for piece in bytes.chunks(split.max(1)) {
        demuxer.push(piece);
        while let Some(event) = demuxer.next_event() {
            match event {
                OggEvent::Packet(p) => packets.push(p),
                OggEvent::Damage(d) => damage.push(d),
            }
        }
    }
    damage.extend(demuxer.finish());
    (packets, damage)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn packets_round_trip_through_chained_streams_in_any_split(
        first in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..1200), 1..20),
        second in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 1..10),
        split in 1usize..700,
    ) {
        let mut bytes = write_stream(0x7d1, &first);
        bytes.extend(write_stream(0x7d2, &second));
        let (packets, damage) = demux_in_splits(&bytes, split);
        prop_assert!(damage.is_empty(), "{:?}", damage);
        let data: Vec<Vec<u8>> = packets.iter().map(|p| p.data.to_vec()).collect();
        let expected: Vec<Vec<u8>> = first.iter().chain(second.iter()).cloned().collect();
        prop_assert_eq!(data, expected);
        let bos: Vec<usize> = packets.iter().enumerate().filter(|(_, p)| p.bos).map(|(i, _)| i).collect();
        prop_assert_eq!(bos, vec![0, first.len()], "a new serial starts a new stream");
        prop_assert!(packets[first.len() - 1].eos && packets.last().unwrap().eos);
        prop_assert_eq!(packets[first.len()].serial, 0x7d2);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..5000), split in 1usize..64) {
        let _ = demux_in_splits(&bytes, split);
    }
}

#[test]
fn one_byte_at_a_time_works() {
    let packets: Vec<Vec<u8>> = (0..10).map(|i| vec![i as u8; 300 * i]).collect();
    let bytes = write_stream(7, &packets);
    let (got, damage) = demux_in_splits(&bytes, 1);
    assert!(damage.is_empty());
    assert_eq!(
        got.iter().map(|p| p.data.to_vec()).collect::<Vec<_>>(),
        packets
    );
}

#[test]
fn garbage_and_corruption_are_skipped_and_reported_with_offsets() {
    let packets: Vec<Vec<u8>> = (0..30).map(|i| vec![i as u8; 100]).collect();
    let stream = write_stream(9, &packets);
    // 100 bytes of garbage before the stream.
    let mut bytes = vec![0xAA; 100];
    bytes.extend_from_slice(&stream);
    let (got, damage) = demux_in_splits(&bytes, 37);
    assert_eq!(damage.len(), 1);
    assert_eq!((damage[0].offset, damage[0].skipped), (0, 100));
    assert_eq!(got.len(), 30);

    // Corrupt one byte in the middle of the (single) page: its CRC fails, nothing is decoded
    // from it, and the damage starts at the page's offset.
    let mut corrupt = stream.clone();
    corrupt[60] ^= 0xFF;
    let (got, damage) = demux_in_splits(&corrupt, 1000);
    assert!(got.is_empty());
    assert!(!damage.is_empty());
    assert_eq!(damage[0].offset, 0);
}

#[test]
fn damage_in_one_page_loses_only_what_it_held() {
    // Big packets: several pages. Corrupt a byte inside the second page.
    let packets: Vec<Vec<u8>> = (0..40).map(|i| vec![i as u8; 2000]).collect();
    let stream = write_stream(3, &packets);
    let (clean, _) = demux_in_splits(&stream, 4096);
    assert_eq!(clean.len(), 40);
    let second_page = stream
        .windows(4)
        .enumerate()
        .filter(|(_, w)| w == b"OggS")
        .nth(1)
        .map(|(i, _)| i)
        .unwrap();
    let mut corrupt = stream.clone();
    corrupt[second_page + 100] ^= 0x55;
    let (got, damage) = demux_in_splits(&corrupt, 4096);
    assert_eq!(damage.len(), 1, "{damage:?}");
    assert_eq!(damage[0].offset, second_page as u64, "{damage:?}");
    assert!(
        got.len() < 40 && got.len() >= 30,
        "lost only the packets touching that page: {}",
        got.len()
    );
    // Every packet delivered is intact (equal to its original) and in order.
    let mut expected = packets.iter();
    for p in &got {
        assert!(
            expected.any(|e| e == &p.data.to_vec()),
            "a damaged packet was delivered"
        );
    }
}

/// Runs over ../shared/media when it is present (a user's clone does not have it).
#[test]
fn shared_media_files_demux_without_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/media");
    if !dir.exists() {
        eprintln!("SKIPPED: ../shared/media is not present");
        return;
    }
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let vorbis_headers = |packets: &[OggPacket]| {
        packets[0].data.starts_with(b"\x01vorbis")
            && packets[1].data.starts_with(b"\x03vorbis")
            && packets[2].data.starts_with(b"\x05vorbis")
    };
    for clean in [
        "music_44k_stereo_128k.ogg",
        "speech_22k_mono.ogg",
        "short_5s_48k.ogg",
        "music_15s_400k.ogg",
    ] {
        let (packets, damage) = demux_in_splits(&read(clean), 4093);
        assert!(damage.is_empty(), "{clean}: {damage:?}");
        assert!(vorbis_headers(&packets), "{clean}");
        assert!(packets[0].bos && packets.last().unwrap().eos, "{clean}");
    }
    let (packets, damage) = demux_in_splits(&read("chained_44k2_22k1.ogg"), 777);
    assert!(damage.is_empty());
    let starts: Vec<u32> = packets.iter().filter(|p| p.bos).map(|p| p.serial).collect();
    assert_eq!(starts, [0x7d1, 0x7d2]);
    for damaged in ["corrupt_cut_middle.ogg", "corrupt_garbage_middle.ogg"] {
        let (packets, damage) = demux_in_splits(&read(damaged), 1000);
        assert!(!damage.is_empty(), "{damaged}: damage must be reported");
        assert!(
            vorbis_headers(&packets),
            "{damaged}: the undamaged start still decodes"
        );
    }
    let (packets, damage) = demux_in_splits(&read("truncated_end.ogg"), 1000);
    assert!(vorbis_headers(&packets));
    assert_eq!(
        damage.len(),
        1,
        "the cut-off last page is reported at the end"
    );
    assert_eq!(damage[0].reason, "the input ended inside a page");
}

#[test]
fn a_packet_over_the_limit_is_dropped_reported_and_the_next_one_decodes() {
    let packets = vec![
        vec![1u8; 100],
        vec![2u8; 300_000],
        vec![3u8; 100],
        vec![4u8; 70_000],
    ];
    let bytes = write_stream(9, &packets);
    let mut demuxer = OggDemuxer::new().max_packet(100_000);
    demuxer.push(&bytes);
    let events: Vec<OggEvent> = std::iter::from_fn(|| demuxer.next_event()).collect();
    let data: Vec<u8> = events
        .iter()
        .filter_map(|e| match e {
            OggEvent::Packet(p) => Some(p.data[0]),
            OggEvent::Damage(_) => None,
        })
        .collect();
    assert_eq!(
        data,
        vec![1, 3, 4],
        "only the long packet is lost: {events:?}"
    );
    let damage: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            OggEvent::Damage(d) => Some(d),
            OggEvent::Packet(_) => None,
        })
        .collect();
    assert_eq!(damage.len(), 1, "{damage:?}");
    assert!(damage[0].reason.contains("longer than the limit"));
    assert!(damage[0].skipped > 100_000);
    assert_eq!(demuxer.finish(), None);
}

/// Pages of one packet that never ends, each with a valid checksum: memory stays bounded and
/// the damage is reported as it happens, not only at the end.
#[test]
fn a_packet_that_never_ends_is_cut_at_the_limit() {
    // 40 MB of continuation pages, written lazily page by page.
    let first = write_stream(5, &[vec![0u8; 255 * 255 * 2]]);
    // Keep every page but the last (which ends the packet), then repeat the middle page.
    let page_len = 27 + 255 + 255 * 255;
    let head = &first[..page_len];
    let middle = &first[page_len..2 * page_len];
    let mut demuxer = OggDemuxer::new().max_packet(1 << 20);
    demuxer.push(head);
    let mut reports = 0;
    for sequence in 1u32..620 {
        let mut page = middle.to_vec();
        page[18..22].copy_from_slice(&sequence.to_le_bytes());
        page[22..26].fill(0);
        let crc = ogg_crc(&page);
        page[22..26].copy_from_slice(&crc.to_le_bytes());
        demuxer.push(&page);
        while let Some(event) = demuxer.next_event() {
            match event {
                OggEvent::Damage(d) => {
                    assert!(d.reason.contains("longer than the limit"), "{d:?}");
                    reports += 1;
                }
                OggEvent::Packet(p) => panic!("no packet ends here: {} bytes", p.data.len()),
            }
        }
    }
    assert_eq!(reports, 1, "one report when the packet passes the limit");
    // The rest of it is skipped, not held: nothing is left to report at the end.
    assert_eq!(demuxer.finish(), None);
}

#[test]
fn a_packet_cut_off_by_the_end_of_input_is_reported() {
    // The second packet spans two pages; the input ends after the first of them.
    let long = write_stream(3, &[vec![7u8; 10], vec![8u8; 255 * 255]]);
    let segments = long[26] as usize;
    let first_page = 27
        + segments
        + long[27..27 + segments]
            .iter()
            .map(|&l| l as usize)
            .sum::<usize>();
    let mut demuxer = OggDemuxer::new();
    demuxer.push(&long[..first_page]);
    let packets: Vec<OggEvent> = std::iter::from_fn(|| demuxer.next_event()).collect();
    assert_eq!(packets.len(), 1, "{packets:?}");
    let damage = demuxer.finish().expect("the cut packet is reported");
    assert_eq!(damage.reason, "the input ended inside a packet");
    assert_eq!(damage.offset, 0, "the packet began on the first page");
    assert!(damage.skipped > 60_000, "{damage:?}");
}
