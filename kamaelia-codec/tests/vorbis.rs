//! VorbisDecode on the project's own files (testdata/, made by testdata/make.sh with oggenc; the
//! reference counts and samples come from oggdec) and on ../shared/media when present. Bytes are
//! fed in random-sized splits.

use kamaelia_codec::{DecodeNotice, OggDemuxer, OggEvent, PcmSamples, VorbisDecoder};
use std::path::{Path, PathBuf};

struct Decoded {
    /// (sample rate, channels, frames) per stream, in order.
    streams: Vec<(u32, u16, usize)>,
    samples: Vec<i16>,
    notices: Vec<DecodeNotice>,
}

/// A small deterministic generator for split sizes.
fn splits(seed: u64) -> impl FnMut() -> usize {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % 3000) as usize + 1
    }
}

fn decode(bytes: &[u8], seed: u64) -> Decoded {
    let mut demuxer = OggDemuxer::new();
    let mut decoder = VorbisDecoder::new();
    let mut out = Decoded {
        streams: Vec::new(),
        samples: Vec::new(),
        notices: Vec::new(),
    };
    let mut handle = |event: OggEvent, out: &mut Decoded| match event {
        OggEvent::Packet(p) => {
            let (notice, block) = decoder.packet(&p);
            if let Some(DecodeNotice::Format {
                sample_rate,
                channels,
                ..
            }) = &notice
            {
                out.streams.push((*sample_rate, *channels, 0));
            }
            if let Some(n) = notice {
                out.notices.push(n);
            }
            if let Some(block) = block {
                out.streams.last_mut().expect("format first").2 += block.frames();
                if let PcmSamples::I16(s) = block.samples {
                    out.samples.extend(s);
                }
            }
        }
        OggEvent::Damage(d) => out.notices.push(d.into()),
    };
    let mut next = splits(seed);
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = next().min(rest.len());
        demuxer.push(&rest[..n]);
        rest = &rest[n..];
        while let Some(event) = demuxer.next_event() {
            handle(event, &mut out);
        }
    }
    if let Some(d) = demuxer.finish() {
        handle(OggEvent::Damage(d), &mut out);
    }
    out
}

fn testdata(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(name),
    )
    .unwrap()
}

fn fact(name: &str) -> usize {
    let facts = String::from_utf8(testdata("facts.txt")).unwrap();
    facts
        .lines()
        .find_map(|l| l.strip_prefix(name).map(|n| n.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("no fact for {name}"))
}

#[test]
fn own_files_decode_to_the_reference_exactly_and_within_one() {
    for seed in [1, 2, 3] {
        let got = decode(&testdata("tone_44k_stereo.ogg"), seed);
        assert_eq!(got.streams, [(44100, 2, fact("tone_44k_stereo.ogg"))]);
        let reference: Vec<i16> = testdata("tone_44k_stereo.raw")
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(got.samples.len(), reference.len());
        let worst = got
            .samples
            .iter()
            .zip(&reference)
            .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
            .max()
            .unwrap_or(0);
        assert!(worst <= 1, "samples differ from oggdec by up to {worst}");
        let mono = decode(&testdata("pluck_22k_mono.ogg"), seed);
        assert_eq!(mono.streams, [(22050, 1, fact("pluck_22k_mono.ogg"))]);
    }
}

#[test]
fn both_links_of_a_chain_decode_with_a_format_change() {
    let got = decode(&testdata("chained_stereo_mono.ogg"), 9);
    assert_eq!(
        got.streams,
        [
            (44100, 2, fact("tone_44k_stereo.ogg")),
            (22050, 1, fact("pluck_22k_mono.ogg"))
        ]
    );
    let formats = got
        .notices
        .iter()
        .filter(|n| matches!(n, DecodeNotice::Format { .. }))
        .count();
    assert_eq!(formats, 2, "the change of format is announced");
}

#[test]
fn damage_is_reported_and_the_rest_decodes() {
    // The damaged file is a 12 s mono tone with 1,000 bytes overwritten in its middle.
    let clean = fact("undamaged_long.ogg");
    let got = decode(&testdata("damaged_middle.ogg"), 4);
    assert!(
        got.notices
            .iter()
            .any(|n| matches!(n, DecodeNotice::Damage { .. })),
        "{:?}",
        got.notices
    );
    let frames = got.streams[0].2;
    assert!(frames > 0 && frames < clean, "{frames} of {clean}");
}

#[test]
fn a_stream_joined_mid_way_waits_for_headers_and_says_so() {
    let bytes = testdata("chained_stereo_mono.ogg");
    // Start at the first link's second page: its identification header is gone, so nothing of
    // that link can be decoded; the second link (a new stream start) decodes.
    let second_page = bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| w == b"OggS")
        .nth(1)
        .map(|(i, _)| i)
        .unwrap();
    let got = decode(&bytes[second_page..], 5);
    assert!(
        got.notices
            .iter()
            .any(|n| matches!(n, DecodeNotice::WaitingForHeaders { .. }))
    );
    assert_eq!(got.streams, [(22050, 1, fact("pluck_22k_mono.ogg"))]);
}

#[test]
fn arbitrary_bytes_after_valid_headers_never_panic() {
    let mut bytes = testdata("tone_44k_stereo.ogg");
    for (i, b) in bytes.iter_mut().enumerate().skip(4000) {
        if i % 7 == 0 {
            *b = b.wrapping_mul(31).wrapping_add(7);
        }
    }
    let _ = decode(&bytes, 6);
}

fn shared_media() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/media");
    dir.exists().then_some(dir)
}

#[test]
fn shared_media_matches_the_reference_facts() {
    let Some(dir) = shared_media() else {
        eprintln!("SKIPPED: ../shared/media is not present");
        return;
    };
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    for (name, rate, channels, frames) in [
        ("music_44k_stereo_128k.ogg", 44100, 2, 1_322_992),
        ("speech_22k_mono.ogg", 22050, 1, 442_826),
        ("short_5s_48k.ogg", 44100, 2, 220_500),
        ("music_15s_400k.ogg", 44100, 2, 661_500),
    ] {
        let got = decode(&read(name), 11);
        assert_eq!(got.streams, [(rate, channels, frames)], "{name}");
    }
    let chain = decode(&read("chained_44k2_22k1.ogg"), 12);
    assert_eq!(chain.streams, [(44100, 2, 220_500), (22050, 1, 132_300)]);
    for name in ["corrupt_cut_middle.ogg", "corrupt_garbage_middle.ogg"] {
        let got = decode(&read(name), 13);
        assert!(
            got.notices
                .iter()
                .any(|n| matches!(n, DecodeNotice::Damage { .. })),
            "{name}"
        );
        assert!(got.streams[0].2 > 500_000, "{name}: undamaged parts decode");
    }
    let truncated = decode(&read("truncated_end.ogg"), 14);
    // oggdec: 768,704 frames. Every complete page's audio is there; the cut page is reported.
    let frames = truncated.streams[0].2;
    assert!((760_000..=768_704).contains(&frames), "{frames}");
}

#[tokio::test(flavor = "current_thread")]
async fn as_components_bytes_or_packets_in_pcm_out() {
    use axon_core::components::{Collect, DataSource};
    use axon_core::{Scheduler, link, pipeline};
    use bytes::Bytes;
    use kamaelia_codec::{OggDemux, PcmBlock, VorbisDecode};
    let bytes = testdata("chained_stereo_mono.ogg");
    let chunks: Vec<Bytes> = bytes.chunks(333).map(Bytes::copy_from_slice).collect();

    // Raw Ogg bytes straight into the decoder.
    let (sink, blocks) = Collect::<PcmBlock>::new();
    let system = pipeline!(
        DataSource::new(chunks.clone()),
        VorbisDecode::default(),
        sink
    )
    .unwrap();
    let scheduler = Scheduler::new();
    scheduler.activate(system);
    scheduler.run().await;
    let frames: usize = blocks.take().iter().map(PcmBlock::frames).sum();
    assert_eq!(
        frames,
        fact("tone_44k_stereo.ogg") + fact("pluck_22k_mono.ogg")
    );

    // OggDemux → VorbisDecode through the packets inbox, with notices collected.
    let source = DataSource::new(chunks);
    let demux = OggDemux::default();
    let decode = VorbisDecode::f32();
    let (sink, blocks) = Collect::<PcmBlock>::new();
    let (notices, seen) = Collect::<kamaelia_codec::DecodeNotice>::new();
    link(&source.outbox, &demux.inbox).unwrap();
    link(&source.signal, &demux.control).unwrap();
    link(&demux.outbox, &decode.packets).unwrap();
    link(&demux.signal, &decode.control).unwrap();
    link(&decode.outbox, &sink.inbox).unwrap();
    link(&decode.signal, &sink.control).unwrap();
    link(&decode.notices, &notices.inbox).unwrap();
    let stop_notices = notices.control.to_ref();
    let scheduler = Scheduler::new();
    scheduler.activate(source);
    scheduler.activate(demux);
    scheduler.activate(decode);
    let sink_handle = scheduler.activate(sink);
    scheduler.activate(notices);
    let stop = async {
        while sink_handle.is_running() {
            tokio::task::yield_now().await;
        }
        stop_notices
            .send(axon_core::Control::ProducerFinished)
            .await
            .unwrap();
    };
    tokio::join!(scheduler.run(), stop);
    let blocks = blocks.take();
    assert!(
        blocks
            .iter()
            .all(|b| matches!(b.samples, PcmSamples::F32(_)))
    );
    let rates: Vec<u32> = seen
        .take()
        .iter()
        .filter_map(|n| match n {
            DecodeNotice::Format { sample_rate, .. } => Some(*sample_rate),
            _ => None,
        })
        .collect();
    assert_eq!(rates, [44100, 22050]);
}

/// LSB-first bit writer, to forge setup headers.
struct BitWriter {
    bytes: Vec<u8>,
    bits: usize,
}

impl BitWriter {
    fn put(&mut self, value: u64, bits: usize) {
        for k in 0..bits {
            if self.bits.is_multiple_of(8) {
                self.bytes.push(0);
            }
            let bit = ((value >> k) & 1) as u8;
            *self.bytes.last_mut().unwrap() |= bit << (self.bits % 8);
            self.bits += 1;
        }
    }
}

/// Headers that announce gigabytes (a vendor string of 4 GiB; a codebook of 2^40 values) are
/// refused with a notice; before the checks lewton allocated what they asked for and the
/// process died (found by fuzzing the RTP depayloader, which takes headers from the network).
#[test]
fn forged_headers_are_refused_without_allocating_what_they_announce() {
    let real: Vec<kamaelia_codec::OggPacket> = {
        let bytes = testdata("tone_44k_stereo.ogg");
        let mut demuxer = OggDemuxer::new();
        demuxer.push(&bytes);
        std::iter::from_fn(|| match demuxer.next_event() {
            Some(OggEvent::Packet(p)) => Some(p),
            _ => None,
        })
        .take(3)
        .collect()
    };
    let forge = |index: usize, data: Vec<u8>| {
        let mut packet = real[index].clone();
        packet.data = data.into();
        packet
    };
    let mut comment = b"\x03vorbis".to_vec();
    comment.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
    let mut setup = BitWriter {
        bytes: b"\x05vorbis".to_vec(),
        bits: 56,
    };
    setup.put(0, 8); // one codebook
    setup.put(0x56_4342, 24);
    setup.put(0xffff, 16); // dimensions
    setup.put(0xff_ffff, 24); // entries
    setup.put(1, 1); // ordered
    setup.put(4, 5); // initial length
    setup.put(0xff_ffff, 24); // one run covers every entry
    setup.put(2, 4); // lookup type 2: entries × dimensions values
    setup.put(0, 64);
    setup.put(7, 4);
    setup.put(0, 1);
    for (headers, what) in [
        (vec![real[0].clone(), forge(1, comment)], "comment"),
        (
            vec![real[0].clone(), real[1].clone(), forge(2, setup.bytes)],
            "setup",
        ),
    ] {
        let mut decoder = VorbisDecoder::new();
        let notices: Vec<_> = headers.iter().filter_map(|p| decoder.packet(p).0).collect();
        assert!(
            notices.iter().any(|n| n.to_string().contains(what)),
            "{what}: {notices:?}"
        );
    }
}
